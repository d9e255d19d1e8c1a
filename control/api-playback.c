/* SPDX-License-Identifier: MIT */
/*
 * Playback: sessions, manifests (DASH and HLS) and steering (ClearKey licences in
 * api-licence.c, playback reports in api-report.c). A session's id is signed and carries the session (sessid.h), so any instance
 * holding the shared key set can serve any step of it, with or without a row. An anonymous
 * start is answered from warm data (cache.h) and counted behind (session-behind.h), with no
 * row; a start with a profile is one database statement (session-batch.h).
 * Manifests and steering come from the warm caches or narrow queries keyed by the claims.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "token.h"

#include "uring-loop.h"

#include "api.h"
#include "asset.h"
#include "body-check.h"
#include "cache.h"
#include "ctl-cfg.h"
#include "ctl.h"
#include "hls.h"
#include "json-write.h"
#include "mpd-cache.h"
#include "mpd.h"
#include "pgdb.h"
#include "server.h"
#include "sessid.h"
#include "session-batch.h"
#include "session-behind.h"
#include "steering.h"

#define ID_MAX BODY_ID_MAX
#define SID_HEX        SESSID_NONCE_HEX /* the nonce: the sessions row's id */
#define TOKEN_NBF_SKEW 60 /* seconds a token is valid before its issue time (clock skew) */

static const char *const nocache[] = {"Cache-Control", "no-store", NULL};

static double wall_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- POST /v1/playback ---- */

struct playback_ctx {
        struct ctl_req *rq;
        char sid[SID_HEX + 1];   /* the nonce */
        char id[SESSID_MAX + 1]; /* the signed id, once made */
        char title[ID_MAX + 1];
        char episode[ID_MAX + 1]; /* "" none */
        char cc[3];
        int64_t profile;      /* the start's profile, 0: none (a new one comes in the answer) */
        bool inline_manifest; /* the MPD goes into the answer: one round trip less per start */
        bool no_country;      /* the client's country is unknown: licensed nowhere */
        uint64_t warm_asked;  /* ctl_cache_warm_epoch when the warm data was asked for */
};

static void session_with_manifest(struct ctl_req *rq, const char *id, struct ctl_session *sess,
                                  struct json_write *answer);

static const char *json_str_or(json_t *o, const char *key, const char *dflt)
{
        const char *v = json_string_value(json_object_get(o, key));

        return v ? v : dflt;
}

/* Sign the claims c into id and remember it as verified. Returns the length or -errno. */
static int claims_sign(struct ctl *ctl, struct sessid_claims *c, char id[SESSID_MAX + 1])
{
        int n;

        if (ctl->keys.n == 0)
                return -ENOKEY;
        n = sessid_sign(&ctl->keys.keys[ctl->keys.sign_idx], c, id, SESSID_MAX + 1);
        if (n > 0) {
                /* Its kid as the verifier will read it: the manifest that follows is a hit. */
                snprintf(c->kid, sizeof(c->kid), "%s", ctl->keys.keys[ctl->keys.sign_idx].kid);
                sessid_seen_put(ctl->seen, &ctl->keys, id, (size_t)n, c);
        }
        return n;
}

/* Sign the session of o (a start's answer; its "session" the nonce; profile when it names
 * none) into id, and remember it as verified. Returns the length or -errno. */
static int session_id_sign(struct ctl *ctl, json_t *o, int64_t profile, char id[SESSID_MAX + 1])
{
        struct sessid_claims c;
        int n;

        memset(&c, 0, sizeof(c));
        n = snprintf(c.nonce, sizeof(c.nonce), "%s", json_str_or(o, "session", ""));
        n |= snprintf(c.title, sizeof(c.title), "%s", json_str_or(o, "title", ""));
        n |= snprintf(c.episode, sizeof(c.episode), "%s", json_str_or(o, "episode", ""));
        n |= snprintf(c.asset, sizeof(c.asset), "%s", json_str_or(o, "asset", ""));
        n |= snprintf(c.country, sizeof(c.country), "%s", json_str_or(o, "country", ""));
        n |= snprintf(c.region, sizeof(c.region), "%s", json_str_or(o, "region", ""));
        if (n < 0)
                return -EINVAL;
        c.asset_version = json_integer_value(json_object_get(o, "asset_version"));
        c.created = json_integer_value(json_object_get(o, "created"));
        c.expires = json_integer_value(json_object_get(o, "expires"));
        c.profile = json_is_integer(json_object_get(o, "profile"))
                        ? json_integer_value(json_object_get(o, "profile"))
                        : profile;
        return claims_sign(ctl, &c, id);
}

/*
 * The start rung for a throughput estimate of est bit/s (-1: none) and an asset's start ladder
 * (assets.start_ladder, migrations/017_start_rung.sql: [[bandwidth, first segment bytes], ...]
 * of its video rungs by bandwidth; borrowed, may be NULL): the bandwidth of the highest rung
 * whose first media segment downloads within budget_ms at est, else the lowest rung's. A player
 * told to start at the highest rung within the answer (dash.js initialBitrate) then starts at
 * exactly that rung. Returns -1 with no estimate, and est itself when budget_ms is 0 (off) or
 * the ladder names no rung (sizes not registered): the estimate alone, as before.
 */
static int64_t start_rung(const json_t *ladder, int64_t est, int64_t budget_ms)
{
        int64_t lowest = -1, best = -1;
        const json_t *e;
        size_t i;

        if (est < 0)
                return -1;
        if (budget_ms <= 0 || !json_is_array(ladder))
                return est;
        json_array_foreach(ladder, i, e)
        {
                json_int_t bw = json_integer_value(json_array_get(e, 0));
                json_int_t bytes = json_integer_value(json_array_get(e, 1));

                /* The migration bounds both (12 and 15 digits); the products stay far from
                 * overflow: bytes * 8000 < 2^63, est * budget_ms with budget_ms <= 10 s. */
                if (bw <= 0 || bytes < 0 || bytes >= 1000000000000000LL)
                        continue;
                if (lowest < 0 || bw < lowest)
                        lowest = bw;
                if ((double)bytes * 8000.0 <= (double)est * (double)budget_ms && bw > best)
                        best = bw;
        }
        if (lowest < 0)
                return est;
        return best >= 0 ? best : lowest;
}

/* Close the answer w (an object's members so far) and send it; w is emptied. A session's
 * answer is its bearer id (and maybe its manifest): never stored by a cache. */
static void answer_reply(struct ctl_req *rq, struct json_write *w)
{
        size_t len = 0;
        char *text;

        json_write_raw(w, "}", 1);
        text = json_write_steal(w, &len);
        if (!text) {
                ctl_reply_error(rq, 500, "internal", "cannot render JSON");
                return;
        }
        ctl_reply(rq, 200, "application/json", text, len, nocache);
        free(text);
}

