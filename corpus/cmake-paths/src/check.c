#include <assert.h>

/* assert() records __FILE__: the absolute path CMake passed to the compiler. */
int checked_double(int x) {
    assert(x >= 0);
    return 2 * x;
}
