/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * TLS 1.3 and TLS 1.2 records sealed by the edge itself (RFC 8446 section 5.2; RFC 5246
 * section 6.2.3.3 with RFC 5288's AES-GCM and RFC 7905's ChaCha20-Poly1305), for the
 * userspace send path when the kernel has no kTLS.
 *
 * OpenSSL's SSL_write copies the plaintext into its record buffer, seals it there, and hands
 * the record to the write BIO, which copies it again into the gathered send buffer. Once a
 * handshake is done, the edge instead derives the server's write key and IV itself (TLS 1.3:
 * from the application traffic secret, which OpenSSL's key log callback hands over; TLS 1.2:
 * from the session's master secret and the two randoms), and seals each record straight from
 * the caller's bytes into the send buffer: the one copy that encryption needs. OpenSSL keeps
 * the read side and everything else (see tls.c for how records OpenSSL still writes, alerts
 * and KeyUpdate, are carried over to the edge's sequence numbers).
 *
 * A tls_seal is one direction's state: the traffic secret (TLS 1.3), the AEAD context, the
 * sequence number. Not thread-safe; it belongs to its connection. No logging; secrets are
 * wiped on free.
 */

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#define TLS_SEAL_PLAIN_MAX    16384u /* 2^14, the largest plaintext per record */
#define TLS_SEAL_OVERHEAD     22u    /* TLS 1.3: header 5, inner content type 1, AEAD tag 16 */
#define TLS_SEAL_OVERHEAD_MAX 29u    /* TLS 1.2 AES-GCM: header 5, explicit nonce 8, tag 16 */
#define TLS_SEAL_SECRET_MAX   48u
#define TLS_SEAL_MASTER_LEN   48u /* TLS 1.2's master secret */
#define TLS_SEAL_RANDOM_LEN   32u /* TLS 1.2's client and server randoms */

#define TLS_CT_CCS       20
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

/*
 * For a TLS 1.2 connection whose AEAD is OpenSSL's 'cipher_nid' (NID_aes_128_gcm,
 * NID_aes_256_gcm, NID_chacha20_poly1305) and whose PRF hashes with 'prf' (the suite's
 * handshake digest): the server's write key and IV from the key block of the master secret
 * and the two randoms (TLS_SEAL_RANDOM_LEN bytes each), starting at sequence number seq.
 * Returns 0, -ENOTSUP for another AEAD, -ENOMEM, -EIO (OpenSSL failed).
 */
int tls_seal_new12(int cipher_nid, const EVP_MD *prf, const unsigned char *master,
                   size_t master_len, const unsigned char *client_random,
                   const unsigned char *server_random, uint64_t seq, struct tls_seal **ret);
void tls_seal_free(struct tls_seal *s);

/* What a record adds to its plaintext: TLS_SEAL_OVERHEAD for TLS 1.3, 29 (AES-GCM) or 21
 * (ChaCha20-Poly1305) for TLS 1.2. */
size_t tls_seal_overhead(const struct tls_seal *s);

/*
 * Seal plaintext in[0..len) (len <= TLS_SEAL_PLAIN_MAX) of content type 'type' (TLS 1.3: the
 * inner one) into out[0..len + tls_seal_overhead(s)). in and out must not overlap. Returns 0 or
 * -EIO; the sequence number advances only on success.
 */
int tls_seal_record(struct tls_seal *s, uint8_t type, const void *in, size_t len,
                    unsigned char *out);

/*
 * Open one whole record rec[0..len) sealed under this state's key and sequence number into
 * out (at least len bytes), the padding stripped. *type is its (inner) content type, *out_len
 * the plaintext length. Returns 0, -EBADMSG (not one whole record, or it does not
 * authenticate), -EIO. The sequence number advances only on success.
 */
int tls_seal_open(struct tls_seal *s, const unsigned char *rec, size_t len, unsigned char *out,
                  size_t *out_len, uint8_t *type);

/* The next traffic secret (a KeyUpdate, RFC 8446 section 7.2); the sequence number restarts
 * at 0. Returns 0, -EIO, or -ENOTSUP for TLS 1.2. */
int tls_seal_update(struct tls_seal *s);

/* Records sealed (or opened) under the current key. */
uint64_t tls_seal_seq(const struct tls_seal *s);