/* A URL of the answer, pub + a + id + b, written as a JSON string (cut at the length the
 * statement path's snprintf() cuts it). */
static void url_write(struct json_write *jw, const char *pub, const char *a, const char *id,
                      const char *b)
{
        const char *part[] = {pub, a, id, b};
        char url[SESSID_MAX + 512];
        size_t n = 0;

        for (size_t i = 0; i < 4; i++) {
                size_t l = strlen(part[i]);
                if (l > sizeof(url) - 1 - n)
                        l = sizeof(url) - 1 - n;
                memcpy(url + n, part[i], l);
                n += l;
        }
        json_write_str(jw, url, n);
}

/*
 * The end of a start's answer, after its members so far in w: the URLs made from the session
 * id, skip_intro from markers (borrowed), and the MPD inline when asked for (from cs, the
 * cached session, when have_cs). Sends it and frees px; w is emptied.
 */
static void answer_finish(struct playback_ctx *px, struct json_write *w, bool encrypted,
                          json_t *markers, struct ctl_session *cs, bool have_cs)
{
        struct ctl_req *rq = px->rq;
        const char *pub = rq->ctl->cfg->public_url;
        json_t *intro = json_object_get(markers, "intro");

        json_write_lit(w, ",\"manifest_url\":");
        url_write(w, pub, "/v1/manifest/", px->id, ".mpd");
        /* hls.js cannot decrypt cenc with ClearKey: encrypted titles are DASH-only. */
        if (encrypted) {
                json_write_lit(w, ",\"hls_url\":null,\"license_url\":");
                url_write(w, pub, "/v1/license/clearkey?session=", px->id, "");
        } else {
                json_write_lit(w, ",\"hls_url\":");
                url_write(w, pub, "/v1/manifest/", px->id, ".m3u8");
                json_write_lit(w, ",\"license_url\":null");
        }
        json_write_lit(w, ",\"steering_url\":");
        url_write(w, pub, "/v1/steering/", px->id, "");
        json_write_lit(w, ",\"report_url\":");
        url_write(w, pub, "/v1/playback/report", "", "");
        json_write_lit(w, ",\"skip_intro\":");
        json_write_value(w, intro ? intro : json_null());
        if (px->inline_manifest && have_cs) {
                session_with_manifest(rq, px->id, cs, w);
                free(px);
                return;
        }
        if (px->inline_manifest)
                json_write_lit(w, ",\"manifest\":null");
        if (have_cs)
                ctl_session_done(cs);
        free(px);
        answer_reply(rq, w);
}

/* The session's answer (o, the statement's JSON for it; reference stolen) to the client. */
static void playback_answer(struct playback_ctx *px, json_t *o)
{
        struct ctl_req *rq = px->rq;
        struct ctl *ctl = rq->ctl;
        struct ctl_session cs;
        struct json_write w;
        bool have_cs = false;
        json_t *bwj;
        int64_t bw;

        if (!o) {
                free(px);
                ctl_reply_error(rq, 500, "internal", "bad session record");
                return;
        }
        if (session_id_sign(ctl, o, px->profile, px->id) < 0) {
                json_decref(o);
                free(px);
                ctl_reply_error(rq, 500, "internal", "cannot make a session id");
                return;
        }
        metrics_add(ctl->m.sessions, 1);
        if (ctl_cache_session_put(ctl->cache, o, uring_loop_now_ms(ctl->loop), &cs) == 0)
                have_cs = true;
        json_object_set_new(o, "session", json_string(px->id));
        bwj = json_object_get(o, "start_bandwidth");
        bw = start_rung(json_object_get(o, "start_ladder"),
                        json_is_integer(bwj) ? (int64_t)json_integer_value(bwj) : -1,
                        ctl->cfg->start_rung_budget_ms);
        if (bw >= 0)
                json_object_set_new(o, "start_bandwidth", json_integer((json_int_t)bw));
        /* Internal members, not part of the API answer. */
        json_object_del(o, "start_ladder");
        json_object_del(o, "licensed");
        json_object_del(o, "licence_change");
        json_object_del(o, "licence_end");
        json_object_del(o, "asset_version");
        json_object_del(o, "created");
        json_object_del(o, "region");
        json_write_init(&w);
        json_write_members(&w, o);
        answer_finish(px, &w, json_is_true(json_object_get(o, "encrypted")),
                      json_object_get(o, "markers"), &cs, have_cs);
        json_decref(o);
}

/* One item of the session statement (session-batch.h) is answered. */
static void playback_done(void *userdata, int err, const char *answer, const char *state,
                          const char *msg)
{
        struct playback_ctx *px = userdata;
        struct ctl_req *rq = px->rq;

        rq->handler_data = NULL;
        if (err == 0) {
                metrics_add(rq->ctl->m.sessions_db, 1);
                playback_answer(px, json_loads(answer, 0, NULL));
                return;
        }
        /* The title exists (else 404 came first), but nowhere is licensed for a client whose
         * country is not known. */
        if (err == -EPROTO && px->no_country && !strcmp(state, "SL451"))
                ctl_reply_error(rq, 451, "unavailable_for_legal_reasons",
                                "the client's country is unknown");
        else if (err == -EPROTO)
                ctl_reply_sql_error(rq, state, msg);
        else
                ctl_reply_db_error(rq, err, NULL);
        free(px);
}

/* The database path: one statement that checks, reads and inserts (session-batch.h). */
static void db_start(struct playback_ctx *px, const char *region, int64_t profile,
                     const char *profile_key, const char *new_profile)
{
        struct ctl_req *rq = px->rq;
        struct ctl *ctl = rq->ctl;
        char key[PROFILE_KEY_BYTES * 2 + 1];
        json_t *item;
        int r = 0;

        /* What sluice_session_start_batch takes (migrations/013_session_batch.sql, 020). A
         * first visit's profile is made with the session, in its subtransaction, with a key
         * made here, and its id and key come back as "profile" and "profile_key". A profile
         * comes with its key, checked there (missing or wrong: an unknown profile). */
        if (new_profile && api_random_hex(key, PROFILE_KEY_BYTES) < 0) {
                rq->handler_data = NULL;
                free(px);
                ctl_reply_error(rq, 500, "internal", "cannot make a profile key");
                return;
        }
        item = json_pack("{s:s, s:s, s:s, s:s, s:I}", "sid", px->sid, "title", px->title, "country",
                         px->cc, "ip", rq->client, "ttl",
                         (json_int_t)(ctl->cfg->session_ttl_ms / 1000));
        if (item && px->episode[0])
                r |= json_object_set_new(item, "episode", json_string(px->episode));
        if (item && new_profile) {
                r |= json_object_set_new(item, "new_profile", json_string(new_profile));
                r |= json_object_set_new(item, "profile_key", json_string(key));
        } else if (item && profile) {
                r |= json_object_set_new(item, "profile", json_integer((json_int_t)profile));
                if (profile_key)
                        r |= json_object_set_new(item, "profile_key", json_string(profile_key));
        }
        px->profile = profile;
        if (item && region)
                r |= json_object_set_new(item, "region", json_string(region));
        if (!item || r < 0) {
                json_decref(item);
                rq->handler_data = NULL;
                free(px);
                ctl_reply_error(rq, 500, "internal", "out of memory");
                return;
        }
        r = session_batch_add(ctl->sessions, item, playback_done, px);
        if (r < 0) {
                rq->handler_data = NULL;
                free(px);
                ctl_reply_error(rq, 500, "internal", "out of memory");
        }
}

