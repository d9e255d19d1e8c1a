/* SPDX-License-Identifier: MIT */
#include <stdbool.h>
#include <string.h>

#include "tls-sni.h"

#define SNI_HOST_NAME 0 /* NameType host_name */

int tls_sni_host_name(const unsigned char *p, size_t len, char *name, size_t cap)
{
        size_t list, n;

        if (len < 2)
                return -1;
        list = (size_t)p[0] << 8 | p[1];
        if (list != len - 2 || list < 3)
                return -1;
        n = (size_t)p[3] << 8 | p[4];
        if (p[2] != SNI_HOST_NAME)
                return 0;
        if (n == 0 || n > list - 3)
                return -1;
        if (n >= cap || memchr(p + 5, '\0', n))
                return 0;
        memcpy(name, p + 5, n);
        name[n] = '\0';
        return 1;
}

bool tls_sni_usable(char *name)
{
        size_t n = strlen(name);

        if (n > 0 && name[n - 1] == '.')
                name[--n] = '\0';
        if (n == 0 || name[0] == '.' || name[n - 1] == '.' || strstr(name, ".."))
                return false;
        return true;
}

/* Whether the 2-byte values of list (len bytes, a whole number of them) hold one of want's. */
static bool u16_in(const unsigned char *list, size_t len, bool (*want)(unsigned, unsigned))
{
        for (size_t i = 0; i + 1 < len; i += 2)
                if (want(list[i], list[i + 1]))
                        return true;
        return false;
}

/* ecdsa_secp256r1_sha256, ecdsa_secp384r1_sha384, ecdsa_secp521r1_sha512 (RFC 8446 §4.2.3). */
static bool ecdsa_scheme(unsigned hi, unsigned lo)
{
        return lo == 0x03 && hi >= 0x04 && hi <= 0x06;
}

static bool tls13(unsigned hi, unsigned lo)
{
        return hi == 0x03 && lo == 0x04;
}

/* The intermediate profile's TLS 1.2 ECDSA suites: ECDHE-ECDSA-AES128-GCM-SHA256 (c02b),
 * -AES256-GCM-SHA384 (c02c), -CHACHA20-POLY1305 (cca9). */
static bool ecdsa_suite(unsigned hi, unsigned lo)
{
        return (hi == 0xc0 && (lo == 0x2b || lo == 0x2c)) || (hi == 0xcc && lo == 0xa9);
}

bool tls_hello_takes_ecdsa(const unsigned char *sigalgs, size_t sigalgs_len,
                           const unsigned char *versions, size_t versions_len,
                           const unsigned char *suites, size_t suites_len)
{
        if (!sigalgs || sigalgs_len < 2 ||
            ((size_t)sigalgs[0] << 8 | sigalgs[1]) != sigalgs_len - 2 || sigalgs_len % 2 ||
            !u16_in(sigalgs + 2, sigalgs_len - 2, ecdsa_scheme))
                return false;
        if (versions && versions_len >= 1 && versions[0] == versions_len - 1 &&
            versions_len % 2 == 1 && u16_in(versions + 1, versions_len - 1, tls13))
                return true;
        return suites && u16_in(suites, suites_len - suites_len % 2, ecdsa_suite);
}
