/* SPDX-License-Identifier: MIT */
/*
 * Commits of puts, one at a time or as a group. Each object's order is the same either way:
 * its body checked and synced, then renamed to its final name and that directory synced, then
 * its index entry committed. A group shares the syncs that can be shared: a directory several
 * of its objects went to is synced once, and every index entry goes in one LMDB commit (one
 * pair of syncs for the group, not one per object), so commits that queue up while a disk is
 * slow cost less each.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hex.h"
#include "store-priv.h"
#include "store.h"

/*
 * Give tmp/<name> its final name unless that name exists (-EEXIST). Filesystems without
 * RENAME_NOREPLACE get link + unlink, which refuses an existing name just the same; a crash
 * between the two leaves a temp file, which open() deletes.
 */
static int move_noreplace(struct store *s, const char *tmpname, const char *path)
{
        if (renameat2(s->tmpfd, tmpname, s->objfd, path, RENAME_NOREPLACE) == 0)
                return 0;
        if (errno != EINVAL && errno != ENOSYS)
                return -errno;
        if (linkat(s->tmpfd, tmpname, s->objfd, path, 0) < 0)
                return -errno;
        (void)unlinkat(s->tmpfd, tmpname, 0);
        return 0;
}

/* What one entry of a group carries between the steps. */
struct staged {
        char path[20]; /* objects/<path> once renamed */
        bool renamed;  /* the file is under path and no index entry owns it yet */
        bool dir_synced; /* its directory's sync has run (once for all the group put there) */
};

/* Check c's body and sync it. */
static int check_and_sync(struct store_commit *c)
{
        struct store_put *p = c->put;
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        int r;

        if (p->failed)
                return p->failed;
        if (p->written != p->size)
                return -EBADMSG;
        if (EVP_DigestFinal_ex(p->md, md, &mdlen) != 1 || mdlen != 32)
                return -EIO;
        if (p->has_expect && memcmp(md, p->expect, 32) != 0)
                return -EBADMSG;
        memcpy(c->sha256, md, 32);
        c->verified = true;
        if (fsync(p->fd) < 0)
                return -errno;
        r = close(p->fd) < 0 ? -errno : 0;
        p->fd = -1;
        return r;
}

/* Give c's synced body its final name (its directory is synced later). */
static int rename_synced(struct store_commit *c, struct staged *st)
{
        struct store_put *p = c->put;
        int r;

        /* RENAME_NOREPLACE: an id collision must never overwrite a committed object. */
        for (int tries = 0;; tries++) {
                store_obj_path(p->file_id, st->path);
                r = move_noreplace(p->s, p->tmpname, st->path);
                if (r == 0)
                        break;
                if (r != -EEXIST || tries > 8)
                        return r;
                r = store_new_file_id(&p->file_id);
                if (r < 0)
                        return r;
        }
        st->renamed = true;
        p->tmpname[0] = '\0';
        return 0;
}

/* Sync the directory of v[i] once for every entry of the group renamed into it. */
static void sync_dir(struct store_commit *v, struct staged *st, size_t n, size_t i)
{
        struct store_put *p = v[i].put;
        char dir[3] = {st[i].path[0], st[i].path[1], '\0'};
        int r;

        if (strcmp(dir, p->dir) == 0) /* else a new id after a collision: another dir */
                r = fsync(p->dirfd) < 0 ? -errno : 0;
        else
                r = store_fsync_dirat(p->s->objfd, dir);
        for (size_t k = i; k < n; k++)
                if (v[k].r == 0 && st[k].renamed && !memcmp(st[k].path, dir, 2)) {
                        v[k].r = r;
                        st[k].dir_synced = true;
                }
}

