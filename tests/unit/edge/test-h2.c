/* SPDX-License-Identifier: MIT */
/*
 * HTTP/2 sessions at the frame level: the client side is built by hand (frames and HPACK
 * bytes written out here), the server is h2.c over a socketpair with sendfile bodies.
 * Covers the preface and SETTINGS (RFC 9113 §3.4, §6.5), request dispatch, flow control
 * (§5.2, §6.9), a socket that fills mid-frame, and the abuse bounds of h2.h: rapid reset,
 * CONTINUATION flood, HPACK bomb (RFC 7541 dynamic table references), a header store that
 * grows with what it holds, SETTINGS/PING/PRIORITY/DATA/WINDOW_UPDATE/GOAWAY/unknown-frame
 * floods (and a reader returning window per frame that is never cut off), a zero-window
 * dribble; and the checks h2.c adds to nghttp2's (a skipped
 * stream id used late, a SETTINGS window overflow) and what counts as send progress.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bug.h"
#include "h2.c"
#include "tests.h"

#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

enum { BODY = 100000 };
static char body[BODY];
static int body_fd = -1;

struct fixture {
        int sfd, cfd;
        struct h2_conn *h;
        unsigned requests, gone;
        unsigned too_large; /* requests dispatched with fields past max_header_list */
        bool respond; /* answer requests at once with the file body */
        unsigned short_writes; /* > 0: accept at most this many bytes per call, and refuse
                                * every other call, as a full socket would */
        unsigned calls;
        bool stalled; /* the client reads nothing: every write finds the socket full */
        bool tiny;    /* answers are 5 bytes from memory: done as soon as flushed */
        uint64_t unsent;       /* what io.unsent says the transport held */
        uint64_t gone_sent[8]; /* h2_stream_body_sent at on_stream_gone, by stream id / 2 */
        char in[1 << 21];
        size_t in_len, in_off;
};

static ssize_t io_write(void *ctx, const void *buf, size_t len)
{
        struct fixture *f = ctx;
        ssize_t n;

        if (f->stalled)
                return -EAGAIN;
        if (f->short_writes) {
                if (++f->calls % 2 == 0)
                        return -EAGAIN;
                if (len > f->short_writes)
                        len = f->short_writes;
        }
        n = send(f->sfd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        return n < 0 ? -errno : n;
}

static ssize_t io_write_file(void *ctx, const void *hdr, size_t hlen, int fd, off_t off,
                             size_t len)
{
        struct fixture *f = ctx;
        ssize_t n = 0, m;

        if (f->short_writes) {
                if (++f->calls % 2 == 0)
                        return -EAGAIN;
                /* Cut inside the header sometimes, inside the payload otherwise. */
                if (hlen > 4 && f->calls % 3 == 0)
                        hlen = 4, len = 0;
                else if (len > f->short_writes)
                        len = f->short_writes;
        }
        if (hlen) {
                n = send(f->sfd, hdr, hlen, MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE);
                if (n < 0)
                        return -errno;
                if ((size_t)n < hlen)
                        return n;
        }
        if (len == 0)
                return n;
        m = sendfile(f->sfd, fd, &off, len);
        if (m < 0)
                return n ? n : -errno;
        return n + m;
}

static void on_request(void *ctx, struct h2_stream *st)
{
        struct fixture *f = ctx;
        static const struct h2_header hdr[] = {{"content-type", "video/mp4", 12, 9, true}};
        struct h2_body b = {.fd = body_fd, .off = 0, .len = BODY};

        if (f->tiny)
                b = (struct h2_body){.mem = "hello", .fd = -1, .len = 5};
        f->requests++;
        if (h2_stream_fields_too_large(st)) {
                f->too_large++;
                (void)h2_stream_respond(st, 431, NULL, 0, NULL);
                return;
        }
        if (f->respond)
                (void)h2_stream_respond(st, 200, hdr, 1, &b);
}

static void on_gone(void *ctx, struct h2_stream *st, bool answered)
{
        struct fixture *f = ctx;
        (void)answered;
        if (h2_stream_id(st) / 2 < 8)
                f->gone_sent[h2_stream_id(st) / 2] = h2_stream_body_sent(st);
        f->gone++;
}

static uint64_t io_unsent(void *ctx)
{
        return ((struct fixture *)ctx)->unsent;
}

static struct h2_limits limits = {
    .max_concurrent_streams = 100,
    .window = 1 << 20,
    .max_header_list = 16384,
    .max_resets_per_s = 100,
    .max_control_per_s = 1000,
};

static int fx_open(struct fixture *f)
{
        int fds[2];
        struct h2_io io = {.write = io_write,
                           .write_file = io_write_file,
                           .on_request = on_request,
                           .on_stream_gone = on_gone,
                           .unsent = io_unsent,
                           .ctx = f};

        memset(f, 0, sizeof(*f));
        f->respond = true;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) < 0)
                return -1;
        f->sfd = fds[0];
        f->cfd = fds[1];
        return h2_conn_new(&limits, &io, &f->h);
}

static void fx_close(struct fixture *f)
{
        h2_conn_free(f->h);
        (void)close(f->sfd);
        (void)close(f->cfd);
}

/* Client → server: bytes go straight into the session (as conn.c would hand them). */
static int cl_send(struct fixture *f, const void *buf, size_t len)
{
        int r = h2_conn_input(f->h, buf, len);
        int fr = h2_conn_flush(f->h);
        return r < 0 ? r : (fr < 0 ? fr : 0);
}

static size_t frame_pack(uint8_t *b, uint8_t type, uint8_t flags, uint32_t sid, const void *p,
                         size_t len)
{
        b[0] = (uint8_t)(len >> 16);
        b[1] = (uint8_t)(len >> 8);
        b[2] = (uint8_t)len;
        b[3] = type;
        b[4] = flags;
        b[5] = (uint8_t)(sid >> 24 & 0x7f);
        b[6] = (uint8_t)(sid >> 16);
        b[7] = (uint8_t)(sid >> 8);
        b[8] = (uint8_t)sid;
        if (len) /* empty frames may come with p == NULL */
                memcpy(b + 9, p, len);
        return 9 + len;
}

static int frame(struct fixture *f, uint8_t type, uint8_t flags, uint32_t sid, const void *p,
                 size_t len)
{
        uint8_t b[9 + 65536];

        return cl_send(f, b, frame_pack(b, type, flags, sid, p, len));
}

/* HPACK (RFC 7541 appendix A static table): GET, https, :path literal, :authority literal. */
static size_t get_block(uint8_t *b, const char *path)
{
        size_t n = 0, pl = strlen(path);

        b[n++] = 0x82;           /* :method GET */
        b[n++] = 0x87;           /* :scheme https */
        b[n++] = 0x04;           /* :path, literal without indexing, indexed name 4 */
        b[n++] = (uint8_t)pl;    /* short values only */
        memcpy(b + n, path, pl);
        n += pl;
        b[n++] = 0x01; /* :authority, indexed name 1 */
        b[n++] = 6;
        memcpy(b + n, "a.test", 6);
        return n + 6;
}

