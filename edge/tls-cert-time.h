/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include <openssl/x509.h>

/* A certificate with fewer days than this left is warned about at every load. */
#define TLS_CERT_WARN_DAYS 14

/* leaf's notAfter as Unix seconds; 0 when it cannot be read. */
int64_t tls_cert_not_after(X509 *leaf);

/*
 * Warn, naming path, about a certificate that has expired, is not valid yet, or expires within
 * TLS_CERT_WARN_DAYS: at start, at every reload and under --check-config. It is served all
 * the same (the operator may have nothing better at hand; clients say what is wrong).
 */
void tls_cert_say_validity(const char *path, X509 *leaf);
