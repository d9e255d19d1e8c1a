/* SPDX-License-Identifier: MIT */
/*
 * HTTP/2 sessions over libnghttp2 (see h2.h). nghttp2 return codes are translated here only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nghttp2/nghttp2.h>

#include "log.h"

#include "h2-frame-scan.h"
#include "h2-mem.h"
#include "h2.h"

/* Ranges of skipped client stream ids remembered (clients rarely skip any). */
#define H2_SKIPPED_RANGES 8
/* Batches one h2_conn_flush may send before it lets other connections run. */
#define H2_FLUSH_TURNS 8
/* Closed streams kept until the kernel has their last bytes (h2_conn.closing); past this
 * many the oldest goes at once, its line counting every byte handed over. */
#define H2_CLOSING_MAX 32
/* A request's header store starts this small and doubles up to max_header_list. */
#define H2_HBUF_MIN 512
/* WINDOW_UPDATEs a DATA frame pays for (stream and connection), and as many again per
 * H2_MIN_DATA bytes of its payload: a client that gives window back per frame, or per read of
 * a few KiB, never touches the control budget. Unspent credit is capped. */
#define H2_WU_CREDIT_FRAME 2
#define H2_WU_CREDIT_MAX   65536

struct h2_stream {
        struct h2_conn *h;
        struct h2_stream *prev, *next; /* the connection's open streams */
        struct h2_stream *wprev, *wnext; /* the connection's window waiters */
        int32_t id;
        bool dispatched; /* on_request called */
        bool req_body;   /* the client sent DATA with content */
        bool answered;   /* response submitted */
        bool done;       /* last DATA (or headers-only response) handed to the transport */
        bool window_wait; /* deferred until the client's window allows a frame (and on
                           * h->waiters through wprev/wnext) */
        bool dribbled;    /* its window was last raised by a WINDOW_UPDATE under H2_MIN_DATA */
        bool fill_wait;   /* deferred until the fill writes more */
        bool gone_pending; /* closed while its frame's tail still waits in h->pend */
        uint64_t close_end; /* closed: h->handed then (on h->closing through next) */
        bool overflow;   /* its fields passed max_header_list or max_fields: answered 431, never
                          * served */
        bool refused;    /* its fields passed the connection's H2_HDR_HELD_MAX: reset with
                          * REFUSED_STREAM, its fields dropped, never dispatched */
        bool peer_reset; /* closed by the client's RST_STREAM */
        bool broke;      /* a stream error of the client's making: nghttp2 resets it */
        void *data;

        struct h2_body body;
        uint64_t sent; /* body bytes handed to the transport */
        uint64_t unsent;       /* of those, what never reached the kernel (h2_conn_free) */
        int32_t window_before; /* its send window before the SETTINGS being read */

        /* Request headers, flat: {name length, value length} (two uint32_t, unaligned), then
         * name\0value\0, for each field, within max_header_list. hcap grows by doubling from
         * H2_HBUF_MIN as fields arrive (capped at max_header_list), so streams whose requests
         * never end hold what they sent, not the limit each; until the request is dispatched
         * hcap counts in h->hdr_held. */
        char *hbuf;
        uint32_t hlen, hcap, hcost;
        uint32_t nfields; /* request fields, pseudo-fields aside (limits.max_headers) */
        bool cookie_counted; /* a cookie's crumbs are one field, as on one HTTP/1.1 line */
        const char *method, *path, *authority;
        size_t method_len, path_len, authority_len;
};

struct h2_conn {
        nghttp2_session *s;
        struct h2_io io;
        struct h2_limits lim;
        struct h2_stream *streams;
        struct h2_stream *waiters; /* streams with window_wait set */
        /* Closed streams with body bytes the transport still held when they closed, oldest
         * first (close_end rises along it): on_stream_gone waits until the kernel has them,
         * so the access log counts only what reached it if the connection fails first. */
        struct h2_stream *closing, *closing_tail;
        unsigned closing_n;
        struct h2_stats stats;

        /* The unsent tail of one frame when the socket filled mid-frame. */
        char *pend;
        size_t pend_len, pend_off, pend_cap;
        unsigned char pend_hdr[9];
        size_t pend_hdr_len;
        int pend_fd;
        uint64_t pend_file_off, pend_file_len;
        struct h2_stream *pend_st;
        bool blocked;

        /* Bytes of frames handed to the transport (a held-back tail included), and the last
         * H2_SENT_LOG DATA frames among them (sent_n in all, the latest at sent_n - 1). */
        uint64_t handed;
        uint64_t sent_n;
        struct {
                int32_t id;
                uint32_t len; /* payload */
                uint64_t end; /* handed, after the frame */
        } sent_log[H2_SENT_LOG];

        /* Client stream ids skipped over (never opened, so closed for good), the latest
         * H2_SKIPPED_RANGES ranges, and the highest id a HEADERS frame has carried. */
        struct {
                int32_t lo, hi;
        } skipped[H2_SKIPPED_RANGES];
        unsigned skipped_next;
        int32_t last_headers_id;
        int32_t initial_window_before; /* the client's, before the SETTINGS being read */
        struct h2_scan scan; /* the input's frames, for each SETTINGS frame's values */
        uint64_t data_seen;  /* DATA frames begin_frame_cb saw, beside the scan's count */

        uint64_t out_progress; /* answer bytes out: DATA payloads, blocked tails */
        uint64_t out_progress_mark;
        bool out_whole; /* a response head or a body's last frame went out since the mark */
        bool conn_dribbled; /* the connection window, as st->dribbled */
        uint64_t window_start_ms;
        uint32_t control_in_window;
        uint32_t wu_credit; /* WINDOW_UPDATEs paid for by DATA sent, H2_WU_CREDIT_* */
        uint32_t header_abuse;
        /* hcap of the streams not yet dispatched (nor refused): within H2_HDR_HELD_MAX */
        uint64_t hdr_held;
        uint32_t pending_resets; /* answers under way that the client cancelled */
        /* RST_STREAM frames: the bucket nghttp2 keeps too (reset_allowed()), checked first */
        uint32_t rst_tokens;
        uint64_t rst_refill_ms;
        bool fatal;
        bool peer_goaway; /* the client sent GOAWAY: nghttp2 ends the session once idle */
        bool noticed; /* h2_conn_shutdown: the notice is queued or out (its PING after it) */
        /* h2_conn_shutdown_final: our GOAWAY NO_ERROR is queued or out, naming goaway_last. */
        bool draining;
        int32_t goaway_last;
};

/* The PING that follows the shutdown notice: its ACK ends the drain's first step. */
static const uint8_t drain_ping[8] = {'d', 'r', 'a', 'i', 'n', 0, 0, 0};

static uint64_t mono_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * A connection error found by the edge's own checks: GOAWAY with code. A receive callback
 * that calls this must then return NGHTTP2_ERR_CALLBACK_FAILURE, so the parse stops at once:
 * a session terminated in the middle of a read that nghttp2 went on parsing trips one of its
 * own assertions at the next malformed frame (its connection-error path expects a reader that
 * is not already terminating) and aborts the process — one client could take the edge down.
 */
static void goaway(struct h2_conn *h, uint32_t code)
{
        if (h->fatal)
                return;
        h->fatal = true;
        h->stats.goaway_reason = code;
        (void)nghttp2_session_terminate_session(h->s, code);
}

/* ---- output ---- */