static int preface(struct fixture *f, const uint8_t *settings, size_t slen)
{
        int r = cl_send(f, PREFACE, sizeof(PREFACE) - 1);
        return r < 0 ? r : frame(f, 4, 0, 0, settings, slen);
}

static int get(struct fixture *f, uint32_t sid, const char *path, bool end_stream)
{
        uint8_t b[256];
        size_t n = get_block(b, path);
        return frame(f, 1, (uint8_t)(0x4 | (end_stream ? 0x1 : 0)), sid, b, n);
}

/* Server → client: read what is there, then walk frames. */
static void drain(struct fixture *f)
{
        ssize_t n;

        while (f->in_len < sizeof(f->in) &&
               (n = recv(f->cfd, f->in + f->in_len, sizeof(f->in) - f->in_len, 0)) > 0)
                f->in_len += (size_t)n;
}

struct fr {
        uint32_t len, sid;
        uint8_t type, flags;
        const uint8_t *p;
};

static bool next_frame(struct fixture *f, struct fr *fr)
{
        const uint8_t *b = (const uint8_t *)f->in + f->in_off;

        if (f->in_len - f->in_off < 9)
                return false;
        fr->len = (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
        if (f->in_len - f->in_off < 9 + fr->len)
                return false;
        fr->type = b[3];
        fr->flags = b[4];
        fr->sid = ((uint32_t)b[5] & 0x7f) << 24 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 8 | b[8];
        fr->p = b + 9;
        f->in_off += 9 + fr->len;
        return true;
}

static uint32_t be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct seen {
        unsigned headers, rst, goaway, settings, data_frames;
        uint64_t data_bytes;
        uint32_t goaway_code, goaway_last, rst_code, rst_sid, min_data, max_data;
        bool end_stream;
        uint64_t data_off_ok; /* bytes that matched the body */
};

static void scan(struct fixture *f, struct seen *s)
{
        struct fr fr;

        drain(f);
        while (next_frame(f, &fr)) {
                switch (fr.type) {
                case 0:
                        /* (Several streams' bytes add up past BODY: compared only while
                         * one body is read.) */
                        if (fr.len && s->data_bytes + fr.len <= BODY &&
                            memcmp(fr.p, body + s->data_bytes, fr.len) == 0)
                                s->data_off_ok += fr.len;
                        s->data_bytes += fr.len;
                        s->data_frames++;
                        if (!s->min_data || fr.len < s->min_data)
                                s->min_data = fr.len;
                        if (fr.len > s->max_data)
                                s->max_data = fr.len;
                        if (fr.flags & 1)
                                s->end_stream = true;
                        break;
                case 1:
                        s->headers++;
                        break;
                case 3:
                        s->rst++;
                        s->rst_code = be32(fr.p);
                        s->rst_sid = fr.sid;
                        break;
                case 4:
                        s->settings++;
                        break;
                case 7:
                        s->goaway++;
                        s->goaway_code = be32(fr.p + 4);
                        s->goaway_last = be32(fr.p) & 0x7fffffffu;
                        break;
                default:
                        break;
                }
        }
}

static int window_update(struct fixture *f, uint32_t sid, uint32_t inc)
{
        uint8_t p[4] = {(uint8_t)(inc >> 24), (uint8_t)(inc >> 16), (uint8_t)(inc >> 8),
                        (uint8_t)inc};
        return frame(f, 8, 0, sid, p, 4);
}

TEST(setup)
{
        char path[] = "/tmp/sluice-h2-XXXXXX";

        for (size_t i = 0; i < BODY; i++)
                body[i] = (char)(i * 31 + (i >> 8));
        body_fd = mkstemp(path);
        ASSERT_TRUE(body_fd >= 0);
        (void)unlink(path);
        ASSERT_EQ(write(body_fd, body, BODY), BODY);
}

TEST(request_and_flow_control)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(preface(f, NULL, 0), 0);
        ASSERT_EQ(get(f, 1, "/t/v/seg-1.m4s", true), 0);
        ASSERT_EQ(f->requests, 1);
        scan(f, &s);
        ASSERT_TRUE(s.settings >= 1);
        ASSERT_EQ(s.headers, 1);
        /* The client's windows are the default 65535: not a byte more before it opens them. */
        ASSERT_EQ(s.data_bytes, 65535);
        ASSERT_EQ(s.data_off_ok, 65535);
        ASSERT_TRUE(!s.end_stream);
        ASSERT_EQ(window_update(f, 0, 1 << 20), 0);
        ASSERT_EQ(window_update(f, 1, 1 << 20), 0);
        scan(f, &s);
        ASSERT_EQ(s.data_bytes, BODY);
        ASSERT_EQ(s.data_off_ok, BODY);
        ASSERT_TRUE(s.end_stream);
        ASSERT_EQ(f->gone, 1);
        ASSERT_TRUE(!h2_conn_busy(f->h));
        fx_close(f);
        free(f);
}

TEST(socket_full_mid_frame)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};
        int flushes = 0;
        /* INITIAL_WINDOW_SIZE 1 MiB so only the socket limits sending. */
        static const uint8_t st[] = {0, 4, 0, 0x10, 0, 0};

        ASSERT_EQ(fx_open(f), 0);
        f->short_writes = 3000;
        ASSERT_EQ(preface(f, st, sizeof(st)), 0);
        ASSERT_EQ(window_update(f, 0, 1 << 20), 0);
        ASSERT_EQ(get(f, 1, "/x", true), 0);
        for (int i = 0; i < 10000 && !s.end_stream; i++) {
                int r;
                scan(f, &s);
                if (s.end_stream)
                        break;
                /* As the loop would: flush again only after "wait for POLLOUT" (0). A 1 with
                 * the body unfinished and the window open would leave the stream stalled. */
                r = h2_conn_flush(f->h);
                if (r == 0)
                        flushes++;
                else if (r == 1) {
                        scan(f, &s);
                        if (!s.end_stream)
                                TEST_FAIL_AT("flush says idle with %llu of %d bytes sent",
                                             (unsigned long long)s.data_bytes, BODY);
                }
        }
        ASSERT_TRUE(flushes > 0);
        ASSERT_EQ(s.data_bytes, BODY);
        ASSERT_EQ(s.data_off_ok, BODY);
        fx_close(f);
        free(f);
}

/* The body's DATA frames when the client says max_frame (0: says nothing) and the transport
 * caps payloads at max_data (0: no cap): *ret_max is the largest payload seen. */
static void largest_frame(uint32_t max_frame, size_t max_data, uint32_t *ret_max)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};
        uint8_t st[12] = {0, 4, 0, 0x10, 0, 0, /* INITIAL_WINDOW_SIZE 1 MiB */
                          0, 5, (uint8_t)(max_frame >> 24), (uint8_t)(max_frame >> 16),
                          (uint8_t)(max_frame >> 8), (uint8_t)max_frame};

        *ret_max = 0;
        ASSERT_EQ(fx_open(f), 0);
        f->h->io.max_data = max_data;
        ASSERT_EQ(preface(f, st, max_frame ? 12 : 6), 0);
        ASSERT_EQ(window_update(f, 0, 1 << 20), 0);
        ASSERT_EQ(get(f, 1, "/x", true), 0);
        for (int i = 0; i < 1000 && !s.end_stream; i++) {
                scan(f, &s);
                if (!s.end_stream)
                        ASSERT_TRUE(h2_conn_flush(f->h) >= 0);
        }
        ASSERT_TRUE(s.end_stream);
        ASSERT_EQ(s.data_bytes, BODY);
        ASSERT_EQ(s.data_off_ok, BODY);
        ASSERT_EQ(s.goaway, 0);
        fx_close(f);
        free(f);
        *ret_max = s.max_data;
}