/* Whether s fits a buffer of cap bytes with its NUL. */
static bool fits(const char *s, size_t cap)
{
        return strlen(s) < cap;
}

/*
 * The warm path: the title's data and licence windows from the cache, the licence judged here
 * against the clock, the answer at once, the start counted behind. Answers what
 * sluice_session_start answers for an anonymous player; bw is the client network's
 * throughput estimate (-1: none), answered as the start rung it allows (start_rung()). The
 * claims, the cached session and the answer's text are made straight from the warm entry,
 * with no JSON tree per start; the answer is byte for byte what the tree built here before
 * gave (members in that order).
 */
static void fast_answer(struct playback_ctx *px, const struct ctl_warm *w, int64_t bw)
{
        struct ctl_req *rq = px->rq;
        struct ctl *ctl = rq->ctl;
        const char *region = ctl_region_of(ctl, px->cc);
        double wall = wall_now(), change, end;
        int64_t created = (int64_t)wall, ttl = (int64_t)(ctl->cfg->session_ttl_ms / 1000);
        json_t *episode = json_object_get(w->o, "episode");
        json_t *asset = json_object_get(w->o, "asset"), *name = json_object_get(w->o, "name");
        json_t *encrypted = json_object_get(w->o, "encrypted");
        json_t *duration = json_object_get(w->o, "duration");
        json_t *markers = json_object_get(w->o, "markers");
        const char *asset_s = json_string_value(asset), *ep_s = json_string_value(episode);
        struct session_behind_start start;
        struct sessid_claims c;
        struct ctl_session cs, s;
        struct json_write jw;
        bool lic, have_cs = false;
        char detail[64];

        ctl_licence_eval(w, wall, &lic, &change, &end);
        if (!lic) {
                if (px->cc[0])
                        snprintf(detail, sizeof(detail), "title not licensed in %s at this time",
                                 px->cc);
                else
                        snprintf(detail, sizeof(detail), "the client's country is unknown");
                rq->handler_data = NULL;
                free(px);
                ctl_reply_error(rq, 451, "unavailable_for_legal_reasons", detail);
                return;
        }
        rq->handler_data = NULL;
        if (!asset_s || !name || !encrypted || !duration || !markers) {
                free(px);
                ctl_reply_error(rq, 500, "internal", "bad title record");
                return;
        }
        start = (struct session_behind_start){
            .title = px->title,
            .episode = ep_s,
            .asset = asset_s,
            .country = px->cc,
            .region = region,
            .created = created,
        };
        /* A full queue drops the count (counted): the session plays all the same. */
        (void)session_behind_add(ctl->behind, &start);
        metrics_add(ctl->m.sessions_fast, 1);

        memset(&c, 0, sizeof(c));
        snprintf(c.nonce, sizeof(c.nonce), "%s", px->sid);
        snprintf(c.title, sizeof(c.title), "%s", px->title);
        snprintf(c.episode, sizeof(c.episode), "%s", ep_s ? ep_s : "");
        snprintf(c.asset, sizeof(c.asset), "%s", asset_s);
        snprintf(c.country, sizeof(c.country), "%s", px->cc);
        snprintf(c.region, sizeof(c.region), "%s", region ? region : "");
        c.asset_version = json_integer_value(json_object_get(w->o, "asset_version"));
        c.created = created;
        c.expires = created + ttl;
        c.profile = px->profile;
        if (claims_sign(ctl, &c, px->id) < 0) {
                free(px);
                ctl_reply_error(rq, 500, "internal", "cannot make a session id");
                return;
        }
        metrics_add(ctl->m.sessions, 1);

        /* The session as the manifest that follows needs it (cached under the nonce). */
        if (fits(px->title, sizeof(s.title)) && fits(asset_s, sizeof(s.asset)) &&
            (!region || fits(region, sizeof(s.region)))) {
                memset(&s, 0, sizeof(s));
                memcpy(s.sid, px->sid, sizeof(px->sid));
                memcpy(s.title, px->title, strlen(px->title) + 1);
                memcpy(s.asset, asset_s, strlen(asset_s) + 1);
                memcpy(s.country, px->cc, sizeof(px->cc));
                if (region)
                        memcpy(s.region, region, strlen(region) + 1);
                s.created = created;
                s.expires = created + ttl;
                s.asset_version = c.asset_version;
                s.licensed = true;
                s.licence_change = change > 0 ? change : 0;
                s.licence_end = end > 0 ? end : 0;
                s.markers = json_is_object(markers) ? markers : NULL;
                ctl_cache_session_add(ctl->cache, &s, uring_loop_now_ms(ctl->loop), &cs);
                have_cs = cs.markers != NULL;
        }

        json_write_init(&jw);
        json_write_lit(&jw, "{\"session\":");
        json_write_cstr(&jw, px->id);
        json_write_lit(&jw, ",\"title\":");
        json_write_cstr(&jw, px->title);
        json_write_lit(&jw, ",\"episode\":");
        json_write_value(&jw, episode ? episode : json_null());
        json_write_lit(&jw, ",\"asset\":");
        json_write_value(&jw, asset);
        json_write_lit(&jw, ",\"name\":");
        json_write_value(&jw, name);
        json_write_lit(&jw, ",\"country\":");
        json_write_cstr(&jw, px->cc);
        json_write_lit(&jw, ",\"encrypted\":");
        json_write_value(&jw, encrypted);
        json_write_lit(&jw, ",\"duration\":");
        json_write_value(&jw, duration);
        json_write_lit(&jw, ",\"resume_position\":0.0,\"expires\":");
        json_write_int(&jw, created + ttl);
        json_write_lit(&jw, ",\"markers\":");
        json_write_value(&jw, markers);
        json_write_lit(&jw, ",\"start_bandwidth\":");
        bw = start_rung(json_object_get(w->o, "start_ladder"), bw, ctl->cfg->start_rung_budget_ms);
        if (bw >= 0)
                json_write_int(&jw, bw);
        else
                json_write_lit(&jw, "null");
        answer_finish(px, &jw, json_is_true(encrypted), markers, &cs, have_cs);
}

