/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * AES-GCM encryption (NIST SP 800-38D, 96-bit nonces) on x86-64 processors with VAES and
 * VPCLMULQDQ on 512-bit registers: sixteen blocks at a time, the counter blocks encrypted with
 * VAES and the ciphertext hashed with carry-less multiplies against the first sixteen powers
 * of the hash key, reduced once per sixteen blocks.
 *
 * The edge seals its TLS 1.3 and 1.2 records with it where the processor has those
 * instructions (edge/tls-seal.c); elsewhere, and for decryption, OpenSSL does the work. Only
 * encryption is here. Constant time: no table lookups and no branches on key or data.
 *
 * aes_gcm_usable() says whether this processor can run it; every other call requires that it
 * said yes. Not thread-safe per key: a key belongs to its connection.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AES_GCM_TAG_LEN   16
#define AES_GCM_NONCE_LEN 12
#define AES_GCM_AAD_MAX   16 /* additional data up to one block */
#define AES_GCM_TAIL_MAX  16

/* The expanded key: round keys and the hash key's powers. Wipe it with OPENSSL_cleanse or
 * aes_gcm_key_wipe when done. */
struct aes_gcm_key {
        uint8_t rk[15][16];   /* AES round keys, rounds + 1 of them */
        uint8_t hpow[16][16]; /* H^16 .. H^1, in the hashing's own form */
        unsigned rounds;      /* 10 (AES-128) or 14 (AES-256) */
};

/* Whether this processor has AES-NI, PCLMULQDQ, AVX-512 F/BW/VL, VAES and VPCLMULQDQ, and
 * SLUICE_AES_GCM is not "openssl" in the environment (read once). */
bool aes_gcm_usable(void);

/* Expand a 16- or 32-byte key. Returns 0, or -1 for another length. */
int aes_gcm_key_init(struct aes_gcm_key *k, const uint8_t *key, size_t key_len);
void aes_gcm_key_wipe(struct aes_gcm_key *k);

/*
 * Encrypt the plaintext in[0..len) followed by tail[0..tail_len) (tail_len <= 16: a TLS 1.3
 * record's inner content type, kept apart from the caller's bytes) into out[0..len +
 * tail_len), authenticating aad[0..aad_len) (aad_len <= 16) too, and write the 16-byte tag.
 * in and out may be the same buffer but must not otherwise overlap; aad, in and tail may be
 * NULL when their length is 0. len + tail_len stays under 2^36 − 32 bytes (the 32-bit block
 * counter); a TLS record is at most 16,385.
 */
void aes_gcm_seal(const struct aes_gcm_key *k, const uint8_t nonce[AES_GCM_NONCE_LEN],
                  const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len,
                  const uint8_t *tail, size_t tail_len, uint8_t *out, uint8_t tag[AES_GCM_TAG_LEN]);