/* DATA frames are as large as the client allows (RFC 9113 §4.2, §6.5.2), up to
 * H2_MAX_DATA_FRAME and the transport's cap; never larger. */
TEST(frame_size_follows_settings)
{
        static const struct {
                uint32_t max_frame;
                size_t max_data;
                uint32_t want;
        } cases[] = {
            {0, 0, 16384},
            {16384, 0, 16384},
            {20000, 0, 20000},
            {1 << 20, 0, H2_MAX_DATA_FRAME},
            {(1 << 24) - 1, 0, H2_MAX_DATA_FRAME},
            {1 << 20, 16384 - 9, 16384 - 9},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                uint32_t got;
                largest_frame(cases[i].max_frame, cases[i].max_data, &got);
                if (test_failed)
                        return;
                ASSERT_EQ(got, cases[i].want);
        }
}

TEST(bad_preface)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(cl_send(f, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27), -EPROTO);
        scan(f, &s);
        ASSERT_EQ(f->requests, 0);
        fx_close(f);
        free(f);
}

/* GET then RST_STREAM(CANCEL) on stream after stream of path, until the connection refuses
 * (*ret_r); the next stream id is returned. */
static uint32_t reset_flood(struct fixture *f, struct seen *s, const char *path, int *ret_r)
{
        static const uint8_t cancel[4] = {0, 0, 0, 8};
        int r = 0;
        uint32_t sid;

        for (sid = 1; sid < 20000 && r == 0; sid += 2) {
                r = get(f, sid, path, true);
                if (r == 0)
                        r = frame(f, 3, 0, sid, cancel, 4);
                scan(f, s);
        }
        scan(f, s);
        *ret_r = r;
        return sid;
}

TEST(rapid_reset)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};
        int r = 0;

        ASSERT_EQ(fx_open(f), 0);
        f->respond = false; /* a miss: the answer would come later */
        ASSERT_EQ(preface(f, NULL, 0), 0);
        (void)reset_flood(f, &s, "/m", &r);
        ASSERT_EQ(r, -EPROTO);
        ASSERT_EQ(s.goaway, 1);
        ASSERT_EQ(s.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
        /* Work started for reset streams stays near the burst allowance. */
        ASSERT_TRUE(f->requests <= limits.max_resets_per_s + 2);
        ASSERT_EQ(h2_conn_stats(f->h)->client_resets, f->gone);
        fx_close(f);
        free(f);
}

/* Resets of streams already answered (nothing of the edge's to cancel): past the allowance the
 * connection ends with ENHANCE_YOUR_CALM, as for other floods, not with nghttp2's own
 * INTERNAL_ERROR. */
TEST(rapid_reset_of_answered_streams)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};
        int r = 0;
        uint32_t sid;

        ASSERT_EQ(fx_open(f), 0);
        f->tiny = true;
        ASSERT_EQ(preface(f, NULL, 0), 0);
        sid = reset_flood(f, &s, "/s", &r);
        ASSERT_EQ(r, -EPROTO);
        ASSERT_EQ(s.goaway, 1);
        ASSERT_EQ(s.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
        ASSERT_EQ(h2_conn_stats(f->h)->goaway_reason, NGHTTP2_ENHANCE_YOUR_CALM);
        ASSERT_TRUE(sid < 2 * (limits.max_resets_per_s + 8));
        fx_close(f);
        free(f);
}

TEST(continuation_flood)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};
        uint8_t b[256];
        size_t n;
        int r = 0;

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(preface(f, NULL, 0), 0);
        n = get_block(b, "/c");
        /* HEADERS without END_HEADERS, then CONTINUATIONs that never end the block. */
        ASSERT_EQ(frame(f, 1, 0x1, 1, b, 1), 0);
        for (int i = 0; i < 100 && r == 0; i++)
                r = frame(f, 9, 0, 1, "\x82", 1);
        (void)n;
        scan(f, &s);
        /* nghttp2 stops at its bound with a fatal error: the connection is closed. */
        ASSERT_EQ(r, -EPROTO);
        ASSERT_EQ(f->requests, 0);
        fx_close(f);
        free(f);
}

TEST(hpack_bomb)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};
        static uint8_t b[8192];
        size_t n = 0, vlen = 4000;
        int r = 0;

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(preface(f, NULL, 0), 0);
        for (uint32_t sid = 1; sid <= 2 * H2_MAX_HEADER_ABUSE + 1 && r == 0; sid += 2) {
                n = get_block(b, "/b");
                if (sid == 1) {
                        /* Literal with incremental indexing, new name "x" and a 4000-byte
                         * value: it enters the dynamic table as index 62. */
                        b[n++] = 0x40;
                        b[n++] = 1;
                        b[n++] = 'x';
                        b[n++] = 0x7f; /* value length 4000 = 127 + 3873 (7-bit prefix) */
                        b[n++] = (uint8_t)(((vlen - 127) & 0x7f) | 0x80);
                        b[n++] = (uint8_t)((vlen - 127) >> 7);
                        memset(b + n, 'y', vlen);
                        n += vlen;
                }
                /* A few bytes that each decode to 4 KB: 100 references = 400 KB. */
                for (int i = 0; i < 100; i++)
                        b[n++] = 0xbe; /* indexed, 62 */
                r = frame(f, 1, 0x5, sid, b, n);
                scan(f, &s);
        }
        /* The first offences are refused on their streams (431), never reset; the third
         * ends the connection. */
        ASSERT_EQ(f->requests, H2_MAX_HEADER_ABUSE - 1);
        ASSERT_EQ(f->too_large, H2_MAX_HEADER_ABUSE - 1);
        ASSERT_EQ(h2_conn_stats(f->h)->header_overflow, H2_MAX_HEADER_ABUSE);
        ASSERT_EQ(s.rst, 0);
        ASSERT_EQ(s.goaway, 1);
        ASSERT_EQ(s.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
        fx_close(f);
        free(f);
}

