/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include <openssl/x509.h>

/* A certificate with fewer days than this left is warned about at every load. */
#define TLS_CERT_WARN_DAYS 14

/* The earliest notAfter of leaf and the chain served after it (NULL: none), Unix seconds;
 * 0 when none can be read: clients refuse the chain once any of them has expired. */
int64_t tls_cert_not_after(X509 *leaf, STACK_OF(X509) * chain);

/*
 * Warn, naming path, about each certificate of leaf and chain (NULL: none) that has expired,
 * is not valid yet, or expires within TLS_CERT_WARN_DAYS, a chain's by its place in the file
 * and its subject: at start, at every reload and under --check-config. It is served all the
 * same (the operator may have nothing better at hand; clients say what is wrong).
 */
void tls_cert_say_validity(const char *path, X509 *leaf, STACK_OF(X509) * chain);
