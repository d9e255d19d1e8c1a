/* SPDX-License-Identifier: MIT */
/*
 * Admin routes (bearer token checked by the router): title registration from asset.json,
 * licences, the shared URI-signing key set with its rotation, and ending a session; plus the
 * periodic refresh of that key set, which is how every instance learns about a rotation done
 * through another.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "hex.h"
#include "log.h"
#include "token.h"
#include "uring-loop.h"

#include "api.h"
#include "cache.h"
#include "asset.h"
#include "body-check.h"
#include "ctl-cfg.h"
#include "ctl.h"
#include "pgdb.h"
#include "server.h"
#include "sessid.h"

static void title_audit(const struct ctl_req *rq, const json_t *res)
{
        char title[136], asset[136];

        /* Anonymous starts read titles and licences from the warm cache: this instance
         * sees its own change at once, others within cache_ttl. A registration changes
         * more titles than the one it answers (the asset's movie removed, the series an
         * episode left, removed when it was the last), so all are forgotten. */
        ctl_cache_warm_forget(rq->ctl->cache, NULL);

        log_info(
            "admin: title %s registered (asset %s, %s, %" JSON_INTEGER_FORMAT
            " files; request %" PRIu64 " from %s)",
            api_log_safe(json_string_value(json_object_get(res, "title")), title, sizeof(title)),
            api_log_safe(json_string_value(json_object_get(res, "asset")), asset, sizeof(asset)),
            json_is_true(json_object_get(res, "encrypted")) ? "encrypted" : "clear",
            json_integer_value(json_object_get(res, "files")), rq->id, rq->client);
}

static const struct api_audit title_audited = {.log = title_audit};

/* POST /v1/admin/titles {"title","asset":{asset.json},"key"?,"metadata"?,"series"?,"markers"?} */
void api_admin_title(struct ctl_req *rq)
{
        json_t *body = NULL;
        struct asset *a = NULL;
        char err[200], *s;
        int r;

        if (ctl_body_json(rq, 8, &body) < 0)
                return;
        if (body_title_check(body, err, sizeof(err)) < 0) {
                json_decref(body); /* wiped as freed (main.c), content key too */
                ctl_reply_error(rq, 400, "bad_request", err);
                return;
        }
        /* What the manifest builders will read back must load now, not at first playback. */
        r = asset_json_load(json_object_get(body, "asset"), &a, err, sizeof(err));
        if (r < 0) {
                json_decref(body);
                ctl_reply_error(rq, 400, "bad_request", err[0] ? err : "invalid asset");
                return;
        }
        asset_free(a);
        s = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (!s) {
                ctl_reply_error(rq, 500, "internal", "out of memory");
                return;
        }
        const char *params[] = {s};
        api_exec_json_audited(rq, rq->ctl->st.register_title, params, 1, &title_audited);
        OPENSSL_cleanse(s, strlen(s));
        free(s);
}

static void licences_audit(const struct ctl_req *rq, const json_t *res)
{
        char title[136];

        /* Anonymous starts read titles and licences from the warm cache: this instance
         * sees its own change at once, others within cache_ttl. */
        ctl_cache_warm_forget(rq->ctl->cache, rq->arg[0]);

        log_info(
            "admin: licences of title %s set (%" JSON_INTEGER_FORMAT " window(s); request %" PRIu64
            " from %s)",
            api_log_safe(json_string_value(json_object_get(res, "title")), title, sizeof(title)),
            json_integer_value(json_object_get(res, "licences")), rq->id, rq->client);
}

static const struct api_audit licences_audited = {.log = licences_audit};

/* PUT /v1/admin/titles/<id>/licences {"licences":[{"country","from","until"?}]} */
void api_admin_licences(struct ctl_req *rq)
{
        json_t *body = NULL, *lic;
        char detail[200], *s;

        if (ctl_body_json(rq, 3, &body) < 0)
                return;
        if (body_licences_check(body, &lic, detail, sizeof(detail)) < 0) {
                json_decref(body);
                ctl_reply_error(rq, 400, "bad_request", detail);
                return;
        }
        s = json_dumps(lic, JSON_COMPACT);
        json_decref(body);
        if (!s) {
                ctl_reply_error(rq, 500, "internal", "out of memory");
                return;
        }
        const char *params[] = {rq->arg[0], s};
        api_exec_json_audited(rq, rq->ctl->st.set_licences, params, 2, &licences_audited);
        free(s);
}

/* GET /v1/admin/keys: the key set edges verify with (secrets; admin only). */
void api_admin_keys_get(struct ctl_req *rq)
{
        api_exec_json_wiped(rq, rq->ctl->st.token_keys, NULL, 0);
}

/* ---- the shared key set ---- */

static void keys_refresh(struct ctl *ctl);

static struct uring_timer keys_timer;
static struct ctl *keys_ctl;
static bool keys_inflight;

