/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests.h"

#include "notify.h"

/* A datagram socket standing in for the service manager's; bound to path (or abstract). */
static int manager_socket(const char *name, char *ret_env, size_t env_cap)
{
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        size_t len = strlen(name);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        /* An abstract name has no NUL: it may fill sun_path. */
        if (fd < 0 || len > sizeof(a.sun_path) - (name[0] == '@' ? 0 : 1))
                return -1;
        memcpy(a.sun_path, name, len);
        if (name[0] == '@')
                a.sun_path[0] = '\0';
        else
                (void)unlink(name);
        if (bind(fd, (struct sockaddr *)&a,
                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
                             (name[0] == '@' ? 0 : 1))) < 0) {
                (void)close(fd);
                return -1;
        }
        (void)snprintf(ret_env, env_cap, "%s", name);
        return fd;
}

/* The next datagram, or "" when none is queued. */
static const char *next_message(int fd, char *buf, size_t cap)
{
        ssize_t n = recv(fd, buf, cap - 1, MSG_DONTWAIT);

        buf[n > 0 ? n : 0] = '\0';
        return buf;
}

TEST(inert_without_socket)
{
        struct notify *n = NULL;

        (void)unsetenv("NOTIFY_SOCKET");
        (void)setenv("WATCHDOG_USEC", "1000000", 1);
        ASSERT_EQ(notify_open(&n), 0);
        ASSERT_TRUE(n != NULL);
        ASSERT_EQ(notify_send(n, "READY=1"), 0);
        ASSERT_EQ(notify_watchdog_usec(n), 0);
        notify_free(n);
        notify_free(NULL);
        (void)unsetenv("WATCHDOG_USEC");
}

TEST(path_socket_gets_states)
{
        char path[64], env[108], buf[256];
        struct notify *n = NULL;
        int fd;

        (void)snprintf(path, sizeof(path), "/tmp/sluice-test-notify-%d", (int)getpid());
        fd = manager_socket(path, env, sizeof(env));
        ASSERT_TRUE(fd >= 0);
        (void)setenv("NOTIFY_SOCKET", env, 1);
        (void)unsetenv("WATCHDOG_USEC");
        ASSERT_EQ(notify_open(&n), 0);
        ASSERT_EQ(notify_send(n, "READY=1\nSTATUS=serving"), 0);
        ASSERT_STREQ(next_message(fd, buf, sizeof(buf)), "READY=1\nSTATUS=serving");
        ASSERT_EQ(notify_send(n, "STOPPING=1"), 0);
        ASSERT_STREQ(next_message(fd, buf, sizeof(buf)), "STOPPING=1");
        ASSERT_EQ(notify_watchdog_usec(n), 0);
        notify_free(n);
        (void)close(fd);
        (void)unlink(path);
        (void)unsetenv("NOTIFY_SOCKET");
}

/* $NOTIFY_SOCKET names the socket bound to fd: READY=1 sent through it arrives there. */
static void ready_arrives(int fd)
{
        struct notify *n = NULL;
        char buf[64];

        ASSERT_EQ(notify_open(&n), 0);
        ASSERT_EQ(notify_send(n, "READY=1"), 0);
        ASSERT_STREQ(next_message(fd, buf, sizeof(buf)), "READY=1");
        notify_free(n);
}

TEST(abstract_socket)
{
        char name[64], env[108];
        int fd;

        (void)snprintf(name, sizeof(name), "@sluice-test-notify-%d", (int)getpid());
        fd = manager_socket(name, env, sizeof(env));
        ASSERT_TRUE(fd >= 0);
        (void)setenv("NOTIFY_SOCKET", env, 1);
        ready_arrives(fd);
        (void)close(fd);
        (void)unsetenv("NOTIFY_SOCKET");
}

TEST(abstract_name_fills_sun_path)
{
        char name[sizeof(((struct sockaddr_un *)0)->sun_path) + 1], env[sizeof(name)];
        struct notify *n = NULL;
        int fd, k;

        /* 108 bytes, '@' included: no NUL follows an abstract name, so it may use them all
         * (a path of as many is too long: it needs its NUL). */
        memset(name, 'x', sizeof(name) - 1);
        name[sizeof(name) - 1] = '\0';
        k = snprintf(name, sizeof(name), "@sluice-test-notify-full-%d-", (int)getpid());
        name[k] = 'x';
        fd = manager_socket(name, env, sizeof(env));
        ASSERT_TRUE(fd >= 0);
        (void)setenv("NOTIFY_SOCKET", env, 1);
        ready_arrives(fd);
        name[0] = '/';
        (void)setenv("NOTIFY_SOCKET", name, 1);
        ASSERT_EQ(notify_open(&n), -ENAMETOOLONG);
        (void)close(fd);
        (void)unsetenv("NOTIFY_SOCKET");
}

TEST(odd_socket_names)
{
        char longname[200];
        struct notify *n = NULL;

        /* vsock: and other forms are not spoken: inert, not an error. */
        (void)setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
        ASSERT_EQ(notify_open(&n), 0);
        ASSERT_EQ(notify_send(n, "READY=1"), 0);
        notify_free(n);
        memset(longname, 'x', sizeof(longname) - 1);
        longname[0] = '/';
        longname[sizeof(longname) - 1] = '\0';
        (void)setenv("NOTIFY_SOCKET", longname, 1);
        n = NULL;
        ASSERT_EQ(notify_open(&n), -ENAMETOOLONG);
        ASSERT_TRUE(n == NULL);
        (void)unsetenv("NOTIFY_SOCKET");
}

