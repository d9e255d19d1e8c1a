/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the HTTP/2 server session (edge/h2.c over nghttp2): the input is what a client sends
 * after the connection preface, which is put in front of it here. Each input runs twice: once
 * whole through a transport that takes every byte, once in small pieces through one that
 * gathers frames in bounded batches (io.queue, as on h2c) and accepts short writes, so the
 * held-back frame tails are reached too.
 *
 * Requests are answered by stream id: a memory body, a file range (the transport never reads
 * the file) that a fill makes available later or never, a mapped body, an answer deferred to
 * the end of the input, or one without a body.
 *
 * Aborts when a call returns what h2.h does not allow, when a request's fields are not as
 * h2.h gives them (NUL-terminated, pseudo-headers where nghttp2 requires them), when a stream
 * is gone twice or without having been dispatched, or when the streams held at once exceed
 * the advertised concurrency, or are not all gone once the session is freed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h2.h"

#include "fuzz.h"

#define PREFACE      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define MAX_STREAMS  8
#define LIVE_MAX     (MAX_STREAMS + 2) /* the advertised limit, and one held by a frame's tail */
#define BODY_MAX     70000
#define BATCH_MAX    32768
#define FLUSH_ROUNDS 64

static char body[BODY_MAX];

enum answer { ANS_MEM, ANS_FILE, ANS_FILL, ANS_MAP, ANS_LATER, ANS_NONE, ANS_KINDS };

struct live {
        struct h2_stream *st;
        bool later; /* to be answered when the input is over */
};

struct run {
        bool gather; /* io.queue batches and short writes */
        unsigned calls;
        size_t batch;
        uint64_t fill_have; /* bytes the pretend fill has written */
        struct live live[LIVE_MAX];
        unsigned n_live;
        uint64_t requests, gone;
        uint32_t sink; /* the request's bytes, read so ASan sees every one */
};

static struct run R;

/* The gathering transport refuses every fourth call and takes at most 1000 bytes per call. */
static size_t take(size_t len)
{
        if (!R.gather)
                return len;
        if (++R.calls % 4 == 0)
                return 0;
        return len < 1000 ? len : 1000;
}

static ssize_t io_write(void *ctx, const void *buf, size_t len)
{
        size_t n = take(len);

        (void)ctx;
        CHECK(buf && len > 0);
        R.sink += ((const uint8_t *)buf)[0] + ((const uint8_t *)buf)[len - 1];
        return n ? (ssize_t)n : -EAGAIN;
}

static ssize_t io_write_file(void *ctx, const void *hdr, size_t hlen, int fd, off_t off,
                             size_t len)
{
        size_t n = take(hlen + len);

        (void)ctx;
        (void)fd;
        CHECK(hlen + len > 0 && off >= 0 && (uint64_t)off + len <= BODY_MAX);
        CHECK(hlen == 0 || hdr);
        return n ? (ssize_t)n : -EAGAIN;
}

static int queue_unit(size_t len)
{
        if (len > BATCH_MAX)
                return R.batch ? -EAGAIN : -E2BIG;
        if (R.batch + len > BATCH_MAX)
                return -EAGAIN;
        R.batch += len;
        return 0;
}

static int io_queue(void *ctx, const void *a, size_t alen, const void *b, size_t blen)
{
        (void)ctx;
        CHECK(alen == 0 || a);
        CHECK(blen == 0 || b);
        return queue_unit(alen + blen);
}

static int io_queue_map(void *ctx, const void *hdr, const char *payload, size_t len,
                        const void *map_obj, bool copy)
{
        (void)ctx;
        (void)copy;
        CHECK(hdr && map_obj == body);
        CHECK(payload >= body && payload + len <= body + BODY_MAX);
        return queue_unit(9 + len);
}

static int io_flush(void *ctx)
{
        (void)ctx;
        R.batch = 0;
        return 1;
}

static uint64_t fill_avail(void *ctx, bool *failed)
{
        int32_t id = (int32_t)(intptr_t)ctx;

        /* Every other such fill fails at what it has; the others finish when the input is
         * over. */
        if ((((id >> 1) / ANS_KINDS) & 1) && R.fill_have != UINT64_MAX) {
                *failed = true;
                return 0;
        }
        return R.fill_have;
}

static void read_field(const char *v, size_t len)
{
        if (!v)
                return;
        CHECK(v[len] == '\0');
        for (size_t i = 0; i < len; i++)
                R.sink += (uint8_t)v[i];
}