/* A DATA frame of st with length bytes of payload was handed to the transport. */
static void data_out(struct h2_conn *h, struct h2_stream *st, size_t length)
{
        uint64_t credit = h->wu_credit + H2_WU_CREDIT_FRAME * (1 + length / H2_MIN_DATA);
        size_t at = (size_t)(h->sent_n++ % H2_SENT_LOG);

        h->handed += 9 + length;
        h->sent_log[at].id = st->id;
        h->sent_log[at].len = (uint32_t)length;
        h->sent_log[at].end = h->handed;
        st->sent += length;
        h->out_progress += length;
        h->stats.data_frames++;
        h->wu_credit = credit < H2_WU_CREDIT_MAX ? (uint32_t)credit : H2_WU_CREDIT_MAX;
}

/* Of the bytes handed over, those the held-back tail and the transport still hold. */
static uint64_t held_bytes(const struct h2_conn *h)
{
        uint64_t u = h->pend_len - h->pend_off + h->pend_hdr_len + h->pend_file_len;

        if (h->io.unsent)
                u += h->io.unsent(h->io.ctx);
        return u;
}

/* st's request is complete, refused or gone: its fields no longer count as unfinished. */
static void hdr_release(struct h2_conn *h, struct h2_stream *st)
{
        if (st->dispatched || st->refused)
                return;
        h->hdr_held -= st->hcap;
}

static void stream_free(struct h2_conn *h, struct h2_stream *st)
{
        if (st->dispatched)
                h->io.on_stream_gone(h->io.ctx, st, st->answered);
        hdr_release(h, st);
        free(st->hbuf);
        free(st);
}

static void closing_pop(struct h2_conn *h)
{
        struct h2_stream *st = h->closing;

        h->closing = st->next;
        if (!h->closing)
                h->closing_tail = NULL;
        h->closing_n--;
        st->next = NULL;
        stream_free(h, st);
}

/*
 * A closed stream goes: at once, or, when bytes of its body may still be short of the kernel
 * (the transport or the held-back tail holds some of what was handed over), once they are
 * not (closing_release). unsent_drop charges it meanwhile, as an open stream.
 */
static void stream_gone(struct h2_conn *h, struct h2_stream *st)
{
        if (!st->dispatched || st->sent == 0 || held_bytes(h) == 0) {
                stream_free(h, st);
                return;
        }
        st->close_end = h->handed;
        st->next = NULL;
        if (h->closing_tail)
                h->closing_tail->next = st;
        else
                h->closing = st;
        h->closing_tail = st;
        if (++h->closing_n > H2_CLOSING_MAX)
                closing_pop(h);
}

/* The closed streams whose bytes have all reached the kernel go. */
static void closing_release(struct h2_conn *h)
{
        uint64_t held, out;

        if (!h->closing)
                return;
        held = held_bytes(h);
        out = held < h->handed ? h->handed - held : 0;
        while (h->closing && h->closing->close_end <= out)
                closing_pop(h);
}

/* Write the held-back tail. Returns 1 when none is left, 0 when the socket is full, -errno. */
static int pend_flush(struct h2_conn *h)
{
        while (h->pend_off < h->pend_len) {
                ssize_t n = h->io.write(h->io.ctx, h->pend + h->pend_off, h->pend_len - h->pend_off);
                if (n == -EAGAIN)
                        return 0;
                if (n < 0)
                        return (int)n;
                h->pend_off += (size_t)n;
                h->out_progress += (uint64_t)n;
        }
        h->pend_off = h->pend_len = 0;
        while (h->pend_hdr_len > 0 || h->pend_file_len > 0) {
                ssize_t n = h->io.write_file(h->io.ctx, h->pend_hdr, h->pend_hdr_len, h->pend_fd,
                                             (off_t)h->pend_file_off, h->pend_file_len);
                if (n == -EAGAIN)
                        return 0;
                if (n < 0)
                        return (int)n;
                h->out_progress += (uint64_t)n;
                if ((size_t)n < h->pend_hdr_len) {
                        memmove(h->pend_hdr, h->pend_hdr + n, h->pend_hdr_len - (size_t)n);
                        h->pend_hdr_len -= (size_t)n;
                        continue;
                }
                n -= (ssize_t)h->pend_hdr_len;
                h->pend_hdr_len = 0;
                h->pend_file_off += (uint64_t)n;
                h->pend_file_len -= (uint64_t)n;
        }
        h->blocked = false;
        if (h->pend_st && h->pend_st->gone_pending) {
                struct h2_stream *st = h->pend_st;
                h->pend_st = NULL;
                stream_gone(h, st);
        }
        h->pend_st = NULL;
        return 1;
}

static ssize_t send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
        struct h2_conn *h = ud;
        size_t off = 0;

        (void)s;
        (void)flags;
        if (h->blocked)
                return NGHTTP2_ERR_WOULDBLOCK;
        if (h->io.queue) {
                int r = h->io.queue(h->io.ctx, data, len, NULL, 0);
                if (r == 0) {
                        h->handed += len;
                        return (ssize_t)len;
                }
                if (r == -EAGAIN) {
                        h->blocked = true;
                        return NGHTTP2_ERR_WOULDBLOCK;
                }
                if (r != -E2BIG)
                        return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        while (off < len) {
                ssize_t n = h->io.write(h->io.ctx, data + off, len - off);
                if (n == -EAGAIN)
                        break;
                if (n < 0)
                        return NGHTTP2_ERR_CALLBACK_FAILURE;
                off += (size_t)n;
        }
        if (off == 0) {
                h->blocked = true; /* nothing held back, but wait for POLLOUT all the same */
                return NGHTTP2_ERR_WOULDBLOCK;
        }
        if (off < len) {
                /* nghttp2 hands at most one serialised frame batch: hold its tail. */
                if (len - off > h->pend_cap) {
                        char *p = realloc(h->pend, len - off);
                        if (!p)
                                return NGHTTP2_ERR_CALLBACK_FAILURE;
                        h->pend = p;
                        h->pend_cap = len - off;
                }
                memcpy(h->pend, data + off, len - off);
                h->pend_len = len - off;
                h->pend_off = 0;
                h->blocked = true;
        }
        h->handed += len;
        return (ssize_t)len;
}

