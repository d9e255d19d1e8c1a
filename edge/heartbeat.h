/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct curl_slist;
struct edge_runtime;
struct edge_server;
struct heartbeat;

/*
 * Heartbeats to the control plane: every control.heartbeat period, POST
 * <control.url>/v1/edges/<edge_id>/heartbeat with load, bytes served, disk use and the titles
 * held (plus a digest of that list), signed with the edge's secret (control.secret_file;
 * common/req-sign.h) so control can tell it from a forgery or a replay. A thread of its own, off the data path: a slow or
 * unreachable control plane never delays a client, and the edge keeps serving what it holds.
 * The config is re-read every period, so SIGHUP applies. Does nothing when control.url is
 * unset. The fill plan (plan-sums.h) is fetched every control.plan_period on a second thread,
 * so a slow plan never holds a beat back (control drops an edge after two missed periods); a
 * failed fetch is retried after 1 s, 2, 4, ... up to the period.
 *
 * Start-up only: returns 0 and *ret (NULL when disabled), or -errno. heartbeat_stop() wakes
 * both threads, aborts their transfers under way, joins them and frees it; NULL is fine.
 */
int heartbeat_start(struct edge_server *srv, struct heartbeat **ret);
void heartbeat_stop(struct heartbeat *hb);

/* The JSON body of one heartbeat (malloc'd; caller frees), or NULL on OOM. For tests. */
char *heartbeat_body(struct edge_server *srv);
/* The same with the titles list cut at titles_bytes of JSON (heartbeat_body: a bound that keeps
 * the body under control's default max_body of 1 MiB). Titles that cannot be control ids are
 * left out. For tests. */
char *heartbeat_body_within(struct edge_server *srv, size_t titles_bytes);

/*
 * Sign a request to control as this edge (rt's control.secret_file secret; common/req-sign.h):
 * appends REQ_SIGN_TIME_HEADER (this clock, ms) and REQ_SIGN_SIG_HEADER over method, target
 * (the API path control routes on, with its query, exactly as sent after control.url) and
 * body[0..body_len) (NULL when 0) onto *hdrs. Heartbeats and the fill plan fetch use it.
 * Returns 0; -ENOKEY when the edge has no secret; -EINVAL or -EIO as req_sign; -ENOMEM (a
 * header could not be added; *hdrs keeps what it has, the caller frees it).
 */
int heartbeat_req_sign(const struct edge_runtime *rt, const char *method, const char *target,
                       const char *body, size_t body_len, struct curl_slist **hdrs);

/* Most bytes of control's answer to a heartbeat that are read (control answers a few dozen);
 * a longer answer is not one this edge reads and is ignored whole. */
#define HEARTBEAT_ANSWER_MAX 255

/*
 * Control's heartbeat period from its answer to an accepted heartbeat: buf[0..len) (need not
 * be NUL-terminated) holding {"heartbeat_period_s": n}. Returns n in ms when n is a number
 * from 0.1 to 86400 s, else 0 (not told): not JSON, no such member, not a number, out of that
 * range, empty or over HEARTBEAT_ANSWER_MAX bytes. Pure (heartbeat-answer.c), for fuzzing.
 */
int64_t heartbeat_answer_period_ms(const char *buf, size_t len);
