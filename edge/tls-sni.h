/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * tls_sni_host_name: the host name in the body of a ClientHello's server_name extension
 * (RFC 6066 §3: a 2-byte list length, then entries of a type byte, a 2-byte length and the
 * name). Returns 1 with it NUL-terminated in name, 0 when there is none to take (the first
 * entry not a host name, or a name of cap bytes or more, or one holding a NUL), -1 when the
 * extension is malformed (OpenSSL refuses it when it parses the ClientHello itself).
 */
int tls_sni_host_name(const unsigned char *p, size_t len, char *name, size_t cap);

/*
 * tls_sni_usable: name (from tls_sni_host_name) as the certificates are matched against it,
 * in place: one final dot (an absolute name, which RFC 6066 §3 leaves out but some clients
 * pass on) taken off. False for a name with an empty label (a leading dot, two dots running):
 * it names no host, and a certificate check would read a leading dot as "any name under".
 */
bool tls_sni_usable(char *name);

/*
 * tls_hello_takes_ecdsa: whether a ClientHello lets the server prove itself with an ECDSA key,
 * from the bodies of its signature_algorithms and supported_versions extensions (either NULL
 * when absent) and its cipher suite list: an ECDSA signature scheme offered, and TLS 1.3 or a
 * TLS 1.2 ECDSA suite of the intermediate profile. A malformed extension takes nothing. With
 * an ECDSA and an RSA certificate for one name, a client that cannot take ECDSA gets the RSA
 * one.
 */
bool tls_hello_takes_ecdsa(const unsigned char *sigalgs, size_t sigalgs_len,
                           const unsigned char *versions, size_t versions_len,
                           const unsigned char *suites, size_t suites_len);
