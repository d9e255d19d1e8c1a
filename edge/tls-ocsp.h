/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

/*
 * Check a DER OCSP response for leaf before it may be stapled: it parses, its status is
 * successful, it is a basic response signed by leaf's issuer or a responder the issuer
 * authorised (OCSP_basic_verify), it has a single response for leaf's certificate ID (made
 * with whichever digest the response's ID names) saying good, and thisUpdate/nextUpdate hold
 * now (OCSP_CHECK_LEEWAY_S of clock skew on thisUpdate; nextUpdate must be ahead). The
 * issuer comes from chain (the configured chain after the leaf), or else from the
 * certificates the response carries, if leaf's signature verifies under its key. Returns 0
 * with *next (nextUpdate, Unix seconds; 0 when absent), or -EINVAL with the reason in why.
 */
int ocsp_check(const unsigned char *der, size_t len, X509 *leaf, STACK_OF(X509) * chain,
               int64_t *next, char *why, size_t whylen);

/* The whole of path (an OCSP response file, DER) in *ret (malloc'd): 0, or -errno (-EINVAL
 * when it is empty or over 1 MiB). */
int ocsp_read_file(const char *path, unsigned char **ret, size_t *ret_len);