/* A request with one more field "x-big" of vlen bytes (literal, new name, not indexed). */
static size_t big_block(uint8_t *b, size_t vlen)
{
        size_t n = get_block(b, "/h");

        b[n++] = 0x00;
        b[n++] = 5;
        memcpy(b + n, "x-big", 5);
        n += 5;
        b[n++] = 0x7f; /* 7-bit prefix, then vlen - 127 in 7-bit groups */
        for (size_t v = vlen - 127;; v >>= 7) {
                b[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
                if (v < 0x80)
                        break;
        }
        memset(b + n, 'v', vlen);
        return n + vlen;
}

static struct h2_stream *last_request;

static void on_request_keep(void *ctx, struct h2_stream *st)
{
        struct fixture *f = ctx;

        f->requests++;
        last_request = st;
}

/*
 * A request's header store grows with what it holds: 100 streams whose requests never end
 * hold a few hundred bytes each, not max_header_list; a block near the limit still fits
 * whole, and one over it is dispatched to be refused, with no reset (hpack_bomb: the third
 * closes).
 */
TEST(header_store_grows)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};
        static uint8_t b[16384];
        size_t n, held = 0, vlen = limits.max_header_list - 600, len;
        unsigned open = 0;
        const char *v;

        ASSERT_EQ(fx_open(f), 0);
        f->respond = false;
        ASSERT_EQ(preface(f, NULL, 0), 0);
        ASSERT_EQ(frame(f, 4, 1, 0, NULL, 0), 0); /* ACK our SETTINGS */
        for (uint32_t sid = 1; sid < 2 * limits.max_concurrent_streams; sid += 2)
                ASSERT_EQ(get(f, sid, "/unfinished", false), 0);
        for (struct h2_stream *st = f->h->streams; st; st = st->next) {
                ASSERT_TRUE(st->hlen > 0 && st->hcap == H2_HBUF_MIN);
                held += st->hcap;
                open++;
        }
        ASSERT_EQ(open, limits.max_concurrent_streams);
        ASSERT_TRUE(held * 16 <= (size_t)open * limits.max_header_list);
        fx_close(f);

        /* Near the limit: grown by doubling to max_header_list, every byte kept. */
        ASSERT_EQ(fx_open(f), 0);
        f->respond = false;
        ASSERT_EQ(preface(f, NULL, 0), 0);
        {
                struct h2_io io = f->h->io;
                io.on_request = on_request_keep;
                f->h->io = io;
        }
        n = big_block(b, vlen);
        ASSERT_EQ(frame(f, 1, 0x5, 1, b, n), 0);
        ASSERT_EQ(f->requests, 1);
        v = h2_stream_header(last_request, "x-big", &len);
        ASSERT_TRUE(v != NULL);
        ASSERT_EQ(len, vlen);
        ASSERT_TRUE(v[0] == 'v' && v[vlen - 1] == 'v' && v[vlen] == '\0');
        ASSERT_EQ(last_request->hcap, limits.max_header_list);
        v = h2_stream_path(last_request, &len);
        ASSERT_TRUE(len == 2 && !memcmp(v, "/h", 2));
        /* Over it: dispatched to be refused, its fields cut short (no x-big), no reset; the
         * connection goes on. */
        n = big_block(b, limits.max_header_list - 100); /* one frame, over by its 32s */
        ASSERT_EQ(frame(f, 1, 0x5, 3, b, n), 0);
        scan(f, &s);
        ASSERT_EQ(f->requests, 2);
        ASSERT_EQ(h2_stream_id(last_request), 3);
        ASSERT_TRUE(h2_stream_fields_too_large(last_request));
        ASSERT_TRUE(h2_stream_header(last_request, "x-big", &len) == NULL);
        ASSERT_EQ(s.rst, 0);
        ASSERT_EQ(s.goaway, 0);
        ASSERT_EQ(h2_conn_stats(f->h)->header_overflow, 1);
        fx_close(f);
        free(f);
}

static void flood(uint8_t type, uint8_t flags, uint32_t sid, const void *p, size_t len,
                  bool open_stream)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};
        int r = 0, i;

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(preface(f, NULL, 0), 0);
        if (open_stream)
                ASSERT_EQ(get(f, 1, "/p", false), 0); /* a request whose body never ends */
        for (i = 0; i < 5000 && r == 0; i++) {
                r = frame(f, type, flags, sid, p, len);
                if ((i & 63) == 0)
                        scan(f, &s);
        }
        scan(f, &s);
        ASSERT_EQ(r, -EPROTO);
        ASSERT_TRUE(i <= (int)limits.max_control_per_s + 2);
        ASSERT_EQ(s.goaway, 1);
        ASSERT_EQ(s.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
        fx_close(f);
        free(f);
}

TEST(settings_flood)
{
        flood(4, 0, 0, NULL, 0, false);
}

TEST(ping_flood)
{
        flood(6, 0, 0, "12345678", 8, false);
}

TEST(empty_data_flood)
{
        flood(0, 0, 1, NULL, 0, true);
}

TEST(priority_flood)
{
        flood(2, 0, 3, "\0\0\0\1\x10", 5, false);
}

/* WINDOW_UPDATEs that no DATA paid for, on the connection and on an open stream (on a closed
 * one: closed_stream_flood). */
TEST(window_update_flood)
{
        flood(8, 0, 0, "\0\0\0\1", 4, false);
        flood(8, 0, 1, "\0\0\0\1", 4, true);
}

/* Frame types nghttp2 does not know are ignored (RFC 9113 §5.5), and counted. */
TEST(unknown_frame_flood)
{
        flood(0x20, 0, 0, "x", 1, false);
        flood(0xff, 0xff, 1, NULL, 0, true);
        flood(0x0a, 0, 0, "\0\0", 2, false); /* ALTSVC, which a server ignores */
}

/* PING ACKs: the edge sends no PING. */
TEST(ping_ack_flood)
{
        flood(6, 1, 0, "12345678", 8, false);
}

/* GOAWAYs over and over while a stream is open (with none, the first ends the session). */
TEST(goaway_flood)
{
        flood(7, 0, 0, "\0\0\0\0\0\0\0\0", 8, true);
}

/* A client's GOAWAY on an idle connection ends it cleanly: no abuse counted. */
TEST(client_goaway_idle)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(preface(f, NULL, 0), 0);
        ASSERT_EQ(get(f, 1, "/a", true), 0);
        ASSERT_EQ(window_update(f, 0, BODY), 0);
        ASSERT_EQ(window_update(f, 1, BODY), 0);
        scan(f, &s);
        ASSERT_TRUE(s.end_stream);
        ASSERT_EQ(frame(f, 7, 0, 0, "\0\0\0\0\0\0\0\0", 8), 0);
        ASSERT_EQ(h2_conn_flush(f->h), 2);
        ASSERT_EQ(h2_conn_stats(f->h)->goaway_reason, 0);
        scan(f, &s);
        ASSERT_EQ(s.goaway, 0);
        fx_close(f);
        free(f);
}

/* A request body a byte at a time (the edge takes none; nghttp2 gives the window back). */
TEST(small_data_flood)
{
        flood(0, 0, 1, "x", 1, true);
}

/* Frames on stream 1 once its answer is out: a WINDOW_UPDATE there nghttp2 drops after its
 * header (counted all the same). */
