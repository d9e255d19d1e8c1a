/* SPDX-License-Identifier: MIT */
/*
 * h2 frames over TLS gathered into one plaintext burst per flush (see h2-tls.h), in a buffer
 * of the worker thread's (conn-tls.c) that nothing else writes to. Every h2 flush ends by
 * emptying it; a connection that finds another's burst in it (a flush cut short by an error)
 * seals that one first, and a connection's close drops its own.
 *
 * DATA payloads from files are put off: a frame takes its place in the burst at once, and its
 * bytes are read when the burst is sealed, one preadv for each run of frames that follow each
 * other in a file (a 64 KiB response is one read, not four). The reads must land before the
 * file can be closed, so a stream letting its object go settles them first (h2_tls_settle).
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "conn-tls.h"
#include "conn.h"
#include "h2-tls.h"
#include "tls.h"

/* Payload reads a burst may put off until it is sealed: sixteen full frames fill the buffer. */
#define READS_MAX 32
/* Files whose size a burst has looked at (the streams it carries, most often one or two). */
#define SIZES_MAX 8

struct put_off {
        size_t at; /* where the payload goes in the buffer; its frame header is the 9 before */
        size_t len;
        off_t off;
        int fd;
};

static __thread struct {
        struct conn *owner;
        size_t len;
        bool failed; /* a put-off read came up short: the burst was cut before its frame */
        unsigned nreads, nsizes;
        struct put_off reads[READS_MAX];
        struct {
                int fd;
                off_t size;
        } sizes[SIZES_MAX];
} batch;

static void batch_reset(void)
{
        batch.owner = NULL;
        batch.len = 0;
        batch.failed = false;
        batch.nreads = 0;
        batch.nsizes = 0;
}

/* The burst ends where read r's frame began: r's file came up short. Its stream distrusts the
 * object (h2-serve.c), the flush fails, and nothing of that frame or after it goes out. */
static void cut_at(const struct put_off *r)
{
        batch.owner->h2_lost += batch.len - (r->at - 9);
        batch.owner->h2_body_short = true;
        batch.owner->h2_short_fd = r->fd;
        batch.len = r->at - 9;
        batch.nreads = 0;
        batch.failed = true;
}

/*
 * Read the put-off payloads into their places in buf: one preadv per run of frames that
 * follow each other in one file, where one pread per frame was needed before. Returns 0, or
 * -EIO when a file came up short (cut_at).
 */
static int settle(char *buf)
{
        unsigned i = 0;

        while (i < batch.nreads) {
                const struct put_off *r = &batch.reads[i];
                struct iovec iov[READS_MAX];
                unsigned n = 0;
                size_t want = 0;
                ssize_t got;

                do {
                        iov[n].iov_base = buf + r[n].at;
                        iov[n].iov_len = r[n].len;
                        want += r[n].len;
                        n++;
                } while (i + n < batch.nreads && r[n].fd == r[0].fd &&
                         r[n].off == r[n - 1].off + (off_t)r[n - 1].len);
                do
                        got = preadv(r[0].fd, iov, (int)n, r[0].off);
                while (got < 0 && errno == EINTR);
                if (got != (ssize_t)want) {
                        /* A regular file reads short only at its end: the first frame not
                         * read whole is where the burst stops. */
                        size_t upto = got > 0 ? (size_t)got : 0;
                        unsigned k = 0;
                        while (k + 1 < n && upto >= r[k].len)
                                upto -= r[k++].len;
                        cut_at(&r[k]);
                        return -EIO;
                }
                i += n;
        }
        batch.nreads = 0;
        return 0;
}

/* Hand the burst to OpenSSL. Returns 1, 0 (some kept by the tls_conn), -errno. */
static int seal(char *buf)
{
        struct conn *c = batch.owner;
        size_t len;
        bool failed;
        int r = 1;

        if (c)
                (void)settle(buf);
        len = batch.len;
        failed = batch.failed;
        batch_reset();
        if (c && len)
                r = tls_conn_write_all(c->tls, buf, len);
        if (r < 0 && c)
                c->h2_lost += len; /* TLS took none of it */
        return failed && r >= 0 ? -EIO : r;
}

/* Room for need more bytes of c's burst: a pointer to it, or NULL with *err set to -EAGAIN
 * (flush first), -E2BIG (never fits: write it directly), -EPIPE (the burst was cut) or
 * -ENOMEM. */
static char *room(struct conn *c, size_t need, int *err)
{
        size_t cap;
        char *buf = conn_tls_h2_burst(&cap);

        if (!buf) {
                *err = -ENOMEM;
                return NULL;
        }
        if (batch.failed && batch.owner == c) {
                /* The burst was cut (a stream's settle found its file short): a frame queued
                 * now would follow the cut, not the frames the cut dropped. End the session. */
                *err = -EPIPE;
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

/*
 * fd's size: as this burst last saw it (one fstat per file per burst), or looked at again
 * when that was less than need, since a file still being filled (by another worker, during
 * the burst) grows. -1 on error.
 */
static off_t file_size(int fd, off_t need)
{
        struct stat sb;
        unsigned i;

        for (i = 0; i < batch.nsizes; i++)
                if (batch.sizes[i].fd == fd)
                        break;
        if (i < batch.nsizes && batch.sizes[i].size >= need)
                return batch.sizes[i].size;
        if (fstat(fd, &sb) < 0)
                return -1;
        if (i == batch.nsizes && batch.nsizes < SIZES_MAX)
                batch.nsizes++;
        if (i < batch.nsizes) {
                batch.sizes[i].fd = fd;
                batch.sizes[i].size = sb.st_size;
        }
        return sb.st_size;
}

int h2_tls_queue_file(void *ctx, const void *hdr, int fd, off_t off, size_t len)
{
        struct conn *c = ctx;
        size_t cap;
        int err = 0;
        char *p = room(c, 9 + len, &err);
        char *buf = conn_tls_h2_burst(&cap);

        if (!p)
                return err;
        /* A file that has shrunk is found here, before anything of the frame is queued, so
         * only its stream fails; one that shrinks between this look and the read ends the
         * connection instead (settle). Never pad a response either way. */
        if (file_size(fd, off + (off_t)len) < off + (off_t)len) {
                c->h2_body_short = true;
                c->h2_short_fd = fd;
                return -EIO;
        }
        if (batch.nreads == READS_MAX && settle(buf) < 0)
                return -EPIPE; /* an earlier frame of the burst is cut: the session cannot go on */
        memcpy(p, hdr, 9);
        if (len) {
                struct put_off *r = &batch.reads[batch.nreads++];
                r->at = (size_t)(p + 9 - buf);
                r->len = len;
                r->off = off;
                r->fd = fd;
        }
        batch.len += 9 + len;
        c->req_bytes += len;
        return 0;
}

/* Read c's put-off payloads now: a stream is letting its file go. Its descriptor's number may
 * name another file later, so the sizes seen so far are forgotten too. */
void h2_tls_settle(struct conn *c)
{
        size_t cap;

        if (batch.owner != c)
                return;
        if (batch.nreads)
                (void)settle(conn_tls_h2_burst(&cap));
        batch.nsizes = 0;
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
                c->h2_lost += batch.len;
                batch_reset();
        }
}

uint64_t h2_tls_unsent(void *ctx)
{
        struct conn *c = ctx;

        return c->h2_lost + (batch.owner == c ? batch.len : 0) + conn_tls_unsent(c);
}
