/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "hex.h"
#include "log.h"
#include "metrics.h"
#include "req-sign.h"

#include "edge-cfg.h"
#include "heartbeat.h"
#include "plan-sums.h"
#include "runtime.h"
#include "store.h"
#include "worker.h"

#define TITLES_MAX      100000 /* control refuses longer lists */
/* The titles' share of a heartbeat's body: control refuses bodies over its max_body (1 MiB by
 * default) before reading them, so the list stops short of it. */
#define TITLES_BYTES_MAX (896u * 1024u)
#define REQUEST_TIMEOUT 3000L  /* ms; well under the shortest period */
#define FAREWELL_TIMEOUT 1000L /* ms: the last beat, which holds the edge's exit up */

struct heartbeat {
        struct edge_server *srv;
        pthread_t thread;
        pthread_t plan_thread; /* the fill plan's fetches: slow ones never hold a beat back */
        bool plan_started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        atomic_bool stop; /* written under lock; also read by curl's progress callback */
        bool farewell;    /* the last beat, sent as the edge stops: not aborted by stop */
        bool last_ok;
        long last_status;
        int64_t plan_ms; /* monotonic ms of the last good plan fetch; 0: none yet */
        bool plan_ok;
        int plan_err; /* the last fetch's error (-errno), 0 after a good one */
        int plan_sums;
        int64_t plan_retry_ms; /* monotonic ms before which a failed fetch is not retried */
        int64_t plan_backoff_ms; /* the wait after the last failure: doubles, up to the period */
        /* Control's heartbeat period from its last answer (ms; 0: not told): control drops an
         * edge after two of its periods, so the edge never beats more slowly than that. */
        int64_t control_ms;
        int64_t warned_ms; /* the configured period last warned about */
};

/* A heartbeat's answer, kept up to a small bound (control answers a few bytes). */
struct answer {
        char buf[HEARTBEAT_ANSWER_MAX + 1];
        size_t len;
        bool over;
};

struct titles {
        json_t *list;
        char last[STORE_KEY_MAX + 1];
        size_t last_len;
        size_t bytes; /* the list's JSON so far */
        size_t bytes_max;
        bool cut;     /* titles left out for TITLES_MAX or TITLES_BYTES_MAX */
};

/* Keys are "/<title>/<representation>/<file>" and list in key order: one title per run. */
static int add_title(const struct store_entry_info *info, void *userdata)
{
        struct titles *t = userdata;
        const char *k = info->key + 1, *end = info->key + info->key_len;
        const char *slash = memchr(k, '/', (size_t)(end - k));
        size_t len = slash ? (size_t)(slash - k) : (size_t)(end - k);

        if (len == 0 || len > STORE_KEY_MAX || (len == t->last_len && !memcmp(t->last, k, len)))
                return 0;
        memcpy(t->last, k, len);
        t->last_len = len;
        /* A name that cannot be a control id names nothing control knows (and one that is not
         * UTF-8 would make json_stringn() refuse the whole heartbeat). Ids need no escaping:
         * each costs its length, two quotes and a comma. */
        if (!edge_cfg_control_id_ok(k, len))
                return 0;
        if (json_array_size(t->list) >= TITLES_MAX || t->bytes + len + 3 > t->bytes_max) {
                t->cut = true;
                return 1;
        }
        t->bytes += len + 3;
        return json_array_append_new(t->list, json_stringn(k, len)) < 0 ? -ENOMEM : 0;
}

static void digest_titles(json_t *list, char out[33])
{
        unsigned char md[32];
        unsigned int md_len = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        size_t i;
        json_t *v;

        out[0] = '\0';
        if (!ctx)
                return;
        if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
                json_array_foreach(list, i, v) {
                        (void)EVP_DigestUpdate(ctx, json_string_value(v), json_string_length(v));
                        (void)EVP_DigestUpdate(ctx, "\n", 1);
                }
                if (EVP_DigestFinal_ex(ctx, md, &md_len) == 1)
                        (void)hex_encode(md, 16, out);
        }
        EVP_MD_CTX_free(ctx);
}

char *heartbeat_body(struct edge_server *srv)
{
        return heartbeat_body_within(srv, TITLES_BYTES_MAX);
}

