/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "hex.h"
#include "mono-time.h"
#include "token.h"

#include "fetch.h"
#include "survey.h"
#include "verify.h"

struct hashing {
        EVP_MD_CTX *md;
        uint64_t n;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
        struct hashing *h = ud;
        (void)EVP_DigestUpdate(h->md, data, size * nmemb);
        h->n += size * nmemb;
        return size * nmemb;
}

/* GET url and hash the body. Returns 0 with hex and length, or -EIO (err set). */
static int hash_url(const char *url, long timeout_ms, char hex[65], uint64_t *ret_len,
                    long *ret_status, char *err, size_t errlen)
{
        struct hashing h = {.md = EVP_MD_CTX_new()};
        struct fetch_quiet q;
        unsigned char md[32];
        unsigned len = 0;
        CURL *c = curl_easy_init();
        CURLcode cc;
        int r = 0;

        if (!c || !h.md || !EVP_DigestInit_ex(h.md, EVP_sha256(), NULL)) {
                r = -ENOMEM;
                goto out;
        }
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &h);
        /* timeout bounds the fetch's silences, not its length (a large object over a slow
         * link): as for the requests to control. */
        fetch_quiet_arm(c, &q, timeout_ms);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        cc = curl_easy_perform(c);
        if (cc != CURLE_OK) {
                if (cc == CURLE_ABORTED_BY_CALLBACK && q.stalled)
                        fetch_quiet_say(&q, url, h.n, err, errlen);
                else
                        snprintf(err, errlen, "%s: %s", url, curl_easy_strerror(cc));
                r = -EIO;
                goto out;
        }
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, ret_status);
        (void)EVP_DigestFinal_ex(h.md, md, &len);
        (void)hex_encode(md, 32, hex);
        *ret_len = h.n;
out:
        EVP_MD_CTX_free(h.md);
        curl_easy_cleanup(c);
        return r;
}

/*
 * A URL for key on the edge carrying a token signed with keys' signing key, valid for five
 * minutes and scoped to the key's first path segment (the title). Returns a malloc'd URL or
 * NULL.
 */
static char *signed_url(const struct token_keyset *keys, const char *base, const char *key,
                        size_t key_len)
{
        struct token_claims c = {.exp = (int64_t)time(NULL) + 300};
        char jwt[TOKEN_MAX + 1], prefix[TOKEN_MAX + 8];
        size_t seg = 1, w;

        while (seg < key_len && key[seg] != '/')
                seg++;
        w = (size_t)snprintf(c.uc, sizeof(c.uc), "regex:^[a-z]+://[^/]*/");
        for (size_t i = 1; i < seg && w + 3 < sizeof(c.uc); i++) {
                if (!((key[i] >= 'a' && key[i] <= 'z') || (key[i] >= 'A' && key[i] <= 'Z') ||
                      (key[i] >= '0' && key[i] <= '9') || key[i] == '-' || key[i] == '_'))
                        c.uc[w++] = '\\';
                c.uc[w++] = key[i];
        }
        if (w + 2 >= sizeof(c.uc))
                return NULL;
        c.uc[w++] = '/';
        c.uc[w] = '\0';
        if (token_sign(&keys->keys[keys->sign_idx], &c, jwt, sizeof(jwt)) < 0)
                return NULL;
        snprintf(prefix, sizeof(prefix), "/s/%s", jwt);
        return fetch_url_join(base, prefix, key, key_len);
}

static void line(const struct fill_opts *o, struct progress *prog, const char *edge,
                 const char *key, const char *result, const char *detail)
{
        progress_clear(prog); /* a bar on the same terminal */
        if (o->json) {
                json_t *x = json_pack("{s:s,s:s,s:s}", "edge", edge, "key", key, "result", result);
                if (x && detail)
                        json_object_set_new(x, "detail", json_string(detail));
                char *t = x ? json_dumps(x, JSON_COMPACT) : NULL;
                if (t)
                        printf("%s\n", t);
                free(t);
                json_decref(x);
        } else {
                printf("  %-9s %s%s%s\n", result, key, detail ? "  " : "", detail ? detail : "");
        }
}

