#define GREETING "hello, reproducible world"
