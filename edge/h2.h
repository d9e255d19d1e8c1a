/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * HTTP/2 server side of one connection (libnghttp2), independent of the transport: the
 * caller feeds plaintext in (from the socket for h2c, from TLS after ALPN h2) and gives an
 * h2_io through which frames go out.
 *
 * Bodies are never buffered: a DATA frame's payload is read from the response's file (or
 * memory) only when flow control and the socket both allow it, with NGHTTP2_DATA_FLAG_NO_COPY
 * so that on a plain socket it is never copied in userspace: with sendfile(2) behind its
 * 9-byte header, or in a batch of frames (io.queue_map) named in the file's mapping, which
 * the kernel sends by reference or copies into the socket (h2-zc.h). At
 * most one frame is ever held back when the socket fills (its unsent tail), and a batch is
 * bounded by the transport, so memory per connection stays bounded whatever the client does.
 *
 * Abuse bounds (each answered with GOAWAY ENHANCE_YOUR_CALM or a stream reset):
 *  - rapid reset: nghttp2's RST_STREAM token bucket (burst/rate from max_resets_per_s), and
 *    streams the client resets while their answer is pending are counted too;
 *  - CONTINUATION floods: at most H2_MAX_CONTINUATIONS per header block;
 *  - HPACK bombs: decoded header bytes per request are capped (max_header_list, advertised
 *    in SETTINGS); a request over it is dispatched at the end of its field block with
 *    h2_stream_fields_too_large() true (answered 431), a connection doing it repeatedly is
 *    closed.
 *    A request's copy of its headers grows as fields arrive, up to that cap, and the
 *    requests of a connection not yet ended hold H2_HDR_HELD_MAX at most together (past it
 *    a stream is refused);
 *  - floods of frames that carry no request (SETTINGS, PING, PRIORITY, GOAWAY, small DATA,
 *    unknown types, WINDOW_UPDATEs that no DATA sent paid for; h2.c, costs_budget): a
 *    per-second budget of such frames, and nghttp2's bound on queued ACKs for a peer that
 *    does not read;
 *  - zero-window dribble: the connection's send deadline moves on only when H2_MIN_DATA
 *    bytes of answers (or a response head, or a body's end) went out since it last moved
 *    (h2_conn_progressed), so a client taking a few bytes at a time is closed at it whatever
 *    its window. DATA frames are not cut smaller than H2_MIN_DATA (unless that is all that
 *    is left) for a client whose SETTINGS_INITIAL_WINDOW_SIZE allows that much and that opens
 *    its window a few bytes at a time; one that asked for smaller windows, or a window our
 *    own frames left short of a full grant, gets frames of the window's size (h2.c,
 *    small_window_ok).
 */

#define H2_MAX_CONTINUATIONS 8
#define H2_MIN_DATA          4096
/*
 * Largest DATA payload per frame when the client's SETTINGS_MAX_FRAME_SIZE allows more than
 * the default 16384: fewer frames (and on a plain socket fewer sends) per body. nghttp2 sizes
 * its frame buffer to it, though with payloads never copied only the header is written there.
 */
#define H2_MAX_DATA_FRAME (64u << 10)
#define H2_MAX_HEADER_ABUSE  3 /* oversize header blocks tolerated per connection */
/*
 * Header bytes that the streams of one connection whose requests have not ended (HEADERS
 * without END_STREAM, or a field block still arriving) may hold together: four requests at
 * max_header_list (64 KiB at its default). A stream whose fields would take more is reset with
 * REFUSED_STREAM (h2.c, refuse). Requests that ended are answered and their streams go.
 */
#define H2_HDR_HELD_MAX(lim) (4u * (uint64_t)(lim)->max_header_list)
/*
 * DATA frames a session remembers (stream, payload, where it ends in the output), so that a
 * connection that fails charges each open stream only what reached the kernel. What a
 * transport holds past the kernel is bounded (TLS: about a MiB, a burst, the plaintext held
 * back and the records of two; h2c: two batches of H2_ZC_FRAMES): this covers it for frames
 * of 8 KiB and more on average. Older frames still held (many tiny frames to a client with tiny
 * windows) stay counted as sent.
 */