static void index_rec(const struct store_put *p, const uint8_t md[32], struct cache_idx_rec *rec)
{
        memset(rec, 0, sizeof(*rec));
        rec->version = CACHE_IDX_REC_VERSION;
        rec->flags = CACHE_IDX_F_HAS_SHA | (p->mtime ? 0 : CACHE_IDX_F_COMMIT_TIME);
        rec->size = p->size;
        rec->file_id = p->file_id;
        rec->mtime = p->mtime ? p->mtime : (int64_t)time(NULL);
        memcpy(rec->sha256, md, 32);
        memcpy(rec->content_type, p->ctype, sizeof(rec->content_type));
        /* Strong validator from the content: same bytes, same tag, on every edge. */
        rec->etag[0] = '"';
        hex_encode(md, 8, rec->etag + 1);
        rec->etag[17] = '"';
        rec->etag[18] = '\0';
}

void store_put_commit_many(struct store_commit *v, size_t n)
{
        struct staged st[STORE_COMMIT_MAX];
        struct cache_idx_put_req req[STORE_COMMIT_MAX];
        size_t at[STORE_COMMIT_MAX], m = 0;
        struct store *s;

        if (n > STORE_COMMIT_MAX) {
                for (size_t i = 0; i < n; i += STORE_COMMIT_MAX)
                        store_put_commit_many(v + i, n - i < STORE_COMMIT_MAX ? n - i
                                                                              : STORE_COMMIT_MAX);
                return;
        }
        if (n == 0)
                return;
        s = v[0].put->s;
        /* Every body's writeback starts before the first fsync waits, and every body is
         * synced before the first rename, so each sync finds less left to write: ext4 without
         * a journal (where a new file's fsync also writes its directory, tmp/) writes tmp/
         * once for the group instead of once per object, and a journal would commit the
         * group's blocks with the first fsync and its renames with the first directory sync
         * instead of twice per object. */
        for (size_t i = 0; n > 1 && i < n; i++)
                if (!v[i].put->failed && v[i].put->fd >= 0)
                        (void)sync_file_range(v[i].put->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        for (size_t i = 0; i < n; i++) {
                v[i].verified = false;
                v[i].file_id = 0;
                st[i].renamed = st[i].dir_synced = false;
                v[i].r = check_and_sync(&v[i]);
        }
        for (size_t i = 0; i < n; i++)
                if (v[i].r == 0)
                        v[i].r = rename_synced(&v[i], &st[i]);
        for (size_t i = 0; i < n; i++)
                if (v[i].r == 0 && !st[i].dir_synced)
                        sync_dir(v, st, n, i);
        for (size_t i = 0; i < n; i++) {
                struct store_put *p = v[i].put;

                if (v[i].r < 0)
                        continue;
                req[m] = (struct cache_idx_put_req){
                        .key = p->key,
                        .key_len = p->key_len,
                        .max_bytes = s->max_bytes,
                        .if_file = p->if_unchanged ? &p->base_file : NULL,
                        .unless = p->if_unchanged ? p->dropped : NULL,
                };
                index_rec(p, v[i].sha256, &req[m].rec);
                at[m++] = i;
        }
        (void)cache_idx_put_many(s->idx, req, m);
        for (size_t j = 0; j < m; j++) {
                size_t i = at[j];

                v[i].r = req[j].r;
                if (req[j].r < 0)
                        continue;
                st[i].renamed = false; /* the index owns the file now */
                if (req[j].had_old && req[j].old.file_id != req[j].rec.file_id)
                        store_unlink_object(s, req[j].old.file_id);
                v[i].file_id = req[j].rec.file_id;
        }
        for (size_t i = 0; i < n; i++) {
                if (st[i].renamed)
                        (void)unlinkat(s->objfd, st[i].path, 0);
                store_put_free(v[i].put, true);
                v[i].put = NULL;
        }
}

int store_put_commit_id(struct store_put *p, uint8_t ret_sha256[32], uint64_t *ret_file_id)
{
        struct store_commit c = {.put = p};

        store_put_commit_many(&c, 1);
        if (ret_sha256 && c.verified)
                memcpy(ret_sha256, c.sha256, 32);
        if (ret_file_id && c.r == 0)
                *ret_file_id = c.file_id;
        return c.r;
}

int store_put_commit(struct store_put *p)
{
        return store_put_commit_id(p, NULL, NULL);
}

int store_put_commit_digest(struct store_put *p, uint8_t ret_sha256[32])
{
        return store_put_commit_id(p, ret_sha256, NULL);
}
