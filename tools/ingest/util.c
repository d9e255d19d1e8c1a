/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-write.h"
#include "util.h"

void strv_add(struct strv *sv, const char *s)
{
        if (sv->oom)
                return;
        if (sv->n + 2 > sv->cap) {
                size_t cap = sv->cap ? sv->cap * 2 : 32;
                char **v = realloc(sv->v, cap * sizeof(*v));
                if (!v) {
                        sv->oom = 1;
                        return;
                }
                sv->v = v;
                sv->cap = cap;
        }
        char *c = strdup(s);
        if (!c) {
                sv->oom = 1;
                return;
        }
        sv->v[sv->n++] = c;
        sv->v[sv->n] = NULL;
}

void strv_addf(struct strv *sv, const char *fmt, ...)
{
        char *s = NULL;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0) {
                sv->oom = 1;
                return;
        }
        strv_add(sv, s);
        free(s);
}

void strv_done(struct strv *sv)
{
        for (size_t i = 0; i < sv->n; i++)
                free(sv->v[i]);
        free(sv->v);
        *sv = (struct strv){0};
}

int util_file_read(const char *path, size_t max, uint8_t **ret_buf, size_t *ret_len)
{
        struct stat st;
        uint8_t *buf = NULL;
        int r, fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto out;
        }
        if (!S_ISREG(st.st_mode)) {
                r = -EINVAL;
                goto out;
        }
        if ((uint64_t)st.st_size > max) {
                r = -EFBIG;
                goto out;
        }
        size_t len = (size_t)st.st_size, got = 0;
        buf = malloc(len ? len : 1);
        if (!buf) {
                r = -ENOMEM;
                goto out;
        }
        while (got < len) {
                ssize_t n = read(fd, buf + got, len - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -EIO;
                        explicit_bzero(buf, got); /* the file may be a secret */
                        goto out;
                }
                got += (size_t)n;
        }
        *ret_buf = buf;
        *ret_len = len;
        buf = NULL;
        r = 0;
out:
        free(buf);
        close(fd);
        return r;
}

void util_wiped_free(void *p)
{
        if (p)
                explicit_bzero(p, malloc_usable_size(p));
        free(p);
}

/* Write data[0..len) to fd, fsync it when sync, and close it (always). Returns 0 or -errno. */
static int write_close(int fd, const void *data, size_t len, int sync)
{
        int r = fd_write_all(fd, data, len);

        if (r == 0 && sync && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        return r;
}

int util_file_replace(const char *path, const void *data, size_t len, unsigned mode, int sync)
{
        char tmp[4096];
        int r, fd;
        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
                return -ENAMETOOLONG;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        r = write_close(fd, data, len, sync);
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void)unlink(tmp);
        return r;
}

int util_file_stage(const char *path, const void *data, size_t len, char *ret_tmp, size_t tmplen)
{
        int r, fd;
        if ((size_t)snprintf(ret_tmp, tmplen, "%s.XXXXXX", path) >= tmplen) {
                ret_tmp[0] = '\0';
                return -ENAMETOOLONG;
        }
        fd = mkostemp(ret_tmp, O_CLOEXEC); /* mode 0600 */
        if (fd < 0) {
                r = -errno;
                ret_tmp[0] = '\0';
                return r;
        }
        r = write_close(fd, data, len, 1);
        if (r < 0) {
                (void)unlink(ret_tmp);
                ret_tmp[0] = '\0';
        }
        return r;
}

void util_dir_of(char *out, size_t cap, const char *path)
{
        snprintf(out, cap, "%s", path);
        char *slash = strrchr(out, '/');
        if (!slash)
                snprintf(out, cap, ".");
        else if (slash == out)
                out[1] = '\0';
        else
                *slash = '\0';
}

int util_file_commit(const char *tmp, const char *path)
{
        char dir[4096];
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
                /* Filesystems without RENAME_NOREPLACE: a hard link is as exclusive. */
                if (errno != EINVAL || link(tmp, path) < 0)
                        return -errno;
                (void)unlink(tmp);
        }
        /* The new name reaches the disk too (as publishing a title does, best effort). */
        if (strlen(path) >= sizeof(dir))
                return 0;
        util_dir_of(dir, sizeof(dir), path);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
        }
        return 0;
}

int util_dir_rename_new(const char *from, const char *path)
{
        struct stat st;

        if (renameat2(AT_FDCWD, from, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
                return 0;
        if (errno != EINVAL)
                return -errno;
        if (lstat(path, &st) == 0)
                return -EEXIST;
        if (errno != ENOENT)
                return -errno;
        if (rename(from, path) < 0)
                return errno == ENOTEMPTY || errno == ENOTDIR ? -EEXIST : -errno;
        return 0;
}

int util_file_url(char *buf, size_t len, const char *path)
{
        char cwd[4096];
        if (path[0] == '/')
                return util_path(buf, len, "file:%s", path);
        if (!getcwd(cwd, sizeof(cwd)))
                return -errno;
        return util_path(buf, len, "file:%s/%s", cwd, path);
}

int util_path(char *buf, size_t len, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf, len, fmt, ap);
        va_end(ap);
        return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
