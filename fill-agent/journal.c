/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-write.h"
#include "fnv.h"
#include "hex.h"
#include "lock-file.h"

#include "journal.h"

#define JOURNAL_HEADER "sluice-fill-journal 1\n"

struct jent {
        char *key; /* unescaped */
        size_t len;
        char sha[65];
};

struct journal {
        char *path; /* NULL: memory only */
        int fd;
        struct jent *tab; /* open addressing; key NULL = empty */
        size_t cap, used;
        struct journal_summary sum;
        bool last_ended; /* the last run in the file has an E record (or there is none) */
        off_t cut_to;    /* >= 0: a failed append left bytes past here, not yet cut off */
};

static struct jent *slot(const struct journal *j, const char *key, size_t len)
{
        size_t i = (size_t)key_hash64(key, len) & (j->cap - 1);
        for (;;) {
                struct jent *e = &j->tab[i];
                if (!e->key || (e->len == len && memcmp(e->key, key, len) == 0))
                        return e;
                i = (i + 1) & (j->cap - 1);
        }
}

static int set_put(struct journal *j, const char *key, size_t len, const char *sha)
{
        struct jent *e;

        if ((j->used + 1) * 2 > j->cap) {
                size_t ncap = j->cap ? j->cap * 2 : 256;
                struct jent *old = j->tab;
                size_t ocap = j->cap;
                j->tab = calloc(ncap, sizeof(*j->tab));
                if (!j->tab) {
                        j->tab = old;
                        return -ENOMEM;
                }
                j->cap = ncap;
                for (size_t i = 0; i < ocap; i++)
                        if (old[i].key)
                                *slot(j, old[i].key, old[i].len) = old[i];
                free(old);
        }
        e = slot(j, key, len);
        if (!e->key) {
                e->key = malloc(len + 1);
                if (!e->key)
                        return -ENOMEM;
                memcpy(e->key, key, len);
                e->key[len] = '\0';
                e->len = len;
                j->used++;
        }
        memcpy(e->sha, sha, 64);
        e->sha[64] = '\0';
        return 0;
}

static void set_clear(struct journal *j)
{
        for (size_t i = 0; i < j->cap; i++)
                free(j->tab[i].key);
        if (j->tab) /* an empty journal has no table yet */
                memset(j->tab, 0, j->cap * sizeof(*j->tab));
        j->used = 0;
}

/* Percent-escape key into out (cap >= 3*len+1). Returns the length. */
static size_t escape(const char *key, size_t len, char *out)
{
        static const char hx[] = "0123456789ABCDEF";
        size_t w = 0;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)key[i];
                if (c <= 0x20 || c == '%' || c >= 0x7f) {
                        out[w++] = '%';
                        out[w++] = hx[c >> 4];
                        out[w++] = hx[c & 15];
                } else {
                        out[w++] = (char)c;
                }
        }
        out[w] = '\0';
        return w;
}

/* Unescape s[0..n) into out (cap >= n+1). Returns the length or -EINVAL. */
static int unescape(const char *s, size_t n, char *out)
{
        size_t w = 0;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c <= 0x20 || c >= 0x7f)
                        return -EINVAL;
                if (c == '%') {
                        if (i + 2 >= n)
                                return -EINVAL;
                        int a = hex_digit(s[i + 1]), b = hex_digit(s[i + 2]);
                        if (a < 0 || b < 0)
                                return -EINVAL;
                        out[w++] = (char)(a * 16 + b);
                        i += 2;
                } else {
                        out[w++] = (char)c;
                }
        }
        out[w] = '\0';
        return (int)w;
}

static int parse_i64(const char *s, size_t n, int64_t *ret)
{
        int64_t v = 0;
        bool neg = false;
        size_t i = 0;

        if (n && s[0] == '-') {
                neg = true;
                i = 1;
        }
        if (i == n || n - i > 18)
                return -EINVAL;
        for (; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (s[i] - '0');
        }
        *ret = neg ? -v : v;
        return 0;
}

/* Split line into at most 4 space-separated fields (the last takes the rest). */
static size_t fields(const char *line, size_t n, const char **f, size_t *fl, size_t max)
{
        size_t k = 0, i = 0;
        while (i < n && k < max) {
                size_t s = i;
                if (k == max - 1) {
                        i = n;
                } else {
                        while (i < n && line[i] != ' ')
                                i++;
                }
                f[k] = line + s;
                fl[k] = i - s;
                k++;
                if (i < n)
                        i++; /* the space */
        }
        return k;
}

