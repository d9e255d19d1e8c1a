/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/*
 * Counting plaintext in sealed TLS records the edge still holds (tls.c's gather buffer and the
 * tail a full socket left), so that an answer cut short logs only what reached the kernel. A
 * record's plaintext is its payload less the suite's overhead (tls_rec_overhead). Records an
 * edge holds are whole, except that the first of a kept tail may have begun on the socket.
 */

/* The whole length of the TLS record whose 5-byte header is at p. */
size_t tls_rec_len(const unsigned char *p);

/* What an AEAD record adds to its plaintext under this protocol version and cipher (OpenSSL's
 * numbers): TLS 1.3 the content type and the tag, TLS 1.2 GCM the explicit nonce and the tag,
 * TLS 1.2 ChaCha20-Poly1305 the tag. */
size_t tls_rec_overhead(int version, int cipher_nid);

/* The plaintext of the whole records in p[0..len) that end after its first 'sent' bytes (the
 * records not wholly on the socket). A record cut off at len counts for nothing. */
size_t tls_rec_unsent(const unsigned char *p, size_t len, size_t sent, size_t overhead);

/* buf[0..len) holds whole records and its first 'sent' bytes went out: *end is where the record
 * holding byte 'sent' ends, counted from buf + sent, and *plain is that record's plaintext. */
void tls_rec_cut(const unsigned char *buf, size_t len, size_t sent, size_t overhead, size_t *end,
                 size_t *plain);