static void closed_stream_flood(uint8_t type, uint8_t flags, const void *p, size_t len,
                                uint32_t code)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};
        static const uint8_t wide[] = {0, 4, 0, 0x10, 0, 0}; /* INITIAL_WINDOW_SIZE 1 MiB */
        int r = 0, i;

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(preface(f, wide, sizeof(wide)), 0);
        ASSERT_EQ(window_update(f, 0, 1 << 20), 0);
        ASSERT_EQ(get(f, 1, "/a", true), 0);
        scan(f, &s);
        ASSERT_TRUE(s.end_stream);
        ASSERT_EQ(f->gone, 1);
        f->h->wu_credit = 0; /* what the body paid for, spent */
        for (i = 0; i < 5000 && r == 0; i++) {
                r = frame(f, type, flags, 1, p, len);
                if ((i & 63) == 0)
                        scan(f, &s);
        }
        scan(f, &s);
        ASSERT_EQ(r, -EPROTO);
        ASSERT_TRUE(i <= (int)limits.max_control_per_s + 2);
        ASSERT_EQ(f->requests, 1);
        ASSERT_EQ(s.goaway, 1);
        ASSERT_EQ(s.goaway_code, code);
        fx_close(f);
        free(f);
}

TEST(closed_stream_flood)
{
        uint8_t b[256];
        size_t n = get_block(b, "/t");

        closed_stream_flood(8, 0, "\0\0\0\1", 4, NGHTTP2_ENHANCE_YOUR_CALM);
        /* While nghttp2 remembers the stream, a HEADERS there is its STREAM_CLOSED (§5.1). */
        closed_stream_flood(1, 0x5, b, n, NGHTTP2_STREAM_CLOSED);
}

/*
 * A client that gives window back as it reads, a WINDOW_UPDATE for the stream and one for the
 * connection per DATA frame received (as curl and Chromium may), is never cut off: 300
 * responses of BODY bytes under default windows, several times the per-second budget of
 * updates in well under a second.
 */
TEST(window_returned_per_frame)
{
        struct fixture *f = malloc(sizeof(*f));
        unsigned updates = 0, ended = 0;
        uint64_t control;

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(preface(f, NULL, 0), 0);
        control = h2_conn_stats(f->h)->control_frames; /* the client's SETTINGS */
        for (uint32_t sid = 1; sid < 600; sid += 2) {
                struct fr fr;
                bool end = false;
                ASSERT_EQ(get(f, sid, "/r", true), 0);
                while (!end) {
                        drain(f);
                        ASSERT_TRUE(f->in_off < f->in_len); /* never stalled */
                        while (next_frame(f, &fr)) {
                                ASSERT_TRUE(fr.type != 7 && fr.type != 3);
                                if (fr.type != 0)
                                        continue;
                                end = end || (fr.flags & 1);
                                if (!fr.len)
                                        continue;
                                ASSERT_EQ(window_update(f, fr.sid, fr.len), 0);
                                ASSERT_EQ(window_update(f, 0, fr.len), 0);
                                updates += 2;
                        }
                        /* Keep the buffer from filling: what was read is done with. */
                        memmove(f->in, f->in + f->in_off, f->in_len - f->in_off);
                        f->in_len -= f->in_off;
                        f->in_off = 0;
                }
                ended++;
        }
        ASSERT_EQ(ended, 300);
        ASSERT_TRUE(updates > 3 * limits.max_control_per_s);
        ASSERT_EQ(h2_conn_stats(f->h)->goaway_reason, 0);
        ASSERT_EQ(h2_conn_stats(f->h)->control_frames, control); /* paid for, every one */
        fx_close(f);
        free(f);
}

/* Read, and let the session write what a full socketpair held back, until it has no more. */
static void pump(struct fixture *f, struct seen *s)
{
        for (int i = 0; i < 100; i++) {
                scan(f, s);
                if (h2_conn_flush(f->h) != 0)
                        break;
        }
        scan(f, s);
}

/* A WINDOW_UPDATE resumes the streams waiting for window, and looks at no other. */
TEST(window_waiters_listed)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};
        unsigned waiting = 0;

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(preface(f, NULL, 0), 0);
        ASSERT_EQ(window_update(f, 0, 1 << 24), 0);
        for (uint32_t sid = 1; sid <= 9; sid += 2)
                ASSERT_EQ(get(f, sid, "/w", true), 0);
        pump(f, &s);
        ASSERT_EQ(s.data_bytes, 5 * 65535);
        /* Thin updates on streams 1 and 3: each waits for a useful window. */
        ASSERT_EQ(window_update(f, 1, 100), 0);
        ASSERT_EQ(window_update(f, 3, 100), 0);
        pump(f, &s);
        ASSERT_EQ(s.data_bytes, 5 * 65535);
        for (struct h2_stream *st = f->h->waiters; st; st = st->wnext) {
                ASSERT_TRUE(st->window_wait && (st->id == 1 || st->id == 3));
                waiting++;
        }
        ASSERT_EQ(waiting, 2);
        ASSERT_EQ(window_update(f, 3, H2_MIN_DATA), 0);
        pump(f, &s);
        ASSERT_EQ(s.data_bytes, 5 * 65535 + H2_MIN_DATA + 100);
        ASSERT_TRUE(f->h->waiters && f->h->waiters->id == 1 && !f->h->waiters->wnext);
        /* Reset while waiting: off the list. */
        ASSERT_EQ(frame(f, 3, 0, 1, "\0\0\0\x8", 4), 0);
        ASSERT_TRUE(!f->h->waiters);
        fx_close(f);
        free(f);
}

/* A client that allows the default windows (65535) and, once they are used up, opens the
 * stream's a byte at a time gets no 1-byte frames: nothing until H2_MIN_DATA fits. */
TEST(zero_window_dribble)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(preface(f, NULL, 0), 0);
        ASSERT_EQ(window_update(f, 0, 1 << 20), 0);
        ASSERT_EQ(get(f, 1, "/z", true), 0);
        pump(f, &s);
        ASSERT_EQ(s.headers, 1);
        ASSERT_EQ(s.data_bytes, 65535);
        /* A few bytes at a time: nothing goes out until a useful frame fits. (Updates that
         * pay for no DATA spend the control budget, so 1-byte steps all the way would be a
         * WINDOW_UPDATE flood: see window_update_flood.) */
        for (int i = 0; i < 100; i++)
                ASSERT_EQ(window_update(f, 1, 1), 0);
        for (int i = 0; i < 15; i++)
                ASSERT_EQ(window_update(f, 1, (H2_MIN_DATA - 1 - 100) / 15), 0);
        ASSERT_EQ(window_update(f, 1, (H2_MIN_DATA - 1 - 100) % 15), 0);
        scan(f, &s);
        ASSERT_EQ(s.data_bytes, 65535);
        ASSERT_EQ(window_update(f, 1, 1), 0);
        scan(f, &s);
        ASSERT_EQ(s.data_bytes, 65535 + H2_MIN_DATA);
        ASSERT_EQ(window_update(f, 1, BODY), 0);
        scan(f, &s);
        ASSERT_EQ(s.data_bytes, BODY);
        ASSERT_EQ(s.data_off_ok, BODY);
        ASSERT_TRUE(s.min_data >= H2_MIN_DATA);
        fx_close(f);
        free(f);
}

/* SETTINGS_INITIAL_WINDOW_SIZE 1 (h2spec 6.9.1/1): a 1-byte DATA frame at once, then each
 * WINDOW_UPDATE moves exactly what it grants, however small. */