/*
 * Install the key set from token_key_rows (kid, secret in hex, sign_from; newest first). The
 * rows are read as columns, not parsed as JSON, whose parser would copy each secret through
 * buffers of its own that nothing wipes; each secret's text in the result is wiped here,
 * whatever the outcome, before the pool frees it unwiped.
 */
static int keys_install(struct ctl *ctl, const struct pgdb_res *res)
{
        struct token_keyset ks = {0};
        int64_t now = (int64_t)time(NULL), best = INT64_MIN;
        int rows = pgdb_res_rows(res);

        for (int i = 0; i < rows; i++) {
                size_t kid_len = 0, sec_len = 0;
                const char *kid = pgdb_res_value(res, i, 0, &kid_len);
                const char *sec = pgdb_res_value(res, i, 1, &sec_len);
                const char *from_s = pgdb_res_value(res, i, 2, NULL);
                int64_t from = from_s ? strtoll(from_s, NULL, 10) : 0;
                struct token_key *tk = &ks.keys[ks.n];
                bool ok = ks.n < TOKEN_MAX_KEYS && kid && sec && kid_len <= TOKEN_KID_MAX &&
                          sec_len % 2 == 0 && sec_len / 2 <= TOKEN_SECRET_MAX;

                if (ok) {
                        snprintf(tk->kid, sizeof(tk->kid), "%s", kid);
                        tk->secret_len = sec_len / 2;
                        ok = hex_decode(sec, sec_len, tk->secret, tk->secret_len) == 0;
                }
                if (sec)
                        OPENSSL_cleanse((char *)sec, sec_len);
                if (!ok)
                        continue;
                /* Sign with the newest key already allowed to sign. */
                if (from <= now && from > best) {
                        best = from;
                        ks.sign_idx = ks.n;
                }
                ks.n++;
        }
        if (ks.n == 0 || best == INT64_MIN) {
                OPENSSL_cleanse(&ks, sizeof(ks));
                return -ENOKEY;
        }
        OPENSSL_cleanse(&ctl->keys, sizeof(ctl->keys));
        ctl->keys = ks;
        OPENSSL_cleanse(&ks, sizeof(ks));
        return 0;
}

static void keys_done(void *userdata, int err, const struct pgdb_res *res)
{
        struct ctl *ctl = userdata;

        keys_inflight = false;
        if (err < 0) {
                log_debug("token keys: refresh failed (%s), keeping the current set",
                          pgdb_why(ctl->db, err, res));
                return;
        }
        if (keys_install(ctl, res) < 0)
                log_warn("token keys: no usable key in the database, keeping the current set");
}

static void keys_refresh(struct ctl *ctl)
{
        if (keys_inflight)
                return;
        /* Set before the call: keys_done may run inside pgdb_exec (a send failing on an idle
         * connection) and clear it there; setting it after would keep it set for good. */
        keys_inflight = true;
        if (pgdb_exec(ctl->db, ctl->st.token_key_rows, NULL, 0, keys_done, ctl) < 0)
                keys_inflight = false;
}

static void on_keys_timer(struct uring_loop *loop, struct uring_timer *t)
{
        keys_refresh(keys_ctl);
        (void)uring_timer_arm(loop, t,
                              uring_loop_now_ms(loop) + (uint64_t)keys_ctl->cfg->tokens.refresh_ms);
}

void api_keys_refresh_start(struct ctl *ctl)
{
        keys_ctl = ctl;
        uring_timer_init(&keys_timer, on_keys_timer);
        (void)uring_timer_arm(ctl->loop, &keys_timer, uring_loop_now_ms(ctl->loop));
}

#define ROTATE_SKEW_S 60 /* clock difference allowed between instances, seconds */

/* POST /v1/admin/keys/rotate {"publish_after": s (60), "overlap": s (session_ttl)} */
struct rotate_ctx {
        struct ctl_req *rq;
        char *result; /* sluice_token_rotate's JSON, replied once the set is re-read */
};

static void rotate_keys_done(void *userdata, int err, const struct pgdb_res *res)
{
        struct rotate_ctx *rx = userdata;
        struct ctl_req *rq = rx->rq;
        /* This instance signs with the new set before it says the rotation is done; the
         * others follow within tokens.refresh. */
        if (err < 0 || keys_install(rq->ctl, res) < 0)
                log_warn("token keys: re-reading after a rotation failed; the periodic refresh "
                         "will pick it up");
        ctl_reply(rq, 200, "application/json", rx->result, strlen(rx->result), NULL);
        free(rx->result);
        free(rx);
}