static void on_request(void *ctx, struct h2_stream *st)
{
        static const struct h2_header hdr[] = {{"content-type", "video/mp4", 12, 9, true},
                                               {"etag", "\"e1\"", 4, 4, false}};
        int32_t id = h2_stream_id(st);
        struct h2_body b = {.fd = -1};
        const char *m, *p, *v;
        size_t ml, pl, l = 0;
        enum answer a = (enum answer)((uint32_t)(id >> 1) % ANS_KINDS);

        (void)ctx;
        CHECK(id > 0 && (id & 1));
        CHECK(R.n_live < LIVE_MAX);
        R.live[R.n_live++] = (struct live){.st = st, .later = a == ANS_LATER};
        R.requests++;
        m = h2_stream_method(st, &ml);
        p = h2_stream_path(st, &pl);
        /* RFC 9113 §8.3.1, which nghttp2 enforces: every request has a :method, and all but
         * CONNECT a :path. */
        CHECK(m != NULL);
        CHECK(p != NULL || (ml == 7 && !memcmp(m, "CONNECT", 7)));
        read_field(m, ml);
        read_field(p, pl);
        v = h2_stream_authority(st, &l);
        read_field(v, l);
        v = h2_stream_header(st, "range", &l);
        read_field(v, l);
        v = h2_stream_header(st, "if-none-match", &l);
        read_field(v, l);
        CHECK(h2_stream_get_data(st) == NULL);
        h2_stream_set_data(st, &R);

        b.off = (uint64_t)id % 1000;
        b.len = (uint64_t)id * 7919 % (BODY_MAX - 1000) + 1;
        switch (a) {
        case ANS_MEM:
                b.mem = body;
                break;
        case ANS_FILE:
                break;
        case ANS_FILL:
                b.avail = fill_avail;
                b.avail_ctx = (void *)(intptr_t)id;
                break;
        case ANS_MAP:
                b.map = body;
                b.map_obj = body;
                break;
        case ANS_LATER:
                return;
        default:
                CHECK(h2_stream_respond(st, 204, hdr, 2, NULL) == 0);
                return;
        }
        /* -ENOMEM or -EIO leave the stream reset: both allowed. */
        int r = h2_stream_respond(st, 200, hdr, 2, &b);
        CHECK(r == 0 || r == -ENOMEM || r == -EIO);
        CHECK(h2_stream_respond(st, 200, hdr, 2, &b) == -EINVAL); /* answered once only */
}

static void on_gone(void *ctx, struct h2_stream *st, bool answered)
{
        unsigned i;

        (void)ctx;
        for (i = 0; i < R.n_live && R.live[i].st != st; i++)
                ;
        CHECK(i < R.n_live);
        CHECK(h2_stream_get_data(st) == &R);
        CHECK(answered || R.live[i].later);
        R.live[i] = R.live[--R.n_live];
        R.gone++;
}

static const struct h2_limits limits = {
    .max_concurrent_streams = MAX_STREAMS,
    .window = 65535,
    .max_header_list = 4096,
    .max_resets_per_s = 16,
    .max_control_per_s = 64,
};

static void flush_all(struct h2_conn *h)
{
        for (int i = 0; i < FLUSH_ROUNDS; i++) {
                int r = h2_conn_flush(h);
                /* The transport never fails, so neither may a flush (bar memory). */
                CHECK(r == 0 || r == 1 || r == 2 || r == -ENOMEM);
                if (r != 0)
                        return;
        }
}

static size_t piece(size_t i)
{
        static const size_t sizes[] = {1, 9, 13, 100, 4096, 3, 24};
        return sizes[i % (sizeof(sizes) / sizeof(sizes[0]))];
}

static void session(const uint8_t *in, size_t len, bool gather)
{
        struct h2_io io = {.write = io_write,
                           .write_file = io_write_file,
                           .on_request = on_request,
                           .on_stream_gone = on_gone};
        struct h2_conn *h = NULL;
        bool fatal = false;
        int r;

        memset(&R, 0, sizeof(R));
        R.gather = gather;
        R.fill_have = 20000;
        if (gather) {
                io.queue = io_queue;
                io.queue_map = io_queue_map;
                io.flush = io_flush;
                io.max_data = 16384 - 9;
        }
        if (h2_conn_new(&limits, &io, &h) < 0)
                return;
        for (size_t off = 0, i = 0; off < len && !fatal; i++) {
                size_t n = gather ? piece(i) : len;
                if (n > len - off)
                        n = len - off;
                r = h2_conn_input(h, in + off, n);
                CHECK(r == 0 || r == -EPROTO || r == -ENOMEM);
                off += n;
                if (r == -EPROTO) {
                        fatal = true;
                        /* The session stays over: further input is refused. */
                        CHECK(h2_conn_input(h, in, len < 9 ? len : 9) == -EPROTO);
                }
                flush_all(h);
                (void)h2_conn_progressed(h);
        }
        /* The input is over: answer what waited, let the fills finish. */
        R.fill_have = UINT64_MAX;
        for (unsigned k = 0; k < R.n_live; k++) {
                struct live *l = &R.live[k];
                if (l->later) {
                        l->later = false;
                        r = h2_stream_respond(l->st, 304, NULL, 0, NULL);
                        CHECK(r == 0 || r == -ENOMEM || r == -EIO);
                } else {
                        h2_stream_resume(l->st);
                }
        }
        flush_all(h);
        (void)h2_conn_busy(h);
        if (!fatal) {
                h2_conn_shutdown(h);
                flush_all(h);
        }
        CHECK(h2_conn_stats(h)->streams == R.requests);
        h2_conn_free(h);
        CHECK(R.n_live == 0);
        CHECK(R.gone == R.requests);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        size_t plen = sizeof(PREFACE) - 1;
        uint8_t *in = malloc(plen + size);

        if (!in)
                return 0;
        if (!body[1])
                for (size_t i = 0; i < BODY_MAX; i++)
                        body[i] = (char)(i * 31 + 1);
        memcpy(in, PREFACE, plen);
        if (size)
                memcpy(in + plen, data, size);
        session(in, plen + size, false);
        session(in, plen + size, true);
        free(in);
        return 0;
}
