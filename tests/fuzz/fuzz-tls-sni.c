/* SPDX-License-Identifier: MIT */
/*
 * The edge's reading of a ClientHello's server_name extension (edge/tls-sni.c), which picks
 * the certificate before OpenSSL parses the hello itself: the bytes come straight from the
 * network. Never a crash or a read past the input; a name taken is exactly the first
 * entry's bytes, shorter than the buffer, with no NUL in it; a malformed list is never
 * taken; and the input's list length has to match for anything to be taken.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "tls-sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char name[256];
        unsigned char *copy;
        int r;

        /* An exact copy on the heap: a read past the end is one a sanitizer sees. */
        copy = malloc(size ? size : 1);
        CHECK(copy);
        memcpy(copy, data, size);
        memset(name, 'x', sizeof(name));
        r = tls_sni_host_name(copy, size, name, sizeof(name));
        CHECK(r >= -1 && r <= 1);
        if (r >= 0)
                CHECK(size >= 5 && ((size_t)copy[0] << 8 | copy[1]) == size - 2);
        if (r == 1) {
                size_t n = (size_t)copy[3] << 8 | copy[4];
                CHECK(copy[2] == 0 && n > 0 && n < sizeof(name) && 5 + n <= size);
                CHECK(strlen(name) == n && memcmp(name, copy + 5, n) == 0);
        }
        /* A small buffer takes nothing longer than it. */
        if (r == 1 && size > 5) {
                char small[4];
                int s = tls_sni_host_name(copy, size, small, sizeof(small));
                size_t n = strlen(name);
                CHECK(n < sizeof(small) ? s == 1 && strcmp(small, name) == 0 : s == 0);
        }
        /* The name as certificates are matched against it: at most one final dot less, and
         * taken only with no empty label left. */
        if (r == 1) {
                char usable[256];
                size_t n = strlen(name);

                memcpy(usable, name, n + 1);
                bool ok = tls_sni_usable(usable);
                size_t m = strlen(usable);
                CHECK(m == n || (m + 1 == n && name[m] == '.'));
                CHECK(memcmp(usable, name, m) == 0);
                CHECK(!ok || (m > 0 && usable[0] != '.' && !strstr(usable, "..") &&
                              usable[m - 1] != '.'));
        }
        /* The ClientHello's ECDSA reading, on the input cut in three where its first two bytes
         * say: never a read past a part (each an exact heap copy through copy). */
        if (size >= 2) {
                size_t rest = size - 2, a = copy[0] % (rest + 1), b = copy[1] % (rest - a + 1);
                const unsigned char *p = copy + 2;
                bool e1 = tls_hello_takes_ecdsa(p, a, p + a, b, p + a + b, rest - a - b);
                bool e2 = tls_hello_takes_ecdsa(p, a, NULL, 0, p + a + b, rest - a - b);

                CHECK(!e2 || e1); /* saying TLS 1.3 takes nothing away */
                CHECK(!tls_hello_takes_ecdsa(NULL, 0, p + a, b, p + a + b, rest - a - b));
                (void)tls_hello_takes_ecdsa(p, a, p + a, b, NULL, 0);
        }
        free(copy);
        return 0;
}
