/* SPDX-License-Identifier: MIT */
#pragma once

#include <signal.h>
#include <stdint.h>

/*
 * Readiness and watchdog notifications to the service manager (systemd's sd_notify protocol,
 * spoken directly: one datagram of "KEY=value" lines to the AF_UNIX socket named by
 * $NOTIFY_SOCKET, a path or "@abstract-name"). Without $NOTIFY_SOCKET every call is a no-op,
 * so a daemon runs the same under systemd, in tests and by hand.
 *
 * The daemons send READY=1 once they serve, RELOADING=1 then READY=1 around a SIGHUP reload,
 * STOPPING=1 when SIGTERM starts the drain, and WATCHDOG=1 every half $WATCHDOG_USEC: the
 * edge's main thread while it waits for signals (notify_sigwait), once every worker loop has
 * answered its last probe (notify_set_alive); sluice-control from a timer of its io_uring loop
 * (notify_send). Either way a stuck loop stops the pings, and the service manager restarts.
 */

#include <stdbool.h>

struct notify;

/*
 * Called by notify_sigwait() before each WATCHDOG=1: true when everything the process runs
 * has made progress since the previous call (and a new probe is out), false to leave this
 * ping out.
 */
typedef bool (*notify_alive_fn)(void *arg);

/*
 * Read the environment and open the socket. Returns 0 and *ret (free with notify_free; inert
 * when there is no service manager), or -errno (-ENOMEM, a $NOTIFY_SOCKET too long for a
 * sockaddr_un, socket(2) failing). Start-up only; call it before the seccomp filter.
 */
int notify_open(struct notify **ret);
/* Close the socket. n may be NULL. */
void notify_free(struct notify *n);

/*
 * Send state ("READY=1", "STATUS=...", several lines joined by '\n'). Returns 0 (also when
 * inert) or -errno from sendto(2); callers log and carry on.
 */
int notify_send(struct notify *n, const char *state);

/* The watchdog period systemd asked for in microseconds (0: no watchdog for this process). */
uint64_t notify_watchdog_usec(const struct notify *n);

/*
 * How often to send WATCHDOG=1: half the period, but never more often than every
 * NOTIFY_PING_MIN_US, so that a period too short to keep (WATCHDOG_USEC=1, whose half is 0)
 * cannot turn the pings into a busy loop. 0 when there is no watchdog.
 */
#define NOTIFY_PING_MIN_US 1000u
uint64_t notify_ping_every_us(const struct notify *n);

/*
 * Wait for one of the blocked signals in set, sending WATCHDOG=1 at half the watchdog period
 * meanwhile. Returns the signal number, or -EINTR when interrupted (call again).
 */
int notify_sigwait(struct notify *n, const sigset_t *set);

/* Make notify_sigwait() ask fn(arg) before each ping. n may be NULL. */
void notify_set_alive(struct notify *n, notify_alive_fn fn, void *arg);