char *heartbeat_body_within(struct edge_server *srv, size_t titles_bytes)
{
        const struct edge_runtime *rt = edge_runtime_get(srv);
        const struct edge_cfg *cfg = rt->cfg;
        struct titles t = {.list = json_array(), .bytes_max = titles_bytes};
        struct store_stats st;
        char digest[33];
        char *out = NULL;
        json_t *o = NULL;

        if (!t.list)
                goto out;
        if (store_list(srv->store, "/", 1, add_title, &t) < 0)
                goto out;
        if (t.cut && !atomic_exchange(&srv->titles_cut_said, true))
                log_warn("more titles held than one heartbeat carries (%zu listed, "
                         "%zu bytes): the rest go unreported to control",
                         json_array_size(t.list), t.bytes);
        digest_titles(t.list, digest);
        store_get_stats(srv->store, &st);
        double max_conns = cfg->limits.max_connections > 0 ? (double)cfg->limits.max_connections : 1;
        double load = (double)atomic_load(&srv->conns_open) / max_conns;
        o = json_pack("{s:f, s:I, s:I, s:I, s:I, s:s, s:O}", "load", load > 1 ? 1.0 : load,
                      "bytes_served", (json_int_t)metrics_value(srv->m.bytes_sent), "disk_used",
                      (json_int_t)st.bytes, "disk_total", (json_int_t)st.max_bytes, "objects",
                      (json_int_t)st.objects, "digest", digest, "titles", t.list);
        /* The last beat, as the edge stops: control stops sending players here at once. */
        if (o && atomic_load(&srv->draining) && json_object_set_new(o, "draining", json_true())) {
                json_decref(o);
                o = NULL;
        }
        if (o)
                out = json_dumps(o, JSON_COMPACT);
out:
        json_decref(o);
        json_decref(t.list);
        edge_runtime_put(rt);
        return out;
}

static size_t keep_answer(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct answer *a = userdata;
        size_t n = size * nmemb;

        if (n > sizeof(a->buf) - 1 - a->len) {
                a->over = true; /* not an answer this edge reads: ignored whole */
                return n;
        }
        memcpy(a->buf + a->len, ptr, n);
        a->len += n;
        return n;
}

/* Control's period from an accepted heartbeat's answer ({"heartbeat_period_s": n}). */
static void note_control_period(struct heartbeat *hb, const struct answer *a, int64_t own_ms)
{
        int64_t ms = a->over ? 0 : heartbeat_answer_period_ms(a->buf, a->len);

        if (ms <= 0)
                return;
        hb->control_ms = ms;
        if (own_ms > ms && hb->warned_ms != own_ms) {
                log_warn("control drops an edge after two of its %.1f s periods, but "
                         "control.heartbeat is %.1f s: beating every %.1f s",
                         (double)ms / 1000.0, (double)own_ms / 1000.0, (double)ms / 1000.0);
                hb->warned_ms = own_ms;
        }
}

int heartbeat_req_sign(const struct edge_runtime *rt, const char *method, const char *target,
                       const char *body, size_t body_len, struct curl_slist **hdrs)
{
        char lines[2][REQ_SIGN_LINE_MAX];
        struct curl_slist *l;
        int r;

        if (rt->heartbeat_secret_len == 0)
                return -ENOKEY;
        r = req_sign_headers(rt->heartbeat_secret, rt->heartbeat_secret_len, method, target, body,
                             body_len, lines[0], lines[1]);
        if (r < 0)
                return r;
        for (int i = 0; i < 2; i++) {
                l = curl_slist_append(*hdrs, lines[i]);
                if (!l)
                        return -ENOMEM;
                *hdrs = l;
        }
        return 0;
}

/* curl's progress callback: a transfer under way (a beat, a plan fetch of minutes) gives up
 * as soon as the edge stops, rather than holding its shutdown. */
static int stop_transfer(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                         curl_off_t ulnow)
{
        struct heartbeat *hb = userdata;

        (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
        return atomic_load(&hb->stop) && !hb->farewell ? 1 : 0;
}

/* The handle reset for the next transfer, which gives up once the edge stops. */
static void curl_fresh(struct heartbeat *hb, CURL *curl)
{
        curl_easy_reset(curl);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, stop_transfer);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, hb);
}