#define H2_SENT_LOG 128

/* Frames (not DATA) queued for the client at most, past which it is taken for one that opens
 * streams it never reads the answers of: the connection ends with ENHANCE_YOUR_CALM. A client
 * within its stream limit queues at most a HEADERS and a few control frames per stream. */
#define H2_OUTBOUND_MAX(lim) (2u * (size_t)(lim)->max_concurrent_streams + 256u)

struct h2_conn;
struct h2_stream;

struct h2_limits {
        uint32_t max_concurrent_streams;
        uint32_t window;          /* per-stream receive window we advertise */
        uint32_t max_header_list; /* decoded bytes per request (name + value + 32 each) */
        uint32_t max_fields;      /* request fields per request, pseudo-fields aside; 0: any */
        uint32_t max_resets_per_s;
        uint32_t max_control_per_s;
};

/*
 * The transport. write: send up to len bytes, return how many (> 0), -EAGAIN when the socket
 * is full, -errno on errors; after -EAGAIN or a short count the same remaining bytes are
 * offered again. write_file: the same for hdr[0..hlen) followed by [off, off+len) of fd
 * (sendfile on a plain socket; one TLS record for both under TLS); the count covers both.
 */
struct h2_io {
        ssize_t (*write)(void *ctx, const void *buf, size_t len);
        ssize_t (*write_file)(void *ctx, const void *hdr, size_t hlen, int fd, off_t off,
                              size_t len);
        /* A complete request on st (headers, END_STREAM), one whose fields passed
         * max_header_list (h2_stream_fields_too_large, at the end of its field block, its
         * fields cut short), or one with content (h2_stream_has_body, at its first DATA frame
         * with bytes: the client may still be sending). Answer now or later with
         * h2_stream_respond; st stays valid until on_stream_gone. */
        void (*on_request)(void *ctx, struct h2_stream *st);
        /* st is closed (answered, or reset by the client): drop every reference to it. A
         * closed stream with body bytes the transport still held (io.unsent) is kept until
         * they reach the kernel, or until h2_conn_free (see h2_stream_body_sent). */
        void (*on_stream_gone)(void *ctx, struct h2_stream *st, bool answered);
        /* Optional: st, never dispatched, was reset with PROTOCOL_ERROR by nghttp2, as a
         * malformed request (RFC 9113 §8.1.1: pseudo-header fields missing or wrong, a
         * connection-specific field, an uppercase name, a content-length its DATA belies).
         * Called as it closes: st is not to be kept. */
        void (*on_malformed)(void *ctx, struct h2_stream *st);
        /* Optional: push out what write/write_file buffered (called when a burst is over).
         * Returns 1 when all is out, 0 when the socket is full, -errno. */
        int (*flush)(void *ctx);
        /*
         * Optional gathering (h2c): frames are queued in order and flush sends the batch.
         * queue copies a[0..alen) then b[0..blen) as one unit; queue_map copies the 9-byte
         * frame header hdr and queues payload[0..len), which lies in a mapping of the body's
         * file (map_obj, see h2_body) and is not copied here (copy: the kernel copies it into
         * the socket, see h2_body.map_copy). Both return 0, -EAGAIN (full, or a
         * batch still under way: flush, and offer it again later), -E2BIG (not for a batch,
         * and nothing queued or under way: write it directly), -errno. While they are set,
         * flush returning 0 means a batch is under way.
         */
        int (*queue)(void *ctx, const void *a, size_t alen, const void *b, size_t blen);
        int (*queue_map)(void *ctx, const void *hdr, const char *payload, size_t len,
                         const void *map_obj, bool copy);
        /* Optional, with queue (TLS): queue the 9-byte frame header hdr and a payload of len
         * bytes read from fd at off now (not later: the file may be gone by the flush).
         * Returns as queue does; -EIO when the file ends early. */
        int (*queue_file)(void *ctx, const void *hdr, int fd, off_t off, size_t len);
        /* Optional: how many of the last bytes handed over (write, write_file, queue*) the
         * transport holds, or dropped, short of the kernel. Asked once, by h2_conn_free: the
         * streams still open are then charged only what went out (h2_stream_body_sent). */
        uint64_t (*unsent)(void *ctx);
        void *ctx;
        /* Largest DATA payload per frame; 0 means the peer's maximum frame size, up to
         * H2_MAX_DATA_FRAME. */
        size_t max_data;
};

