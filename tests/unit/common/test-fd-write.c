/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "fd-write.h"
#include "tests.h"

#define BIG (4u << 20) /* far over a pipe's 64 KiB, so writes block and get cut short */

struct reader {
        int fd;
        unsigned char *got;
        size_t len;
};

/* Read slowly, in small pieces, so the writer waits in write() for the signals to cut. */
static void *read_slowly(void *arg)
{
        struct reader *r = arg;

        for (;;) {
                ssize_t n = read(r->fd, r->got + r->len, 4096);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                r->len += (size_t)n;
                if (r->len % (256u << 10) < 4096) {
                        struct timespec ts = {0, 1000000};
                        (void)nanosleep(&ts, NULL);
                }
        }
        return NULL;
}

static unsigned interrupts;
static void on_alarm(int sig)
{
        (void)sig;
        interrupts++;
}

TEST(all_bytes_arrive_through_short_writes_and_signals)
{
        unsigned char *src = malloc(BIG);
        struct reader r = {.got = malloc(BIG + 1)};
        struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART: write sees EINTR */
        struct itimerval it = {{0, 500}, {0, 500}};
        pthread_t t;
        int p[2];

        ASSERT_TRUE(src && r.got);
        for (size_t i = 0; i < BIG; i++)
                src[i] = (unsigned char)(i * 2654435761u >> 24);
        ASSERT_EQ(pipe(p), 0);
        r.fd = p[0];
        ASSERT_EQ(pthread_create(&t, NULL, read_slowly, &r), 0);
        ASSERT_EQ(sigaction(SIGALRM, &sa, NULL), 0);
        ASSERT_EQ(setitimer(ITIMER_REAL, &it, NULL), 0);
        ASSERT_EQ(fd_write_all(p[1], src, BIG), 0);
        it = (struct itimerval){0};
        ASSERT_EQ(setitimer(ITIMER_REAL, &it, NULL), 0);
        close(p[1]);
        ASSERT_EQ(pthread_join(t, NULL), 0);
        close(p[0]);
        ASSERT_MEMEQ(r.got, r.len, src, BIG);
        ASSERT_TRUE(interrupts > 0); /* the signals did land while it wrote */
        free(src);
        free(r.got);
}

TEST(a_failed_write_says_why)
{
        int p[2];

        ASSERT_EQ(fd_write_all(-1, "x", 1), -EBADF);
        ASSERT_EQ(pipe(p), 0);
        close(p[0]);
        signal(SIGPIPE, SIG_IGN);
        ASSERT_EQ(fd_write_all(p[1], "x", 1), -EPIPE);
        ASSERT_EQ(fd_write_all(p[1], "", 0), 0); /* nothing to write: no write at all */
        close(p[1]);
}

TEST_MAIN()