static int send_data_cb(nghttp2_session *s, nghttp2_frame *frame, const uint8_t *framehd,
                        size_t length, nghttp2_data_source *source, void *ud)
{
        struct h2_conn *h = ud;
        struct h2_stream *st = source->ptr;
        uint64_t off = st->body.off + st->sent;
        ssize_t n;

        (void)s;
        (void)frame; /* no padding: we never set a padding callback */
        if (h->blocked)
                return NGHTTP2_ERR_WOULDBLOCK;
        if (h->io.queue) {
                int r;
                if (st->body.map)
                        r = h->io.queue_map(h->io.ctx, framehd, st->body.map + off, length,
                                            st->body.map_obj, st->body.map_copy);
                else if (st->body.mem)
                        r = h->io.queue(h->io.ctx, framehd, 9, st->body.mem + off, length);
                else if (h->io.queue_file)
                        r = h->io.queue_file(h->io.ctx, framehd, st->body.fd, (off_t)off, length);
                else
                        r = h->io.queue(h->io.ctx, NULL, 0, NULL, 0); /* order after a batch */
                if (r == 0 && (st->body.map || st->body.mem || h->io.queue_file)) {
                        data_out(h, st, length);
                        return 0;
                }
                if (r == -EAGAIN) {
                        h->blocked = true;
                        return NGHTTP2_ERR_WOULDBLOCK;
                }
                /* The file came up short (h2_tls_queue_file) before anything of the frame
                 * was queued: only this stream fails (RST_STREAM INTERNAL_ERROR), the other
                 * streams on the connection go on. */
                if (r == -EIO && h->io.queue_file && !st->body.map && !st->body.mem)
                        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
                if (r < 0 && r != -E2BIG)
                        return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        if (st->body.mem) {
                /* Small memory bodies: copy once into the pending tail path if short. */
                n = h->io.write(h->io.ctx, framehd, 9);
                if (n == -EAGAIN) {
                        h->blocked = true;
                        return NGHTTP2_ERR_WOULDBLOCK;
                }
                if (n < 0)
                        return NGHTTP2_ERR_CALLBACK_FAILURE;
                {
                        size_t need = (9 - (size_t)n) + length;
                        if (need > h->pend_cap) {
                                char *p = realloc(h->pend, need);
                                if (!p)
                                        return NGHTTP2_ERR_CALLBACK_FAILURE;
                                h->pend = p;
                                h->pend_cap = need;
                        }
                        memcpy(h->pend, framehd + n, 9 - (size_t)n);
                        memcpy(h->pend + 9 - n, st->body.mem + off, length);
                        h->pend_len = need;
                        h->pend_off = 0;
                }
        } else {
                n = h->io.write_file(h->io.ctx, framehd, 9, st->body.fd, (off_t)off, length);
                if (n == -EAGAIN) {
                        h->blocked = true;
                        return NGHTTP2_ERR_WOULDBLOCK;
                }
                if (n < 0)
                        return NGHTTP2_ERR_CALLBACK_FAILURE;
                if ((size_t)n < 9) {
                        memcpy(h->pend_hdr, framehd + n, 9 - (size_t)n);
                        h->pend_hdr_len = 9 - (size_t)n;
                        h->pend_file_off = off;
                        h->pend_file_len = length;
                } else {
                        h->pend_hdr_len = 0;
                        h->pend_file_off = off + ((size_t)n - 9);
                        h->pend_file_len = length - ((size_t)n - 9);
                }
                h->pend_fd = st->body.fd;
        }
        data_out(h, st, length);
        h->pend_st = st;
        h->blocked = true;
        if (pend_flush(h) < 0)
                return NGHTTP2_ERR_CALLBACK_FAILURE;
        if (h->blocked)
                return NGHTTP2_ERR_PAUSE; /* the rest goes out on POLLOUT */
        return 0;
}

/*
 * Whether a window under H2_MIN_DATA, and under what is left of the body, still gets a DATA
 * frame of its size now. Yes when the peer made it small:
 *  - its SETTINGS_INITIAL_WINDOW_SIZE is under H2_MIN_DATA (0 included: a peer that opens
 *    each stream by WINDOW_UPDATE): it asked for small windows, and a window of 1 gets a
 *    1-byte frame (RFC 9113 §6.9.1, §6.9.2; h2spec 6.9.1/1, 6.9.2/1);
 *  - or the window is what our own frames left of a grant: neither the stream's window nor
 *    the connection's was last raised by a WINDOW_UPDATE under H2_MIN_DATA (a client that
 *    tops its windows up only once they are empty would otherwise wait on us forever).
 * No when a peer that allows H2_MIN_DATA or more opens a window a few bytes at a time: the
 * frame waits until H2_MIN_DATA fits, so a dribble costs us no stream of tiny frames. Either
 * way a slow client's bound is the send deadline, which only H2_MIN_DATA bytes of answers (or
 * a head, or a body's end) push on (h2_conn_progressed): a 1-byte window opened once per
 * send_timeout gets its byte and is still closed at the deadline.
 */
static bool small_window_ok(struct h2_conn *h, const struct h2_stream *st)
{
        if (nghttp2_session_get_remote_settings(h->s, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE) <
            H2_MIN_DATA)
                return true;
        return !st->dribbled && !h->conn_dribbled;
}

/* The DATA payload nghttp2 may offer read_cb: the client's maximum frame size (RFC 9113
 * §6.5.2; 16384 unless it said more), at most H2_MAX_DATA_FRAME and io.max_data. nghttp2 then
 * cuts it to the flow-control windows. */
static ssize_t read_length_cb(nghttp2_session *s, uint8_t type, int32_t id, int32_t conn_win,
                              int32_t stream_win, uint32_t max_frame, void *ud)
{
        struct h2_conn *h = ud;
        size_t len = max_frame < H2_MAX_DATA_FRAME ? max_frame : H2_MAX_DATA_FRAME;

        (void)s;
        (void)type;
        (void)id;
        (void)conn_win;
        (void)stream_win;
        if (h->io.max_data && len > h->io.max_data)
                len = h->io.max_data;
        return (ssize_t)len;
}

/* Window waiters are listed apart, so a WINDOW_UPDATE looks at them only, never at every
 * open stream. */
static void wait_add(struct h2_conn *h, struct h2_stream *st)
{
        if (st->window_wait)
                return;
        st->window_wait = true;
        st->wprev = NULL;
        st->wnext = h->waiters;
        if (h->waiters)
                h->waiters->wprev = st;
        h->waiters = st;
}

static void wait_del(struct h2_conn *h, struct h2_stream *st)
{
        if (!st->window_wait)
                return;
        st->window_wait = false;
        if (st->wprev)
                st->wprev->wnext = st->wnext;
        else
                h->waiters = st->wnext;
        if (st->wnext)
                st->wnext->wprev = st->wprev;
        st->wprev = st->wnext = NULL;
}

/* Pull callback: only says how much, never copies (NO_COPY; send_data_cb writes). */
static ssize_t read_cb(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                       uint32_t *flags, nghttp2_data_source *source, void *ud)
{
        struct h2_conn *h = ud;
        struct h2_stream *st = source->ptr;
        uint64_t left = st->body.len - st->sent;

        (void)s;
        (void)id;
        (void)buf;
        if (h->io.max_data && length > h->io.max_data)
                length = h->io.max_data;
        if (st->body.avail && !st->body.mem) {
                bool failed = false;
                uint64_t have = st->body.avail(st->body.avail_ctx, &failed);
                uint64_t ready = have > st->body.off + st->sent ? have - st->body.off - st->sent : 0;
                if (ready == 0) {
                        if (failed)
                                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
                        st->fill_wait = true;
                        return NGHTTP2_ERR_DEFERRED;
                }
                if (ready < left)
                        left = ready;
        }
        /* A dribbled window would make frames of a few bytes each: wait for a useful one. */
        if (length < left && length < H2_MIN_DATA && !small_window_ok(h, st)) {
                wait_add(h, st);
                return NGHTTP2_ERR_DEFERRED;
        }
        if (length > left)
                length = (size_t)left;
        *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
        if (st->sent + length == st->body.len) {
                *flags |= NGHTTP2_DATA_FLAG_EOF;
                st->done = true;
                h->out_whole = true;
        }
        return (ssize_t)length;
}

static int flush_turns(struct h2_conn *h)
{
        int r;

        for (unsigned turn = 0;; turn++) {
                if (h->blocked) {
                        r = pend_flush(h);
                        if (r <= 0)
                                return r;
                }
                r = nghttp2_session_send(h->s);
                if (r != 0)
                        return r == NGHTTP2_ERR_NOMEM ? -ENOMEM : -EIO;
                if (h->blocked && !h->io.queue)
                        return 0;
                if (h->io.flush) {
                        r = h->io.flush(h->io.ctx);
                        if (r <= 0)
                                return r;
                }
                if (!h->blocked)
                        break;
                /* A full batch stopped the burst and is out now: go on while the socket
                 * takes it, a few batches per turn so other connections get theirs. */
                if (turn + 1 == H2_FLUSH_TURNS)
                        return 0;
        }
        if (!nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s))
                return 2;
        return 1;
}

