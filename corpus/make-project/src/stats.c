#include <stdio.h>
#include "words.h"

void stats_print(const struct stats *s)
{
    printf("%zu lines, %zu words, %zu letters\n", s->lines, s->words, s->letters);
}