/* What came of a heartbeat, for sluice_edge_heartbeats_total. */
static enum edge_heartbeat_result beat_result(bool ok, long status)
{
        if (ok)
                return EDGE_HEARTBEAT_OK;
        if (status == 401)
                return EDGE_HEARTBEAT_REFUSED;
        return status == 404 ? EDGE_HEARTBEAT_UNKNOWN : EDGE_HEARTBEAT_FAILED;
}

static void beat_under(struct heartbeat *hb, CURL *curl, const struct edge_runtime *rt)
{
        const struct edge_cfg *cfg = rt->cfg;
        char url[1024], path[256];
        struct answer answer = {.len = 0};
        long status = 0;
        char *body;

        if (!cfg->control.url || !cfg->control.edge_id || rt->heartbeat_secret_len == 0)
                return;
        int n = snprintf(path, sizeof(path), "/v1/edges/%s/heartbeat", cfg->control.edge_id);
        if (n < 0 || (size_t)n >= sizeof(path) ||
            edge_cfg_control_url(cfg, path, url, sizeof(url)) < 0)
                return;
        body = heartbeat_body(hb->srv);
        if (!body)
                return;
        struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
        if (!hdrs || heartbeat_req_sign(rt, "POST", path, body, strlen(body), &hdrs) < 0) {
                /* Out of memory or a secret the start-up check let through: nothing to send. */
                if (hb->last_ok)
                        log_warn("cannot sign (%s), retrying", cfg->control.edge_id);
                metrics_add(hb->srv->m.heartbeats[EDGE_HEARTBEAT_FAILED], 1);
                hb->last_ok = false;
                curl_slist_free_all(hdrs);
                free(body);
                return;
        }
        curl_fresh(hb, curl);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, hb->farewell ? FAREWELL_TIMEOUT : REQUEST_TIMEOUT);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_PROXY, "");
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_answer);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
        CURLcode rc = curl_easy_perform(curl);
        if (rc == CURLE_OK)
                (void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        bool ok = rc == CURLE_OK && status >= 200 && status < 300;
        if (ok)
                note_control_period(hb, &answer, cfg->control.heartbeat_ms);
        metrics_add(hb->srv->m.heartbeats[beat_result(ok, status)], 1);
        /* Log changes of state, not every beat: a control outage must not flood the log. */
        if (ok && !hb->last_ok)
                log_info("control at %s accepts this edge (%s)", cfg->control.url,
                         cfg->control.edge_id);
        else if (!ok && hb->last_ok && rc != CURLE_OK)
                log_warn("heartbeat to %s failed: %s, still serving, retrying", url,
                         curl_easy_strerror(rc));
        else if (!ok && hb->last_ok)
                log_warn("heartbeat to %s failed: control answered %ld, still serving, retrying",
                         url, status);
        /* 404: control knows no edge of this id; 401: the secret (or this clock) is not what
         * control expects. Each worth saying once, with what to do. */
        if (!ok && status == 404 && hb->last_status != 404)
                log_warn("control knows no edge %s (404): register it (POST "
                         "/v1/admin/edges, or tools/demo's registration) or fix "
                         "control.edge_id, retrying",
                         cfg->control.edge_id);
        else if (!ok && status == 401 && hb->last_status != 401)
                log_warn("control refused the signature of %s (401): check "
                         "control.secret_file against the edge's registration and this "
                         "clock, retrying",
                         cfg->control.edge_id);
        else if (!ok && status)
                log_debug("control answered %ld", status);
        hb->last_status = status;
        hb->last_ok = ok;
        curl_slist_free_all(hdrs);
        free(body);
}

static void beat(struct heartbeat *hb, CURL *curl)
{
        const struct edge_runtime *rt = edge_runtime_get(hb->srv); /* a reload may come meanwhile */

        beat_under(hb, curl, rt);
        edge_runtime_put(rt);
}

/* One value of the configuration in force, read on a thread holding no snapshot. */
static int64_t cfg_now_ms(struct heartbeat *hb, bool plan)
{
        const struct edge_runtime *rt = edge_runtime_get(hb->srv);
        int64_t v = plan ? rt->cfg->control.plan_period_ms : rt->cfg->control.heartbeat_ms;

        edge_runtime_put(rt);
        return v;
}

/* Why the configuration in force fetches no fill plan, or NULL when it fetches one every
 * period: a reload may take the period, control.url or the secret away. */