int h2_conn_flush(struct h2_conn *h)
{
        int r = flush_turns(h);

        closing_release(h);
        return r;
}

/* ---- input ---- */

static struct h2_stream *stream_of(struct h2_conn *h, int32_t id)
{
        return nghttp2_session_get_stream_user_data(h->s, id);
}

static int begin_headers_cb(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
        struct h2_conn *h = ud;
        struct h2_stream *st;

        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
                return 0;
        st = calloc(1, sizeof(*st));
        if (!st)
                return NGHTTP2_ERR_CALLBACK_FAILURE;
        st->h = h;
        st->id = frame->hd.stream_id;
        st->body.fd = -1;
        st->next = h->streams;
        if (h->streams)
                h->streams->prev = st;
        h->streams = st;
        (void)nghttp2_session_set_stream_user_data(s, st->id, st);
        return 0;
}

/*
 * Streams whose requests have not ended would hold header bytes for as long as the client
 * keeps them open (until the send deadline), each up to max_header_list: with HPACK's dynamic
 * table a few bytes on the wire decode to a whole max_header_list, so 100 streams of 120
 * bytes each would hold 1.6 MiB. The connection's unfinished requests share
 * H2_HDR_HELD_MAX; the stream that would pass it is reset with REFUSED_STREAM (RFC 9113 §8.7:
 * not processed, a client may retry it) and what it held is freed at once. The rest of its
 * field block is still decoded (the HPACK state is the connection's) but not kept.
 */
static void refuse(struct h2_conn *h, struct h2_stream *st)
{
        hdr_release(h, st);
        st->refused = true;
        free(st->hbuf);
        st->hbuf = NULL;
        st->hlen = st->hcap = 0;
        h->stats.header_refused++;
        (void)nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_REFUSED_STREAM);
}

static int header_cb(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud)
{
        struct h2_conn *h = ud;
        struct h2_stream *st = stream_of(h, frame->hd.stream_id);
        size_t need = 2 * sizeof(uint32_t) + namelen + valuelen + 2;
        uint32_t lens[2] = {(uint32_t)namelen, (uint32_t)valuelen};
        char *p;

        (void)s;
        (void)flags;
        if (!st || st->overflow || st->refused)
                return 0;
        /* RFC 9113 §6.5.2's accounting: each field costs its octets plus 32. */
        st->hcost += (uint32_t)(namelen + valuelen + 32);
        /* Counted as HTTP/1.1 counts them: a cookie split into crumbs, as browsers send it
         * (RFC 9113 §8.2.3), is one Cookie line there. */
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST && namelen && name[0] != ':') {
                bool cookie = namelen == 6 && memcmp(name, "cookie", 6) == 0;

                st->nfields += !(cookie && st->cookie_counted);
                st->cookie_counted |= cookie;
        }
        if (st->hcost > h->lim.max_header_list || st->hlen + need > h->lim.max_header_list ||
            (h->lim.max_fields && st->nfields > h->lim.max_fields)) {
                st->overflow = true;
                h->stats.header_overflow++;
                if (++h->header_abuse >= H2_MAX_HEADER_ABUSE) {
                        goaway(h, NGHTTP2_ENHANCE_YOUR_CALM);
                        return NGHTTP2_ERR_CALLBACK_FAILURE;
                }
                /* The rest of the block is still decoded (the HPACK state is the
                 * connection's) but not kept; the stream is answered 431 at its end, as
                 * HTTP/1.1 answers a head past its limit (RFC 9113 §10.5.1). A reset here
                 * would read as the edge's fault (INTERNAL_ERROR). */
                return 0;
        }
        /* Trailer fields are counted but never merged into the request's header fields
         * (RFC 9110 §6.5.1): a Range or a Host sent only there is no request field. */
        if (frame->headers.cat != NGHTTP2_HCAT_REQUEST)
                return 0;
        if (st->hlen + need > st->hcap) {
                /* Within max_header_list, checked above. */
                uint32_t cap = st->hcap ? st->hcap : H2_HBUF_MIN;
                while (cap < st->hlen + need)
                        cap *= 2;
                if (cap > h->lim.max_header_list)
                        cap = h->lim.max_header_list;
                /* The request is not dispatched yet (its fields are still arriving), so its
                 * store counts in hdr_held: past the connection's budget, the stream goes. */
                if (h->hdr_held - st->hcap + cap > H2_HDR_HELD_MAX(&h->lim)) {
                        refuse(h, st);
                        return 0;
                }
                p = realloc(st->hbuf, cap);
                if (!p)
                        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
                st->hbuf = p;
                h->hdr_held += cap - st->hcap;
                st->hcap = cap;
        }
        p = st->hbuf + st->hlen;
        memcpy(p, lens, sizeof(lens));
        p += sizeof(lens);
        memcpy(p, name, namelen);
        p[namelen] = '\0';
        memcpy(p + namelen + 1, value, valuelen);
        p[namelen + 1 + valuelen] = '\0';
        st->hlen += (uint32_t)need;
        return 0;
}

/* The value of the first field named name in st's headers (lengths first: most fields are
 * skipped by them), or NULL. */
static const char *hfind(const struct h2_stream *st, const char *name, size_t *len)
{
        size_t nlen = strlen(name), flen, vlen;
        uint32_t pos = 0;
        const char *fname, *v;

        while ((v = h2_stream_field_next(st, &pos, &fname, &flen, &vlen)))
                if (flen == nlen && !memcmp(fname, name, nlen)) {
                        *len = vlen;
                        return v;
                }
        return NULL;
}

/* st's request is complete, or can be answered already while the client still sends (content,
 * refused at once whatever the method, or fields past the limit). */
static void dispatch(struct h2_conn *h, struct h2_stream *st)
{
        if (st->dispatched || st->refused)
                return;
        if (h->draining && st->id > h->goaway_last) {
                /* Opened after our GOAWAY was queued, before it went out (once it is out
                 * nghttp2 ignores new streams itself): the GOAWAY tells the client this stream
                 * was not processed, and REFUSED_STREAM says so on the stream (§8.7). */
                (void)nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id,
                                                NGHTTP2_REFUSED_STREAM);
                return;
        }
        st->method = hfind(st, ":method", &st->method_len);
        st->path = hfind(st, ":path", &st->path_len);
        st->authority = hfind(st, ":authority", &st->authority_len);
        if (!st->authority)
                st->authority = hfind(st, "host", &st->authority_len);
        hdr_release(h, st);
        st->dispatched = true;
        h->stats.streams++;
        h->io.on_request(h->io.ctx, st);
}

