#include <stdio.h>
#include "geometry.h"

int main(void)
{
    struct point a = {1, 2}, b = {4, 6};
    printf("geometry %s: distance^2 = %d\n", geometry_version(), geometry_distance2(a, b));
    return 0;
}
