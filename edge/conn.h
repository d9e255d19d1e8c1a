/* SPDX-License-Identifier: MIT */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "http1-parse.h"
#include "uring-loop.h"

#include "access-log.h"
#include "store.h"

/*
 * One client (or admin) connection. Reads arrive through a multishot recv with provided
 * buffers, so an idle keep-alive connection owns no read buffer: a request that arrives whole
 * is parsed and answered straight from the ring's buffer, and only the bytes of an incomplete
 * head (or pipelined requests queued behind a response that is still being written) are kept
 * in c->in. On a plain socket the response head (and any memory body) is sent through the
 * ring, batched into the loop's next submit; its completion sends the file body by sendfile(2)
 * from the store's fd until the socket is full, and the rest waits for POLLOUT through the
 * ring. TLS writes records directly. Requests on a connection are answered strictly in order:
 * the next is parsed only once the current response is out.
 */

enum conn_state {
        CONN_READ_HEAD, /* some bytes of a request head (header deadline running) */
        CONN_IDLE,      /* keep-alive, nothing of the next request yet (idle deadline) */
        CONN_READ_BODY, /* admin PUT body streaming into the store */
        CONN_SEND,      /* a response waits for socket space or fill bytes (send-progress
                         * deadline) */
        CONN_MISS_WAIT, /* a miss waits for its fill's upstream head */
        CONN_LINGER,    /* last response out, FIN sent: discarding input until EOF */
        CONN_CLOSED,
};

struct edge_worker;
struct admin_put_state;
struct miss_wait;
struct conn_refusal;
struct h2_conn;
struct h2_zc;
struct h2_led;
struct tls_conn;
struct tls_ctx;

struct conn {
        struct edge_worker *w;
        struct conn *prev, *next; /* worker's list */
        uint64_t id;
        int fd;
        uint32_t slot;
        enum conn_state state;
        bool admin;
        bool recv_armed;
        bool poll_armed;
        bool send_armed;  /* a ring send owns c->out until its completion */
        bool send_body;   /* ... and reads the body from obj's mapping (conn.c) */
        bool close_after; /* close once the current response is out */
        bool peer_eof;    /* client half-closed: answer what was read, then close */
        bool tls_peer_closed; /* its close_notify came: ours goes out at the close */
        bool processing;  /* inside the input loop (no re-entry) */
        bool peer_known;

        struct uring_timer timer;
        uint64_t deadline_ms;
        uint32_t sock_unsent; /* the socket's unacknowledged bytes at the send's last look */

        struct http1_parser parser;
        char *in; /* unparsed input (lazily allocated) */
        uint32_t in_len, in_cap;

        /* The response being written. */
        char *out; /* head (and memory body) bytes still to write */
        uint32_t out_len, out_off;
        uint64_t body_off, body_end; /* file range still to send from obj.fd */
        struct store_obj obj;
        bool has_obj;
        bool head_only_file; /* obj held only for HEAD bookkeeping */

        /* The request being answered (access log, metrics). */
        int req_status;
        bool req_client; /* counted in client request metrics */
        uint64_t req_start_us;
        uint64_t req_bytes;
        struct access_log_pending *pending_log;
        const char *req_cache;   /* access log cache= (a literal), or NULL */
        char req_upstream[128];  /* access log upstream=, "" when none */

        struct admin_put_state *put; /* admin PUT in progress */
        struct miss_wait *mw;        /* a miss answered from a fill (miss.c) */
        struct h2_conn *h2;          /* HTTP/2 session (h2-serve.c), or NULL */
        struct h2_zc *zc;            /* h2c send batches (h2-zc.c), or NULL */
        struct h2_led *h2_led;       /* fills its streams started, head not yet in (h2-serve.c) */
        struct uring_timer h2_notice; /* the drain's first step ends (h2_serve_shutdown) */
        bool h2_ending;              /* a protocol error's GOAWAY is in a batch under way:
                                      * close once it is out */
        bool h2_body_short;          /* sendfile found h2_short_fd's file short (h2-serve.c) */
        int h2_short_fd;
        uint64_t h2_resets_seen;     /* client resets already added to the metrics */
        uint64_t h2_lost;            /* h2 bytes handed over and dropped short of TLS
                                      * (h2-tls.c): h2_tls_unsent counts them */
        bool h1_seen;                /* bytes other than the HTTP/2 preface arrived */
        struct tls_conn *tls;        /* TLS session (conn-tls.c), or NULL: plain socket */
        bool tls_ready;              /* handshake complete */
        bool tls_fed;                /* input has reached the TLS session */
        uint8_t tls_capitals;        /* before that: the capital letters it began with */

