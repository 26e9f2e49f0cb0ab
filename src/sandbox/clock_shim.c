/* reprobe's clock shim: preloaded into every dynamically linked process of a `check`
 * build whose clock is varied. It adds a fixed offset to the wall clock (CLOCK_REALTIME
 * and the clocks derived from it) and to nothing else: monotonic clocks, timers, sleeps
 * and file times stay real, so builds run at their normal speed and make/ninja still
 * compare real mtimes.
 *
 * The offset, in seconds, is read once per process from the file /.reprobe/clock in the
 * sandbox (or the file named by REPROBE_CLOCK_FILE, for tests): a decimal integer; a
 * missing or unreadable file means offset 0. Both builds of a check preload the shim with
 * the same environment, and only that file differs between them. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static long long offset_secs;
static clock_gettime_fn real_clock_gettime;

/* Reads the offset without stdio or malloc: this runs before main, in every process. */
static long long read_offset(void) {
    const char *path = getenv("REPROBE_CLOCK_FILE");
    if (path == NULL)
        path = "/.reprobe/clock";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[32];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    long long value = 0;
    int sign = 1;
    const char *p = buf;
    if (*p == '-' || *p == '+') {
        sign = *p == '-' ? -1 : 1;
        p++;
    }
    for (; *p >= '0' && *p <= '9'; p++)
        value = value * 10 + (*p - '0');
    return sign * value;
}

__attribute__((constructor)) static void reprobe_clock_init(void) {
    offset_secs = read_offset();
    real_clock_gettime = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
}

/* The real clock: libc's (vDSO-backed) when found, else the system call. */
static int now(clockid_t clock, struct timespec *ts) {
    if (real_clock_gettime != NULL)
        return real_clock_gettime(clock, ts);
    return (int)syscall(SYS_clock_gettime, clock, ts);
}

static int is_wall_clock(clockid_t clock) {
    return clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE || clock == CLOCK_TAI
#ifdef CLOCK_REALTIME_ALARM
           || clock == CLOCK_REALTIME_ALARM
#endif
        ;
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
    int rc = now(clock, ts);
    if (rc == 0 && ts != NULL && is_wall_clock(clock))
        ts->tv_sec += offset_secs;
    return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    (void)tz;
    if (tv == NULL)
        return 0;
    struct timespec ts;
    int rc = clock_gettime(CLOCK_REALTIME, &ts);
    if (rc == 0) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return rc;
}

time_t time(time_t *out) {
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (time_t)-1;
    if (out != NULL)
        *out = ts.tv_sec;
    return ts.tv_sec;
}

int timespec_get(struct timespec *ts, int base) {
    if (base != TIME_UTC || clock_gettime(CLOCK_REALTIME, ts) != 0)
        return 0;
    return base;
}