/* Apply one record; on -EINVAL *why says what is wrong with it. */
static int apply_line(struct journal *j, const char *line, size_t n, const char **why)
{
        const char *f[4];
        size_t fl[4], k;
        char key[JOURNAL_MAX_LINE];
        int64_t a, b;
        int kl;

        if (n < 2 || line[1] != ' ') {
                *why = "not a record (a letter and a space)";
                return -EINVAL;
        }
        switch (line[0]) {
        case 'S':
                k = fields(line + 2, n - 2, f, fl, 2);
                if (k != 2 || parse_i64(f[0], fl[0], &a) < 0 || parse_i64(f[1], fl[1], &b) < 0) {
                        *why = "bad S record (want S <time> <plan generated>)";
                        return -EINVAL;
                }
                if (j->last_ended) {
                        set_clear(j);
                        j->sum = (struct journal_summary){0};
                } else {
                        j->sum.resumed = true;
                }
                j->sum.started = a;
                j->sum.plan_generated = b;
                j->sum.ended = 0;
                j->sum.exit_code = -1;
                j->last_ended = false;
                return 0;
        case 'E':
                k = fields(line + 2, n - 2, f, fl, 2);
                if (k != 2 || parse_i64(f[0], fl[0], &a) < 0 || parse_i64(f[1], fl[1], &b) < 0 ||
                    b < 0 || b > 255) {
                        *why = "bad E record (want E <time> <exit 0-255>)";
                        return -EINVAL;
                }
                j->sum.ended = a;
                j->sum.exit_code = (int)b;
                j->last_ended = true;
                return 0;
        case 'C':
                k = fields(line + 2, n - 2, f, fl, 3);
                *why = "bad C record (want C <sha256, 64 lowercase hex> <size> </key>)";
                if (k != 3 || fl[0] != 64 || parse_i64(f[1], fl[1], &a) < 0 || a < 0)
                        return -EINVAL;
                for (size_t i = 0; i < 64; i++)
                        if (hex_digit(f[0][i]) < 0 || (f[0][i] >= 'A' && f[0][i] <= 'F'))
                                return -EINVAL;
                kl = unescape(f[2], fl[2], key);
                if (kl <= 0 || key[0] != '/')
                        return -EINVAL;
                if (set_put(j, key, (size_t)kl, f[0]) < 0)
                        return -ENOMEM;
                j->sum.committed++;
                j->sum.committed_bytes += (uint64_t)a;
                return 0;
        case 'R':
                k = fields(line + 2, n - 2, f, fl, 2);
                if (k != 2 || fl[0] == 0 || unescape(f[1], fl[1], key) <= 0) {
                        *why = "bad R record (want R <reason> <key>)";
                        return -EINVAL;
                }
                j->sum.refused++;
                return 0;
        default:
                *why = "unknown record type";
                return -EINVAL;
        }
}

/*
 * Load buf; *ret_valid: the length of its valid prefix (a torn last line is not). On -EINVAL,
 * err (when not NULL) says where and why: "line N: reason".
 */
static int load(struct journal *j, const char *buf, size_t len, size_t *ret_valid, char *err,
                size_t errlen)
{
        size_t hl = sizeof(JOURNAL_HEADER) - 1, pos, line_no = 1;
        const char *why = NULL;
        int r = 0;

        *ret_valid = 0;
        if (len == 0)
                return 0;
        if (len > JOURNAL_MAX_BYTES)
                return -E2BIG;
        if (len < hl || memcmp(buf, JOURNAL_HEADER, hl) != 0) {
                if (len < hl && memcmp(buf, JOURNAL_HEADER, len) == 0)
                        return 0;
                why = "not a sluice-fill journal (want the header \"sluice-fill-journal 1\")";
                r = -EINVAL;
                goto out;
        }
        pos = hl;
        while (pos < len) {
                const char *nl = memchr(buf + pos, '\n', len - pos);
                if (!nl)
                        break; /* torn tail */
                size_t n = (size_t)(nl - (buf + pos));
                line_no++;
                if (n > JOURNAL_MAX_LINE) {
                        why = "record longer than the limit";
                        r = -EINVAL;
                        goto out;
                }
                r = apply_line(j, buf + pos, n, &why);
                if (r < 0)
                        goto out;
                pos += n + 1;
        }
        *ret_valid = pos;
out:
        if (r == -EINVAL && err)
                snprintf(err, errlen, "line %zu: %s", line_no, why);
        return r;
}

