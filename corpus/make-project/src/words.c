#include <ctype.h>
#include "words.h"

void words_count(const char *text, struct stats *out)
{
    int in_word = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '\n')
            out->lines++;
        if (isalpha((unsigned char)*p))
            out->letters++;
        if (isspace((unsigned char)*p)) {
            in_word = 0;
        } else if (!in_word) {
            in_word = 1;
            out->words++;
        }
    }
}