static void warm_done(void *userdata, int err, const struct pgdb_res *res)
{
        struct playback_ctx *px = userdata;
        struct ctl_req *rq = px->rq;
        struct ctl *ctl = rq->ctl;
        uint64_t now_ms = uring_loop_now_ms(ctl->loop);
        const char *v = err == 0 ? pgdb_res_value(res, 0, 0, NULL) : NULL;
        json_t *o = v ? json_loads(v, 0, NULL) : NULL, *bwj;
        struct ctl_warm w;
        int64_t bw;
        int r;

        if (err < 0 || !o) {
                rq->handler_data = NULL;
                free(px);
                json_decref(o);
                if (err < 0)
                        ctl_reply_db_error(rq, err, res);
                else
                        ctl_reply_error(rq, 500, "internal", "bad title record");
                return;
        }
        bwj = json_object_get(o, "start_bandwidth");
        bw = json_is_integer(bwj) ? (int64_t)json_integer_value(bwj) : -1;
        ctl_cache_bw_put(ctl->cache, rq->client, bw, now_ms);
        r = ctl_cache_warm_put(ctl->cache, px->title, px->episode[0] ? px->episode : NULL, px->cc,
                               o, px->warm_asked, now_ms, &w);
        json_decref(o);
        if (r == -E2BIG) { /* more windows than an entry holds: the database judges them */
                db_start(px, ctl_region_of(ctl, px->cc), 0, NULL, NULL);
                return;
        }
        if (r < 0) {
                rq->handler_data = NULL;
                free(px);
                ctl_reply_error(rq, 500, "internal", "bad title record");
                return;
        }
        fast_answer(px, &w, bw);
        ctl_warm_done(&w);
}

static void fast_start(struct playback_ctx *px)
{
        struct ctl_req *rq = px->rq;
        struct ctl *ctl = rq->ctl;
        uint64_t now_ms = uring_loop_now_ms(ctl->loop);
        const char *ep = px->episode[0] ? px->episode : NULL;
        struct ctl_warm w;
        int64_t bw;
        int r;

        if (ctl_cache_warm_get(ctl->cache, px->title, ep, px->cc, now_ms, &w)) {
                if (ctl_cache_bw_get(ctl->cache, rq->client, now_ms, &bw)) {
                        fast_answer(px, &w, bw);
                        ctl_warm_done(&w);
                        return;
                }
                ctl_warm_done(&w);
        }
        const char *params[] = {px->title, ep, px->cc, rq->client[0] ? rq->client : NULL};
        px->warm_asked = ctl_cache_warm_epoch(ctl->cache);
        r = pgdb_exec(ctl->db, ctl->st.session_warm, params, 4, warm_done, px);
        if (r < 0) {
                rq->handler_data = NULL;
                free(px);
                ctl_reply_db_error(rq, r, NULL);
        }
}

void api_playback(struct ctl_req *rq)
{
        struct ctl *ctl = rq->ctl;
        struct playback_ctx *px;
        struct body_playback b;
        json_t *body = NULL;
        char cc[3];

        if (ctl_body_json(rq, 4, &body) < 0)
                return;
        if (body_playback_check(body, &b) < 0) {
                json_decref(body);
                ctl_reply_error(rq, 400, "bad_request",
                                "need \"title\" (string), optional \"episode\" (string), "
                                "\"profile\" (positive integer) with its \"profile_key\" "
                                "(string) or \"new_profile\" (a name, 1..100 bytes), and "
                                "\"inline_manifest\" (boolean)");
                return;
        }
        /* An unknown country is licensed nowhere, but the title is still looked up: an unknown
         * title (or episode, or profile) is 404 whatever the country, and only a title that
         * exists gets 451. "" matches no licence and is never stored. */
        api_client_country(rq, cc);
        px = calloc(1, sizeof(*px));
        if (!px || api_random_hex(px->sid, SID_HEX / 2) < 0 ||
            strlen(b.title) >= sizeof(px->title) ||
            (b.episode && strlen(b.episode) >= sizeof(px->episode))) {
                free(px);
                json_decref(body);
                ctl_reply_error(rq, 500, "internal", "cannot make a session id");
                return;
        }
        px->rq = rq;
        px->inline_manifest = b.inline_manifest;
        px->no_country = !cc[0];
        memcpy(px->cc, cc, sizeof(px->cc));
        memcpy(px->title, b.title, strlen(b.title) + 1);
        if (b.episode)
                memcpy(px->episode, b.episode, strlen(b.episode) + 1);
        rq->handler_data = px;
        /* A profile's start reads and writes what only the database has (maturity limit,
         * resume position, a new profile): it keeps the statement. With the warm cache off
         * (cache_ttl 0) every start does. */
        if (!b.profile && !b.new_profile && ctl_cache_ttl(ctl->cache) > 0) {
                json_decref(body);
                fast_start(px);
                return;
        }
        db_start(px, ctl_region_of(ctl, cc), b.profile, b.profile_key, b.new_profile);
        json_decref(body);
}

/* ---- session view (manifests, steering) ---- */

/*
 * A manifest or steering answer needs the session, (for manifests) its parsed asset, and the
 * edge set. Each comes from the warm cache (cache.h) or from one narrow query, in that order;
 * view_step() runs again after each query until all are in hand, then builds the answer.
 */
enum view_kind { VIEW_MPD, VIEW_M3U8, VIEW_MEDIA, VIEW_STEERING, VIEW_SESSION };

struct view_ctx {
        struct ctl_req *rq;
        enum view_kind kind;
        char sid[SID_HEX + 1];   /* the nonce: cache key and row id */
        char id[SESSID_MAX + 1]; /* the signed id, for the URLs the answer names */
        struct sessid_claims cl; /* verified (not for VIEW_SESSION, which has sess) */
        char media_id[ID_MAX + 1];
        bool have_sess;
        struct ctl_session sess;
        struct ctl_asset_ref *asset; /* manifests: the session's parsed asset */
        json_t *edges;               /* the edge set this answer is built from */
        struct json_write answer;    /* VIEW_SESSION: the new session's answer (its members
                                      * so far), for its MPD */
};