static const char *plan_off_why(struct heartbeat *hb)
{
        const struct edge_runtime *rt = edge_runtime_get(hb->srv);
        const struct edge_cfg_control *c = &rt->cfg->control;
        const char *why = c->plan_period_ms <= 0 ? "control.plan_period 0"
                          : !c->url || !c->edge_id ? "no control.url"
                          : rt->heartbeat_secret_len == 0 ? "no control.secret_file"
                                                          : NULL;

        edge_runtime_put(rt);
        return why;
}

/* Why a fetch of the fill plan failed (plan_sums_refresh()'s -errno), for the log, with what
 * libcurl said (curl_why) or the status control answered. */
static void plan_err_str(int n, const char *curl_why, long status, char *out, size_t cap)
{
        switch (n) {
        case -EIO:
                snprintf(out, cap, "no answer (%s)",
                         curl_why[0] ? curl_why : "unreachable, timed out, or over 64 MiB");
                break;
        case -EPROTO:
                snprintf(out, cap, "an answer other than 200 (%ld)", status);
                break;
        case -EINVAL:
                snprintf(out, cap, "not a fill plan (malformed, or over 100000 objects)");
                break;
        default:
                snprintf(out, cap, "%s", strerror(-n));
        }
}

/* The fill plan's sums, when control.plan_period has passed since the last good fetch (a
 * failed one is retried after 1 s, then 2, 4, ... up to the period). */