/* A response body: memory (mem != NULL) or a file range. avail, when set, bounds how much of
 * the file exists yet (a fill in progress): bytes past it wait for h2_stream_resume. */
struct h2_body {
        const char *mem;
        const char *map;     /* the file mapped read-only (offsets as fd's), or NULL: the
                              * kernel reads it, userspace never does */
        const void *map_obj; /* what keeps map alive, for io.queue_map */
        bool map_copy;       /* io.queue_map copies the payload into the socket (no zero copy) */
        int fd;
        uint64_t off, len;
        uint64_t (*avail)(void *avail_ctx, bool *failed);
        void *avail_ctx;
};

struct h2_header {
        const char *name, *value;
        size_t name_len, value_len;
        bool static_name; /* lowercase and never freed: nghttp2 uses it without a copy */
};

/*
 * A new session: sends our SETTINGS. prior_knowledge: the client preface is expected at the
 * start of the input (h2c, and h2 after ALPN alike). Returns 0 with *ret, -ENOMEM.
 */
int h2_conn_new(const struct h2_limits *lim, const struct h2_io *io, struct h2_conn **ret);
/* Free the session and every stream (on_stream_gone is called for each dispatched one, so
 * the caller releases what they hold). Accepts NULL. */
void h2_conn_free(struct h2_conn *h);

/*
 * Plaintext from the client. Returns 0, or -EPROTO when the session must end (protocol error
 * or abuse: a GOAWAY is queued, flush then close), -ENOMEM.
 */
int h2_conn_input(struct h2_conn *h, const void *buf, size_t len);

/*
 * Send what can be sent. Returns 1 when nothing is left to write, 0 when the socket is full
 * (wait for POLLOUT), 2 when the session is over (GOAWAY out, nothing more to do: close),
 * -errno on transport errors.
 */
int h2_conn_flush(struct h2_conn *h);

/* Whether the session has open streams (the caller's idle deadline runs only without). */
bool h2_conn_busy(const struct h2_conn *h);
/*
 * Whether answers moved since the last call that said so: a response head or a body's last
 * frame went out, or H2_MIN_DATA bytes of DATA payload and of frames held back by a full
 * socket. What pushes the send deadline on: control frames (PING and SETTINGS ACKs) and
 * DATA a few bytes at a time (a tiny or dribbled window) do not.
 */
bool h2_conn_progressed(struct h2_conn *h);
/*
 * Drain (RFC 9113 §6.8), in two steps. h2_conn_shutdown queues the notice (a GOAWAY NO_ERROR
 * naming 2^31-1) and a PING; streams opened meanwhile are still served. The PING's ACK queues
 * the final GOAWAY NO_ERROR naming the last stream processed, or h2_conn_shutdown_final does,
 * H2_NOTICE_MS after the notice. Streams up to it finish; newer ones are refused (never
 * dispatched). h2_conn_flush returns 2 once the final GOAWAY is out and no stream is left.
 * Each returns whether this call queued its GOAWAY: false after a connection error, a first
 * call (for the final one, also before any notice), or no memory.
 */
#define H2_NOTICE_MS 1000
bool h2_conn_shutdown(struct h2_conn *h);
bool h2_conn_shutdown_final(struct h2_conn *h);
/* The notice is queued or out, the final GOAWAY not yet: the session is not over. */
bool h2_conn_shutdown_waits(const struct h2_conn *h);

/* Request accessors (valid from on_request until on_stream_gone). Pseudo-headers are
 * checked by nghttp2 (RFC 9113 §8.3). */