static void rotate_done(void *userdata, int err, const struct pgdb_res *res)
{
        struct rotate_ctx *rx = userdata;
        struct ctl_req *rq = rx->rq;
        const char *v;
        int r;

        if (err < 0) {
                free(rx);
                ctl_reply_db_error(rq, err, res);
                return;
        }
        v = pgdb_res_value(res, 0, 0, NULL);
        rx->result = strdup(v ? v : "{}");
        if (!rx->result) {
                free(rx);
                ctl_reply_error(rq, 500, "internal", "out of memory");
                return;
        }
        /* The answer names the new kid and its times, never the key. */
        json_t *o = json_loads(rx->result, 0, NULL);
        char kid[TOKEN_KID_MAX + 8];
        log_info("admin: token keys rotated: new kid %s signs from %" JSON_INTEGER_FORMAT
                 ", older keys retire at %" JSON_INTEGER_FORMAT " (request %" PRIu64 " from %s)",
                 api_log_safe(json_string_value(json_object_get(o, "kid")), kid, sizeof(kid)),
                 json_integer_value(json_object_get(o, "sign_from")),
                 json_integer_value(json_object_get(o, "retire_others_at")), rq->id, rq->client);
        json_decref(o);
        r = pgdb_exec(rq->ctl->db, rq->ctl->st.token_key_rows, NULL, 0, rotate_keys_done, rx);
        if (r < 0)
                rotate_keys_done(rx, r, NULL);
}

void api_admin_keys_rotate(struct ctl_req *rq)
{
        struct ctl *ctl = rq->ctl;
        struct body_rotate rb;
        json_t *body = NULL;
        char kid[40], rnd[9], secret[65], publish[24], overlap[24];
        /* By default a new key waits a minute before it signs: edges verify only keys they
         * have loaded, so the operator's key-file push must come first. */
        int64_t publish_s = 60, overlap_s = ctl->cfg->session_ttl_ms / 1000;
        int r;

        if (rq->body_len > 0) {
                if (ctl_body_json(rq, 2, &body) < 0)
                        return;
                r = body_rotate_check(body, &rb);
                json_decref(body);
                if (r < 0) {
                        ctl_reply_error(rq, 400, "bad_request",
                                        "\"publish_after\" and \"overlap\" are seconds (0..30 d)");
                        return;
                }
                if (rb.publish_after >= 0)
                        publish_s = rb.publish_after;
                if (rb.overlap >= 0)
                        overlap_s = rb.overlap;
        }
        if (api_random_hex(rnd, 4) < 0 || api_random_hex(secret, 32) < 0) {
                ctl_reply_error(rq, 500, "internal", "no randomness");
                return;
        }
        snprintf(kid, sizeof(kid), "k%" PRId64 "-%s", (int64_t)time(NULL), rnd);
        snprintf(publish, sizeof(publish), "%" PRId64, publish_s);
        /* Other instances keep signing with the old key until their next refresh after the
         * new one starts, and judge "starts" by their own clocks: the old key verifies that
         * much longer, so their tokens (exp up to overlap later) never outlive it. */
        overlap_s += (ctl->cfg->tokens.refresh_ms + 999) / 1000 + ROTATE_SKEW_S;
        snprintf(overlap, sizeof(overlap), "%" PRId64, overlap_s);
        struct rotate_ctx *rx = calloc(1, sizeof(*rx));
        if (!rx) {
                ctl_reply_error(rq, 500, "internal", "out of memory");
                return;
        }
        rx->rq = rq;
        const char *params[] = {kid, secret, publish, overlap};
        r = pgdb_exec(ctl->db, ctl->st.token_rotate, params, 4, rotate_done, rx);
        OPENSSL_cleanse(secret, sizeof(secret));
        if (r < 0) {
                free(rx);
                ctl_reply_db_error(rq, r, NULL);
        }
}

static void session_end_audit(const struct ctl_req *rq, const json_t *res)
{
        char sid[48];

        /* The nonce names the session in logs: the whole id is a bearer credential. */
        log_info("admin: session %s %s (request %" PRIu64 " from %s)",
                 api_log_safe(json_string_value(json_object_get(res, "session")), sid, sizeof(sid)),
                 json_is_true(json_object_get(res, "ended")) ? "ended" : "was over already", rq->id,
                 rq->client);
}

static const struct api_audit session_end_audited = {.log = session_end_audit};

/* POST /v1/admin/sessions/<id>/end: the session is over on every instance (within cache_ttl
 * where its manifest is warm), whether or not its start wrote a row. */
void api_admin_session_end(struct ctl_req *rq)
{
        struct sessid_claims cl;
        char id[SESSID_MAX + 1], ver[24], prof[24], created[24];

        if (!api_session_live(rq->ctl, rq->arg[0], &cl, id)) {
                ctl_reply_error(rq, 404, "not_found", "unknown or expired session");
                return;
        }
        snprintf(ver, sizeof(ver), "%" PRId64, cl.asset_version);
        snprintf(prof, sizeof(prof), "%" PRId64, cl.profile);
        snprintf(created, sizeof(created), "%" PRId64, cl.created);
        const char *params[] = {cl.nonce,   cl.title,  cl.episode,
                                cl.asset,   ver,       cl.profile ? prof : NULL,
                                cl.country, cl.region, created};
        api_exec_json_audited(rq, rq->ctl->st.session_end, params, 9, &session_end_audited);
}
