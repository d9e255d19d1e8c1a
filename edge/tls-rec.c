/* SPDX-License-Identifier: MIT */
#include <openssl/obj_mac.h>
#include <openssl/ssl.h>

#include "tls-rec.h"

#define HDR 5

size_t tls_rec_overhead(int version, int cipher_nid)
{
        if (version == TLS1_3_VERSION)
                return 1 + 16;
        return cipher_nid == NID_chacha20_poly1305 ? 16 : 8 + 16;
}

size_t tls_rec_len(const unsigned char *p)
{
        return HDR + ((size_t)p[3] << 8 | p[4]);
}

static size_t rec_plain(const unsigned char *p, size_t overhead)
{
        size_t payload = tls_rec_len(p) - HDR;

        return payload > overhead ? payload - overhead : 0;
}

size_t tls_rec_unsent(const unsigned char *p, size_t len, size_t sent, size_t overhead)
{
        size_t at = 0, n = 0;

        while (len - at >= HDR && tls_rec_len(p + at) <= len - at) {
                if (at + tls_rec_len(p + at) > sent)
                        n += rec_plain(p + at, overhead);
                at += tls_rec_len(p + at);
        }
        return n;
}

void tls_rec_cut(const unsigned char *buf, size_t len, size_t sent, size_t overhead, size_t *end,
                 size_t *plain)
{
        size_t at = 0;

        *end = *plain = 0;
        while (len - at >= HDR && tls_rec_len(buf + at) <= len - at) {
                if (at + tls_rec_len(buf + at) > sent) {
                        *end = at + tls_rec_len(buf + at) - sent;
                        *plain = rec_plain(buf + at, overhead);
                        return;
                }
                at += tls_rec_len(buf + at);
        }
}
