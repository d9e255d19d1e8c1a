/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Signed requests between a component and the control plane (edge heartbeats, an edge's fill
 * plan fetch): an HMAC-SHA256 under a secret shared by the two ends, over
 *
 *     METHOD "\n" PATH "\n" TIME "\n" BODY
 *
 * where PATH is the request target as sent (the API path and its query, if any), TIME is the
 * sender's clock in milliseconds since the epoch, sent as decimal in the REQ_SIGN_TIME_HEADER,
 * and the MAC goes as 64 lowercase hex digits in REQ_SIGN_SIG_HEADER. The receiver recomputes
 * it (constant-time compare) and refuses a TIME outside its allowed skew; for a request that
 * changes state (a heartbeat) also one not newer than the last it accepted, so a captured
 * request cannot be replayed. docs/control.md has the threat model.
 *
 * Secrets are 32..128 visible ASCII bytes (0x21..0x7e) used as the HMAC key as they are.
 * No allocation beyond OpenSSL's MAC context; no logging.
 */

#define REQ_SIGN_TIME_HEADER "X-Sluice-Time"
#define REQ_SIGN_SIG_HEADER  "X-Sluice-Signature"
#define REQ_SIGN_HEX         64 /* hex digits of a signature */
#define REQ_SIGN_SECRET_MIN  32
#define REQ_SIGN_SECRET_MAX  128
#define REQ_SIGN_TIME_DIGITS 16 /* most digits a TIME may have */

/* Whether s[0..len) is a usable secret (length and bytes as above). */
bool req_sign_secret_ok(const char *s, size_t len);

/*
 * Sign: out gets REQ_SIGN_HEX hex digits and a NUL. method and path are NUL-terminated;
 * body may be NULL when body_len is 0. Returns 0, -EINVAL for a secret that is not
 * req_sign_secret_ok or a negative time, -EIO when OpenSSL fails.
 */
int req_sign(const char *secret, size_t secret_len, const char *method, const char *path,
             int64_t time_ms, const void *body, size_t body_len, char out[REQ_SIGN_HEX + 1]);

/* Room for either header line req_sign_headers() writes, with its NUL. */
#define REQ_SIGN_LINE_MAX (sizeof(REQ_SIGN_SIG_HEADER) + 2 + REQ_SIGN_HEX + 1)

/*
 * The stamp of a request signed at wall_ms: wall_ms, or one millisecond past this process's
 * last stamp when the clock has stepped back behind it (NTP correcting a fast clock). A
 * receiver that takes only times newer than the last it took (control's heartbeats: a replay
 * check) then keeps taking them, within its skew, instead of refusing each until the clock
 * passes the old stamps; the stamps meet the clock again as it catches up. Any thread.
 */
int64_t req_sign_time(int64_t wall_ms);

/*
 * Sign a request as sent now (CLOCK_REALTIME, in ms, through req_sign_time()) and write its two header lines,
 * "X-Sluice-Time: <time>" and "X-Sluice-Signature: <hex>", into time_line and sig_line.
 * Returns 0 or what req_sign returns.
 */
int req_sign_headers(const char *secret, size_t secret_len, const char *method,
                     const char *path, const void *body, size_t body_len,
                     char time_line[REQ_SIGN_LINE_MAX], char sig_line[REQ_SIGN_LINE_MAX]);

/*
 * Verify sig[0..sig_len) (hex, either case) against the signature of the same inputs, in
 * constant time over the digits. Returns 0 when it matches; -EPERM when it does not or sig is
 * malformed; -EINVAL/-EIO as req_sign.
 */
int req_sign_verify(const char *secret, size_t secret_len, const char *method, const char *path,
                    int64_t time_ms, const void *body, size_t body_len, const char *sig,
                    size_t sig_len);

/* Parse a TIME header value s[0..len): 1..REQ_SIGN_TIME_DIGITS decimal digits. Returns 0 or
 * -EINVAL. */
int req_sign_time_parse(const char *s, size_t len, int64_t *ret);
