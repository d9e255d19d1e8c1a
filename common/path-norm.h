/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Request-target → cache key. The key is the normalised absolute path:
 *   - percent-decoded once (unreserved bytes and others alike); "%2F", "%5C", "%00" and a bad
 *     escape are refused, so an encoded separator can never make a new segment;
 *   - backslash refused; duplicate slashes collapsed; "." removed; ".." pops a segment, and a
 *     ".." above the root is refused (400), in any encoding;
 *   - bytes < 0x21 or 0x7f refused;
 *   - a leading "/s/<token>/" segment pair is removed and the token returned;
 *   - the query is split off; "URISigningPackage=" (token) and "CMCD=" arguments are
 *     returned and never part of the key; other query arguments are dropped from the key too
 *     (segments are static objects).
 * The key starts with "/" and never contains "//", "/./" or "/../".
 * Limit: the key is at most PATH_NORM_MAX bytes (longer → -ENAMETOOLONG, 414), the longest
 * key the store's index (LMDB) takes: a longer one could be fetched but never kept.
 */
#define PATH_NORM_MAX 511

struct path_norm {
        char key[PATH_NORM_MAX + 1];
        size_t key_len;
        const char *token; /* into the input target, or NULL */
        size_t token_len;
        const char *cmcd; /* raw (still percent-encoded) CMCD query value, or NULL */
        size_t cmcd_len;
};

/*
 * Normalise target[0..len) (origin-form, starting with "/"). Returns 0; -EINVAL for a refused
 * target (400); -ENAMETOOLONG (414).
 */
int path_norm(const char *target, size_t len, struct path_norm *ret);

/*
 * Percent-encode a key (as produced by path_norm()) back into a path usable in a URL, e.g. for
 * the upstream fetch: every byte outside RFC 3986 pchar and '/' becomes %XX, so a key holding
 * a literal "%2e" (from "%252e") goes upstream as "%252e" again. Writes a NUL-terminated
 * string into buf[0..cap). Returns its length, or -ENOBUFS if it does not fit.
 */
int path_norm_encode(const char *key, size_t key_len, char *buf, size_t cap);

/*
 * Where target[0..len) carries a signed-URL token, as a span to hide in logs: the "/s/<token>"
 * segment (in origin or absolute form, after any number of slashes) and every
 * URISigningPackage= argument's value, taken as written (valid or not, since path_norm() may
 * have refused the target). With several, the span runs from the first
 * to the end of the last. Without either, the first run that reads as a compact JWS ("eyJ",
 * base64url, two dots), wherever it stands: a token in a target written otherwise ("/./s/",
 * "/%73/") is hidden too. Returns false when there is none.
 */
bool path_norm_token_span(const char *target, size_t len, const char **ret, size_t *ret_len);
/*
 * The next run of s[from..len) that reads as a compact JWS ("eyJ", base64url, two dots, 16
 * bytes at least, not inside a longer base64url run): [*first, *last). False when none.
 * The access log hides every one, in the target and in the key.
 */
bool path_norm_jws_next(const char *s, size_t len, size_t from, size_t *first, size_t *last);

/*
 * The value of the first name= argument in the query of target[0..len) (after its first '?';
 * arguments split at '&'), percent-decoded once ('+' is a space; an escape that is not two hex
 * digits stays as it is) into out (cap >= 1 bytes, NUL-terminated; it may hold NUL bytes of
 * its own, from "%00"). For the admin API's listing arguments. Returns the decoded length
 * (always below cap and at most len), -ENOENT when the query has no name=, or -ENAMETOOLONG
 * when the value does not fit (out then holds no value).
 */
int path_norm_query_arg(const char *target, size_t len, const char *name, char *out, size_t cap);
