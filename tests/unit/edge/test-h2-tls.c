/* SPDX-License-Identifier: MIT */
/*
 * h2 bursts over TLS (edge/h2-tls.c) against a stand-in for the TLS connection: what a burst
 * hands to it, in order, when a file it put off reading comes up short.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn-tls.h"
#include "conn.h"
#include "h2-tls.h"
#include "tls.h"
#include "tests.h"

/* The stand-ins for conn-tls.c and tls.c: the burst buffer, and what was written. */
static char burst[256 << 10];
static char wire[512 << 10];
static size_t wire_len;

char *conn_tls_h2_burst(size_t *cap)
{
        *cap = sizeof(burst);
        return burst;
}

bool tls_conn_holding(const struct tls_conn *tc)
{
        (void)tc;
        return false;
}

int tls_conn_write_all(struct tls_conn *tc, const void *buf, size_t len)
{
        (void)tc;
        if (wire_len + len > sizeof(wire))
                return -ENOBUFS;
        memcpy(wire + wire_len, buf, len);
        wire_len += len;
        return 1;
}

int tls_conn_flush(struct tls_conn *tc)
{
        (void)tc;
        return 1;
}

static size_t tls_held; /* what the stand-in TLS says it holds short of the socket */

size_t conn_tls_unsent(const struct conn *c)
{
        (void)c;
        return tls_held;
}

/* A file of n bytes, byte i being i % 251. */
static int pattern_file(size_t n)
{
        char path[] = "/tmp/sluice-h2tls-XXXXXX";
        int fd = mkstemp(path);
        char *p = malloc(n);

        if (fd < 0 || !p)
                abort();
        (void)unlink(path);
        for (size_t i = 0; i < n; i++)
                p[i] = (char)(i % 251);
        if (write(fd, p, n) != (ssize_t)n)
                abort();
        free(p);
        return fd;
}

static struct conn *new_conn(void)
{
        struct conn *c = calloc(1, sizeof(*c));

        if (!c)
                abort();
        c->tls = (struct tls_conn *)(uintptr_t)1; /* never looked into by the stand-ins */
        c->h2_short_fd = -1;
        return c;
}

static const char HDR_A[9] = "AAAAAAAAA", HDR_B[9] = "BBBBBBBBB";

TEST(whole_burst_in_order)
{
        struct conn *c = new_conn();
        int fd = pattern_file(40000);

        wire_len = 0;
        ASSERT_EQ(h2_tls_queue(c, "ctl", 3, NULL, 0), 0);
        ASSERT_EQ(h2_tls_queue_file(c, HDR_A, fd, 0, 16384), 0);
        ASSERT_EQ(h2_tls_queue_file(c, HDR_B, fd, 16384, 16384), 0);
        ASSERT_EQ(h2_tls_flush(c), 1);
        ASSERT_EQ(wire_len, 3 + 2 * (9 + 16384));
        ASSERT_TRUE(memcmp(wire, "ctl", 3) == 0);
        ASSERT_TRUE(memcmp(wire + 3, HDR_A, 9) == 0);
        ASSERT_TRUE(memcmp(wire + 12 + 16384, HDR_B, 9) == 0);
        for (size_t i = 0; i < 2 * 16384; i++) {
                size_t at = i < 16384 ? 12 + i : 12 + 16384 + 9 + (i - 16384);
                if (wire[at] != (char)(i % 251))
                        TEST_FAIL_AT("payload byte %zu", i);
        }
        ASSERT_TRUE(!c->h2_body_short);
        h2_tls_forget(c);
        close(fd);
        free(c);
}

/*
 * A stream that lets its file go settles the burst mid-flush (nghttp2 closes a stream as soon
 * as its last DATA frame is queued, and the burst goes on). When that settle finds an earlier
 * frame's file short, the burst is cut before that frame: nothing queued after the cut may go
 * out, or it would follow frames that never went (another stream's body with a gap in it).
 */
