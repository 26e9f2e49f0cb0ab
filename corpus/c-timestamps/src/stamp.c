#include <stdio.h>

/* Embeds the compile date and time: different on every build unless
   SOURCE_DATE_EPOCH is set (gcc 7+ honours it for __DATE__ and __TIME__). */
static const char built[] = "built on " __DATE__ " at " __TIME__;

int main(void) {
    puts(built);
    return 0;
}
