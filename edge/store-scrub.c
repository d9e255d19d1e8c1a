/* SPDX-License-Identifier: MIT */
/*
 * The background scrub's pass over the store: every object re-read and checked against its
 * index record (size, SHA-256), the damaged ones dropped. Contract in store.h.
 *
 * The reads bypass the page cache (O_DIRECT) where the filesystem allows it: a pass over a
 * cache much larger than memory would otherwise push the hot segments out of it, and it checks
 * the bytes on the disk, not a good copy in memory. Dirty pages are written back before such a
 * read, so what it sees is the file's current content either way.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cache-idx.h"
#include "store-priv.h"
#include "store.h"

#define SCRUB_CHUNK (256u << 10)
#define SCRUB_ALIGN 4096u /* O_DIRECT: buffer, offsets and lengths in whole blocks */

enum { SCRUB_INTACT, SCRUB_DAMAGED, SCRUB_STOPPED };

struct scrub_ctx {
        struct store *s;
        const struct store_scrub_ops *ops;
        struct store_scrub_stats *st;
        EVP_MD_CTX *md;
        uint8_t *buf;
        bool buffered; /* the filesystem refused O_DIRECT: read through the page cache */
};

/* The object file p for reading past the page cache, or through it where that is refused. */
static int open_direct(struct scrub_ctx *x, const char *p)
{
        if (!x->buffered) {
                int fd = store_open_object(x->s, p, O_DIRECT);
                if (fd >= 0 || errno != EINVAL)
                        return fd;
                x->buffered = true;
        }
        return store_open_object(x->s, p, 0);
}

/* pread, going on through the page cache should a direct read be refused (EINVAL). */
static ssize_t read_chunk(struct scrub_ctx *x, int fd, uint64_t off)
{
        ssize_t n = pread(fd, x->buf, SCRUB_CHUNK, (off_t)off);
        int fl;

        if (n < 0 && errno == EINVAL && (fl = fcntl(fd, F_GETFL)) >= 0 && (fl & O_DIRECT) &&
            fcntl(fd, F_SETFL, fl & ~O_DIRECT) == 0)
                n = pread(fd, x->buf, SCRUB_CHUNK, (off_t)off);
        return n;
}

/* Re-read one object against its record: SCRUB_* or -errno (not the object's fault). */
static int scrub_check(struct scrub_ctx *x, const struct cache_idx_rec *rec, const char **why)
{
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        uint64_t off = 0;
        struct stat st;
        char p[20];
        int fd, r = SCRUB_INTACT;

        store_obj_path(rec->file_id, p);
        fd = open_direct(x, p);
        if (fd < 0) {
                *why = "file missing";
                return errno == ENOENT ? SCRUB_DAMAGED : -errno;
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto out;
        }
        if ((uint64_t)st.st_size != rec->size) {
                *why = "size differs from the index";
                r = SCRUB_DAMAGED;
                goto out;
        }
        if (!(rec->flags & CACHE_IDX_F_HAS_SHA))
                goto out;
        if (EVP_DigestInit_ex(x->md, EVP_sha256(), NULL) != 1) {
                r = -ENOMEM;
                goto out;
        }
        while (off < rec->size) {
                ssize_t n = read_chunk(x, fd, off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        *why = n < 0 ? "read error" : "file shorter than the index";
                        r = n < 0 && errno != EIO ? -errno : SCRUB_DAMAGED;
                        goto out;
                }
                if (EVP_DigestUpdate(x->md, x->buf, (size_t)n) != 1) {
                        r = -ENOMEM;
                        goto out;
                }
                off += (uint64_t)n;
                x->st->bytes += (uint64_t)n;
                if (x->ops->pace && !x->ops->pace((uint64_t)n, x->ops->userdata)) {
                        r = SCRUB_STOPPED;
                        goto out;
                }
        }
        if (EVP_DigestFinal_ex(x->md, md, &mdlen) != 1 || mdlen != 32) {
                r = -ENOMEM;
                goto out;
        }
        if (memcmp(md, rec->sha256, 32) != 0) {
                *why = "SHA-256 differs from the index";
                r = SCRUB_DAMAGED;
        }
out:
        (void)close(fd);
        return r;
}

static int scrub_one(const char *key, size_t key_len, const struct cache_idx_rec *rec,
                     void *userdata)
{
        struct scrub_ctx *x = userdata;
        const char *why = NULL;
        int r = scrub_check(x, rec, &why);

        if (r == SCRUB_STOPPED)
                return 1;
        if (r < 0) {
                x->st->errors++;
        } else {
                x->st->objects++;
                /* Not dropped: replaced or deleted since the listing, not this record's damage. */
                if (r == SCRUB_DAMAGED && store_drop_damaged(x->s, key, key_len, rec->file_id)) {
                        x->st->damaged++;
                        if (x->ops->damaged)
                                x->ops->damaged(key, key_len, why, x->ops->userdata);
                }
        }
        if (x->ops->checked)
                x->ops->checked(key, key_len, x->ops->userdata);
        return 0;
}

int store_scrub(struct store *s, const char *after, size_t after_len,
                const struct store_scrub_ops *ops, struct store_scrub_stats *ret)
{
        struct scrub_ctx x = {.s = s, .ops = ops, .st = ret};
        int r = -ENOMEM;

        memset(ret, 0, sizeof(*ret));
        x.md = EVP_MD_CTX_new();
        if (posix_memalign((void **)&x.buf, SCRUB_ALIGN, SCRUB_CHUNK) != 0)
                x.buf = NULL;
        if (x.md && x.buf) {
                r = cache_idx_foreach_after(s->idx, "", 0, after, after_len, scrub_one, &x);
                if (r > 0)
                        r = 1;
        }
        EVP_MD_CTX_free(x.md);
        free(x.buf);
        return r;
}

#define SCRUB_POS     "scrub.pos"
#define SCRUB_POS_TMP "scrub.pos.tmp"

int store_scrub_pos_save(struct store *s, const char *key, size_t len)
{
        ssize_t n;
        int fd, e = 0;

        if (len == 0)
                return unlinkat(s->dirfd, SCRUB_POS, 0) == 0 || errno == ENOENT ? 0 : -errno;
        if (!store_key_ok(key, len))
                return -EINVAL;
        fd = openat(s->dirfd, SCRUB_POS_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (fd < 0)
                return -errno;
        n = write(fd, key, len);
        if (n != (ssize_t)len)
                e = n < 0 ? -errno : -EIO;
        (void)close(fd);
        if (e == 0 && renameat(s->dirfd, SCRUB_POS_TMP, s->dirfd, SCRUB_POS) < 0)
                e = -errno;
        if (e < 0)
                (void)unlinkat(s->dirfd, SCRUB_POS_TMP, 0);
        return e;
}

size_t store_scrub_pos_load(struct store *s, char *buf)
{
        ssize_t n;
        int fd;

        fd = openat(s->dirfd, SCRUB_POS, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        n = read(fd, buf, STORE_KEY_MAX);
        (void)close(fd);
        return n > 0 && store_key_ok(buf, (size_t)n) ? (size_t)n : 0;
}