TEST(small_initial_window)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};
        static const uint8_t st[] = {0, 4, 0, 0, 0, 1}; /* INITIAL_WINDOW_SIZE 1 */

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(preface(f, st, sizeof(st)), 0);
        ASSERT_EQ(window_update(f, 0, 1 << 20), 0);
        ASSERT_EQ(get(f, 1, "/w", true), 0);
        scan(f, &s);
        ASSERT_EQ(s.data_frames, 1);
        ASSERT_EQ(s.data_bytes, 1);
        ASSERT_EQ(window_update(f, 1, 1), 0);
        scan(f, &s);
        ASSERT_EQ(s.data_frames, 2);
        ASSERT_EQ(s.data_bytes, 2);
        ASSERT_EQ(window_update(f, 1, 1000), 0);
        scan(f, &s);
        ASSERT_EQ(s.data_frames, 3);
        ASSERT_EQ(s.data_bytes, 1002);
        ASSERT_EQ(window_update(f, 1, BODY), 0);
        scan(f, &s);
        ASSERT_EQ(s.data_bytes, BODY);
        ASSERT_EQ(s.data_off_ok, BODY);
        ASSERT_TRUE(s.end_stream);
        fx_close(f);
        free(f);
}

/* h2spec 6.9.2/1: the window goes from 0 to 1 through SETTINGS after the request. */
TEST(settings_window_to_one)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};
        static const uint8_t zero[] = {0, 4, 0, 0, 0, 0}, one[] = {0, 4, 0, 0, 0, 1};

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(preface(f, zero, sizeof(zero)), 0);
        ASSERT_EQ(get(f, 1, "/w", true), 0);
        scan(f, &s);
        ASSERT_EQ(s.headers, 1);
        ASSERT_EQ(s.data_frames, 0);
        ASSERT_EQ(frame(f, 4, 0, 0, one, sizeof(one)), 0);
        scan(f, &s);
        ASSERT_EQ(s.data_frames, 1);
        ASSERT_EQ(s.data_bytes, 1);
        fx_close(f);
        free(f);
}

/* What our own frames left of a full grant goes out, whatever its size: here the connection
 * window, shared by two streams, ends 3616 bytes short of a 16384-byte frame. */
TEST(leftover_window_sent)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(preface(f, NULL, 0), 0);
        ASSERT_EQ(get(f, 1, "/a", true), 0);
        scan(f, &s);
        ASSERT_EQ(s.data_bytes, 65535); /* both windows used up */
        ASSERT_EQ(get(f, 3, "/b", true), 0);
        ASSERT_EQ(window_update(f, 0, 20000), 0);
        scan(f, &s);
        ASSERT_EQ(s.data_bytes, 65535 + 20000);
        ASSERT_EQ(s.min_data, 20000 - 16384);
        /* The same window opened a byte at a time is a dribble: it waits. */
        for (int i = 0; i < 100; i++)
                ASSERT_EQ(window_update(f, 0, 1), 0);
        scan(f, &s);
        ASSERT_EQ(s.data_bytes, 65535 + 20000);
        fx_close(f);
        free(f);
}

TEST(concurrent_streams_bounded)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};
        static const uint8_t ack[] = {0};

        ASSERT_EQ(fx_open(f), 0);
        f->respond = false;
        ASSERT_EQ(preface(f, NULL, 0), 0);
        ASSERT_EQ(frame(f, 4, 1, 0, ack, 0), 0); /* ACK our SETTINGS */
        for (uint32_t sid = 1; sid <= 2 * (limits.max_concurrent_streams + 5); sid += 2)
                (void)get(f, sid, "/s", true);
        scan(f, &s);
        ASSERT_EQ(f->requests, limits.max_concurrent_streams);
        /* Past the acknowledged limit nghttp2 treats it as a connection error. */
        ASSERT_TRUE(s.rst >= 1 || (s.goaway == 1 && s.goaway_code == NGHTTP2_PROTOCOL_ERROR));
        fx_close(f);
        free(f);
}

/* A client that reads nothing and opens stream after stream past the limit (before it has
 * acknowledged our SETTINGS, nghttp2 refuses each with a queued RST_STREAM): the queue of
 * frames it will not read stays bounded, and the connection ends with ENHANCE_YOUR_CALM. */
TEST(refused_streams_unread)
{
        struct fixture *f = malloc(sizeof(*f));
        int r = 0;
        uint32_t sid = 1;

        ASSERT_EQ(fx_open(f), 0);
        f->respond = false;
        f->stalled = true;
        ASSERT_EQ(preface(f, NULL, 0), 0);
        for (unsigned i = 0; i < limits.max_concurrent_streams; i++, sid += 2)
                ASSERT_EQ(get(f, sid, "/s", false), 0);
        for (unsigned i = 0; i < 5000 && r == 0; i++, sid += 2)
                r = get(f, sid, "/s", false);
        ASSERT_EQ(r, -EPROTO);
        ASSERT_TRUE(sid < 2 * (4 * limits.max_concurrent_streams + 512));
        ASSERT_EQ(h2_conn_stats(f->h)->goaway_reason, NGHTTP2_ENHANCE_YOUR_CALM);
        fx_close(f);
        free(f);
}

TEST(skipped_stream_id)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(preface(f, NULL, 0), 0);
        ASSERT_EQ(get(f, 1, "/a", true), 0);
        ASSERT_EQ(get(f, 7, "/b", true), 0);
        /* 3 and 5 were skipped, so closed without ever opening (RFC 9113 §5.1.1). */
        ASSERT_EQ(get(f, 3, "/c", true), -EPROTO);
        scan(f, &s);
        ASSERT_EQ(f->requests, 2);
        ASSERT_EQ(s.goaway, 1);
        ASSERT_EQ(s.goaway_code, NGHTTP2_PROTOCOL_ERROR);
        fx_close(f);
        free(f);
}

TEST(initial_window_overflow)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};
        static const uint8_t st[] = {0, 4, 0, 1, 0, 0}; /* INITIAL_WINDOW_SIZE 65536 */

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(preface(f, NULL, 0), 0);
        ASSERT_EQ(get(f, 1, "/a", false), 0);
        ASSERT_EQ(window_update(f, 1, 0x7fffffff - 65535), 0); /* the largest window */
        /* One more byte through SETTINGS: a connection error (§6.9.2), not a stream reset. */
        ASSERT_EQ(frame(f, 4, 0, 0, st, sizeof(st)), -EPROTO);
        scan(f, &s);
        ASSERT_EQ(s.goaway, 1);
        ASSERT_EQ(s.goaway_code, NGHTTP2_FLOW_CONTROL_ERROR);
        fx_close(f);
        free(f);
}

/* Two INITIAL_WINDOW_SIZE values in one SETTINGS frame, the first taking a stream's window past
 * 2^31-1 and the second back under it: processed in order (§6.5.3), the first is the error
 * (nghttp2 folds them into the last before any callback). The frame arrives whole with a PING
 * behind it in the same input, or a byte per input. */