bool api_session_from(struct ctl *ctl, const char *arg, const char *ext, struct sessid_claims *cl,
                      char *id)
{
        size_t n = strlen(arg), el = ext ? strlen(ext) : 0;

        if (n <= el || n - el > SESSID_MAX || (el && strcmp(arg + n - el, ext)))
                return false;
        if (sessid_verify_seen(ctl->seen, &ctl->keys, arg, n - el, cl) < 0)
                return false;
        memcpy(id, arg, n - el);
        id[n - el] = '\0';
        return true;
}

bool api_session_live(struct ctl *ctl, const char *arg, struct sessid_claims *cl, char *id)
{
        return api_session_from(ctl, arg, NULL, cl, id) && wall_now() < (double)cl->expires;
}

/* Whether edges[i] is taken in pass (edges_from): 0 alive in region, 1 alive elsewhere, 2
 * not alive. */
static bool edge_in_pass(json_t *e, const char *region, int pass)
{
        bool alive = json_is_true(json_object_get(e, "healthy"));
        const char *r = json_string_value(json_object_get(e, "region"));
        bool local = region && r && strcmp(region, r) == 0;

        return pass == 0 ? alive && local : pass == 1 ? alive && !local : !alive;
}

/*
 * Edges of the snapshot as steering inputs (strings borrowed from edges), at most cap: those
 * alive in the client's region first, then those alive elsewhere, then the others (which the
 * ranking drops, but a clone may still be based on). Past cap the rest are left out: in id
 * order alone, a fleet over cap lost a whole region's edges, dead ones included in the count.
 */
static size_t edges_from(const struct ctl *ctl, json_t *edges, const char *asset,
                         const char *region, struct steering_edge *out, size_t cap)
{
        json_t *e;
        size_t i, n = 0;

        for (int pass = 0; pass < 3; pass++) {
                json_array_foreach(edges, i, e)
                {
                        if (n >= cap)
                                return n;
                        if (!edge_in_pass(e, region, pass))
                                continue;
                        out[n] = (struct steering_edge){
                                .id = json_string_value(json_object_get(e, "id")),
                                .region = json_string_value(json_object_get(e, "region")),
                                .base_url = json_string_value(json_object_get(e, "base_url")),
                                .last_heartbeat =
                                    json_integer_value(json_object_get(e, "heartbeat")),
                                .load = json_number_value(json_object_get(e, "load")),
                                .capacity = (uint64_t)json_integer_value(
                                                    json_object_get(e, "capacity_mbps")) *
                                            1000000u,
                                .holds_title = ctl_cache_edge_holds(ctl->cache, edges, i, asset),
                                /* The database judged liveness to the sub-second (two heartbeat
                                 * periods less the cache TTL); the whole-second check in
                                 * steering.c then agrees. */
                                .disabled = pass == 2,
                        };
                        if (!out[n].id || !out[n].base_url)
                                continue;
                        n++;
                }
        }
        return n;
}

/* Sign the session's token: scoped to the asset's path on every edge, valid as long as the
 * session and never past the end of the licence coverage it plays under. Returns the length
 * or -errno. */
static int session_token(const struct ctl *ctl, const char *asset_id, int64_t now,
                         const struct ctl_session *sess, char *out, size_t cap)
{
        struct token_claims c = {.exp = sess->expires, .nbf = now - TOKEN_NBF_SKEW};
        size_t o = 0;
        int n;

        if (ctl->keys.n == 0)
                return -ENOKEY;
        /* A licence ending inside the session: the edges refuse its segments from then on. */
        if (sess->licence_end > 0 && (int64_t)sess->licence_end < c.exp)
                c.exp = (int64_t)sess->licence_end;
        /* RFC 9246 matches against the whole request URI (scheme, host, path) with the
         * signing package removed; any host, so the one token serves every edge. */
        n = snprintf(c.uc, sizeof(c.uc), "regex:^https?://[^/]*/");
        o = (size_t)n;
        /* Asset ids are [A-Za-z0-9._-] (schema domain); only '.' is special in an ERE. */
        for (const char *p = asset_id; *p && o + 3 < sizeof(c.uc); p++) {
                if (*p == '.')
                        c.uc[o++] = '\\';
                c.uc[o++] = *p;
        }
        if (o + 4 >= sizeof(c.uc))
                return -E2BIG;
        memcpy(c.uc + o, "/.*", 4);
        return token_sign(&ctl->keys.keys[ctl->keys.sign_idx], &c, out, cap);
}

/* The session's edges ranked for a manifest (at most max); 0 when none is serving. */
static int rank_for_session(struct view_ctx *vx, json_t *edge_set, int64_t now,
                            struct steering_edge *edges, struct steering_rank *rank, int max)
{
        const struct ctl *ctl = vx->rq->ctl;
        const char *region = vx->sess.region[0] ? vx->sess.region : NULL;
        size_t n_edges =
            edges_from(ctl, edge_set, vx->sess.asset, region, edges, STEERING_EDGES_MAX);
        struct steering_client cl = {
                .region = vx->sess.region[0] ? vx->sess.region : NULL,
                .now = now,
                .heartbeat_period_s = steering_period_s(ctl->cfg->heartbeat_period_ms),
        };
        int n = steering_edges_rank(edges, n_edges, &cl, rank, (size_t)max);

        return n > 0 ? n : 0;
}

