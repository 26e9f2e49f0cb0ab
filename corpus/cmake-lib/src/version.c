#include "shapes.h"
#include "buildinfo.h"

const char *shapes_version(void)
{
    return "shapes 1.0 (built " BUILD_TIME ")";
}