int verify_cmd(const struct fill_opts *o)
{
        int rc = FILL_EXIT_OK;
        unsigned seed = (unsigned)time(NULL);
        struct token_keyset *keys = NULL;

        if (o->cfg.token_keys_file) {
                char err[256];
                keys = calloc(1, sizeof(*keys));
                if (!keys)
                        return FILL_EXIT_ERROR;
                int r = token_keyset_load(o->cfg.token_keys_file, TOKEN_SECRET_MIN, keys, err,
                                          sizeof(err));
                if (r < 0 || keys->n == 0) {
                        /* The loader's reason (it names the file) when it failed; "no key"
                         * for a file without. */
                        if (r < 0)
                                fprintf(stderr, "sluice-fill: %s\n", err);
                        else
                                fprintf(stderr, "sluice-fill: %s: no key\n",
                                        o->cfg.token_keys_file);
                        token_keyset_free(keys);
                        return FILL_EXIT_USAGE;
                }
        }

        for (size_t i = 0; i < o->n_edges; i++) {
                const struct fill_edge_cfg *e = &o->edges[i];
                const struct plan_obj **cand = NULL;
                size_t nc = 0, want;
                uint64_t ok = 0, bad = 0, errs = 0;
                struct progress_edge pe;
                struct progress prog = {0};
                struct survey s;

                if (!e->url) {
                        fprintf(stderr,
                                "sluice-fill: edge %s: verify needs the edge's client URL "
                                "(--edge-url or edges[].url)\n",
                                e->id);
                        rc = fill_exit_worse(rc, FILL_EXIT_USAGE);
                        continue;
                }
                if (survey_load(&s, o, e, true, NULL) < 0) {
                        fprintf(stderr, "sluice-fill: %s\n", s.err);
                        rc = fill_exit_worse(rc, s.rc == FILL_EXIT_USAGE ? s.rc : FILL_EXIT_ERROR);
                        survey_done(&s);
                        continue;
                }
                cand = calloc(s.plan.n + 1, sizeof(*cand));
                if (!cand) {
                        survey_done(&s);
                        token_keyset_free(keys);
                        return FILL_EXIT_ERROR;
                }
                for (size_t k = 0; k < s.plan.n; k++)
                        if (holdings_find(&s.held, s.plan.objs[k].key, s.plan.objs[k].key_len))
                                cand[nc++] = &s.plan.objs[k];
                want = o->all ? nc : (o->sample < nc ? (size_t)o->sample : nc);
                /* A uniform sample: the first `want` of a partial Fisher-Yates shuffle. */
                for (size_t k = 0; k < want && !o->all; k++) {
                        size_t j = k + (size_t)(rand_r(&seed) % (unsigned)(nc - k));
                        const struct plan_obj *t = cand[k];
                        cand[k] = cand[j];
                        cand[j] = t;
                }
                if (!o->json)
                        printf("edge %s: verifying %zu of %zu held planned objects%s\n", e->id,
                               want, nc, o->dry_run ? " (dry run: listing only)" : "");
                fflush(stdout);
                /* As run's: objects and bytes checked, the rate and an ETA; a bar on a terminal,
                 * JSON lines only among --json output. "refused" counts mismatches,
                 * "failed" the objects that could not be fetched. */
                pe = (struct progress_edge){.id = e->id, .objects_total = want};
                for (size_t k = 0; k < want; k++)
                        pe.bytes_total += cand[k]->size;
                progress_init(&prog,
                              o->dry_run                    ? PROGRESS_NONE
                              : o->progress == PROGRESS_BAR ? PROGRESS_BAR
                              : o->json                     ? o->progress
                                                            : PROGRESS_NONE,
                              o->progress_interval_ms, &pe, 1, mono_ns());
                for (size_t k = 0; k < want; k++) {
                        const struct plan_obj *p = cand[k];
                        char hex[65], err[300], detail[200];
                        uint64_t len = 0;
                        long status = 0;
                        char *url;

                        if (o->dry_run) {
                                line(o, &prog, e->id, p->key, "would-fetch", NULL);
                                continue;
                        }
                        url = keys ? signed_url(keys, e->url, p->key, p->key_len)
                                   : fetch_url_join(e->url, "", p->key, p->key_len);
                        if (!url || hash_url(url, (long)o->cfg.timeout_ms, hex, &len, &status, err,
                                             sizeof(err)) < 0) {
                                line(o, &prog, e->id, p->key, "error", url ? err : "out of memory");
                                errs++;
                        } else if (status != 200) {
                                snprintf(detail, sizeof(detail), "edge answered %ld", status);
                                line(o, &prog, e->id, p->key, "error", detail);
                                errs++;
                        } else if (len != p->size || memcmp(hex, p->sha256, 64) != 0) {
                                snprintf(detail, sizeof(detail),
                                         "%llu bytes hashing to %.16s…, plan: %llu, %.16s…",
                                         (unsigned long long)len, hex, (unsigned long long)p->size,
                                         p->sha256);
                                line(o, &prog, e->id, p->key, "mismatch", detail);
                                bad++;
                        } else {
                                if (o->verbose)
                                        line(o, &prog, e->id, p->key, "ok", NULL);
                                ok++;
                                pe.bytes_done += p->size;
                        }
                        free(url);
                        pe.objects_done++;
                        pe.bytes_moved += len;
                        pe.refused = bad;
                        pe.failed = errs;
                        progress_tick(&prog, mono_ns(), false);
                }
                if (!o->dry_run)
                        progress_finish(&prog, mono_ns());
                if (o->json) {
                        json_t *x = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "edge", e->id, "event",
                                              "summary", "checked", (json_int_t)(ok + bad + errs),
                                              "ok", (json_int_t)ok, "mismatch", (json_int_t)bad,
                                              "error", (json_int_t)errs);
                        char *t = x ? json_dumps(x, JSON_COMPACT) : NULL;
                        if (t)
                                printf("%s\n", t);
                        free(t);
                        json_decref(x);
                } else if (!o->dry_run) {
                        printf("  %llu ok, %llu mismatched, %llu not fetched\n",
                               (unsigned long long)ok, (unsigned long long)bad,
                               (unsigned long long)errs);
                }
                /* An edge's mismatches are its finding even when some fetches failed; across
                 * edges the worst status stands (an earlier edge's error is not lowered). */
                rc = fill_exit_worse(rc, bad    ? FILL_EXIT_PARTIAL
                                         : errs ? FILL_EXIT_ERROR
                                                : FILL_EXIT_OK);
                free(cand);
                survey_done(&s);
        }
        token_keyset_free(keys);
        return rc;
}
