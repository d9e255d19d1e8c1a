/* SPDX-License-Identifier: MIT */
/*
 * path_norm() on arbitrary targets: whatever it accepts must be a safe cache key, and the
 * re-encoded key must normalise back to itself. path_norm_query_arg() on the same target (the
 * admin API's listing arguments): a value is NUL-terminated, below its buffer and no longer
 * than the target, a smaller buffer gives the same value or -ENAMETOOLONG, and a buffer as
 * long as the target is always enough. path_norm_token_span() (what the access log hides):
 * a span found lies inside the target.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Built into the target rather than linked from libsluice-common, so libFuzzer's coverage
 * instrumentation (added to this target only) sees the parser's branches. */
#include "../../common/path-norm.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
        if (!cond) {
                fprintf(stderr, "path-norm invariant violated: %s\n", what);
                abort();
        }
}

static char qbig[16384 + 1]; /* room for a value as long as the fuzzer's -max_len */

static void check_query_arg(const char *t, size_t size, const char *name)
{
        char *big = qbig, small[8];
        int r = path_norm_query_arg(t, size, name, big, size + 1);
        int s = path_norm_query_arg(t, size, name, small, sizeof(small));

        check(r >= 0 || r == -ENOENT, "a buffer as long as the target is enough");
        if (r < 0) {
                check(s == r && !big[0] && !small[0], "absent: absent at any size, out empty");
                return;
        }
        check((size_t)r <= size && big[r] == '\0', "value bounded and terminated");
        if ((size_t)r < sizeof(small))
                check(s == r && memcmp(small, big, (size_t)r + 1) == 0, "same value in less room");
        else
                check(s == -ENAMETOOLONG && !small[0],
                      "too long for the small buffer, and said so");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct path_norm n, m;
        static char enc[PATH_NORM_MAX * 3 + 1];
        const char *t = (const char *)data;

        const char *span;
        size_t span_len;

        if (size < sizeof(qbig)) {
                check_query_arg(t, size, "after");
                check_query_arg(t, size, "limit");
        }
        if (path_norm_token_span(t, size, &span, &span_len))
                check(span >= t && span_len > 0 && span_len <= size - (size_t)(span - t),
                      "a token's span lies inside the target");
        if (path_norm(t, size, &n) < 0) {
                check(n.key_len == 0 && !n.token && !n.cmcd, "failure leaves output set");
                return 0;
        }
        check(n.key_len >= 1 && n.key_len <= PATH_NORM_MAX, "length bound");
        check(n.key[0] == '/', "starts with /");
        check(n.key[n.key_len] == '\0', "NUL-terminated");
        for (size_t i = 0; i < n.key_len; i++) {
                unsigned char c = (unsigned char)n.key[i];
                check(c >= 0x21 && c != 0x7f, "no control byte");
                check(c != '\\', "no backslash");
        }
        check(!memmem(n.key, n.key_len, "//", 2), "no //");
        check(!memmem(n.key, n.key_len, "/./", 3), "no /./");
        check(!memmem(n.key, n.key_len, "/../", 4), "no /../");
        check(!(n.key_len >= 2 && memcmp(n.key + n.key_len - 2, "/.", 2) == 0), "no trailing /.");
        check(!(n.key_len >= 3 && memcmp(n.key + n.key_len - 3, "/..", 3) == 0), "no trailing /..");
        if (n.token)
                check(n.token >= t && n.token + n.token_len <= t + size && n.token_len > 0,
                      "token inside input");
        if (n.cmcd)
                check(n.cmcd >= t && n.cmcd + n.cmcd_len <= t + size, "cmcd inside input");

        int e = path_norm_encode(n.key, n.key_len, enc, sizeof(enc));
        check(e > 0, "encode fits");
        check(path_norm(enc, (size_t)e, &m) == 0, "encoded key accepted");
        check(m.key_len == n.key_len && memcmp(m.key, n.key, n.key_len) == 0,
              "encoded key normalises to itself");
        return 0;
}
