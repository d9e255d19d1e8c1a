/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD shim for test_heartbeat.py. While the file named by SLUICE_CLOCK_AHEAD_FLAG
 * exists, CLOCK_REALTIME reads SLUICE_CLOCK_AHEAD_MS ahead of the real clock; removing the
 * file steps the clock back, as NTP does to a clock found fast. Other clocks are untouched.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int (*real_clock_gettime)(clockid_t, struct timespec *);
static const char *flag;
static long ahead_ms;

__attribute__((constructor)) static void shim_init(void)
{
        const char *ms = getenv("SLUICE_CLOCK_AHEAD_MS");

        real_clock_gettime =
            (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
        flag = getenv("SLUICE_CLOCK_AHEAD_FLAG");
        ahead_ms = ms ? strtol(ms, NULL, 10) : 0;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
        int r;

        /* A sanitizer's runtime reads the clock before this shim's constructor runs. */
        if (!real_clock_gettime)
                real_clock_gettime =
                    (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
        r = real_clock_gettime(id, ts);

        if (r == 0 && id == CLOCK_REALTIME && flag && ahead_ms > 0 && access(flag, F_OK) == 0) {
                ts->tv_sec += ahead_ms / 1000;
                ts->tv_nsec += (ahead_ms % 1000) * 1000000L;
                if (ts->tv_nsec >= 1000000000L) {
                        ts->tv_sec++;
                        ts->tv_nsec -= 1000000000L;
                }
        }
        return r;
}
