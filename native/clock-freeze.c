/*
 * LD_PRELOAD shim that freezes a client's wall clock: gettimeofday() and clock_gettime(CLOCK_REALTIME[_COARSE])
 * return one fixed instant, so an animated client (weston-simple-dmabuf-egl moves its square with gettimeofday)
 * draws the same picture in every frame and its pixels can be checked. CLOCK_MONOTONIC and the rest are left alone:
 * Mesa and libwayland time their waits with them.
 *
 * The instant is CLOCK_FREEZE_MS milliseconds after the epoch (default 2500: weston-simple-dmabuf-egl's square is
 * then centred, (2500 % 5000) / 5000 - 0.5 = 0).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long frozen_ms(void)
{
    static long long ms = -1;
    if (ms < 0) {
        const char *v = getenv("CLOCK_FREEZE_MS");
        char *end = NULL;
        long long parsed = v ? strtoll(v, &end, 10) : -1;
        ms = (v && *v && end && *end == '\0' && parsed >= 0) ? parsed : 2500;
    }
    return ms;
}

/* glibc declares tv nonnull, but callers may pass NULL (POSIX allows it): keep the check. */
#pragma GCC diagnostic ignored "-Wnonnull-compare"
int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    (void)tz;
    if (tv) {
        long long ms = frozen_ms();
        tv->tv_sec = (time_t)(ms / 1000);
        tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
    }
    return 0;
}

int clock_gettime(clockid_t clock, struct timespec *tp)
{
    if (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE) {
        long long ms = frozen_ms();
        tp->tv_sec = (time_t)(ms / 1000);
        tp->tv_nsec = (long)(ms % 1000) * 1000000L;
        return 0;
    }

    static int (*real)(clockid_t, struct timespec *);
    if (!real) {
        real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    }
    return real(clock, tp);
}