int journal_new_memory(struct journal **ret)
{
        struct journal *j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->fd = -1;
        j->cut_to = -1;
        j->last_ended = true;
        j->sum.exit_code = -1;
        *ret = j;
        return 0;
}

int journal_load_buf(struct journal *j, const char *buf, size_t len)
{
        size_t valid;
        return load(j, buf, len, &valid, NULL, 0);
}

static int mkdirs(const char *path)
{
        char tmp[4096];
        size_t n = strlen(path);

        if (n >= sizeof(tmp))
                return -ENAMETOOLONG;
        memcpy(tmp, path, n + 1);
        for (size_t i = 1; i <= n; i++) {
                if (tmp[i] == '/' || tmp[i] == '\0') {
                        char c = tmp[i];
                        tmp[i] = '\0';
                        if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
                                return -errno;
                        tmp[i] = c;
                }
        }
        return 0;
}

/* mkdirs() of the directory part of path. */
static int mkdirs_for(const char *path)
{
        char dir[4096];
        const char *slash = strrchr(path, '/');
        size_t n = slash ? (size_t)(slash - path) : 0;

        if (n == 0)
                return 0;
        if (n >= sizeof(dir))
                return -ENAMETOOLONG;
        memcpy(dir, path, n);
        dir[n] = '\0';
        return mkdirs(dir);
}

int journal_lock(const char *path, int *ret_fd)
{
        int r = mkdirs_for(path);

        return r < 0 ? r : lock_file_take(path, 0640, ret_fd);
}

int journal_open(const char *path, bool write, struct journal **ret, char *err, size_t errlen)
{
        struct journal *j = NULL;
        char *buf = NULL;
        struct stat st;
        size_t valid = 0;
        int r, fd;

        r = journal_new_memory(&j);
        if (r < 0)
                return r;
        j->path = strdup(path);
        if (!j->path) {
                r = -ENOMEM;
                goto out;
        }
        if (write) {
                r = mkdirs_for(path);
                if (r < 0)
                        goto out;
        }
        fd = open(path, write ? O_RDWR | O_CREAT | O_CLOEXEC : O_RDONLY | O_CLOEXEC, 0640);
        if (fd < 0) {
                r = -errno;
                if (r == -ENOENT && !write)
                        r = 0, *ret = j, j = NULL;
                goto out;
        }
        j->fd = fd;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto out;
        }
        if ((uint64_t)st.st_size > JOURNAL_MAX_BYTES) {
                /* Not read, as one that does not parse is not: run moves it aside. */
                if (err)
                        snprintf(err, errlen, "larger than a journal may be (%u MiB)",
                                 JOURNAL_MAX_BYTES >> 20);
                r = -EINVAL;
                goto out;
        }
        buf = malloc((size_t)st.st_size + 1);
        if (!buf) {
                r = -ENOMEM;
                goto out;
        }
        {
                size_t got = 0;
                while (got < (size_t)st.st_size) {
                        ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
                        if (n < 0) {
                                r = -errno;
                                goto out;
                        }
                        if (n == 0)
                                break;
                        got += (size_t)n;
                }
                r = load(j, buf, got, &valid, err, errlen);
                if (r < 0)
                        goto out;
                if (write && valid < got && ftruncate(fd, (off_t)valid) < 0) {
                        r = -errno;
                        goto out;
                }
        }
        if (!write) {
                close(j->fd);
                j->fd = -1;
        }
        *ret = j;
        j = NULL;
out:
        free(buf);
        journal_free(j);
        return r;
}

void journal_free(struct journal *j)
{
        if (!j)
                return;
        if (j->tab)
                set_clear(j);
        free(j->tab);
        if (j->fd >= 0)
                close(j->fd);
        free(j->path);
        free(j);
}

/*
 * Append one whole line. A write that fails part way (the disk full, the file size limit)
 * takes back what it wrote: a torn line followed by later ones would make the file
 * unreadable to every later run, where a torn last line is merely dropped. If even that
 * fails, the next append tries again before it writes.
 */
static int append(struct journal *j, const char *line, size_t n)
{
        off_t start, end;

        if (j->fd < 0)
                return 0;
        if (j->cut_to >= 0) {
                if (ftruncate(j->fd, j->cut_to) < 0)
                        return -errno;
                j->cut_to = -1;
        }
        start = end = lseek(j->fd, 0, SEEK_END);
        if (end < 0)
                return -errno;
        while (n) {
                ssize_t w = pwrite(j->fd, line, n, end);
                if (w < 0) {
                        int err = errno;
                        if (err == EINTR)
                                continue;
                        if (end > start && ftruncate(j->fd, start) < 0)
                                j->cut_to = start;
                        return -err;
                }
                line += w;
                n -= (size_t)w;
                end += w;
        }
        return fdatasync(j->fd) < 0 ? -errno : 0;
}

