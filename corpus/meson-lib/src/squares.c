#include <stdlib.h>
#include "geometry.h"
#include "squares.h"

int geometry_square(int n)
{
    n = abs(n);
    if (n < SQUARES_COUNT)
        return squares[n];
    return n * n;
}