/* Frames that cost us work but carry no request: a budget per second. */
static void count_control(struct h2_conn *h)
{
        uint64_t now = mono_ms();

        h->stats.control_frames++;
        if (now - h->window_start_ms >= 1000) {
                h->window_start_ms = now;
                h->control_in_window = 0;
        }
        if (++h->control_in_window > h->lim.max_control_per_s)
                goaway(h, NGHTTP2_ENHANCE_YOUR_CALM);
}

/*
 * A client's RST_STREAM, against the token bucket nghttp2 keeps for them (burst
 * max_resets_per_s, a third of it back per second; h2_conn_new's stream reset rate limit).
 * When nghttp2's bucket runs dry it ends the session with INTERNAL_ERROR, a code that reads as
 * the edge's fault; this one is looked at first, as each frame's header arrives, and never
 * holds more tokens than nghttp2's (it refills a whole second after its last refill, nghttp2
 * at each change of second), so the flood ends here with ENHANCE_YOUR_CALM.
 */
static bool reset_allowed(struct h2_conn *h)
{
        uint64_t now = mono_ms(), secs = (now - h->rst_refill_ms) / 1000;
        uint32_t burst = h->lim.max_resets_per_s, rate = burst / 3 + 1;

        if (secs > 0) {
                uint64_t t = h->rst_tokens + secs * rate;
                h->rst_tokens = t > burst ? burst : (uint32_t)t;
                h->rst_refill_ms += secs * 1000;
        }
        if (h->rst_tokens == 0) {
                goaway(h, NGHTTP2_ENHANCE_YOUR_CALM);
                return false;
        }
        h->rst_tokens--;
        return true;
}

/* st waits for window: resume it when a frame worth sending fits now. */
static void resume_waiter(struct h2_conn *h, struct h2_stream *st, int32_t conn_win)
{
        int32_t w = nghttp2_session_get_stream_remote_window_size(h->s, st->id);
        uint64_t left = st->body.len - st->sent;

        if (w > conn_win)
                w = conn_win;
        if (w >= H2_MIN_DATA || (w > 0 && ((uint64_t)w >= left || small_window_ok(h, st)))) {
                wait_del(h, st);
                (void)nghttp2_session_resume_data(h->s, st->id);
        }
}

static void resume_window_waiters(struct h2_conn *h)
{
        int32_t conn_win = nghttp2_session_get_remote_window_size(h->s);
        struct h2_stream *next;

        for (struct h2_stream *st = h->waiters; st; st = next) {
                next = st->wnext;
                resume_waiter(h, st, conn_win);
        }
}

/*
 * Whether a frame that carries no request costs the control budget (count_control). Judged
 * from its header, so that frames nghttp2 drops without telling us (on a closed stream, of a
 * type it does not know) are counted too; nghttp2 1.52 has no budget of its own for any of
 * these (only its bounds on queued ACKs, SETTINGS entries, CONTINUATIONs and resets):
 *  - SETTINGS (not ACKs), PRIORITY, GOAWAY, and PING: the edge sends one PING, at a drain,
 *    so an ACK is unsolicited but for that one;
 *  - DATA under H2_MIN_DATA bytes (padding included) that does not end its stream: the edge
 *    takes no request bodies, and nghttp2 gives the window such frames use back by itself
 *    (DATA nghttp2 drops before this callback, on a stream it forgot, is h2_conn_input's);
 *  - HEADERS on a stream already closed (nghttp2 decodes and drops them; RST_STREAM, on any
 *    stream, is the reset bucket's (reset_allowed), and DATA on a stream it closed is its
 *    STREAM_CLOSED);
 *  - WINDOW_UPDATE past what DATA sent paid for (h->wu_credit): a client giving window back
 *    as it reads spends credit, one sending updates for nothing spends the budget;
 *  - extension and unknown types (registered with nghttp2 only so that they reach us here).
 */
static bool costs_budget(struct h2_conn *h, const nghttp2_frame_hd *hd)
{
        switch (hd->type) {
        case NGHTTP2_DATA:
                return !(hd->flags & NGHTTP2_FLAG_END_STREAM) && hd->length < H2_MIN_DATA;
        case NGHTTP2_HEADERS:
                /* A new stream's id is past last_headers_id: begin_frame_cb returned already. */
                return !stream_of(h, hd->stream_id);
        case NGHTTP2_SETTINGS:
                return !(hd->flags & NGHTTP2_FLAG_ACK);
        case NGHTTP2_PRIORITY:
        case NGHTTP2_PING:
        case NGHTTP2_GOAWAY:
                return true;
        case NGHTTP2_WINDOW_UPDATE:
                if (h->wu_credit == 0)
                        return true;
                h->wu_credit--;
                return false;
        case NGHTTP2_RST_STREAM:
        case NGHTTP2_PUSH_PROMISE: /* a connection error nghttp2 raises itself */
        case NGHTTP2_CONTINUATION: /* bounded per block (H2_MAX_CONTINUATIONS) */
                return false;
        default:
                return true;
        }
}

/*
 * Checks nghttp2 leaves out, made as a frame's header arrives:
 *  - a HEADERS frame on a client stream id lower than one already used, never opened itself,
 *    is a connection error of type PROTOCOL_ERROR (RFC 9113 §5.1.1); nghttp2 ignores it,
 *    since it cannot tell such an id from a stream it has forgotten (where a late trailer
 *    after our RST_STREAM must be ignored), so the ids skipped over are remembered here;
 *  - SETTINGS: the windows before it, for the §6.9.2 check once it is applied.
 */
