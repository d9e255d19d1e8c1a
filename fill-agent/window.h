/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/*
 * The off-peak window "HH:MM-HH:MM" in an edge's time zone (an IANA name such as
 * "Europe/Paris", or NULL for the local zone). The end is exclusive; a window may wrap past
 * midnight ("22:00-06:00"). Start equal to end is refused (say nothing for "any time").
 *
 * The clock is real time shifted by a fixed offset, so `--now` fakes the date while time
 * still passes (a run that waits for its window really waits).
 */
struct window {
        int start_min, end_min; /* minutes after local midnight */
};

/* Parse "HH:MM-HH:MM". 24:00 may only end a window ("00:00-24:00" is all day). Returns 0 or
 * -EINVAL. */
int window_parse(const char *s, struct window *ret);
/* Whether w is "00:00-24:00", open at every hour: it has no end to reach. */
bool window_all_day(const struct window *w);
/* Whether tz names a zone this machine has (a compiled zone file, "TZif", under $TZDIR, else
 * /usr/share/zoneinfo, or at an absolute path); NULL or "" is the machine's own. glibc reads
 * a zone it cannot find or read as UTC without a word, which would move a window by hours. */
bool window_tz_ok(const char *tz);

/*
 * Where `now` falls for w in zone tz. Returns true when inside; *ret_wait_s gets the seconds
 * until the window opens (0 when inside) and *ret_left_s the seconds until it closes (0 when
 * outside). tz must be a zone name or NULL. Not thread-safe (it switches TZ for the call).
 */
bool window_check(const struct window *w, const char *tz, time_t now, int64_t *ret_wait_s,
                  int64_t *ret_left_s);

/*
 * Make the machine's zone an explicit TZ when none is set, before other threads start:
 * window_check switches TZ, and with it unset each switch adds the variable to the
 * environment and removes it again, moving the array another thread's getenv (libcurl's, for
 * proxies) may be reading.
 */
void window_tz_pin(void);

/*
 * Parse a fake "now": "@<unix seconds>" or "YYYY-MM-DDTHH:MM[:SS]Z" (UTC). Returns 0 and the
 * time, or -EINVAL.
 */
int window_now_parse(const char *s, time_t *ret);

/* Set the clock's offset so that window_clock() reads fake_now at this instant. */
void window_clock_fake(time_t fake_now);

/* The (possibly faked) wall clock, seconds. */
time_t window_clock(void);
