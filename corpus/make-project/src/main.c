#include <stdio.h>
#include "words.h"

int main(void)
{
    char buffer[4096];
    struct stats s = {0, 0, 0};
    while (fgets(buffer, sizeof buffer, stdin))
        words_count(buffer, &s);
    stats_print(&s);
    return 0;
}
