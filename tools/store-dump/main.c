/* SPDX-License-Identifier: MIT */
/*
 * sluice-store-dump: list an edge store's index entries, optionally under a key prefix, and
 * with --verify re-hash every object file against its recorded SHA-256.
 *
 * It reads the index through cache-idx only (read transactions, copied out in batches), never
 * runs the store's recovery and never takes the store's lock, so it is safe to point at the
 * cache directory of a running edge.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cache-idx.h"
#include "hex.h"

#include "sluice-version.h"

struct dump {
        int objfd;
        /* With --verify: asks whether an entry whose file is missing is still in the index. */
        struct cache_idx_reader *rd;
        bool verify;
        bool quiet;
        int progress; /* -1: when standard error is a terminal; 0 off; 1 on */
        bool tty;     /* standard error is a terminal: one progress line rewritten in place */
        unsigned long long n, bytes, bad;
        unsigned long long gone; /* evicted or replaced by the edge while listed */
        /* --verify progress: the store's totals at start (0 with a prefix: they are of the
         * whole store) */
        unsigned long long of_objects, of_bytes;
        double started, last_report;
};

static double now_s(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One progress line on standard error (a terminal: rewritten in place; else one per call). */
static void report(struct dump *d, bool last)
{
        double t = now_s(), secs = t - d->started;
        double mib = (double)d->bytes / 1048576.0, rate = secs > 0 ? mib / secs : 0;
        char of_n[32] = "", of_mib[32] = "";

        if (!last && t - d->last_report < (d->tty ? 0.5 : 10.0))
                return;
        d->last_report = t;
        if (d->of_objects) {
                snprintf(of_n, sizeof(of_n), " of %llu", d->of_objects);
                snprintf(of_mib, sizeof(of_mib), " of %.0f", (double)d->of_bytes / 1048576.0);
        }
        fprintf(stderr, "%sverified %llu%s objects, %.0f%s MiB, %.0f MiB/s, %llu bad%s",
                d->tty ? "\r" : "", d->n, of_n, mib, of_mib, rate, d->bad,
                d->tty && !last ? "" : "\n");
        fflush(stderr);
}

static void usage(FILE *f)
{
        fprintf(f, "Usage: sluice-store-dump [--prefix KEY] [--verify] [--quiet] CACHE_DIR\n"
                   "\n"
                   "Print one line per index entry of the edge store in CACHE_DIR (cache.dir):\n"
                   "  key size file_id sha256 content_type etag mtime hits last_access\n"
                   "tab-separated, in key order (control bytes and '\\' in the key, type and\n"
                   "etag written as \\xHH), then a totals line: the entries and bytes\n"
                   "listed, and the whole store's objects and bytes when the dump started\n"
                   "(a running edge changes them while it lists).\n"
                   "\n"
                   "  --prefix KEY  only entries whose key starts with KEY\n"
                   "  --verify      re-read every object file and check size and SHA-256;\n"
                   "                exit 1 if any differs\n"
                   "  --quiet       print only problems and the totals\n"
                   "  --progress, --no-progress\n"
                   "                with --verify, report progress on standard error (default:\n"
                   "                when it is a terminal; every 10 s when forced elsewhere)\n"
                   "  --help, --version\n");
}

static const char file_missing[] = "file missing";

/* Why the object file open on fd is not read: only a regular file is, the store's kind. */
static const char *not_regular(int fd)
{
        struct stat st;

        if (fstat(fd, &st) < 0)
                return "read error";
        if (S_ISREG(st.st_mode))
                return NULL;
        if (S_ISFIFO(st.st_mode))
                return "not a regular file (a FIFO), not read";
        if (S_ISDIR(st.st_mode))
                return "not a regular file (a directory), not read";
        if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
                return "not a regular file (a device), not read";
        return "not a regular file, not read";
}

/* Re-hash objects/<xx>/<id>. Returns 0 if it matches, else a short reason. */
static const char *verify_one(struct dump *d, const struct cache_idx_rec *rec)
{
        static unsigned char buf[1 << 16];
        char h[17], p[20];
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        uint64_t total = 0;
        const char *why = NULL;
        EVP_MD_CTX *ctx;
        int fd;

        hex_u64_encode(rec->file_id, h);
        snprintf(p, sizeof(p), "%.2s/%s", h, h);
        /* Non-blocking: a FIFO put where an object was held the dump for ever, in the open
         * (no writer) or in its reads (a writer that never closes). */
        fd = openat(d->objfd, p, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0) {
                /* Only a file that is not there is missing: one the dump may not read (its
                 * user is not the edge's) or cannot open says why. */
                static char cannot[96];

                if (errno == ENOENT)
                        return file_missing;
                snprintf(cannot, sizeof(cannot), "cannot open: %s", strerror(errno));
                return cannot;
        }
        why = not_regular(fd);
        if (why) {
                (void)close(fd);
                return why;
        }
        ctx = EVP_MD_CTX_new();
        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
                why = "out of memory";
                goto out;
        }
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0) {
                        why = "read error";
                        goto out;
                }
                if (n == 0)
                        break;
                total += (uint64_t)n;
                (void)EVP_DigestUpdate(ctx, buf, (size_t)n);
        }
        if (total != rec->size) {
                why = "size differs";
                goto out;
        }
        (void)EVP_DigestFinal_ex(ctx, md, &mdlen);
        if ((rec->flags & CACHE_IDX_F_HAS_SHA) && memcmp(md, rec->sha256, 32) != 0)
                why = "SHA-256 differs";
