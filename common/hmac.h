/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * HMAC-SHA256 over several pieces, for the signers and verifiers in common/ (req-sign.c,
 * token.c). OpenSSL's HMAC implementation is fetched once per process and shared (fetching it
 * per call cost more than the MAC of a short message); each call has its own context, so any
 * thread may call. No logging.
 */

/*
 * HMAC-SHA256 with key[0..key_len) over parts[0..n) in order into out. Returns 0, or -EIO
 * when OpenSSL fails (out is then zeroed).
 */
int hmac_sha256(const void *key, size_t key_len, const struct iovec *parts, size_t n,
                uint8_t out[32]);