const char *h2_stream_method(const struct h2_stream *st, size_t *len);
const char *h2_stream_path(const struct h2_stream *st, size_t *len);
const char *h2_stream_authority(const struct h2_stream *st, size_t *len);
/* A regular header by lowercase name, or NULL. */
const char *h2_stream_header(const struct h2_stream *st, const char *name, size_t *len);
/* Each regular field in the order received: *pos starts at 0; NULL past the last. The name
 * (lowercase) and the value are NUL-terminated. */
const char *h2_stream_field_next(const struct h2_stream *st, uint32_t *pos, const char **name,
                                 size_t *name_len, size_t *len);
/* Whether st's fields passed max_header_list: those past it were dropped, and the request is
 * to be refused (431), whatever it may still send. */
bool h2_stream_fields_too_large(const struct h2_stream *st);
/* Whether the client sent content in DATA frames (the request is dispatched at the first). */
bool h2_stream_has_body(const struct h2_stream *st);
int32_t h2_stream_id(const struct h2_stream *st);
/* Whether the client already ended st (its RST_STREAM, or a stream error of its making that
 * nghttp2 resets the stream for): no answer of st's will be read. */
bool h2_stream_ended_by_client(const struct h2_stream *st);
/* Opaque pointer for the request layer. */
void h2_stream_set_data(struct h2_stream *st, void *data);
void *h2_stream_get_data(const struct h2_stream *st);

/*
 * Answer st: status, headers (copied), and body (NULL: none, e.g. HEAD or 304). The body's fd
 * is borrowed until on_stream_gone. Returns 0 or -errno (the stream is then reset).
 */
int h2_stream_respond(struct h2_stream *st, int status, const struct h2_header *hdrs, size_t n,
                      const struct h2_body *body);
/* Whether the client holds back what h has ready: the socket or TLS full, or a stream with
 * body bytes ready and its window, or the connection's, shut (or dribbled). A fill another
 * stream waits on is then no reason to spare the connection its send deadline. */
bool h2_conn_held_by_client(struct h2_conn *h);
/* A fill made progress: try the deferred body again. */
void h2_stream_resume(struct h2_stream *st);
/* Whether st waits for its body's next bytes (h2_stream_resume) with all before them in the
 * kernel: nothing of the connection's is held back for the client to read. */
bool h2_stream_waits_on_body(const struct h2_stream *st);
/* Body bytes of st handed to the transport so far (for the access log); from h2_conn_free on,
 * less those of its DATA frames that never reached the kernel (io.unsent, and the held-back
 * tail), as far as the last H2_SENT_LOG DATA frames of the connection tell. */
uint64_t h2_stream_body_sent(const struct h2_stream *st);

/* Counters, for metrics and tests. */
struct h2_stats {
        uint64_t streams;         /* requests dispatched */
        uint64_t client_resets;   /* streams the client reset before their answer was out */
        uint64_t header_overflow; /* requests over max_header_list */
        uint64_t header_refused;  /* streams refused past H2_HDR_HELD_MAX */
        uint64_t control_frames;  /* frames received that spent the control budget */
        uint64_t data_frames;     /* DATA frames sent */
        uint32_t goaway_reason;   /* error code of our GOAWAY, 0 if none */
};
const struct h2_stats *h2_conn_stats(const struct h2_conn *h);
#define H2_ERROR_CODES 14 /* NO_ERROR (0x0) .. HTTP_1_1_REQUIRED (0xd) */

/* The RFC 9113 §7 name of an error code ("PROTOCOL_ERROR"), "UNKNOWN" past the table. Inline:
 * the metrics name codes without linking the session. */
static inline const char *h2_error_name(uint32_t code)
{
        static const char *const names[H2_ERROR_CODES] = {
            "NO_ERROR",           "PROTOCOL_ERROR",      "INTERNAL_ERROR",
            "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",    "STREAM_CLOSED",
            "FRAME_SIZE_ERROR",   "REFUSED_STREAM",      "CANCEL",
            "COMPRESSION_ERROR",  "CONNECT_ERROR",       "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
        };

        return code < H2_ERROR_CODES ? names[code] : "UNKNOWN";
}