static int begin_frame_cb(nghttp2_session *s, const nghttp2_frame_hd *hd, void *ud)
{
        struct h2_conn *h = ud;
        int32_t id = hd->stream_id;

        /* A connection error was found in an earlier frame of this read: read no further. */
        if (h->fatal)
                return NGHTTP2_ERR_CALLBACK_FAILURE;
        h->data_seen += hd->type == NGHTTP2_DATA;
        if (!(hd->type == NGHTTP2_HEADERS && id > h->last_headers_id) && costs_budget(h, hd)) {
                count_control(h);
                if (h->fatal)
                        return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        if (hd->type == NGHTTP2_RST_STREAM && !reset_allowed(h))
                return NGHTTP2_ERR_CALLBACK_FAILURE;
        if (hd->type == NGHTTP2_HEADERS && id > 0 && (id & 1)) {
                if (id > h->last_headers_id) {
                        int32_t next = h->last_headers_id ? h->last_headers_id + 2 : 1;
                        if (id > next) {
                                unsigned i = h->skipped_next++ % H2_SKIPPED_RANGES;
                                h->skipped[i].lo = next;
                                h->skipped[i].hi = id - 2;
                        }
                        h->last_headers_id = id;
                        return 0;
                }
                for (unsigned i = 0; i < H2_SKIPPED_RANGES; i++)
                        if (id >= h->skipped[i].lo && id <= h->skipped[i].hi) {
                                goaway(h, NGHTTP2_PROTOCOL_ERROR);
                                return NGHTTP2_ERR_CALLBACK_FAILURE;
                        }
        } else if (hd->type == NGHTTP2_SETTINGS && !(hd->flags & NGHTTP2_FLAG_ACK)) {
                h->initial_window_before = (int32_t)nghttp2_session_get_remote_settings(
                    s, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE);
                for (struct h2_stream *st = h->streams; st; st = st->next)
                        st->window_before =
                            nghttp2_session_get_stream_remote_window_size(s, st->id);
        }
        return 0;
}

/*
 * A SETTINGS_INITIAL_WINDOW_SIZE that took a stream's window past 2^31-1 is a connection
 * error of type FLOW_CONTROL_ERROR (RFC 9113 §6.9.2); nghttp2 only resets the stream. A
 * frame's values are processed in order (§6.5.3), each moving the windows by its difference
 * from the value before the frame: the largest of them counts, not the last (2^31-1 then
 * 65535 in one frame overflows a window the last leaves alone). nghttp2 keeps only the last,
 * so the largest is read from the input (h2-frame-scan.h).
 */
static void check_window_overflow(struct h2_conn *h)
{
        int64_t delta = h->scan.window_max - h->initial_window_before;

        if (h->scan.window_max < 0 || delta <= 0)
                return;
        for (struct h2_stream *st = h->streams; st; st = st->next)
                if (st->window_before >= 0 && st->window_before + delta > INT32_MAX) {
                        goaway(h, NGHTTP2_FLOW_CONTROL_ERROR);
                        return;
                }
}

static int frame_send_cb(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
        struct h2_conn *h = ud;

        if (frame->hd.type == NGHTTP2_HEADERS)
                h->out_whole = true;
        if (frame->hd.type == NGHTTP2_GOAWAY) {
                /* The code that went out, also for a GOAWAY nghttp2 queued on its own. */
                if (frame->goaway.error_code)
                        h->stats.goaway_reason = frame->goaway.error_code;
                /* The notice is out: its PING goes after it (nghttp2 sends a PING queued
                 * with it first), so that the ACK follows the client's read of the notice.
                 * Without it (no memory) the timer ends the first step. */
                else if (frame->goaway.last_stream_id == INT32_MAX)
                        (void)nghttp2_submit_ping(s, NGHTTP2_FLAG_NONE, drain_ping);
        }
        return 0;
}

static int frame_recv_cb(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
        struct h2_conn *h = ud;
        struct h2_stream *st;

        (void)s;
        switch (frame->hd.type) {
        case NGHTTP2_HEADERS:
                st = stream_of(h, frame->hd.stream_id);
                /* Fields past the limit are refused as soon as their block ends. */
                if (st && ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) || st->overflow))
                        dispatch(h, st);
                break;
        case NGHTTP2_DATA:
                st = stream_of(h, frame->hd.stream_id);
                if (st && frame->hd.length > frame->data.padlen)
                        st->req_body = true; /* content, padding aside: refused at once */
                if (st && (st->req_body || (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)))
                        dispatch(h, st);
                break;
        case NGHTTP2_SETTINGS:
                if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
                        check_window_overflow(h);
                        resume_window_waiters(h); /* INITIAL_WINDOW_SIZE may have grown */
                }
                break;
        case NGHTTP2_WINDOW_UPDATE: {
                bool thin = frame->window_update.window_size_increment < H2_MIN_DATA;
                if (frame->hd.stream_id == 0) {
                        h->conn_dribbled = thin;
                        resume_window_waiters(h);
                } else if ((st = stream_of(h, frame->hd.stream_id))) {
                        /* Only this stream's window moved (and nothing small_window_ok reads
                         * of the connection's). */
                        st->dribbled = thin;
                        if (st->window_wait)
                                resume_waiter(h, st, nghttp2_session_get_remote_window_size(h->s));
                }
                break;
        }
        case NGHTTP2_RST_STREAM:
                st = stream_of(h, frame->hd.stream_id);
                if (st)
                        st->peer_reset = true;
                break;
        case NGHTTP2_GOAWAY:
                h->peer_goaway = true;
                break;
        case NGHTTP2_PING:
                if ((frame->hd.flags & NGHTTP2_FLAG_ACK) &&
                    !memcmp(frame->ping.opaque_data, drain_ping, sizeof(drain_ping)))
                        (void)h2_conn_shutdown_final(h);
                break;
        default:
                break;
        }
        /* A setting broke a window: stop reading. */
        return h->fatal ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

/*
 * A stream the client had the edge take, and ended before its answer. Each such stream may
 * have started a fill. Players cancel a few (seeks, rendition switches); a connection
 * cancelling most of what it asks for, past the allowance, is only making work. Returns false
 * once past it (the GOAWAY is queued): stop the parse.
 */
static bool client_ended(struct h2_conn *h)
{
        h->stats.client_resets++;
        if (++h->pending_resets > h->lim.max_resets_per_s &&
            h->pending_resets * 2 > h->stats.streams && !h->fatal) {
                goaway(h, NGHTTP2_ENHANCE_YOUR_CALM);
                return false;
        }
        return true;
}

/*
 * A frame nghttp2 refused. On a stream the edge took, it is a stream error of the client's
 * making, which nghttp2 answers by resetting the stream itself (a WINDOW_UPDATE past 2^31-1:
 * FLOW_CONTROL_ERROR): as good as the client's RST_STREAM, without the client sending one,
 * so it counts as one, and the stream's fill is not started (h2_stream_ended_by_client).
 */
