/* SPDX-License-Identifier: MIT */
/*
 * h2 frames over TLS gathered into one plaintext burst per flush (see h2-tls.h), in a buffer
 * of the worker thread's (conn-tls.c) that nothing else writes to. Every h2 flush ends by
 * emptying it; a connection that finds another's burst in it (a flush cut short by an error)
 * seals that one first, and a connection's close drops its own.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "conn-tls.h"
#include "conn.h"
#include "h2-tls.h"
#include "tls.h"

static __thread struct {
        struct conn *owner;
        size_t len;
} batch;

/* Hand the burst to OpenSSL. Returns 1, 0 (some kept by the tls_conn), -errno. */
static int seal(char *buf)
{
        struct conn *c = batch.owner;
        size_t len = batch.len;

        batch.owner = NULL;
        batch.len = 0;
        if (!c || !len)
                return 1;
        return tls_conn_write_all(c->tls, buf, len);
}

/* Room for need more bytes of c's burst: a pointer to it, or NULL with *err set to -EAGAIN
 * (flush first), -E2BIG (never fits: write it directly) or -ENOMEM. */
static char *room(struct conn *c, size_t need, int *err)
{
        size_t cap;
        char *buf = conn_tls_h2_burst(&cap);

        if (!buf) {
                *err = -ENOMEM;
                return NULL;
        }
        if (tls_conn_holding(c->tls)) {
                *err = -EAGAIN;
                return NULL;
        }
        if (batch.owner != c && batch.len)
                (void)seal(buf); /* not expected: each flush empties it; keep the owner's order */
        if (batch.len + need > cap) {
                *err = batch.len ? -EAGAIN : -E2BIG;
                return NULL;
        }
        batch.owner = c;
        return buf + batch.len;
}

int h2_tls_queue(void *ctx, const void *a, size_t alen, const void *b, size_t blen)
{
        int err = 0;
        char *p = room(ctx, alen + blen, &err);

        if (!p)
                return err;
        if (alen)
                memcpy(p, a, alen);
        if (blen)
                memcpy(p + alen, b, blen);
        batch.len += alen + blen;
        return 0;
}

int h2_tls_queue_file(void *ctx, const void *hdr, int fd, off_t off, size_t len)
{
        struct conn *c = ctx;
        int err = 0;
        char *p = room(c, 9 + len, &err);
        size_t got = 0;

        if (!p)
                return err;
        memcpy(p, hdr, 9);
        while (got < len) {
                ssize_t n = pread(fd, p + 9 + got, len - got, off + (off_t)got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0) {
                        /* The file shrank: never pad a response; its stream distrusts the
                         * object (h2-serve.c), as a short sendfile does on h2c. */
                        c->h2_body_short = true;
                        c->h2_short_fd = fd;
                        return -EIO;
                }
                got += (size_t)n;
        }
        batch.len += 9 + len;
        c->req_bytes += len;
        return 0;
}

int h2_tls_flush(void *ctx)
{
        struct conn *c = ctx;
        size_t cap;
        char *buf = conn_tls_h2_burst(&cap);

        if (batch.owner == c) {
                int r = seal(buf);
                if (r < 0)
                        return r;
        }
        return tls_conn_flush(c->tls);
}

void h2_tls_forget(struct conn *c)
{
        if (batch.owner == c) {
                batch.owner = NULL;
                batch.len = 0;
        }
}
