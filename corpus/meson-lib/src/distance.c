#include "geometry.h"
#include "config.h"

int geometry_distance2(struct point a, struct point b)
{
    int dx = a.x - b.x, dy = a.y - b.y;
    return geometry_square(dx) + geometry_square(dy);
}

const char *geometry_version(void)
{
    return GEOMETRY_VERSION;
}