static int invalid_frame_cb(nghttp2_session *s, const nghttp2_frame *frame, int lib_error_code,
                            void *ud)
{
        struct h2_conn *h = ud;
        struct h2_stream *st = frame->hd.stream_id ? stream_of(h, frame->hd.stream_id) : NULL;

        (void)s;
        (void)lib_error_code;
        if (!st || st->broke || st->peer_reset || !st->dispatched || st->done)
                return 0;
        st->broke = true;
        return client_ended(h) ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

bool h2_stream_ended_by_client(const struct h2_stream *st)
{
        return st->peer_reset || st->broke;
}

static int stream_close_cb(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
        struct h2_conn *h = ud;
        struct h2_stream *st = stream_of(h, id);
        int ret = 0; /* NGHTTP2_ERR_CALLBACK_FAILURE once this close ended the connection */

        (void)s;
        if (!st)
                return 0;
        (void)nghttp2_session_set_stream_user_data(h->s, id, NULL);
        if (st->dispatched) {
                if (!st->done && st->peer_reset && !st->broke && !client_ended(h)) {
                        /* Stop the parse, after the bookkeeping below. (Resets arrive only
                         * while reading, so this is never a failure of a send.) */
                        ret = NGHTTP2_ERR_CALLBACK_FAILURE;
                }
        } else if (code == NGHTTP2_PROTOCOL_ERROR && !st->peer_reset && h->io.on_malformed) {
                /* nghttp2 reset a request it found malformed (its fields, its trailers, a
                 * content-length its DATA belies; RFC 9113 §8.1.1) before any dispatch. */
                h->io.on_malformed(h->io.ctx, st);
        }
        if (st->prev)
                st->prev->next = st->next;
        else
                h->streams = st->next;
        if (st->next)
                st->next->prev = st->prev;
        st->prev = st->next = NULL;
        wait_del(h, st);
        if (h->pend_st == st) {
                /* Its last frame's tail still reads from its file: finish that first. */
                st->gone_pending = true;
                return ret;
        }
        stream_gone(h, st);
        return ret;
}

int h2_conn_input(struct h2_conn *h, const void *buf, size_t len)
{
        ssize_t n = 0;

        if (h->fatal)
                return -EPROTO;
        /* In parts that each end with a SETTINGS frame, its values read first (h2_scan). */
        for (size_t off = 0, part; off < len && n >= 0; off += part) {
                part = h2_scan(&h->scan, (const uint8_t *)buf + off, len - off);
                n = nghttp2_session_mem_recv(h->s, (const uint8_t *)buf + off, part);
                /* DATA nghttp2 dropped before any callback (on a stream it reset and forgot,
                 * even one that "ends" it) costs the budget too. */
                while (n >= 0 && !h->fatal && h->data_seen < h->scan.data_frames) {
                        h->data_seen++;
                        count_control(h);
                }
        }
        if (n < 0) {
                if (n == NGHTTP2_ERR_NOMEM)
                        return -ENOMEM;
                /* nghttp2 stopped reading without a GOAWAY of its own: one of its bounds, a
                 * callback failure, or one of the edge's own checks (goaway() already queued
                 * its code). Say so before the close (RFC 9113 §5.4.1). */
                if (n == NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
                        h->fatal = true;
                        h->stats.goaway_reason = NGHTTP2_PROTOCOL_ERROR;
                } else {
                        goaway(h,
                               n == NGHTTP2_ERR_FLOODED || n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS
                                   ? NGHTTP2_ENHANCE_YOUR_CALM
                                   : NGHTTP2_INTERNAL_ERROR);
                }
                return -EPROTO;
        }
        /* Frames queued for a client that does not read them: nghttp2 bounds its queued ACKs
         * but not the RST_STREAMs refusing streams past the limit, one per new stream id, so
         * a client that opens streams it will never be allowed and reads nothing would grow
         * the queue without end. */
        if (!h->fatal && nghttp2_session_get_outbound_queue_size(h->s) > H2_OUTBOUND_MAX(&h->lim))
                goaway(h, NGHTTP2_ENHANCE_YOUR_CALM);
        if (!h->fatal && !h->draining && !h->peer_goaway && !nghttp2_session_want_read(h->s)) {
                /* nghttp2 ended the session itself (one of its own flood bounds). After our
                 * graceful GOAWAY, or the client's, it also stops reading once no stream is
                 * left: that is the end of the session, which h2_conn_flush reports, and no
                 * abuse. */
                h->fatal = true;
                h->stats.goaway_reason = NGHTTP2_ENHANCE_YOUR_CALM;
        }
        return h->fatal ? -EPROTO : 0;
}

/* ---- lifecycle ---- */

int h2_conn_new(const struct h2_limits *lim, const struct h2_io *io, struct h2_conn **ret)
{
        nghttp2_session_callbacks *cb = NULL;
        nghttp2_option *opt = NULL;
        nghttp2_settings_entry iv[4];
        struct h2_conn *h;
        int r = -ENOMEM;

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->io = *io;
        h->lim = *lim;
        h->pend_fd = -1;
        h2_scan_init(&h->scan, NGHTTP2_CLIENT_MAGIC_LEN);
        h->window_start_ms = mono_ms();
        h->rst_tokens = lim->max_resets_per_s;
        h->rst_refill_ms = h->window_start_ms;
        if (nghttp2_session_callbacks_new(&cb) != 0 || nghttp2_option_new(&opt) != 0)
                goto out;
        nghttp2_session_callbacks_set_send_callback(cb, send_cb);
        nghttp2_session_callbacks_set_send_data_callback(cb, send_data_cb);
        nghttp2_session_callbacks_set_data_source_read_length_callback(cb, read_length_cb);
        nghttp2_session_callbacks_set_on_begin_headers_callback(cb, begin_headers_cb);
        nghttp2_session_callbacks_set_on_header_callback(cb, header_cb);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, frame_recv_cb);
        nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, invalid_frame_cb);
        nghttp2_session_callbacks_set_on_begin_frame_callback(cb, begin_frame_cb);
        nghttp2_session_callbacks_set_on_frame_send_callback(cb, frame_send_cb);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, stream_close_cb);
        h2_scan_extensions(cb, opt);

        /* Bounds nghttp2 enforces itself (see h2.h). */
        nghttp2_option_set_max_continuations(opt, H2_MAX_CONTINUATIONS);
        nghttp2_option_set_stream_reset_rate_limit(opt, lim->max_resets_per_s,
                                                   lim->max_resets_per_s / 3 + 1);
        nghttp2_option_set_max_outbound_ack(opt, 100);
        nghttp2_option_set_max_settings(opt, 32);
        nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
        /* Streams past the advertised limit are refused even before our SETTINGS is ACKed. */
        nghttp2_option_set_max_reserved_remote_streams(opt, 0);
        if (nghttp2_session_server_new3(&h->s, cb, h, opt, h2_session_mem()) != 0)
                goto out;

        iv[0] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
                                         lim->max_concurrent_streams};
        iv[1] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, lim->window};
        iv[2] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
                                         lim->max_header_list};
        iv[3] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
        if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, 4) != 0)
                goto out;
        *ret = h;
        h = NULL;
        r = 0;
out:
        nghttp2_option_del(opt);
        nghttp2_session_callbacks_del(cb);
        h2_conn_free(h);
        return r;
}

/* The open stream, or the closed one whose tail or bytes are held back, with this id; NULL
 * if gone. */
static struct h2_stream *held_stream(struct h2_conn *h, int32_t id)
{
        for (struct h2_stream *st = h->streams; st; st = st->next)
                if (st->id == id)
                        return st;
        for (struct h2_stream *st = h->closing; st; st = st->next)
                if (st->id == id)
                        return st;
        return h->pend_st && h->pend_st->id == id ? h->pend_st : NULL;
}

/*
 * The connection is ending: what the transport still holds or dropped, and the held-back
 * tail, are the last bytes handed over, and never reach the kernel. Each DATA frame among
 * them (the latest first) is taken back from its stream's count, the part of it past the cut
 * only: open streams, and closed ones still waiting on the kernel (h->closing).
 */
static void unsent_drop(struct h2_conn *h)
{
        uint64_t u = held_bytes(h), cut;
        uint64_t n = h->sent_n < H2_SENT_LOG ? h->sent_n : H2_SENT_LOG;

        if (u == 0)
                return;
        cut = u < h->handed ? h->handed - u : 0;
        for (uint64_t i = 1; i <= n; i++) {
                const size_t at = (size_t)((h->sent_n - i) % H2_SENT_LOG);
                const uint64_t end = h->sent_log[at].end, start = end - h->sent_log[at].len;
                struct h2_stream *st;

                if (end <= cut)
                        break;
                st = held_stream(h, h->sent_log[at].id);
                if (st)
                        st->unsent += end - (start > cut ? start : cut);
        }
}

void h2_conn_free(struct h2_conn *h)
{
        struct h2_stream *st, *next, *pend;

        if (!h)
                return;
        unsent_drop(h);
        /* A stream still open may hold the pending tail too (a send that failed mid-frame):
         * the walk below frees it, so only a closed one is freed here. */
        pend = h->pend_st && h->pend_st->gone_pending ? h->pend_st : NULL;
        h->pend_st = NULL;
        nghttp2_session_del(h->s);
        for (st = h->streams; st; st = next) {
                next = st->next;
                stream_free(h, st);
        }
        if (pend)
                stream_free(h, pend);
        while (h->closing)
                closing_pop(h);
        free(h->pend);
        free(h);
}

bool h2_conn_busy(const struct h2_conn *h)
{
        return h->streams != NULL || h->blocked;
}

bool h2_conn_progressed(struct h2_conn *h)
{
        if (!h->out_whole && h->out_progress - h->out_progress_mark < H2_MIN_DATA)
                return false;
        h->out_whole = false;
        h->out_progress_mark = h->out_progress;
        return true;
}

