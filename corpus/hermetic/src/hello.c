#include "config.h"
int main(void) { return VALUE; }
