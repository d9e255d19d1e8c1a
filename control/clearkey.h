/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * W3C EME ClearKey licence exchange (JSON Web Key format):
 *   request  {"kids":["<b64url kid>",...],"type":"temporary"}
 *   response {"keys":[{"kty":"oct","kid":"<b64url>","k":"<b64url>"}],"type":"temporary"}
 * base64url without padding (padding is tolerated on input). Only the parsing and the
 * rendering live here; which keys a session may have is the caller's decision. Key bytes are
 * never logged or kept; buffers holding them are wiped before being freed.
 *
 * Limits: request body CLEARKEY_REQUEST_MAX bytes, nesting CLEARKEY_DEPTH_MAX,
 * CLEARKEY_KIDS_MAX kids, each exactly 16 bytes.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLEARKEY_REQUEST_MAX 4096
#define CLEARKEY_DEPTH_MAX   4
#define CLEARKEY_KIDS_MAX    16

enum clearkey_type {
        CLEARKEY_TEMPORARY,
        CLEARKEY_PERSISTENT_LICENSE,
};

struct clearkey_request {
        uint8_t kids[CLEARKEY_KIDS_MAX][16]; /* duplicates removed, request order kept */
        size_t n_kids;
        enum clearkey_type type; /* "temporary" when absent */
};

/* A key the caller allows for this request. */
struct clearkey_key {
        uint8_t kid[16];
        uint8_t key[16];
};

/*
 * clearkey_request_parse: parse a licence request body buf[0..len). Returns 0; -E2BIG body
 * over CLEARKEY_REQUEST_MAX or more than CLEARKEY_KIDS_MAX kids; -EBADMSG not JSON, too deep,
 * no "kids" array, empty kids, a kid that is not base64url of 16 bytes, or an unknown "type";
 * -ENOMEM.
 */
int clearkey_request_parse(const char *buf, size_t len, struct clearkey_request *ret);

/*
 * clearkey_keys_select: the keys of avail[0..n_avail) whose kid the request asked for, in
 * request order, copied into ret[0..cap). Returns how many (0: nothing allowed was asked).
 */
size_t clearkey_keys_select(const struct clearkey_request *req, const struct clearkey_key *avail,
                            size_t n_avail, struct clearkey_key *ret, size_t cap);

/*
 * clearkey_response_build: render the response for keys[0..n) (n may be 0: the refusal shape
 * {"keys":[],"type":...}, carrying no key bytes). *ret is a NUL-terminated malloc'd string;
 * free it with clearkey_response_free() (it holds key material). Returns 0, -EINVAL (n over
 * CLEARKEY_KIDS_MAX), -ENOMEM.
 */
int clearkey_response_build(const struct clearkey_key *keys, size_t n, enum clearkey_type type,
                            char **ret, size_t *ret_len);

/* clearkey_response_free: wipe and free a response from clearkey_response_build. NULL is fine. */
void clearkey_response_free(char *resp);

/* clearkey_kid_b64url: a 16-byte kid as 22 base64url chars + NUL into out. Returns out. */
char *clearkey_kid_b64url(const uint8_t kid[16], char out[23]);

/* clearkey_type_name: "temporary" / "persistent-license". */
const char *clearkey_type_name(enum clearkey_type type);