static void refresh_plan(struct heartbeat *hb, CURL *curl)
{
        int64_t period = cfg_now_ms(hb, true);
        const char *off = plan_off_why(hb);
        struct timespec now;
        int64_t now_ms;
        int n;

        clock_gettime(CLOCK_MONOTONIC, &now);
        now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        if (off) {
                /* Turned off by a reload (the period, control.url or the secret taken away):
                 * fills go back to being checked by length, not against the sums of a plan
                 * that is no longer fetched. */
                if (hb->plan_ok || hb->plan_sums) {
                        plan_sums_install(hb->srv, NULL);
                        metrics_gauge_set(hb->srv->m.plan_sums, 0);
                        log_info("fill plan: off (%s), its sums dropped", off);
                }
                hb->plan_ok = false;
                hb->plan_sums = 0;
                hb->plan_ms = 0;
                hb->plan_err = 0;
                hb->plan_backoff_ms = 0;
                hb->plan_retry_ms = 0;
                return;
        }
        if ((hb->plan_ms && now_ms - hb->plan_ms < period) || now_ms < hb->plan_retry_ms)
                return;
        char curl_why[CURL_ERROR_SIZE] = "", why[CURL_ERROR_SIZE + 64];
        long status = 0;

        curl_fresh(hb, curl);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_why);
        n = plan_sums_refresh(hb->srv, curl);
        (void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
        if (n == -ENOKEY)
                return; /* no secret: said once at start-up */
        if (n < 0) {
                hb->plan_backoff_ms = hb->plan_backoff_ms ? hb->plan_backoff_ms * 2 : 1000;
                if (hb->plan_backoff_ms > period)
                        hb->plan_backoff_ms = period;
                clock_gettime(CLOCK_MONOTONIC, &now);
                hb->plan_retry_ms =
                    (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + hb->plan_backoff_ms;
                if (n == -EACCES && hb->plan_err != n) {
                        const struct edge_runtime *rt = edge_runtime_get(hb->srv);
                        log_warn("fill plan: control refused the signature of %s (401): check "
                                 "that it is registered, control.secret_file against its "
                                 "registration and this clock, keeping the last plan, retrying",
                                 rt->cfg->control.edge_id);
                        edge_runtime_put(rt);
                } else if (n != -EACCES && (hb->plan_ok || hb->plan_err != n)) {
                        /* Once per kind of failure, the first fetch's included: an edge that
                         * never got a plan must say why as loudly as one that lost it. */
                        plan_err_str(n, curl_why, status, why, sizeof(why));
                        log_warn("fill plan from control: %s; %s, retrying", why,
                                 hb->plan_sums ? "keeping the last one" : "none yet");
                }
                hb->plan_ok = false;
                hb->plan_err = n;
                return;
        }
        hb->plan_err = 0;
        hb->plan_backoff_ms = 0;
        if (!hb->plan_ok || n != hb->plan_sums)
                log_info("fill plan: SHA-256 of %d object(s) to check fills against", n);
        metrics_gauge_set(hb->srv->m.plan_sums, n);
        hb->plan_ok = true;
        hb->plan_sums = n;
        hb->plan_ms = now_ms;
}

/* Wait ms, or until heartbeat_stop(): whether the thread goes on. */
static bool wait_ms(struct heartbeat *hb, int64_t ms)
{
        struct timespec until;
        bool go;

        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += ms / 1000;
        until.tv_nsec += (ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&hb->lock);
        while (!hb->stop && pthread_cond_timedwait(&hb->cond, &hb->lock, &until) != ETIMEDOUT)
                ;
        go = !hb->stop;
        pthread_mutex_unlock(&hb->lock);
        return go;
}

/* The fill plan's thread: looks every second whether a fetch is due (a reload may change
 * control.plan_period), and fetches on a handle of its own. */
static void *plan_main(void *arg)
{
        struct heartbeat *hb = arg;
        CURL *curl = curl_easy_init();

        metrics_set_worker(0);
        if (!curl) {
                log_error("fill plan: cannot create a curl handle, no plans fetched");
                return NULL;
        }
        do
                refresh_plan(hb, curl);
        while (wait_ms(hb, 1000));
        curl_easy_cleanup(curl);
        return NULL;
}

static void *heartbeat_main(void *arg)
{
        struct heartbeat *hb = arg;
        CURL *curl = curl_easy_init();
        int64_t period;

        metrics_set_worker(0);
        if (!curl) {
                log_error("cannot create a curl handle, heartbeats off");
                return NULL;
        }
        hb->last_ok = true; /* so that a first failure is logged */
        do {
                beat(hb, curl);
                period = cfg_now_ms(hb, false);
                if (hb->control_ms > 0 && hb->control_ms < period)
                        period = hb->control_ms;
        } while (wait_ms(hb, period));
        curl_easy_cleanup(curl);
        return NULL;
}

int heartbeat_start(struct edge_server *srv, struct heartbeat **ret)
{
        /* On the main thread, which alone publishes snapshots: this one stays meanwhile. */
        const struct edge_cfg *cfg = atomic_load(&srv->rt)->cfg;
        pthread_condattr_t ca;
        struct heartbeat *hb;
        int r;

        *ret = NULL;
        if (!cfg->control.url)
                return 0;
        hb = calloc(1, sizeof(*hb));
        if (!hb)
                return -ENOMEM;
        hb->srv = srv;
        (void)pthread_mutex_init(&hb->lock, NULL);
        (void)pthread_condattr_init(&ca);
        (void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        (void)pthread_cond_init(&hb->cond, &ca);
        (void)pthread_condattr_destroy(&ca);
        r = pthread_create(&hb->thread, NULL, heartbeat_main, hb);
        if (r != 0) {
                pthread_cond_destroy(&hb->cond);
                pthread_mutex_destroy(&hb->lock);
                free(hb);
                return -r;
        }
        r = pthread_create(&hb->plan_thread, NULL, plan_main, hb);
        if (r != 0)
                log_error("fill plan: cannot start its thread (%s), no plans fetched",
                          strerror(r));
        hb->plan_started = r == 0;
        *ret = hb;
        return 0;
}

void heartbeat_stop(struct heartbeat *hb)
{
        if (!hb)
                return;
        pthread_mutex_lock(&hb->lock);
        hb->stop = true;
        pthread_cond_broadcast(&hb->cond);
        pthread_mutex_unlock(&hb->lock);
        (void)pthread_join(hb->thread, NULL);
        if (hb->plan_started)
                (void)pthread_join(hb->plan_thread, NULL);
        /* A last beat saying "draining" (the body says so once srv->draining is set), so that
         * control sends no more players to listeners closed already rather than for two of its
         * periods; only when control took the last one, so a control out of reach does not
         * hold the exit up. */
        if (hb->last_ok && atomic_load(&hb->srv->draining)) {
                CURL *curl = curl_easy_init();
                hb->farewell = true;
                if (curl) {
                        beat(hb, curl);
                        curl_easy_cleanup(curl);
                }
                if (hb->last_ok)
                        log_info("control told that this edge is stopping");
        }
        pthread_cond_destroy(&hb->cond);
        pthread_mutex_destroy(&hb->lock);
        free(hb);
}