TEST(nothing_follows_a_cut)
{
        struct conn *c = new_conn();
        int bad = pattern_file(40000), good = pattern_file(40000);

        wire_len = 0;
        ASSERT_EQ(h2_tls_queue(c, "ctl", 3, NULL, 0), 0);
        ASSERT_EQ(h2_tls_queue_file(c, HDR_A, bad, 16384, 16384), 0); /* size checked: fine */
        ASSERT_EQ(h2_tls_queue_file(c, HDR_B, good, 0, 16384), 0);
        ASSERT_EQ(ftruncate(bad, 20000), 0); /* shrinks after the look, before the read */
        h2_tls_settle(c);                    /* a stream lets its file go */
        ASSERT_TRUE(c->h2_body_short);
        ASSERT_EQ(c->h2_short_fd, bad);
        /* The frames the cut dropped are gone: nothing more joins the burst. */
        ASSERT_EQ(h2_tls_queue_file(c, HDR_B, good, 16384, 16384), -EPIPE);
        ASSERT_EQ(h2_tls_queue(c, "late", 4, NULL, 0), -EPIPE);
        /* The flush sends what came before the cut, and fails. */
        ASSERT_EQ(h2_tls_flush(c), -EIO);
        ASSERT_EQ(wire_len, 3);
        ASSERT_TRUE(memcmp(wire, "ctl", 3) == 0);
        /* A new burst after the failed one starts clean (for a connection the edge keeps). */
        ASSERT_EQ(h2_tls_queue(c, "next", 4, NULL, 0), 0);
        ASSERT_EQ(h2_tls_flush(c), 1);
        ASSERT_EQ(wire_len, 7);
        h2_tls_forget(c);
        close(bad);
        close(good);
        free(c);
}

/* A file that is already short when its frame is queued fails only that frame (its stream):
 * the burst goes on, and nothing of the frame is in it. */
TEST(short_at_queue_fails_the_frame_only)
{
        struct conn *c = new_conn();
        int bad = pattern_file(20000), good = pattern_file(40000);

        wire_len = 0;
        ASSERT_EQ(h2_tls_queue_file(c, HDR_A, bad, 16384, 16384), -EIO);
        ASSERT_TRUE(c->h2_body_short);
        c->h2_body_short = false;
        ASSERT_EQ(h2_tls_queue_file(c, HDR_B, good, 0, 100), 0);
        ASSERT_EQ(h2_tls_flush(c), 1);
        ASSERT_EQ(wire_len, 9 + 100);
        ASSERT_TRUE(memcmp(wire, HDR_B, 9) == 0);
        h2_tls_forget(c);
        close(bad);
        close(good);
        free(c);
}

/* A file still being filled (by another worker) grows during a burst: a later frame past the
 * size the burst first saw is the file's, not a sign that it shrank. */
TEST(file_growing_in_a_burst_is_not_short)
{
        struct conn *c = new_conn();
        int fd = pattern_file(100);
        char more[100];

        wire_len = 0;
        ASSERT_EQ(h2_tls_queue_file(c, HDR_A, fd, 0, 100), 0);
        for (size_t i = 0; i < sizeof(more); i++)
                more[i] = (char)((100 + i) % 251);
        ASSERT_EQ(pwrite(fd, more, sizeof(more), 100), (ssize_t)sizeof(more));
        ASSERT_EQ(h2_tls_queue_file(c, HDR_B, fd, 100, 100), 0);
        ASSERT_TRUE(!c->h2_body_short);
        ASSERT_EQ(h2_tls_flush(c), 1);
        ASSERT_EQ(wire_len, 2 * (9 + 100));
        ASSERT_TRUE(memcmp(wire + 109, HDR_B, 9) == 0);
        for (size_t i = 0; i < 200; i++) {
                size_t at = i < 100 ? 9 + i : 118 + (i - 100);
                if (wire[at] != (char)(i % 251))
                        TEST_FAIL_AT("payload byte %zu", i);
        }
        h2_tls_forget(c);
        close(fd);
        free(c);
}

/* What never left: the burst not sealed yet, what TLS holds, and a burst dropped at the close. */
TEST(unsent_counts_burst_and_tls)
{
        struct conn *c = new_conn();
        char ctl[100] = {0};

        tls_held = 1234;
        wire_len = 0;
        ASSERT_EQ(h2_tls_unsent(c), 1234);
        ASSERT_EQ(h2_tls_queue(c, ctl, 40, ctl, 60), 0);
        ASSERT_EQ(h2_tls_unsent(c), 1234 + 100);
        ASSERT_EQ(h2_tls_flush(c), 1);
        ASSERT_EQ(wire_len, 100);
        ASSERT_EQ(h2_tls_unsent(c), 1234);
        ASSERT_EQ(h2_tls_queue(c, ctl, 50, NULL, 0), 0);
        h2_tls_forget(c);
        ASSERT_EQ(c->h2_lost, 50);
        ASSERT_EQ(h2_tls_unsent(c), 1234 + 50);
        tls_held = 0;
        free(c);
}

TEST_MAIN()