/*
 * RFC 9113 §6.8 in two steps: a GOAWAY naming 2^31-1, a PING after it (frame_send_cb), and
 * once its ACK is back (the client read the notice: the streams it opened before are in) or
 * after H2_NOTICE_MS (the caller's timer), the final GOAWAY naming the last stream processed.
 * nghttp2_submit_goaway (unlike terminate_session, after which nghttp2 writes nothing more)
 * lets the streams up to it finish; once it is out nghttp2 ignores new streams, closes any
 * past the id, and want_read/want_write turn 0 when the last stream ends (h2_conn_flush 2).
 */
bool h2_conn_shutdown(struct h2_conn *h)
{
        if (h->fatal || h->noticed)
                return false;
        if (nghttp2_submit_shutdown_notice(h->s) != 0)
                return false; /* out of memory: the drain deadline closes the connection */
        h->noticed = true;
        return true;
}

bool h2_conn_shutdown_final(struct h2_conn *h)
{
        int32_t last;

        if (h->fatal || !h->noticed || h->draining)
                return false;
        last = nghttp2_session_get_last_proc_stream_id(h->s);
        if (nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, NULL, 0) != 0)
                return false; /* out of memory: the drain deadline closes the connection */
        h->draining = true;
        h->goaway_last = last;
        return true;
}

bool h2_conn_shutdown_waits(const struct h2_conn *h)
{
        return h->noticed && !h->draining && !h->fatal;
}

const struct h2_stats *h2_conn_stats(const struct h2_conn *h)
{
        return &h->stats;
}

/* ---- streams ---- */

const char *h2_stream_method(const struct h2_stream *st, size_t *len)
{
        *len = st->method_len;
        return st->method;
}

const char *h2_stream_path(const struct h2_stream *st, size_t *len)
{
        *len = st->path_len;
        return st->path;
}

const char *h2_stream_authority(const struct h2_stream *st, size_t *len)
{
        *len = st->authority_len;
        return st->authority;
}

const char *h2_stream_header(const struct h2_stream *st, const char *name, size_t *len)
{
        return hfind(st, name, len);
}

const char *h2_stream_field_next(const struct h2_stream *st, uint32_t *pos, const char **name,
                                 size_t *name_len, size_t *len)
{
        uint32_t lens[2];

        if (*pos >= st->hlen)
                return NULL;
        memcpy(lens, st->hbuf + *pos, sizeof(lens));
        *name = st->hbuf + *pos + sizeof(lens);
        *name_len = lens[0];
        *len = lens[1];
        *pos += (uint32_t)sizeof(lens) + lens[0] + lens[1] + 2;
        return *name + lens[0] + 1;
}

bool h2_stream_fields_too_large(const struct h2_stream *st)
{
        return st->overflow;
}

bool h2_stream_has_body(const struct h2_stream *st)
{
        return st->req_body;
}

int32_t h2_stream_id(const struct h2_stream *st)
{
        return st->id;
}

void h2_stream_set_data(struct h2_stream *st, void *data)
{
        st->data = data;
}

void *h2_stream_get_data(const struct h2_stream *st)
{
        return st->data;
}

#define H2_MAX_RESP_HEADERS 32

/*
 * HPACK's dynamic table pays for fields that repeat from answer to answer (cache-control,
 * content-type, the CORS fields, date within its second); nghttp2 itself keeps some out of the
 * table (content-length and etag among them). CMSD-Dynamic repeats too: its value is
 * sampled at most once a second per connection (cmsd.c), so after the first answer of each
 * second it goes as one index, not a Huffman-coded literal per answer.
 */
int h2_stream_respond(struct h2_stream *st, int status, const struct h2_header *hdrs, size_t n,
                      const struct h2_body *body)
{
        struct h2_conn *h = st->h;
        nghttp2_nv nv[H2_MAX_RESP_HEADERS + 1];
        nghttp2_data_provider prd;
        char code[4];
        int r;

        if (st->answered || n > H2_MAX_RESP_HEADERS || status < 100 || status > 999)
                return -EINVAL;
        code[0] = (char)('0' + status / 100);
        code[1] = (char)('0' + status / 10 % 10);
        code[2] = (char)('0' + status % 10);
        code[3] = '\0';
        nv[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)code, 7, 3, NGHTTP2_NV_FLAG_NONE};
        for (size_t i = 0; i < n; i++)
                nv[i + 1] =
                    (nghttp2_nv){(uint8_t *)hdrs[i].name, (uint8_t *)hdrs[i].value,
                                 hdrs[i].name_len, hdrs[i].value_len,
                                 (uint8_t)(hdrs[i].static_name ? NGHTTP2_NV_FLAG_NO_COPY_NAME
                                                               : NGHTTP2_NV_FLAG_NONE)};
        st->answered = true;
        if (body && body->len > 0) {
                st->body = *body;
                prd.source.ptr = st;
                prd.read_callback = read_cb;
                r = nghttp2_submit_response(h->s, st->id, nv, n + 1, &prd);
        } else {
                st->done = true;
                r = nghttp2_submit_response(h->s, st->id, nv, n + 1, NULL);
        }
        if (r != 0) {
                (void)nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id,
                                                NGHTTP2_INTERNAL_ERROR);
                return r == NGHTTP2_ERR_NOMEM ? -ENOMEM : -EIO;
        }
        /* Answered (nghttp2 copied the fields out): nothing reads the request again, so a
         * stream whose answer the client leaves unread holds that answer, not its request's
         * fields too (up to max_header_list each, from a few bytes of HPACK). */
        free(st->hbuf);
        st->hbuf = NULL;
        st->hlen = st->hcap = 0;
        st->method = st->path = st->authority = NULL;
        st->method_len = st->path_len = st->authority_len = 0;
        return 0;
}

uint64_t h2_stream_body_sent(const struct h2_stream *st)
{
        return st->unsent < st->sent ? st->sent - st->unsent : 0;
}

bool h2_stream_waits_on_body(const struct h2_stream *st)
{
        const struct h2_conn *h = st->h;

        return st->fill_wait && !h->blocked && !(h->io.unsent && h->io.unsent(h->io.ctx));
}

bool h2_conn_held_by_client(struct h2_conn *h)
{
        bool conn_shut = nghttp2_session_get_remote_window_size(h->s) <= 0;

        if (h->waiters || h->blocked || (h->io.unsent && h->io.unsent(h->io.ctx)))
                return true;
        for (struct h2_stream *st = h->streams; st; st = st->next) {
                uint64_t ready = st->body.len > st->sent ? st->body.len - st->sent : 0;
                bool failed = false;

                if (!st->answered || st->done || ready == 0)
                        continue;
                if (st->body.avail && !st->body.mem) {
                        uint64_t have = st->body.avail(st->body.avail_ctx, &failed);
                        ready = have > st->body.off + st->sent ? have - st->body.off - st->sent
                                                               : 0;
                }
                if (ready && (conn_shut ||
                              nghttp2_session_get_stream_remote_window_size(h->s, st->id) <= 0))
                        return true;
        }
        return false;
}

void h2_stream_resume(struct h2_stream *st)
{
        if (!st->fill_wait)
                return;
        st->fill_wait = false;
        (void)nghttp2_session_resume_data(st->h->s, st->id);
}