out:
        EVP_MD_CTX_free(ctx);
        (void)close(fd);
        return why;
}

/*
 * Writes n bytes of s to standard output, a backslash and every byte that would end a column
 * or a line (below 0x20, and 0x7f) as \xHH, so that an entry stays one line of tab-separated
 * columns: the store takes a key of any bytes but NUL, and a pushed object's type with a tab.
 */
static void put_text(const char *s, size_t n)
{
        size_t i = 0;

        while (i < n) {
                size_t run = i;
                unsigned char c;

                while (run < n && (c = (unsigned char)s[run]) >= 0x20 && c != 0x7f && c != '\\')
                        run++;
                (void)fwrite(s + i, 1, run - i, stdout);
                if (run == n)
                        break;
                printf("\\x%02x", (unsigned char)s[run]);
                i = run + 1;
        }
}

static int print_one(const char *key, size_t key_len, const struct cache_idx_rec *rec,
                     void *userdata)
{
        struct dump *d = userdata;
        struct cache_idx_rec now;
        char id[17], sha[65];
        const char *why = NULL;
        int r;

        if (d->verify)
                why = verify_one(d, rec);
        /* A running edge evicts and replaces objects while the listing goes on: a file gone
         * with its entry (or the entry now naming another file) is not missing. */
        if (why == file_missing) {
                r = cache_idx_reader_get(d->rd, key, key_len, &now);
                if (r == -ENOENT || (r == 0 && now.file_id != rec->file_id)) {
                        d->gone++;
                        return 0;
                }
        }
        d->n++;
        d->bytes += rec->size;
        if (why)
                d->bad++;
        if (d->verify && d->progress)
                report(d, false);
        if (d->quiet && !why)
                return 0;
        hex_u64_encode(rec->file_id, id);
        if (rec->flags & CACHE_IDX_F_HAS_SHA)
                hex_encode(rec->sha256, 32, sha);
        else
                memcpy(sha, "-", 2);
        put_text(key, key_len);
        printf("\t%llu\t%s\t%s\t", (unsigned long long)rec->size, id, sha);
        /* The index keeps its text NUL-terminated, but LMDB checks nothing: a damaged record
         * reads only as far as its own fields. */
        put_text(rec->content_type, strnlen(rec->content_type, sizeof(rec->content_type)));
        putchar('\t');
        put_text(rec->etag, strnlen(rec->etag, sizeof(rec->etag)));
        printf("\t%lld\t%llu\t%lld%s%s\n", (long long)rec->mtime, (unsigned long long)rec->hits,
               (long long)rec->last_access, why ? "\tBAD: " : "", why ? why : "");
        return 0;
}

/*
 * LMDB creates the index's lock file when it is missing (an index restored from a copy of
 * data.mdb alone), owned by whoever opens the index: a dump run as root left a lock.mdb the
 * edge's own user could not open, and the edge then refused to start ("cannot open the store
 * ...: Permission denied"). The lock file the dump created goes to data.mdb's owner.
 */
static void lock_file_to_owner(const char *p, const struct stat *data)
{
        struct stat st;

        if (lstat(p, &st) < 0 || !S_ISREG(st.st_mode) ||
            (st.st_uid == data->st_uid && st.st_gid == data->st_gid))
                return;
        if (lchown(p, data->st_uid, data->st_gid) < 0)
                fprintf(stderr,
                        "sluice-store-dump: %s: created for this dump, and cannot be given to "
                        "the owner of data.mdb (uid %u): %s; remove it before the edge starts\n",
                        p, (unsigned)data->st_uid, strerror(errno));
}