/* The session's MPD into *out (malloc'd); -EHOSTUNREACH when no edge is serving. */
static int build_mpd(struct view_ctx *vx, json_t *edge_set, const struct asset *asset,
                     int64_t now, const char *token, char **out, size_t *len)
{
        const struct ctl *ctl = vx->rq->ctl;
        struct steering_edge edges[STEERING_EDGES_MAX];
        struct steering_rank rank[MPD_EDGES_MAX];
        struct mpd_edge medges[MPD_EDGES_MAX];
        struct mpd_marker markers[MPD_MARKERS_MAX];
        size_t n_markers = 0;
        const char *key;
        json_t *m;
        char steer[SESSID_MAX + 512], lic[SESSID_MAX + 512];
        int n, r;

        n = rank_for_session(vx, edge_set, now, edges, rank, MPD_EDGES_MAX);
        if (n <= 0)
                return -EHOSTUNREACH;
        for (int i = 0; i < n; i++)
                medges[i] = (struct mpd_edge){.service_location = edges[rank[i].idx].id,
                                              .base_url = edges[rank[i].idx].base_url,
                                              .token = token};
        json_object_foreach(vx->sess.markers, key, m)
        {
                if (n_markers >= MPD_MARKERS_MAX)
                        break;
                double st = json_number_value(json_object_get(m, "start"));
                double en = json_number_value(json_object_get(m, "end"));
                markers[n_markers++] = (struct mpd_marker){.kind = key, .start = st,
                                                           .duration = en - st};
        }
        snprintf(steer, sizeof(steer), "%s/v1/steering/%s", ctl->cfg->public_url, vx->id);
        snprintf(lic, sizeof(lic), "%s/v1/license/clearkey?session=%s", ctl->cfg->public_url,
                 vx->id);
        struct mpd_params p = {
                .asset = asset,
                .edges = medges,
                .n_edges = (size_t)n,
                .steering_url = steer,
                /* The BaseURL order is the steering decision at issue time: asking again before
                 * the first segment would only repeat it (one more round trip in every start).
                 * dash.js asks once playback has started, then every TTL. */
                .steering_query_before_start = false,
                .license_url = asset->encrypted ? lic : NULL,
                .markers = markers,
                .n_markers = n_markers,
        };
        r = mpd_cache_build(ctl->mpd_cache, &p, vx->sess.asset, vx->sess.asset_version, vx->id, out,
                            len);
        if (r < 0) {
                log_error("session %s: cannot build MPD: %s", vx->sid, strerror(-r));
                return r;
        }
        metrics_add(ctl->m.manifests, 1);
        return 0;
}

static void reply_mpd(struct view_ctx *vx, json_t *edge_set, const struct asset *asset,
                      int64_t now, const char *token)
{
        char *out = NULL;
        size_t len = 0;
        int r = build_mpd(vx, edge_set, asset, now, token, &out, &len);

        if (r == -EHOSTUNREACH)
                ctl_reply_error(vx->rq, 503, "unavailable", "no edge is serving");
        else if (r < 0)
                ctl_reply_error(vx->rq, 500, "internal", "cannot build the manifest");
        else
                ctl_reply(vx->rq, 200, "application/dash+xml", out, len, nocache);
        free(out);
}

static void reply_hls(struct view_ctx *vx, json_t *edge_set, const struct asset *asset,
                      int64_t now, const char *token)
{
        struct ctl_req *rq = vx->rq;
        const struct ctl *ctl = rq->ctl;
        struct steering_edge edges[STEERING_EDGES_MAX];
        struct steering_rank rank[1];
        char base[TOKEN_MAX + 512], prefix[SESSID_MAX + 2];
        char *out = NULL;
        size_t len = 0;
        int r;

        if (rank_for_session(vx, edge_set, now, edges, rank, 1) <= 0) {
                ctl_reply_error(rq, 503, "unavailable", "no edge is serving");
                return;
        }
        /* HLS has no steering here: the media playlists point at the best edge now. */
        const char *eb = edges[rank[0].idx].base_url;
        size_t ebl = strlen(eb);
        while (ebl > 0 && eb[ebl - 1] == '/')
                ebl--;
        snprintf(base, sizeof(base), "%.*s/s/%s/%s/", (int)ebl, eb, token, asset->title);
        snprintf(prefix, sizeof(prefix), "%s/", vx->id);
        struct hls_params p = {
                .asset = asset,
                .media_base_url = base,
                .playlist_prefix = vx->kind == VIEW_M3U8 ? prefix : NULL,
        };
        if (vx->kind == VIEW_M3U8)
                r = hls_master_build(&p, &out, &len);
        else
                r = hls_media_build(&p, vx->media_id, &out, &len);
        if (r == -ENOTSUP) {
                ctl_reply_error(rq, 404, "not_found", "encrypted titles are DASH-only");
                return;
        }
        if (r == -ENOENT) {
                ctl_reply_error(rq, 404, "not_found", "no such rendition");
                return;
        }
        if (r < 0) {
                log_error("session %s: cannot build HLS playlist: %s", vx->sid, strerror(-r));
                ctl_reply_error(rq, 500, "internal", "cannot build the playlist");
                return;
        }
        metrics_add(ctl->m.manifests, 1);
        ctl_reply(rq, 200, "application/vnd.apple.mpegurl", out, len, nocache);
        free(out);
}

static void reply_steering(struct view_ctx *vx, json_t *edge_set, int64_t now)
{
        struct ctl_req *rq = vx->rq;
        const struct ctl *ctl = rq->ctl;
        struct steering_edge edges[STEERING_EDGES_MAX];
        struct steering_rank rank[STEERING_EDGES_MAX];
        const char *ids[STEERING_EDGES_MAX];
        struct steering_query q;
        size_t n_edges, n_ids = 0;
        char reload[SESSID_MAX + 256 + STEERING_MANIFEST_MAX * STEERING_MANIFEST_ID_MAX];
        char *out = NULL;
        size_t len = 0;
        int n, r, o;

        if (steering_query_parse(rq->query, rq->query_len, &q) < 0) {
                ctl_reply_error(rq, 400, "bad_request", "steering query too long");
                return;
        }
        n_edges = edges_from(ctl, edge_set, vx->sess.asset,
                             vx->sess.region[0] ? vx->sess.region : NULL, edges,
                             STEERING_EDGES_MAX);
        struct steering_client cl = {
                .region = vx->sess.region[0] ? vx->sess.region : NULL,
                .query = &q,
                .now = now,
                .heartbeat_period_s = steering_period_s(ctl->cfg->heartbeat_period_ms),
                .poor_throughput_bps = 1000000,
        };
        n = steering_edges_rank(edges, n_edges, &cl, rank, STEERING_EDGES_MAX);
        if (n < 0) {
                ctl_reply_error(rq, 500, "internal", "cannot rank edges");
                return;
        }
        /* The player holds the MPD whose steering URL named its pathways: an edge ranked now
         * and missing from them reaches it as a clone, whatever made that MPD and when (down
         * then, below the MPD's top edges, or registered since). Without the list (a URL not
         * taken from an MPD) every ranked edge counts as known: nothing can be cloned right. */
        o = snprintf(reload, sizeof(reload), "%s/v1/steering/%s", ctl->cfg->public_url, vx->id);
        if (q.has_manifest) {
                /* RELOAD-URI keeps the list: the player asks there next, with the same MPD. */
                if (o >= 0 && (size_t)o < sizeof(reload))
                        o += snprintf(reload + o, sizeof(reload) - (size_t)o,
                                      "?" STEERING_MANIFEST_ARG "=");
                for (size_t i = 0; i < q.n_manifest; i++) {
                        ids[n_ids++] = q.manifest[i];
                        if (o >= 0 && (size_t)o < sizeof(reload))
                                o += snprintf(reload + o, sizeof(reload) - (size_t)o, "%s%s",
                                              i ? "," : "", q.manifest[i]);
                }
        } else {
                for (int i = 0; i < n; i++)
                        ids[n_ids++] = edges[rank[i].idx].id;
        }
        r = steering_json_build(edges, n_edges, rank, (size_t)n, ids, n_ids,
                                (unsigned)(ctl->cfg->steering_ttl_ms / 1000), reload, &out, &len);
        if (r < 0) {
                ctl_reply_error(rq, 500, "internal", "cannot build steering response");
                return;
        }
        ctl_reply(rq, 200, "application/json", out, len, nocache);
        free(out);
}

