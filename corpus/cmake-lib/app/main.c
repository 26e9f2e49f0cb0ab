#include <stdio.h>
#include "shapes.h"

int main(void)
{
    struct rect r = {3, 4};
    printf("%s\narea %d, perimeter %d\n", shapes_version(), shapes_area(&r), shapes_perimeter(&r));
    return 0;
}