TEST(initial_window_overflow_mid_frame)
{
        static const uint8_t st[] = {0, 4, 0x7f, 0xff, 0xff, 0xff, /* 2^31-1 */
                                     0, 4, 0, 0, 0xff, 0xff};      /* 65535 */
        static const uint8_t ping[8] = "pingpong";

        for (int bytewise = 0; bytewise < 2; bytewise++) {
                struct fixture *f = malloc(sizeof(*f));
                struct seen s = {0};
                uint8_t b[2 * 9 + sizeof(st) + sizeof(ping)];
                size_t n = frame_pack(b, 4, 0, 0, st, sizeof(st));
                int r = 0;

                n += frame_pack(b + n, 6, 0, 0, ping, sizeof(ping));
                ASSERT_EQ(fx_open(f), 0);
                ASSERT_EQ(preface(f, NULL, 0), 0);
                ASSERT_EQ(get(f, 1, "/a", false), 0);
                ASSERT_EQ(window_update(f, 1, 1000), 0);
                if (bytewise)
                        for (size_t i = 0; i < 9 + sizeof(st) && r == 0; i++)
                                r = cl_send(f, b + i, 1);
                else
                        r = cl_send(f, b, n);
                ASSERT_EQ(r, -EPROTO);
                scan(f, &s);
                ASSERT_EQ(s.goaway, 1);
                ASSERT_EQ(s.goaway_code, NGHTTP2_FLOW_CONTROL_ERROR);
                fx_close(f);
                free(f);
        }
}

TEST(progress_only_from_answers)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};
        static const uint8_t st[] = {0, 4, 0, 0, 0, 0}; /* INITIAL_WINDOW_SIZE 0 */

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(preface(f, st, sizeof(st)), 0);
        ASSERT_EQ(window_update(f, 0, 1 << 20), 0);
        (void)h2_conn_progressed(f->h);
        ASSERT_EQ(get(f, 1, "/z", true), 0);
        ASSERT_TRUE(h2_conn_progressed(f->h)); /* the response head */
        /* A PING's ACK moves nothing, and DATA a few bytes at a time (the window this client
         * asked for is 0, so each byte it grants goes out) moves nothing until H2_MIN_DATA
         * bytes have: a dribble cannot hold the connection past its send deadline. */
        ASSERT_EQ(frame(f, 6, 0, 0, "12345678", 8), 0);
        ASSERT_TRUE(!h2_conn_progressed(f->h));
        for (int i = 0; i < H2_MIN_DATA - 1; i++) {
                ASSERT_EQ(window_update(f, 1, 1), 0);
                scan(f, &s); /* tiny sends fill a socketpair long before its bytes would */
                ASSERT_TRUE(!h2_conn_progressed(f->h));
        }
        scan(f, &s);
        ASSERT_EQ(s.data_bytes, H2_MIN_DATA - 1);
        ASSERT_EQ(window_update(f, 1, 1), 0);
        ASSERT_TRUE(h2_conn_progressed(f->h));
        ASSERT_TRUE(!h2_conn_progressed(f->h));
        ASSERT_EQ(window_update(f, 1, H2_MIN_DATA), 0);
        ASSERT_TRUE(h2_conn_progressed(f->h));
        /* The body's end counts, however short its last frame. */
        ASSERT_EQ(window_update(f, 1, BODY - 2 * H2_MIN_DATA - 1), 0); /* all but a byte */
        ASSERT_TRUE(h2_conn_progressed(f->h));
        ASSERT_EQ(window_update(f, 1, 1), 0);
        ASSERT_TRUE(h2_conn_progressed(f->h));
        scan(f, &s);
        ASSERT_EQ(s.data_bytes, BODY);
        ASSERT_TRUE(s.end_stream);
        fx_close(f);
        free(f);
}

/* After a scan, whether n GOAWAYs came, the last NO_ERROR naming last. */
static bool goaways_seen(struct fixture *f, struct seen *s, unsigned n, uint32_t last)
{
        scan(f, s);
        return s->goaway == n && s->goaway_code == NGHTTP2_NO_ERROR && s->goaway_last == last;
}

/* Drain (RFC 9113 §6.8): a GOAWAY NO_ERROR naming 2^31-1, then a PING; a stream opened before
 * the ACK is served; the ACK brings the final GOAWAY naming the last stream, which still
 * finishes; a stream opened after it is not dispatched, and the session ends when none is
 * left. */
TEST(graceful_shutdown)
{
        static const uint8_t cancel[4] = {0, 0, 0, 8};
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};
        uint8_t b[300], ping[8];
        size_t n;
        struct fr fr;

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(preface(f, NULL, 0), 0);
        ASSERT_EQ(get(f, 1, "/a", true), 0); /* held after 65535 bytes by the windows */
        scan(f, &s);
        ASSERT_EQ(s.data_bytes, 65535);
        ASSERT_TRUE(h2_conn_shutdown(f->h));
        ASSERT_TRUE(!h2_conn_shutdown(f->h)); /* a second drain request changes nothing */
        ASSERT_EQ(h2_conn_flush(f->h), 1);
        /* The notice, then its PING. */
        drain(f);
        ASSERT_TRUE(next_frame(f, &fr) && fr.type == 7 && be32(fr.p) == 0x7fffffffu);
        ASSERT_EQ(be32(fr.p + 4), NGHTTP2_NO_ERROR);
        ASSERT_TRUE(next_frame(f, &fr) && fr.type == 6 && fr.flags == 0 && fr.len == 8);
        memcpy(ping, fr.p, sizeof(ping));
        ASSERT_TRUE(!next_frame(f, &fr));
        ASSERT_TRUE(h2_conn_shutdown_waits(f->h));
        /* A stream the client opened before it read the notice: taken (then cancelled, so
         * that its body leaves the counts below alone). */
        ASSERT_EQ(get(f, 3, "/b", true), 0);
        ASSERT_EQ(f->requests, 2);
        ASSERT_EQ(frame(f, 3, 0, 3, cancel, 4), 0);
        /* The PING's ACK queues the final GOAWAY; a stream that arrives after that, before it
         * went out, is refused. */
        n = frame_pack(b, 6, 1, 0, ping, sizeof(ping));
        n += frame_pack(b + n, 1, 0x5, 5, b + n + 9, get_block(b + n + 9, "/c"));
        ASSERT_EQ(h2_conn_input(f->h, b, n), 0);
        ASSERT_TRUE(!h2_conn_shutdown_waits(f->h));
        ASSERT_EQ(h2_conn_flush(f->h), 1);
        ASSERT_TRUE(goaways_seen(f, &s, 1, 3));
        ASSERT_EQ(s.rst, 1);
        ASSERT_EQ(s.rst_sid, 5);
        ASSERT_EQ(s.rst_code, NGHTTP2_REFUSED_STREAM);
        /* And one after it went out: ignored (RFC 9113 §6.8). */
        ASSERT_EQ(get(f, 7, "/d", true), 0);
        ASSERT_EQ(f->requests, 2);
        ASSERT_EQ(h2_conn_stats(f->h)->goaway_reason, 0);
        ASSERT_EQ(window_update(f, 0, BODY), 0);
        ASSERT_EQ(window_update(f, 1, BODY), 0);
        scan(f, &s);
        ASSERT_EQ(s.data_bytes, BODY);
        ASSERT_EQ(s.data_off_ok, BODY);
        ASSERT_TRUE(s.end_stream);
        ASSERT_EQ(s.headers, 2);
        ASSERT_EQ(h2_conn_flush(f->h), 2);
        ASSERT_TRUE(!h2_conn_busy(f->h));
        /* Input after the end is no abuse: the GOAWAY said NO_ERROR and stays so. */
        ASSERT_EQ(frame(f, 6, 0, 0, "12345678", 8), 0);
        ASSERT_EQ(h2_conn_stats(f->h)->goaway_reason, 0);
        fx_close(f);
        free(f);
}

