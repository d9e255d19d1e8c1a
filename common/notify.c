/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"

struct notify {
        int fd; /* -1: no service manager */
        struct sockaddr_un addr;
        socklen_t addr_len;
        uint64_t watchdog_usec;
        uint64_t next_ping_us; /* CLOCK_MONOTONIC */
        notify_alive_fn alive;
        void *alive_arg;
};

static uint64_t now_us(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static bool parse_u64(const char *s, uint64_t *ret)
{
        char *end;
        unsigned long long v;

        if (!s || !*s)
                return false;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end)
                return false;
        *ret = v;
        return true;
}

/* $WATCHDOG_USEC applies to us only when $WATCHDOG_PID is unset or names this process. */
static uint64_t watchdog_from_env(void)
{
        uint64_t usec = 0, pid;

        if (!parse_u64(getenv("WATCHDOG_USEC"), &usec))
                return 0;
        if (getenv("WATCHDOG_PID") &&
            (!parse_u64(getenv("WATCHDOG_PID"), &pid) || pid != (uint64_t)getpid()))
                return 0;
        return usec;
}

int notify_open(struct notify **ret)
{
        const char *path = getenv("NOTIFY_SOCKET");
        struct notify *n;
        size_t len;

        n = calloc(1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        n->fd = -1;
        /* Only path and abstract sockets; other forms (vsock:) are not ours to speak. */
        if (!path || (path[0] != '/' && path[0] != '@')) {
                *ret = n;
                return 0;
        }
        /* A path needs room for its NUL; an abstract name has none and may fill sun_path. */
        len = strlen(path);
        if (len < 2 || len > sizeof(n->addr.sun_path) - (path[0] == '@' ? 0 : 1)) {
                free(n);
                return -ENAMETOOLONG;
        }
        n->addr.sun_family = AF_UNIX;
        memcpy(n->addr.sun_path, path, len);
        if (path[0] == '@')
                n->addr.sun_path[0] = '\0';
        n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
                                  (path[0] == '@' ? 0 : 1));
        n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (n->fd < 0) {
                int r = -errno;
                free(n);
                return r;
        }
        n->watchdog_usec = watchdog_from_env();
        n->next_ping_us = now_us() + notify_ping_every_us(n);
        *ret = n;
        return 0;
}

void notify_free(struct notify *n)
{
        if (!n)
                return;
        if (n->fd >= 0)
                (void)close(n->fd);
        free(n);
}

int notify_send(struct notify *n, const char *state)
{
        if (!n || n->fd < 0)
                return 0;
        if (sendto(n->fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&n->addr,
                   n->addr_len) < 0)
                return -errno;
        return 0;
}

uint64_t notify_watchdog_usec(const struct notify *n)
{
        return n && n->fd >= 0 ? n->watchdog_usec : 0;
}

uint64_t notify_ping_every_us(const struct notify *n)
{
        uint64_t usec = notify_watchdog_usec(n);

        if (!usec)
                return 0;
        return usec / 2 > NOTIFY_PING_MIN_US ? usec / 2 : NOTIFY_PING_MIN_US;
}

int notify_sigwait(struct notify *n, const sigset_t *set)
{
        uint64_t every = notify_ping_every_us(n);

        for (;;) {
                uint64_t now, wait_us;
                struct timespec ts;
                int sig;

                if (!every) {
                        sig = sigwaitinfo(set, NULL);
                        return sig < 0 ? -errno : sig;
                }
                now = now_us();
                if (now >= n->next_ping_us) {
                        if (!n->alive || n->alive(n->alive_arg))
                                (void)notify_send(n, "WATCHDOG=1");
                        n->next_ping_us = now + every;
                }
                now = now_us();
                wait_us = n->next_ping_us > now ? n->next_ping_us - now : 0;
                ts.tv_sec = (time_t)(wait_us / 1000000u);
                ts.tv_nsec = (long)(wait_us % 1000000u) * 1000;
                sig = sigtimedwait(set, NULL, &ts);
                if (sig >= 0)
                        return sig;
                if (errno != EAGAIN)
                        return -errno;
        }
}

void notify_set_alive(struct notify *n, notify_alive_fn fn, void *arg)
{
        if (!n)
                return;
        n->alive = fn;
        n->alive_arg = arg;
}