static void view_free(struct view_ctx *vx)
{
        if (vx->have_sess)
                ctl_session_done(&vx->sess);
        ctl_asset_ref_unref(vx->asset);
        json_decref(vx->edges);
        json_write_done(&vx->answer);
        vx->rq->handler_data = NULL;
        free(vx);
}

/* A new session's answer with its MPD (mpd NULL: "manifest" null, the player asks
 * manifest_url, which says why); vx freed. */
static void session_answer(struct view_ctx *vx, const char *mpd, size_t len)
{
        struct ctl_req *rq = vx->rq;
        struct json_write w = vx->answer;

        json_write_init(&vx->answer);
        json_write_lit(&w, ",\"manifest\":");
        if (mpd)
                json_write_str(&w, mpd, len);
        else
                json_write_lit(&w, "null");
        view_free(vx);
        answer_reply(rq, &w);
}

/* A view that cannot be built: the error (a database error when res or err < 0 says so), or
 * for a new session the answer without its MPD (the session itself was made). vx freed. */
static void view_fail_any(struct view_ctx *vx, int err, const struct pgdb_res *res, int status,
                          const char *code, const char *detail)
{
        struct ctl_req *rq = vx->rq;

        if (vx->kind == VIEW_SESSION) {
                session_answer(vx, NULL, 0);
                return;
        }
        view_free(vx);
        if (err < 0)
                ctl_reply_db_error(rq, err, res);
        else
                ctl_reply_error(rq, status, code, detail);
}

static void view_fail(struct view_ctx *vx, int status, const char *code, const char *detail)
{
        view_fail_any(vx, 0, NULL, status, code, detail);
}

static void view_fail_db(struct view_ctx *vx, int err, const struct pgdb_res *res)
{
        view_fail_any(vx, err, res, 0, NULL, NULL);
}

static void view_step(struct view_ctx *vx);

/* A narrow query's JSON result, or NULL after replying with the error (vx freed). */
static json_t *view_result(struct view_ctx *vx, int err, const struct pgdb_res *res)
{
        const char *v;
        json_t *o;

        if (err < 0) {
                view_fail_db(vx, err, res);
                return NULL;
        }
        v = pgdb_res_value(res, 0, 0, NULL);
        o = v ? json_loads(v, 0, NULL) : NULL;
        if (!o)
                view_fail(vx, 404, "not_found", "unknown or expired session");
        return o;
}

static void session_done(void *userdata, int err, const struct pgdb_res *res)
{
        struct view_ctx *vx = userdata;
        struct ctl_req *rq = vx->rq;
        const struct sessid_claims *c = &vx->cl;
        json_t *o = view_result(vx, err, res);
        int r = 0;

        if (!o)
                return;
        /* The claims are the session; the database added what may change under it. */
        r |= json_object_set_new(o, "session", json_string(vx->sid));
        r |= json_object_set_new(o, "title", json_string(c->title));
        r |= json_object_set_new(o, "asset", json_string(c->asset));
        r |= json_object_set_new(o, "country", json_string(c->country));
        r |= json_object_set_new(o, "region", c->region[0] ? json_string(c->region) : json_null());
        r |= json_object_set_new(o, "created", json_integer(c->created));
        r |= json_object_set_new(o, "expires", json_integer(c->expires));
        r |= json_object_set_new(o, "asset_version", json_integer(c->asset_version));
        if (r < 0 || ctl_cache_session_put(rq->ctl->cache, o, uring_loop_now_ms(rq->ctl->loop),
                                           &vx->sess) < 0) {
                json_decref(o);
                view_fail(vx, 500, "internal", "bad session record");
                return;
        }
        json_decref(o);
        vx->have_sess = true;
        view_step(vx);
}

static void asset_done(void *userdata, int err, const struct pgdb_res *res)
{
        struct view_ctx *vx = userdata;
        struct ctl_req *rq = vx->rq;
        struct asset *a = NULL;
        char aerr[160];
        json_t *o = view_result(vx, err, res);

        if (!o)
                return;
        if (json_integer_value(json_object_get(o, "version")) != vx->sess.asset_version) {
                /* Re-registered since the session's claims were read: the session is over,
                 * and the new asset must not be cached under its old version. */
                json_decref(o);
                view_fail(vx, 404, "not_found", "unknown or expired session");
                return;
        }
        if (asset_json_load(json_object_get(o, "manifest"), &a, aerr, sizeof(aerr)) < 0) {
                log_error("session %s: stored asset does not load: %s", vx->sid, aerr);
                json_decref(o);
                view_fail(vx, 500, "internal", "stored asset is unusable");
                return;
        }
        /* Stored under the version the session named: that is what later lookups ask for. */
        vx->asset = ctl_cache_asset_put(rq->ctl->cache, vx->sess.asset, vx->sess.asset_version,
                                        a, uring_loop_now_ms(rq->ctl->loop));
        json_decref(o);
        if (!vx->asset) {
                view_fail(vx, 500, "internal", "out of memory");
                return;
        }
        view_step(vx);
}

static void edges_done(void *userdata, int err, const struct pgdb_res *res)
{
        struct view_ctx *vx = userdata;

        if (err < 0) {
                view_fail_db(vx, err, res);
                return;
        }
        vx->edges = api_edges_result(vx->rq->ctl, res);
        if (!vx->edges) {
                view_fail(vx, 500, "internal", "bad edge set");
                return;
        }
        view_step(vx);
}

static void view_query(struct view_ctx *vx, int stmt, const char *const *params, int n,
                       pgdb_done_fn fn)
{
        struct ctl_req *rq = vx->rq;
        int r = pgdb_exec(rq->ctl->db, stmt, params, n, fn, vx);

        if (r < 0)
                view_fail_db(vx, r, NULL);
}

