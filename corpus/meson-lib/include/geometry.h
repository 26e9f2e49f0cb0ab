#ifndef GEOMETRY_H
#define GEOMETRY_H

/* A point on the integer grid. */
struct point {
    int x;
    int y;
};

int geometry_distance2(struct point a, struct point b);
int geometry_square(int n);
const char *geometry_version(void);

#endif