/* Replace the file with a fresh one holding the header and first (write beside, rename). */
static int rewrite(struct journal *j, const char *first, size_t n)
{
        char tmp[4200];
        int fd, r = 0;

        if (!j->path)
                return 0;
        snprintf(tmp, sizeof(tmp), "%s.new", j->path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (fd < 0)
                return -errno;
        r = fd_write_all(fd, JOURNAL_HEADER, sizeof(JOURNAL_HEADER) - 1);
        if (r == 0)
                r = fd_write_all(fd, first, n);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r == 0 && rename(tmp, j->path) < 0)
                r = -errno;
        if (r < 0) {
                close(fd);
                (void)unlink(tmp); /* the journal at j->path stays as it was */
                return r;
        }
        if (j->fd >= 0)
                close(j->fd);
        j->fd = fd;
        j->cut_to = -1;
        {
                /* Make the rename durable. */
                char dir[4200];
                snprintf(dir, sizeof(dir), "%s", j->path);
                char *s = strrchr(dir, '/');
                if (s)
                        *s = '\0';
                int dfd = open(s ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd >= 0) {
                        (void)fsync(dfd);
                        close(dfd);
                }
        }
        return 0;
}

int journal_run_begin(struct journal *j, int64_t now, int64_t plan_generated)
{
        char line[64];
        int n = snprintf(line, sizeof(line), "S %" PRId64 " %" PRId64 "\n", now, plan_generated);

        if (j->last_ended) {
                set_clear(j);
                j->sum = (struct journal_summary){.exit_code = -1};
                if (j->path) {
                        int r = rewrite(j, line, (size_t)n);
                        if (r < 0)
                                return r;
                }
        } else {
                j->sum.resumed = true;
                int r = append(j, line, (size_t)n);
                if (r < 0)
                        return r;
        }
        j->sum.started = now;
        j->sum.plan_generated = plan_generated;
        j->sum.ended = 0;
        j->sum.exit_code = -1;
        j->last_ended = false;
        return 0;
}

int journal_run_end(struct journal *j, int64_t now, int exit_code)
{
        char line[64];
        int n = snprintf(line, sizeof(line), "E %" PRId64 " %d\n", now, exit_code);
        int r = append(j, line, (size_t)n);

        if (r < 0)
                return r;
        j->sum.ended = now;
        j->sum.exit_code = exit_code;
        j->last_ended = true;
        return 0;
}

/* Append a line of head (under 100 bytes) and the escaped key. Returns 0 or -errno. */
static int append_keyed(struct journal *j, const char *head, const char *key, size_t key_len)
{
        size_t hl = strlen(head), n;
        char *line;
        int r;

        if (key_len == 0 || key_len > JOURNAL_MAX_KEY)
                return -ENAMETOOLONG;
        line = malloc(hl + key_len * 3 + 2);
        if (!line)
                return -ENOMEM;
        memcpy(line, head, hl);
        n = hl + escape(key, key_len, line + hl);
        line[n++] = '\n';
        r = append(j, line, n);
        free(line);
        return r;
}

int journal_commit(struct journal *j, const char *key, size_t key_len, const char *sha256,
                   uint64_t size)
{
        char head[100];
        int r;

        snprintf(head, sizeof(head), "C %.64s %" PRIu64 " ", sha256, size);
        r = append_keyed(j, head, key, key_len);
        if (r < 0)
                return r;
        r = set_put(j, key, key_len, sha256);
        if (r < 0)
                return r;
        j->sum.committed++;
        j->sum.committed_bytes += size;
        return 0;
}

int journal_refuse(struct journal *j, const char *key, size_t key_len, const char *reason)
{
        char head[100];
        int r;

        snprintf(head, sizeof(head), "R %.40s ", reason);
        r = append_keyed(j, head, key, key_len);
        if (r == 0)
                j->sum.refused++;
        return r;
}

bool journal_committed(const struct journal *j, const char *key, size_t key_len, const char *sha256)
{
        const struct jent *e;

        if (!j->cap)
                return false;
        e = slot(j, key, key_len);
        return e->key && memcmp(e->sha, sha256, 64) == 0;
}

void journal_get_summary(const struct journal *j, struct journal_summary *ret)
{
        *ret = j->sum;
}
