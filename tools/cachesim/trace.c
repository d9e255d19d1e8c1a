/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy-map.h"
#include "trace.h"

struct trace_limits trace_limits_default(void)
{
        return (struct trace_limits){
            .max_requests = TRACE_DEFAULT_MAX_REQUESTS,
            .max_object_size = UINT32_MAX,
        };
}

void trace_done(struct trace *t)
{
        free(t->reqs);
        free(t->next);
        memset(t, 0, sizeof(*t));
}

int trace_append(struct trace *t, const struct trace_limits *lim, uint64_t id, uint64_t size,
                 uint32_t time)
{
        if (t->len >= lim->max_requests)
                return -E2BIG;
        if (t->len == t->cap) {
                size_t ncap = t->cap ? t->cap * 2 : 4096;
                struct trace_req *n = realloc(t->reqs, ncap * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                t->reqs = n;
                t->cap = ncap;
        }
        t->reqs[t->len++] = (struct trace_req){.id = id, .size = (uint32_t)size, .time = time};
        return 0;
}

enum trace_format trace_format_detect(const uint8_t *buf, size_t len)
{
        size_t n = len < 64 ? len : 64;
        if (n == 0)
                return TRACE_FORMAT_CSV;
        /* Text may be UTF-8 (a byte-order mark, ids that are URLs of any script), so only
         * control bytes say binary: every oracleGeneral record under 16 MiB has a zero byte
         * in its size. */
        for (size_t i = 0; i < n; i++) {
                uint8_t c = buf[i];
                if (c != '\n' && c != '\r' && c != '\t' && (c < 0x20 || c == 0x7f))
                        return TRACE_FORMAT_ORACLE;
        }
        return TRACE_FORMAT_CSV;
}

static const uint8_t *skip_space(const uint8_t *p, const uint8_t *end)
{
        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        return p;
}

/* Parses an unsigned decimal spanning exactly [p, end). -EINVAL if empty, junk or > max. */
static int parse_u64(const uint8_t *p, const uint8_t *end, uint64_t max, uint64_t *ret)
{
        uint64_t v = 0;
        if (p == end)
                return -EINVAL;
        for (; p < end; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                unsigned d = *p - '0';
                if (v > (max - d) / 10)
                        return -EINVAL;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

/* A timestamp: digits with an optional fraction, which is dropped. */
static int parse_time(const uint8_t *p, const uint8_t *end, uint32_t *ret)
{
        const uint8_t *dot = memchr(p, '.', (size_t)(end - p));
        uint64_t v;
        if (dot) {
                for (const uint8_t *q = dot + 1; q < end; q++)
                        if (*q < '0' || *q > '9')
                                return -EINVAL;
                end = dot;
        }
        int r = parse_u64(p, end, UINT32_MAX, &v);
        if (r < 0)
                return r;
        *ret = (uint32_t)v;
        return 0;
}

/*
 * Why a timestamp was refused. Traces from other tools often count milliseconds (or finer)
 * since the epoch, which overflow 32-bit seconds: such a value is named for what it looks
 * like, and what to divide it by.
 */
static const char *time_error(const uint8_t *p, const uint8_t *end)
{
#define TIME_EXPECTED "bad timestamp: expected seconds (a whole number up to 4294967295, a " \
                      "fraction allowed)"
        static const struct {
                uint64_t per_second;
                const char *msg;
        } units[] = {
            {1000, TIME_EXPECTED "; this one looks like milliseconds (divide by 1000)"},
            {1000000, TIME_EXPECTED "; this one looks like microseconds (divide by 10^6)"},
            {1000000000, TIME_EXPECTED "; this one looks like nanoseconds (divide by 10^9)"},
        };
        const uint8_t *dot = memchr(p, '.', (size_t)(end - p));
        uint64_t v;

        if (parse_u64(p, dot ? dot : end, UINT64_MAX, &v) == 0 && v > UINT32_MAX)
                for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                        if (v / units[i].per_second <= UINT32_MAX)
                                return units[i].msg;
        return TIME_EXPECTED;
#undef TIME_EXPECTED
}

/* Numeric ids are kept; anything else (URLs, hex keys) is hashed, as trace tools do. */
static int parse_id(const uint8_t *p, const uint8_t *end, uint64_t *ret)
{
        if (p == end)
                return -EINVAL;
        if (parse_u64(p, end, UINT64_MAX, ret) == 0)
                return 0;
        uint64_t h = 0xcbf29ce484222325ULL;
        for (; p < end; p++)
                h = (h ^ *p) * 0x100000001b3ULL;
        *ret = h;
        return 0;
}

/* Splits [p, end) at commas into at most n trimmed fields; returns the field count. */
static unsigned split(const uint8_t *p, const uint8_t *end, const uint8_t *f[][2], unsigned n)
{
        unsigned k = 0;
        while (k < n) {
                const uint8_t *c = memchr(p, ',', (size_t)(end - p));
                const uint8_t *fe = c ? c : end;
                const uint8_t *fs = skip_space(p, fe);
                while (fe > fs && (fe[-1] == ' ' || fe[-1] == '\t'))
                        fe--;
                f[k][0] = fs;
                f[k][1] = fe;
                k++;
                if (!c)
                        break;
                p = c + 1;
        }
        return k;
}

/* Where a CSV parse is: a stream is parsed a piece at a time, each piece whole lines. */
struct csv_state {
        uint64_t lineno;
        bool first; /* no data line yet: a header line may come */
};

static int csv_lines(struct csv_state *st, const uint8_t *p, const uint8_t *end,
                     const struct trace_limits *lim, struct trace *t, struct trace_error *err)
{
        while (p < end) {
                const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
                const uint8_t *le = nl ? nl : end;
                err->line = ++st->lineno;
                if (le - p > TRACE_CSV_LINE_MAX) {
                        err->msg = "line too long";
                        return -EINVAL;
                }
                if (le > p && le[-1] == '\r')
                        le--;
                const uint8_t *s = skip_space(p, le);
                p = nl ? nl + 1 : end;
                if (s == le || *s == '#')
                        continue;
                const uint8_t *f[3][2];
                if (split(s, le, f, 3) < 3) {
                        err->msg = "expected timestamp,object_id,size";
                        return -EINVAL;
                }
                uint32_t time;
                uint64_t id, size;
                if (parse_time(f[0][0], f[0][1], &time) < 0) {
                        /* A header line (a name, not a number) is allowed before any data. */
                        if (st->first && (*f[0][0] < '0' || *f[0][0] > '9')) {
                                st->first = false;
                                continue;
                        }
                        err->msg = time_error(f[0][0], f[0][1]);
                        return -EINVAL;
                }
                st->first = false;
                if (parse_id(f[1][0], f[1][1], &id) < 0) {
                        err->msg = "bad object id";
                        return -EINVAL;
                }
                /* split() stops at the third field, so extra columns are ignored. */
                if (parse_u64(f[2][0], f[2][1], lim->max_object_size, &size) < 0) {
                        err->msg = "bad size (not a number, or over the object size limit)";
                        return -EINVAL;
                }
                int r = trace_append(t, lim, id, size, time);
                if (r < 0) {
                        err->msg = r == -E2BIG ? "too many requests" : "out of memory";
                        return r;
                }
        }
        return 0;
}

/* A UTF-8 byte-order mark (spreadsheets write one) is not part of the first line. */
static size_t bom_len(const uint8_t *buf, size_t len)
{
        return len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

int trace_csv_parse(const uint8_t *buf, size_t len, const struct trace_limits *lim, struct trace *t,
                    struct trace_error *err)
{
        struct csv_state st = {.first = true};
        return csv_lines(&st, buf + bom_len(buf, len), buf + len, lim, t, err);
}

static uint32_t rd32(const uint8_t *b)
{
        return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t rd64(const uint8_t *b)
{
        return (uint64_t)rd32(b) | (uint64_t)rd32(b + 4) << 32;
}

/* Parses len bytes of whole records, the first of them record number first + 1. */
static int oracle_records(const uint8_t *buf, size_t len, uint64_t first,
                          const struct trace_limits *lim, struct trace *t, struct trace_error *err)
{
        for (size_t off = 0; off < len; off += TRACE_ORACLE_RECORD) {
                const uint8_t *rec = buf + off;
                uint64_t size = rd32(rec + 12);
                err->line = first + off / TRACE_ORACLE_RECORD + 1;
                if (size > lim->max_object_size) {
                        err->msg = "object over the size limit";
                        return -EINVAL;
                }
                int r = trace_append(t, lim, rd64(rec + 4), size, rd32(rec));
                if (r < 0) {
                        err->msg = r == -E2BIG ? "too many requests" : "out of memory";
                        return r;
                }
        }
        return 0;
}

static const char oracle_partial[] = "file size is not a multiple of 24-byte records";

int trace_oracle_parse(const uint8_t *buf, size_t len, const struct trace_limits *lim,
                       struct trace *t, struct trace_error *err)
{
        if (len % TRACE_ORACLE_RECORD) {
                err->line = len / TRACE_ORACLE_RECORD + 1;
                err->msg = oracle_partial;
                return -EINVAL;
        }
        return oracle_records(buf, len, 0, lim, t, err);
}

/*
 * Parses a pipe (a decompressor's output, say) as it reads it, a buffer of whole lines or
 * records at a time: the request limit stops the reading there, where reading the stream
 * whole first took all of it into memory (up to a bound of 16 GiB) before the limit applied.
 */
static int load_stream(int fd, enum trace_format fmt, const struct trace_limits *lim,
                       struct trace *t, struct trace_error *err)
{
        const size_t cap = 1 << 20; /* far over a CSV line: a buffer holds a whole one */
        struct csv_state st = {.first = true};
        uint64_t records = 0;
        size_t n = 0;
        bool eof = false, started = false;
        uint8_t *b = malloc(cap);
        int r = 0;

        if (!b)
                return -ENOMEM;
        while (!eof) {
                ssize_t got = read(fd, b + n, cap - n);
                size_t take;

                if (got < 0 && errno == EINTR)
                        continue;
                if (got < 0) {
                        r = -errno;
                        break;
                }
                eof = got == 0;
                n += (size_t)got;
                if (!started) {
                        /* The format is told from the first 64 bytes, as a file's is. */
                        if (!eof && n < 64)
                                continue;
                        started = true;
                        if (fmt == TRACE_FORMAT_AUTO && n)
                                fmt = trace_format_detect(b, n);
                        if (fmt != TRACE_FORMAT_ORACLE) {
                                size_t bom = bom_len(b, n);
                                memmove(b, b + bom, n - bom);
                                n -= bom;
                        }
                }
                if (fmt == TRACE_FORMAT_ORACLE) {
                        take = n - n % TRACE_ORACLE_RECORD;
                        if (eof && take != n) {
                                err->line = records + n / TRACE_ORACLE_RECORD + 1;
                                err->msg = oracle_partial;
                                r = -EINVAL;
                                break;
                        }
                        r = oracle_records(b, take, records, lim, t, err);
                        records += take / TRACE_ORACLE_RECORD;
                } else {
                        const uint8_t *nl = memrchr(b, '\n', n);
                        /* The last line waits for its end, unless the stream ended or it
                         * fills the buffer (too long: the parser says so). */
                        take = eof || (!nl && n == cap) ? n : nl ? (size_t)(nl - b) + 1 : 0;
                        r = csv_lines(&st, b, b + take, lim, t, err);
                }
                if (r < 0)
                        break;
                memmove(b, b + take, n - take);
                n -= take;
        }
        free(b);
        return r;
}

static int parse_buf(const uint8_t *buf, size_t len, enum trace_format fmt,
                     const struct trace_limits *lim, struct trace *t, struct trace_error *err)
{
        if (len == 0)
                return 0;
        if (fmt == TRACE_FORMAT_AUTO)
                fmt = trace_format_detect(buf, len);
        if (fmt == TRACE_FORMAT_CSV)
                return trace_csv_parse(buf, len, lim, t, err);
        return trace_oracle_parse(buf, len, lim, t, err);
}

int trace_load(const char *path, enum trace_format fmt, const struct trace_limits *lim,
               struct trace *t, struct trace_error *err)
{
        bool std_in = strcmp(path, "-") == 0;
        struct stat st;
        void *map = NULL;
        int r, fd = std_in ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
        err->line = 0;
        err->msg = NULL;
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto out;
        }
        if (S_ISDIR(st.st_mode)) {
                r = -EISDIR;
                goto out;
        }
        if (!S_ISREG(st.st_mode)) {
                r = load_stream(fd, fmt, lim, t, err);
                goto out;
        }
        if (st.st_size == 0) {
                r = 0;
                goto out;
        }
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
                map = NULL;
                r = -errno;
                goto out;
        }
        (void)madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
        r = parse_buf(map, (size_t)st.st_size, fmt, lim, t, err);
out:
        if (map)
                (void)munmap(map, (size_t)st.st_size);
        if (!std_in)
                (void)close(fd);
        return r;
}

int trace_analyse(struct trace *t)
{
        struct policy_map last;
        uint64_t *next = malloc((t->len ? t->len : 1) * sizeof(*next));
        if (!next)
                return -ENOMEM;
        policy_map_init(&last);
        t->footprint = 0;
        t->objects = 0;
        /* The map's values must be non-NULL pointers, so it stores index + 1 as a pointer. */
        for (size_t i = t->len; i-- > 0;) {
                uintptr_t later = (uintptr_t)policy_map_get(&last, t->reqs[i].id);
                next[i] = later ? (uint64_t)(later - 1) : UINT64_MAX;
                if (policy_map_put(&last, t->reqs[i].id, (void *)(uintptr_t)(i + 1)) < 0) {
                        policy_map_done(&last);
                        free(next);
                        return -ENOMEM;
                }
        }
        /* Footprint at each object's first-seen size: the first request is the one whose
         * map slot still holds its own index. */
        for (size_t i = 0; i < t->len; i++) {
                if ((uintptr_t)policy_map_get(&last, t->reqs[i].id) == i + 1) {
                        t->footprint += t->reqs[i].size ? t->reqs[i].size : 1;
                        t->objects++;
                }
        }
        policy_map_done(&last);
        free(t->next);
        t->next = next;
        return 0;
}

static void wr32(uint8_t *b, uint32_t v)
{
        for (unsigned i = 0; i < 4; i++)
                b[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *b, uint64_t v)
{
        wr32(b, (uint32_t)v);
        wr32(b + 4, (uint32_t)(v >> 32));
}

int trace_write(const struct trace *t, const char *path, enum trace_format fmt)
{
        FILE *f = fopen(path, "wbe");
        struct stat st;
        int r = 0;

        if (!f)
                return -errno;
        /* The first failed write stops the writing, and its errno is the one returned: a full
         * disk said "Input/output error" (ferror() keeps no errno), after every record had
         * been formatted in vain. */
        errno = 0;
        if (fmt == TRACE_FORMAT_ORACLE) {
                for (size_t i = 0; i < t->len && r == 0; i++) {
                        uint8_t rec[TRACE_ORACLE_RECORD];
                        uint64_t nx = t->next ? t->next[i] : UINT64_MAX;
                        wr32(rec, t->reqs[i].time);
                        wr64(rec + 4, t->reqs[i].id);
                        wr32(rec + 12, t->reqs[i].size);
                        wr64(rec + 16, nx == UINT64_MAX ? (uint64_t)INT64_C(-1) : nx);
                        if (fwrite(rec, 1, sizeof(rec), f) != sizeof(rec))
                                r = errno ? -errno : -EIO;
                }
        } else {
                if (fputs("timestamp,object_id,size\n", f) < 0)
                        r = errno ? -errno : -EIO;
                for (size_t i = 0; i < t->len && r == 0; i++)
                        if (fprintf(f, "%u,%llu,%u\n", t->reqs[i].time,
                                    (unsigned long long)t->reqs[i].id, t->reqs[i].size) < 0)
                                r = errno ? -errno : -EIO;
        }
        if (r == 0 && (fflush(f) != 0 || ferror(f)))
                r = errno ? -errno : -EIO;
        /* A file cut short would load as a shorter trace (CSV ends at a line): it goes. A
         * device or a pipe given as the output stays. */
        if (r < 0 && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode))
                (void)unlink(path);
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        return r;
}