TEST(watchdog_for_this_process_only)
{
        char name[64], env[108], pid[32];
        struct notify *n = NULL;
        int fd;

        (void)snprintf(name, sizeof(name), "@sluice-test-notify-wd-%d", (int)getpid());
        fd = manager_socket(name, env, sizeof(env));
        ASSERT_TRUE(fd >= 0);
        (void)setenv("NOTIFY_SOCKET", env, 1);
        (void)setenv("WATCHDOG_USEC", "30000000", 1);
        (void)snprintf(pid, sizeof(pid), "%d", (int)getpid());
        (void)setenv("WATCHDOG_PID", pid, 1);
        ASSERT_EQ(notify_open(&n), 0);
        ASSERT_EQ(notify_watchdog_usec(n), 30000000);
        notify_free(n);
        /* Meant for another process (a parent's, inherited): not ours. */
        (void)snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
        (void)setenv("WATCHDOG_PID", pid, 1);
        ASSERT_EQ(notify_open(&n), 0);
        ASSERT_EQ(notify_watchdog_usec(n), 0);
        notify_free(n);
        (void)setenv("WATCHDOG_USEC", "soon", 1);
        (void)unsetenv("WATCHDOG_PID");
        ASSERT_EQ(notify_open(&n), 0);
        ASSERT_EQ(notify_watchdog_usec(n), 0);
        notify_free(n);
        (void)close(fd);
        (void)unsetenv("WATCHDOG_USEC");
        (void)unsetenv("NOTIFY_SOCKET");
}

TEST(sigwait_pings_the_watchdog)
{
        char name[64], env[108], buf[64];
        struct itimerval alarm_at = {.it_value = {.tv_usec = 120000}};
        struct notify *n = NULL;
        sigset_t set, old;
        int fd, pings = 0;

        (void)snprintf(name, sizeof(name), "@sluice-test-notify-sig-%d", (int)getpid());
        fd = manager_socket(name, env, sizeof(env));
        ASSERT_TRUE(fd >= 0);
        (void)setenv("NOTIFY_SOCKET", env, 1);
        (void)setenv("WATCHDOG_USEC", "40000", 1);
        ASSERT_EQ(notify_open(&n), 0);
        sigemptyset(&set);
        sigaddset(&set, SIGALRM);
        (void)sigprocmask(SIG_BLOCK, &set, &old);
        /* The signal ends the wait after 120 ms: pings every 20 ms meanwhile. */
        ASSERT_EQ(setitimer(ITIMER_REAL, &alarm_at, NULL), 0);
        ASSERT_EQ(notify_sigwait(n, &set), SIGALRM);
        while (*next_message(fd, buf, sizeof(buf))) {
                ASSERT_STREQ(buf, "WATCHDOG=1");
                pings++;
        }
        ASSERT_TRUE(pings >= 2);
        (void)sigprocmask(SIG_SETMASK, &old, NULL);
        notify_free(n);
        (void)close(fd);
        (void)unsetenv("WATCHDOG_USEC");
        (void)unsetenv("NOTIFY_SOCKET");
}

static uint64_t mono_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A child waits 20 ms in notify_sigwait(); the pings it sent, drained as they come (a full
 * queue would block its sends), and how many milliseconds it ran into *ret_ms. */
static int pings_of_a_wait(int fd, uint64_t *ret_ms)
{
        uint64_t start = mono_ms();
        char buf[64];
        int pings = 0;
        pid_t pid = fork();

        if (pid == 0) {
                struct itimerval alarm_at = {.it_value = {.tv_usec = 20000}};
                struct notify *n = NULL;
                sigset_t set;

                sigemptyset(&set);
                sigaddset(&set, SIGALRM);
                (void)sigprocmask(SIG_BLOCK, &set, NULL);
                if (notify_open(&n) < 0 || setitimer(ITIMER_REAL, &alarm_at, NULL) < 0)
                        _exit(1);
                _exit(notify_sigwait(n, &set) == SIGALRM ? 0 : 1);
        }
        if (pid < 0)
                return -1;
        for (;;) {
                if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
                        pings++;
                        continue;
                }
                if (waitpid(pid, NULL, WNOHANG) == pid)
                        break;
        }
        *ret_ms = mono_ms() - start;
        while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
                pings++;
        return pings;
}

TEST(watchdog_too_short_is_no_busy_loop)
{
        char name[64], env[108];
        struct notify *n = NULL;
        uint64_t ms = 0;
        int fd, pings;

        (void)snprintf(name, sizeof(name), "@sluice-test-notify-short-%d", (int)getpid());
        fd = manager_socket(name, env, sizeof(env));
        ASSERT_TRUE(fd >= 0);
        (void)setenv("NOTIFY_SOCKET", env, 1);
        (void)setenv("WATCHDOG_USEC", "40000", 1);
        ASSERT_EQ(notify_open(&n), 0);
        ASSERT_EQ(notify_ping_every_us(n), 20000);
        notify_free(n);
        /* Half of 1 µs is 0: the pings were sent back to back, thousands in 20 ms. */
        (void)setenv("WATCHDOG_USEC", "1", 1);
        ASSERT_EQ(notify_open(&n), 0);
        ASSERT_EQ(notify_watchdog_usec(n), 1);
        ASSERT_EQ(notify_ping_every_us(n), NOTIFY_PING_MIN_US);
        notify_free(n);
        pings = pings_of_a_wait(fd, &ms);
        ASSERT_TRUE(pings >= 0);
        /* One at the start, then one per NOTIFY_PING_MIN_US at most, however long it ran. */
        ASSERT_TRUE((uint64_t)pings <= 1 + ms * 1000 / NOTIFY_PING_MIN_US);
        (void)close(fd);
        (void)unsetenv("WATCHDOG_USEC");
        (void)unsetenv("NOTIFY_SOCKET");
}

TEST_MAIN()