/* A client that never answers the notice's PING: h2_conn_shutdown_final (the caller's timer)
 * sends the final GOAWAY all the same, once. */
TEST(graceful_shutdown_without_ack)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(preface(f, NULL, 0), 0);
        ASSERT_TRUE(!h2_conn_shutdown_final(f->h)); /* no notice yet */
        ASSERT_TRUE(h2_conn_shutdown(f->h));
        ASSERT_EQ(h2_conn_flush(f->h), 1);
        ASSERT_TRUE(h2_conn_shutdown_final(f->h));
        ASSERT_TRUE(!h2_conn_shutdown_final(f->h));
        ASSERT_EQ(h2_conn_flush(f->h), 2);
        ASSERT_TRUE(goaways_seen(f, &s, 2, 0));
        fx_close(f);
        free(f);
}

/*
 * Two streams whose answers wait for their windows, every byte read by the client, and then
 * the transport says its last 'back' bytes (all of them: UINT64_MAX) never left: each stream
 * is charged the DATA payload that lies before the cut on the wire, a frame cut through
 * counting up to the cut.
 */
static void cut_case(uint64_t back)
{
        struct fixture *f = malloc(sizeof(*f));
        uint64_t want[2] = {0, 0};
        struct fr fr;
        size_t cut;

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(preface(f, NULL, 0), 0);
        ASSERT_EQ(window_update(f, 0, 1 << 20), 0);
        ASSERT_EQ(get(f, 1, "/a", true), 0);
        ASSERT_EQ(get(f, 3, "/b", true), 0);
        drain(f);
        if (back > f->in_len)
                back = f->in_len;
        cut = f->in_len - back;
        while (next_frame(f, &fr)) {
                size_t start = f->in_off - fr.len;
                if (fr.type == 0 && start < cut && (fr.sid == 1 || fr.sid == 3))
                        want[fr.sid / 2] += cut - start < fr.len ? cut - start : fr.len;
        }
        if (back == 0)
                ASSERT_EQ(want[0] + want[1], 2 * 65535);
        ASSERT_EQ(f->gone, 0);
        f->unsent = back;
        h2_conn_free(f->h);
        ASSERT_EQ(f->gone, 2);
        ASSERT_EQ(f->gone_sent[0], want[0]);
        ASSERT_EQ(f->gone_sent[1], want[1]);
        (void)close(f->sfd);
        (void)close(f->cfd);
        free(f);
}

TEST(unsent_taken_back_from_streams)
{
        cut_case(0);
        cut_case(50);                  /* inside the last frame's payload */
        cut_case(9 + 16383 + 9 + 70);  /* the last frame, and part of the one before */
        cut_case(65535 + 4 * 9 + 200); /* all of stream 3's, and some of stream 1's */
        cut_case(UINT64_MAX);
}

/* A frame held back by a full socket never left either: its stream is charged what did. */
TEST(held_back_tail_taken_back)
{
        struct fixture *f = malloc(sizeof(*f));
        struct seen s = {0};
        uint64_t want;

        ASSERT_EQ(fx_open(f), 0);
        ASSERT_EQ(preface(f, NULL, 0), 0);
        f->short_writes = 3000;
        ASSERT_EQ(get(f, 1, "/a", true), 0);
        /* Flush (as POLLOUT would) until a DATA frame is held back part sent. */
        for (int i = 0; i < 100 && !(f->h->pend_st && f->h->pend_file_len); i++) {
                scan(f, &s);
                ASSERT_TRUE(h2_conn_flush(f->h) >= 0);
        }
        scan(f, &s);
        ASSERT_TRUE(f->h->pend_st && f->h->pend_file_len);
        /* The whole frames the client got, and the payload of the one it got part of. */
        want = s.data_bytes;
        if (f->in_len - f->in_off > 9 && f->in[f->in_off + 3] == 0)
                want += f->in_len - f->in_off - 9;
        h2_conn_free(f->h);
        ASSERT_EQ(f->gone, 1);
        ASSERT_EQ(f->gone_sent[0], want);
        (void)close(f->sfd);
        (void)close(f->cfd);
        free(f);
}

/*
 * A stream whose answer was all handed over while the transport still held part of it stays
 * until the kernel has that part: its access log line (on_stream_gone) then counts what
 * reached the kernel, and if the connection fails first, only that.
 */
TEST(closed_stream_waits_for_the_kernel)
{
        struct fixture *f = malloc(sizeof(*f));

        ASSERT_EQ(fx_open(f), 0);
        f->tiny = true;
        ASSERT_EQ(preface(f, NULL, 0), 0);
        f->unsent = 9 + 5; /* stream 1's DATA frame, still in the transport */
        ASSERT_EQ(get(f, 1, "/a", true), 0);
        ASSERT_EQ(f->requests, 1);
        ASSERT_EQ(f->gone, 0);
        ASSERT_TRUE(!h2_conn_busy(f->h));
        f->unsent = 0; /* the transport's send completed; its completion flushes */
        ASSERT_EQ(h2_conn_flush(f->h), 1);
        ASSERT_EQ(f->gone, 1);
        ASSERT_EQ(f->gone_sent[0], 5);

        /* Stream 3: the connection fails with the last 3 bytes of its payload held. */
        f->unsent = 3;
        ASSERT_EQ(get(f, 3, "/b", true), 0);
        ASSERT_EQ(f->gone, 1);
        h2_conn_free(f->h);
        ASSERT_EQ(f->gone, 2);
        ASSERT_EQ(f->gone_sent[1], 2);

        /* Past H2_CLOSING_MAX such streams, the oldest goes at once, with all it handed over. */
        ASSERT_EQ(fx_open(f), 0);
        f->tiny = true;
        ASSERT_EQ(preface(f, NULL, 0), 0);
        f->unsent = UINT64_MAX; /* nothing has reached the kernel */
        for (uint32_t i = 0; i <= H2_CLOSING_MAX; i++)
                ASSERT_EQ(get(f, 1 + 2 * i, "/c", true), 0);
        ASSERT_EQ(f->gone, 1);
        ASSERT_EQ(f->gone_sent[0], 5);
        ASSERT_EQ(f->h->closing_n, H2_CLOSING_MAX);
        fx_close(f);
        ASSERT_EQ(f->gone, H2_CLOSING_MAX + 1);
        free(f);
}

TEST_MAIN()
