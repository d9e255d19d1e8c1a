/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD shim for control/test_licence_wipe.py and the test_secret_wipe.py of the edge
 * and of sluice-fill. Before each free(), and before a realloc() that moves its block, the
 * block is searched for the markers in SLUICE_FREE_SCAN_MARKERS (comma-separated); each hit
 * appends "hit <marker index> <block size>\n" to the file named by SLUICE_FREE_SCAN_REPORT.
 * Memory given back unwiped keeps what it held until reused: a test that names a secret's text
 * finds every buffer that let it go that way, which it cannot see from outside the process.
 *
 * With SLUICE_FREE_SCAN_MIN_SIZE set, each freed (or moved) block of at least that many usable
 * bytes also appends "size <block size>\n", whatever it holds: a test whose marker the
 * program wipes before freeing can still see when a large buffer goes.
 *
 * Robustness: the real functions come from dlsym(RTLD_NEXT); a thread-local depth guards
 * against re-entry (dlsym may allocate, and so may whatever the first free() runs into); only
 * blocks up to SCAN_MAX are searched; the report is formatted by hand and written with
 * write(2), so nothing the shim does allocates or takes a lock.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MARKERS_MAX 4
#define MARKER_MAX  64
#define SCAN_MAX    (1u << 20) /* a reply worth searching is far smaller */

static void (*real_free)(void *);
static void *(*real_realloc)(void *, size_t);
static char markers[MARKERS_MAX][MARKER_MAX];
static size_t marker_len[MARKERS_MAX];
static size_t n_markers;
static int report_fd = -1;
static size_t min_size; /* 0: no "size" lines */
/* Initial-exec: the preloaded object's TLS is static, and reaching it must not allocate. */
static __thread int depth __attribute__((tls_model("initial-exec")));

static void resolve(void)
{
        depth++;
        if (!real_free)
                real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
        if (!real_realloc)
                real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
        depth--;
}

__attribute__((constructor)) static void shim_init(void)
{
        const char *m = getenv("SLUICE_FREE_SCAN_MARKERS");
        const char *path = getenv("SLUICE_FREE_SCAN_REPORT");

        resolve();
        while (m && *m && n_markers < MARKERS_MAX) {
                size_t n = strcspn(m, ",");
                if (n > 0 && n < MARKER_MAX) {
                        memcpy(markers[n_markers], m, n);
                        marker_len[n_markers++] = n;
                }
                m += n + (m[n] == ',');
        }
        if (path)
                report_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        for (const char *z = getenv("SLUICE_FREE_SCAN_MIN_SIZE"); z && *z >= '0' && *z <= '9'; z++)
                min_size = min_size * 10 + (size_t)(*z - '0');
}

static char *put_u64(char *p, size_t v)
{
        char d[24];
        size_t n = 0;

        do
                d[n++] = (char)('0' + v % 10);
        while ((v /= 10) != 0);
        while (n)
                *p++ = d[--n];
        return p;
}

static void report(size_t marker, size_t size)
{
        char line[64], *e = line;

        memcpy(e, "hit ", 4);
        e = put_u64(e + 4, marker);
        *e++ = ' ';
        e = put_u64(e, size);
        *e++ = '\n';
        (void)!write(report_fd, line, (size_t)(e - line));
}

/* "size <size>" for a block of at least min_size going away. */
static void report_size(size_t size)
{
        char line[64], *e = line;

        if (!min_size || size < min_size || report_fd < 0)
                return;
        memcpy(e, "size ", 5);
        e = put_u64(e + 5, size);
        *e++ = '\n';
        (void)!write(report_fd, line, (size_t)(e - line));
}

/* The markers p's block holds, into hits; returns how many. Its size too, into *size. */
static size_t scan(void *p, size_t hits[MARKERS_MAX], size_t *size)
{
        size_t n = 0;

        if (!p || report_fd < 0 || depth)
                return 0;
        depth++;
        *size = malloc_usable_size(p);
        for (size_t i = 0; *size <= SCAN_MAX && i < n_markers; i++)
                if (memmem(p, *size, markers[i], marker_len[i]))
                        hits[n++] = i;
        depth--;
        return n;
}

void free(void *p)
{
        size_t hits[MARKERS_MAX], size = 0, n;

        if (!real_free) {
                /* Called while dlsym itself was finding it: a block this small can leak. */
                if (depth)
                        return;
                resolve();
        }
        n = scan(p, hits, &size);
        for (size_t i = 0; i < n; i++)
                report(hits[i], size);
        if (p && !depth)
                report_size(malloc_usable_size(p));
        real_free(p);
}

void *realloc(void *p, size_t size)
{
        size_t hits[MARKERS_MAX], old = 0, n;
        void *q;

        if (!real_realloc) {
                /* Nothing to hand back while dlsym runs; callers see an allocation failure. */
                if (depth)
                        return NULL;
                resolve();
        }
        /* Searched before the call, reported only when the block went: moved (the old one is
         * freed inside the allocator, past the free() above) or freed (size 0). */
        n = scan(p, hits, &old);
        if (p && !depth)
                old = malloc_usable_size(p);
        q = real_realloc(p, size);
        for (size_t i = 0; (size == 0 || (q && q != p)) && i < n; i++)
                report(hits[i], old);
        if (p && (size == 0 || (q && q != p)))
                report_size(old);
        return q;
}