/* Why the index in dir/index cannot be opened, in an operator's words. */
static const char *open_error(int r)
{
        switch (r) {
        case -EPROTO:
                return "not an edge store index of this version, or corrupt";
        case -EIO:
                return "the index is corrupt";
        case -EUCLEAN:
                return "data.mdb is damaged (shorter than the pages it names: cut short); move "
                       "this index directory away and start the edge again: it starts with an "
                       "empty index and fills objects again as they are asked for";
        case -ENOENT:
                return "no object table: not an edge store index (another program's LMDB "
                       "file?), or one an edge never finished setting up";
        default:
                return strerror(-r);
        }
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
            {"prefix", required_argument, NULL, 'p'}, {"verify", no_argument, NULL, 'v'},
            {"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},      {"progress", no_argument, NULL, 'P'},
            {"no-progress", no_argument, NULL, 'N'},  {NULL, 0, NULL, 0},
        };
        struct dump d = {.objfd = -1, .progress = -1};
        const char *prefix = "";
        struct cache_idx *idx = NULL;
        struct cache_idx_totals at_start, at_end;
        char path[4096];
        struct stat st;
        char lock[4096];
        struct stat lst;
        bool had_lock;
        int c, r;

        while ((c = getopt_long(argc, argv, "p:vqhV", opts, NULL)) != -1) {
                switch (c) {
                case 'p':
                        prefix = optarg;
                        break;
                case 'v':
                        d.verify = true;
                        break;
                case 'q':
                        d.quiet = true;
                        break;
                case 'P':
                        d.progress = 1;
                        break;
                case 'N':
                        d.progress = 0;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        printf("sluice-store-dump %s\n", SLUICE_VERSION);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind != argc - 1) {
                usage(stderr);
                return 2;
        }
        const char *dir = argv[optind];

        /* Never create a store where there is none. */
        snprintf(path, sizeof(path), "%s/index/data.mdb", dir);
        if (stat(path, &st) < 0) {
                fprintf(stderr, "sluice-store-dump: %s: %s\n", path, strerror(errno));
                return 1;
        }
        /* LMDB would set up an empty file as a new index, and fail to write it read-only. */
        if (st.st_size == 0) {
                fprintf(stderr,
                        "sluice-store-dump: %s: empty (the store was never set up; an edge "
                        "starting on it does that)\n",
                        path);
                return 1;
        }
        snprintf(path, sizeof(path), "%s/objects", dir);
        d.objfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d.objfd < 0 && d.verify) {
                fprintf(stderr, "sluice-store-dump: %s: %s\n", path, strerror(errno));
                return 1;
        }
        snprintf(path, sizeof(path), "%s/index", dir);
        /* Read-only: no write txn, so nothing a running edge could notice. The map is the
         * edge's own (a read-only open takes no size). */
        snprintf(lock, sizeof(lock), "%s/index/lock.mdb", dir);
        had_lock = lstat(lock, &lst) == 0 || errno != ENOENT;
        r = cache_idx_open(path, 0, CACHE_IDX_RDONLY, &idx);
        if (!had_lock)
                lock_file_to_owner(lock, &st);
        if (r < 0) {
                fprintf(stderr, "sluice-store-dump: %s: %s\n", path, open_error(r));
                return 1;
        }
        /* The listing runs through many read transactions, each seeing the index as a running
         * edge has changed it by then: the store's totals are printed as they were when the
         * dump opened it and as they are once it has listed everything. */
        cache_idx_get_totals(idx, &at_start);
        if (d.verify) {
                r = cache_idx_reader_new(idx, &d.rd);
                if (r < 0) {
                        fprintf(stderr, "sluice-store-dump: %s: %s\n", path, strerror(-r));
                        cache_idx_close(idx);
                        return 1;
                }
        }
        d.tty = isatty(STDERR_FILENO);
        if (d.progress < 0)
                d.progress = d.tty;
        if (d.verify && d.progress && !prefix[0]) {
                d.of_objects = at_start.objects;
                d.of_bytes = at_start.bytes;
        }
        d.started = d.last_report = now_s();
        r = cache_idx_foreach(idx, prefix, strlen(prefix), print_one, &d);
        if (d.verify && d.progress)
                report(&d, true);
        cache_idx_reader_free(d.rd);
        if (r < 0) {
                fprintf(stderr, "sluice-store-dump: listing: %s\n", strerror(-r));
                cache_idx_close(idx);
                return 1;
        }
        r = cache_idx_read_totals(idx, &at_end);
        printf("# listed %llu entries, %llu bytes%s; whole store at start %llu objects, %llu bytes",
               d.n, d.bytes, prefix[0] ? " under the prefix" : "",
               (unsigned long long)at_start.objects, (unsigned long long)at_start.bytes);
        if (r == 0)
                printf(", at end %llu objects, %llu bytes", (unsigned long long)at_end.objects,
                       (unsigned long long)at_end.bytes);
        else
                fprintf(stderr, "sluice-store-dump: %s: the totals at end: %s\n", path,
                        strerror(-r));
        if (d.verify)
                printf("; %llu bad", d.bad);
        if (d.gone)
                printf("; %llu evicted or replaced while listed", d.gone);
        putchar('\n');
        cache_idx_close(idx);
        if (d.objfd >= 0)
                (void)close(d.objfd);
        /* A listing cut short by a full disk must not pass for a whole one. */
        errno = 0;
        if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "sluice-store-dump: standard output: %s\n",
                        errno ? strerror(errno) : "write error");
                return 1;
        }
        return d.bad ? 1 : 0;
}
