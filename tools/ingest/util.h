/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Small helpers local to ingest: a growable argv for posix_spawn, whole-file read/write.
 */

#include <stddef.h>
#include <stdint.h>

struct strv {
        char **v; /* NULL-terminated once anything was added */
        size_t n, cap;
        int oom; /* sticky: set when an add failed, checked once before use */
};

/* strv_add: append a copy of s. On OOM sets sv->oom; check it before using sv->v. */
void strv_add(struct strv *sv, const char *s);

/* strv_addf: append a formatted string, as strv_add. */
void strv_addf(struct strv *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* strv_done: free all strings and the array. */
void strv_done(struct strv *sv);

/*
 * util_file_read: read a whole regular file of at most max bytes into a malloc'd buffer.
 * Returns 0, -EFBIG past max, or -errno. *ret_buf is the caller's.
 */
int util_file_read(const char *path, size_t max, uint8_t **ret_buf, size_t *ret_len);

/* free(), the block wiped first (its whole usable size): for the JSON library, which copies a
 * content key through strings and buffers of its own. */
void util_wiped_free(void *p);

/*
 * util_file_replace: write data to "<path>.tmp" and rename it over path, so a reader sees
 * the old file or the new one, never a mix. With sync, the data is fsync'd before the
 * rename; without, the caller syncs later (ingest syncs the whole title before publishing).
 * Returns 0 or -errno.
 */
int util_file_replace(const char *path, const void *data, size_t len, unsigned mode, int sync);

/*
 * util_file_stage: write data to a new file "<path>.XXXXXX" (mode 0600, synced), for
 * util_file_commit to put at path later. Its name goes to ret_tmp (tmplen bytes). Returns 0
 * or -errno; on failure nothing is left behind and ret_tmp is "".
 */
int util_file_stage(const char *path, const void *data, size_t len, char *ret_tmp, size_t tmplen);

/* util_dir_of: the directory part of path into out (cap bytes): "." for a bare name, "/"
 * for a name in the root. */
void util_dir_of(char *out, size_t cap, const char *path);

/*
 * util_file_commit: rename tmp (from util_file_stage) to path unless path exists, then sync
 * path's directory (best effort). Returns 0, or -EEXIST when path exists, or -errno; on
 * failure tmp is left as it was.
 */
int util_file_commit(const char *tmp, const char *path);

/*
 * util_dir_rename_new: rename the directory from to path unless something is at path (a
 * symbolic link too). renameat2's RENAME_NOREPLACE where the filesystem has it; where it has
 * not (NFS, FUSE: EINVAL), a look with lstat and then rename(2), which puts a directory only
 * in the place of an empty directory: one made between the two is the only thing it can
 * take the place of. Returns 0, -EEXIST when path exists, or -errno.
 */
int util_dir_rename_new(const char *from, const char *path);

/*
 * util_file_url: the local file path as ffmpeg's URL for it, "file:" and the absolute path,
 * into buf (len bytes). ffmpeg takes what comes before a ':' in a plain name for a protocol
 * ("ep1:final.mp4" would be protocol "ep1"); "file:" reads the rest as a path, whatever it
 * holds. Returns 0, -ENAMETOOLONG, or -errno from getcwd.
 */
int util_file_url(char *buf, size_t len, const char *path);

/*
 * util_path: format a path into buf. Returns 0, or -ENAMETOOLONG when it does not fit (buf
 * then holds a truncated string that must not be used).
 */
int util_path(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
