#ifndef SHAPES_H
#define SHAPES_H

/* A rectangle, in whole units. */
struct rect {
    int width;
    int height;
};

int shapes_area(const struct rect *r);
int shapes_perimeter(const struct rect *r);
const char *shapes_version(void);

#endif
