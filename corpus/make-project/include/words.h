#ifndef WORDS_H
#define WORDS_H

#include <stddef.h>

/* Counts of what was read. */
struct stats {
    size_t words;
    size_t letters;
    size_t lines;
};

void words_count(const char *text, struct stats *out);
void stats_print(const struct stats *s);

#endif
