/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * TLS 1.3 records sealed by the edge itself (RFC 8446 section 5.2), for the userspace send path
 * when the kernel has no kTLS.
 *
 * OpenSSL's SSL_write copies the plaintext into its record buffer, seals it there, and hands
 * the record to the write BIO, which copies it again into the gathered send buffer. Once a
 * TLS 1.3 handshake is done, the edge instead takes the server's application traffic secret
 * (from OpenSSL's key log callback), derives the key and IV itself, and seals each record
 * straight from the caller's bytes into the send buffer: the one copy that encryption needs.
 * OpenSSL keeps the read side and everything else (see tls.c for how records OpenSSL still
 * writes, alerts and KeyUpdate, are carried over to the edge's sequence numbers).
 *
 * A tls_seal is one direction's state: the traffic secret, the AEAD context, the sequence
 * number. Not thread-safe; it belongs to its connection. No logging; secrets are wiped on free.
 */

#include <stddef.h>
#include <stdint.h>

#define TLS_SEAL_PLAIN_MAX  16384u /* 2^14, the largest plaintext per record */
#define TLS_SEAL_OVERHEAD   22u    /* header 5, inner content type 1, AEAD tag 16 */
#define TLS_SEAL_SECRET_MAX 48u

#define TLS_CT_ALERT     21
#define TLS_CT_HANDSHAKE 22
#define TLS_CT_APP_DATA  23

struct tls_seal;

/*
 * For cipher suite 'suite' (its two-byte id: 0x1301 TLS_AES_128_GCM_SHA256, 0x1302
 * TLS_AES_256_GCM_SHA384, 0x1303 TLS_CHACHA20_POLY1305_SHA256) and a traffic secret of the
 * suite's hash length, starting at sequence number seq. Returns 0, -ENOTSUP for another suite
 * or a secret of the wrong length, -ENOMEM, -EIO (OpenSSL failed).
 */
int tls_seal_new(unsigned suite, const unsigned char *secret, size_t secret_len, uint64_t seq,
                 struct tls_seal **ret);
void tls_seal_free(struct tls_seal *s);

/*
 * Seal plaintext in[0..len) (len <= TLS_SEAL_PLAIN_MAX) with inner content type 'type' into
 * out[0..len + TLS_SEAL_OVERHEAD). in and out must not overlap. Returns 0 or -EIO; the
 * sequence number advances only on success.
 */
int tls_seal_record(struct tls_seal *s, uint8_t type, const void *in, size_t len,
                    unsigned char *out);

/*
 * Open one whole record rec[0..len) sealed under this state's key and sequence number into
 * out (at least len bytes), the padding stripped. *type is its inner content type, *out_len
 * the plaintext length. Returns 0, -EBADMSG (not one whole record, or it does not
 * authenticate), -EIO. The sequence number advances only on success.
 */
int tls_seal_open(struct tls_seal *s, const unsigned char *rec, size_t len, unsigned char *out,
                  size_t *out_len, uint8_t *type);

/* The next traffic secret (a KeyUpdate, RFC 8446 section 7.2); the sequence number restarts
 * at 0. Returns 0 or -EIO. */
int tls_seal_update(struct tls_seal *s);

/* Records sealed (or opened) under the current key. */
uint64_t tls_seal_seq(const struct tls_seal *s);