        struct sockaddr_in6 peer; /* large enough for AF_INET too */

        /* CMSD-Dynamic (cmsd.c): the last TCP_INFO sample and when it was taken. */
        uint64_t cmsd_at_ms;
        uint32_t cmsd_etp_kbps;
        uint32_t cmsd_rtt_ms;

        /* A head refused before its end, read on for its Origin (conn.c), or NULL. */
        struct conn_refusal *refusal;
};

/* What a handler answers with. The head (and a memory body) may live in scratch memory:
 * conn_respond() copies whatever it cannot write at once. */
struct conn_resp {
        int status;
        const char *head;
        size_t head_len;
        const char *body; /* memory body, or NULL */
        size_t body_len;
        struct store_obj *obj; /* file body: [off, off+len) of obj->fd; ownership passes to
                                * the connection, which releases it */
        uint64_t off, len;
        bool client;    /* count in client request metrics */
        bool from_fill; /* file body from fill_fd, bounded by the fill's progress (c->mw) */
        int fill_fd;    /* borrowed from the fill, which outlives the response */
};

/*
 * Adopt an accepted socket (non-blocking). Returns 0 once the connection is registered (it may
 * already be closed again), or -ENOMEM before that, with the fd closed; the caller then undoes
 * its own accounting.
 */
int conn_accept(struct edge_worker *w, int fd, bool admin);

/* The same for a connection accepted on a TLS listener with context t. */
int conn_accept_tls(struct edge_worker *w, int fd, struct tls_ctx *t);

/*
 * At max_connections: close w's client connection idle longest (kept alive between requests,
 * or accepted and silent since, over TLS once its handshake is done), to take a new one in its
 * place (RFC 9112 §9.3 lets a server close an idle connection at any time), and count it.
 * False when none is idle: the new one is refused then. Walks w's connections, so only at the
 * limit; after a walk that found none the next IDLE_LOOK_BACKOFF_MS refuse without one, so a
 * flood at a busy server costs no walks.
 */
#define IDLE_LOOK_BACKOFF_MS 20
bool conn_close_idle(struct edge_worker *w);

/* Plaintext input (from the socket, or decrypted by conn-tls.c). Returns false when c was
 * closed. */
bool conn_input_plain(struct conn *c, const char *data, size_t n);
/*
 * Wait for room in the socket (POLLOUT), if not already waiting; false (and c closed) when it
 * cannot. The bytes the socket holds then are noted: the send deadline counts what the client
 * acknowledges meanwhile as progress, since room is signalled only once a third of the send
 * buffer drained, which a slow but steady reader may take longer than send_timeout to do.
 */
bool conn_arm_pollout(struct conn *c);

/* Move to state, tracing old→new at debug level and setting the state's deadline. */
void conn_set_state(struct conn *c, enum conn_state state);

/*
 * Write a response (see struct conn_resp). On return the response is either complete (state
 * moved on) or under way (CONN_SEND: a ring send, POLLOUT or fill progress finishes it; on a
 * plain socket that is the usual case); the connection may also have been closed —
 * check c->state == CONN_CLOSED before touching c (it stays allocated until the handler
 * returns to the loop).
 */
void conn_respond(struct conn *c, const struct conn_resp *r);

/* A miss waits for its fill's head: park the connection in CONN_MISS_WAIT. */
void conn_wait_miss(struct conn *c);
/* Fill progress: send what the fill now allows (no-op unless waiting on it). */
void conn_output_resume(struct conn *c);
/* After an answer given outside the input path: re-arm the recv if it ended. */
void conn_resume_input(struct conn *c);

/* The client sends no more (TLS 1.3's close_notify): a head refused before its end and still
 * read for its Origin is answered now, as after a FIN. */
void conn_refusal_end(struct conn *c);

/* Close now (errors, timeouts, drain). Idempotent. */
void conn_close(struct conn *c, const char *why);
/* The last answer is handed to the kernel: send the FIN after it and drop input until the
 * client's EOF or the linger deadline (CONN_LINGER), then close; at once when the client's
 * side is closed already. */
void conn_linger(struct conn *c, const char *why);

/* The client address as text into buf (for logs). */
const char *conn_peer_str(struct conn *c, char *buf, size_t cap);

/* A draining worker asks each connection to finish: idle ones close, busy ones close after the
 * current response. */
void conn_drain(struct conn *c);

/* Loop handlers (registered by the worker). */
void conn_on_recv(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe);
void conn_on_pollout(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe);
void conn_on_send(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe);

const char *conn_state_name(enum conn_state s);

/* Free the worker's pooled head buffers (at its end, once no connection is left). */
void conn_out_pool_free(struct edge_worker *w);