static void view_step(struct view_ctx *vx)
{
        struct ctl_req *rq = vx->rq;
        struct ctl *ctl = rq->ctl;
        uint64_t now_ms = uring_loop_now_ms(ctl->loop);
        double wall = wall_now();
        char token[TOKEN_MAX + 1];

        if (!vx->have_sess) {
                if (!ctl_cache_session_get(ctl->cache, vx->sid, now_ms, wall, &vx->sess)) {
                        char ver[24];
                        if (wall >= (double)vx->cl.expires) {
                                view_fail(vx, 404, "not_found", "unknown or expired session");
                                return;
                        }
                        snprintf(ver, sizeof(ver), "%" PRId64, vx->cl.asset_version);
                        const char *p[] = {vx->sid, vx->cl.title, vx->cl.asset, ver,
                                           vx->cl.country};
                        view_query(vx, ctl->st.session_claims, p, 5, session_done);
                        return;
                }
                vx->have_sess = true;
        }
        if (wall >= (double)vx->sess.expires) {
                view_fail(vx, 404, "not_found", "unknown or expired session");
                return;
        }
        /* Steering too: a player whose licence ended is not told where to fetch from. */
        if (!vx->sess.licensed) {
                view_fail(vx, 451, "unavailable_for_legal_reasons",
                          "title no longer licensed in the session's country");
                return;
        }
        if (vx->kind != VIEW_STEERING) {
                if (!vx->asset)
                        vx->asset = ctl_cache_asset_get(ctl->cache, vx->sess.asset,
                                                        vx->sess.asset_version, now_ms);
                if (!vx->asset) {
                        const char *p[] = {vx->sess.asset};
                        view_query(vx, ctl->st.asset_get, p, 1, asset_done);
                        return;
                }
        }
        if (!vx->edges)
                vx->edges = ctl_cache_edges_get(ctl->cache, now_ms);
        if (!vx->edges) {
                int r = api_edges_query(ctl, edges_done, vx);
                if (r < 0)
                        view_fail_db(vx, r, NULL);
                return;
        }
        if (vx->kind == VIEW_SESSION) {
                const struct asset *asset = ctl_asset_ref_asset(vx->asset);
                char *out = NULL;
                size_t len = 0;

                if (session_token(ctl, asset->title, (int64_t)wall, &vx->sess, token,
                                  sizeof(token)) < 0 ||
                    build_mpd(vx, vx->edges, asset, (int64_t)wall, token, &out, &len) < 0) {
                        free(out);
                        out = NULL;
                }
                session_answer(vx, out, len);
                free(out);
                return;
        }
        if (vx->kind == VIEW_STEERING) {
                reply_steering(vx, vx->edges, (int64_t)wall);
        } else {
                const struct asset *asset = ctl_asset_ref_asset(vx->asset);
                if (session_token(ctl, asset->title, (int64_t)wall, &vx->sess, token,
                                  sizeof(token)) < 0)
                        ctl_reply_error(rq, 503, "unavailable", "no signing key");
                else if (vx->kind == VIEW_MPD)
                        reply_mpd(vx, vx->edges, asset, (int64_t)wall, token);
                else
                        reply_hls(vx, vx->edges, asset, (int64_t)wall, token);
        }
        /* The reply may already have started the connection's next request, which reuses
         * rq: release vx without touching rq. */
        if (vx->have_sess)
                ctl_session_done(&vx->sess);
        ctl_asset_ref_unref(vx->asset);
        json_decref(vx->edges);
        free(vx);
}

static void view_start(struct ctl_req *rq, enum view_kind kind, const char *id,
                       const struct sessid_claims *cl, const char *media_id)
{
        struct view_ctx *vx = calloc(1, sizeof(*vx));

        if (!vx) {
                ctl_reply_error(rq, 500, "internal", "out of memory");
                return;
        }
        vx->rq = rq;
        vx->kind = kind;
        vx->cl = *cl;
        memcpy(vx->sid, cl->nonce, sizeof(vx->sid));
        snprintf(vx->id, sizeof(vx->id), "%s", id);
        if (media_id)
                snprintf(vx->media_id, sizeof(vx->media_id), "%s", media_id);
        rq->handler_data = vx;
        view_step(vx);
}

/* POST /v1/playback with "inline_manifest": the new session's answer (its members so far)
 * waits for its MPD. sess (the session just made) and answer are taken over. */
static void session_with_manifest(struct ctl_req *rq, const char *id, struct ctl_session *sess,
                                  struct json_write *answer)
{
        struct view_ctx *vx = calloc(1, sizeof(*vx));

        if (!vx) { /* the player asks manifest_url instead */
                ctl_session_done(sess);
                json_write_lit(answer, ",\"manifest\":null");
                answer_reply(rq, answer);
                return;
        }
        vx->rq = rq;
        vx->kind = VIEW_SESSION;
        vx->answer = *answer;
        json_write_init(answer);
        vx->sess = *sess;
        vx->have_sess = true;
        memcpy(vx->sid, sess->sid, sizeof(vx->sid));
        snprintf(vx->id, sizeof(vx->id), "%s", id);
        rq->handler_data = vx;
        view_step(vx);
}

void api_manifest_mpd(struct ctl_req *rq)
{
        struct sessid_claims cl;
        char id[SESSID_MAX + 1];

        if (api_session_from(rq->ctl, rq->arg[0], ".mpd", &cl, id))
                view_start(rq, VIEW_MPD, id, &cl, NULL);
        else if (api_session_from(rq->ctl, rq->arg[0], ".m3u8", &cl, id))
                view_start(rq, VIEW_M3U8, id, &cl, NULL);
        else
                ctl_reply_error(rq, 404, "not_found", "unknown or expired session");
}

void api_manifest_m3u8(struct ctl_req *rq)
{
        api_manifest_mpd(rq);
}

void api_manifest_media(struct ctl_req *rq)
{
        struct sessid_claims cl;
        char id[SESSID_MAX + 1], media[ID_MAX + 1];
        size_t n = strlen(rq->arg[1]);

        if (n <= 5 || n - 5 > ID_MAX || strcmp(rq->arg[1] + n - 5, ".m3u8") ||
            !api_session_from(rq->ctl, rq->arg[0], NULL, &cl, id)) {
                ctl_reply_error(rq, 404, "not_found", "unknown playlist");
                return;
        }
        memcpy(media, rq->arg[1], n - 5);
        media[n - 5] = '\0';
        view_start(rq, VIEW_MEDIA, id, &cl, media);
}

void api_steering(struct ctl_req *rq)
{
        struct sessid_claims cl;
        char id[SESSID_MAX + 1];

        if (!api_session_from(rq->ctl, rq->arg[0], NULL, &cl, id)) {
                ctl_reply_error(rq, 404, "not_found", "unknown or expired session");
                return;
        }
        view_start(rq, VIEW_STEERING, id, &cl, NULL);
}
