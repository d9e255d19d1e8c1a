/* SPDX-License-Identifier: MIT */
/*
 * The edge's reading of a ClientHello's server_name extension (edge/tls-sni.c), which picks
 * the certificate before OpenSSL parses the hello itself: the bytes come straight from the
 * network. Never a crash or a read past the input; a name taken is exactly the first
 * entry's bytes, shorter than the buffer, with no NUL in it; a malformed list is never
 * taken; and the input's list length has to match for anything to be taken.
 */
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
        free(copy);
        return 0;
}
