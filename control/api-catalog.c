/* SPDX-License-Identifier: MIT */
/*
 * Catalog reads (browse, trending, genres, search, title details), profiles and
 * continue-watching. The SQL functions shape the JSON; these handlers check and bound the
 * parameters and pass the result through.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "body-check.h"
#include "ctl-cfg.h"
#include "ctl.h"
#include "server.h"

#define PAGE_MAX   100
#define OFFSET_MAX 100000
#define QUERY_MAX  200

/* Optional bounded integer parameter; replies 400 and returns -EINVAL when malformed. */
static int int_param(struct ctl_req *rq, const char *name, long def, long min, long max,
                     char *out, size_t cap)
{
        char buf[24];
        long v = def;
        int r = ctl_query_get(rq, name, buf, sizeof(buf));

        if (r >= 0) { /* given, if empty */
                char *end;
                errno = 0;
                v = api_digits(buf) ? strtol(buf, &end, 10) : -1;
                if (errno || v < min || v > max) {
                        char d[96];
                        snprintf(d, sizeof(d), "'%s' must be an integer in %ld..%ld", name, min,
                                 max);
                        ctl_reply_error(rq, 400, "bad_request", d);
                        return -EINVAL;
                }
        } else if (r != -ENOENT) {
                ctl_reply_error(rq, 400, "bad_request", "malformed query parameter");
                return -EINVAL;
        }
        snprintf(out, cap, "%ld", v);
        return 0;
}

void api_browse(struct ctl_req *rq)
{
        char genre[65], cc[3], limit[24], offset[24];
        struct api_profile profile;
        int g = ctl_query_get(rq, "genre", genre, sizeof(genre));
        int p;

        if (g < 0 && g != -ENOENT) {
                ctl_reply_error(rq, 400, "bad_request", "'genre' too long or malformed");
                return;
        }
        p = api_profile_param(rq, &profile);
        if (p < 0 || int_param(rq, "limit", 50, 1, PAGE_MAX, limit, sizeof(limit)) < 0 ||
            int_param(rq, "offset", 0, 0, OFFSET_MAX, offset, sizeof(offset)) < 0)
                return;
        api_client_country(rq, cc);
        const char *params[] = {g > 0 ? genre : NULL, p ? profile.id : NULL, cc, limit, offset,
                                profile.key};
        api_exec_json(rq, rq->ctl->st.browse, params, 6);
}

void api_trending(struct ctl_req *rq)
{
        char cc[3], limit[24], offset[24], halflife[32];
        struct api_profile profile;
        int p = api_profile_param(rq, &profile);

        if (p < 0 || int_param(rq, "limit", 20, 1, PAGE_MAX, limit, sizeof(limit)) < 0 ||
            int_param(rq, "offset", 0, 0, OFFSET_MAX, offset, sizeof(offset)) < 0)
                return;
        api_client_country(rq, cc);
        snprintf(halflife, sizeof(halflife), "%.3f",
                 (double)rq->ctl->cfg->demand.halflife_ms / 1000.0);
        const char *params[] = {p ? profile.id : NULL, cc, limit, halflife, profile.key, offset};
        api_exec_json(rq, rq->ctl->st.trending, params, 6);
}

void api_genres(struct ctl_req *rq)
{
        struct api_profile profile;
        int p = api_profile_param(rq, &profile);

        if (p < 0)
                return;
        const char *params[] = {p ? profile.id : NULL, profile.key};
        api_exec_json(rq, rq->ctl->st.genres, params, 2);
}

void api_search(struct ctl_req *rq)
{
        char q[QUERY_MAX + 1], cc[3], limit[24], offset[24];
        struct api_profile profile;
        int n = ctl_query_get(rq, "q", q, sizeof(q));
        int p;

        if (n == -ENOENT || n == 0) {
                ctl_reply_error(rq, 400, "bad_request", "'q' is required");
                return;
        }
        if (n < 0) {
                ctl_reply_error(rq, 400, "bad_request",
                                n == -E2BIG ? "'q' is too long" : "'q' is malformed");
                return;
        }
        p = api_profile_param(rq, &profile);
        if (p < 0 || int_param(rq, "limit", 20, 1, PAGE_MAX, limit, sizeof(limit)) < 0 ||
            int_param(rq, "offset", 0, 0, OFFSET_MAX, offset, sizeof(offset)) < 0)
                return;
        api_client_country(rq, cc);
        const char *params[] = {q, p ? profile.id : NULL, cc, limit, profile.key, offset};
        api_exec_json(rq, rq->ctl->st.search, params, 6);
}

void api_title(struct ctl_req *rq)
{
        char cc[3];
        struct api_profile profile;
        int p = api_profile_param(rq, &profile);

        if (p < 0)
                return;
        api_client_country(rq, cc);
        const char *params[] = {rq->arg[0], p ? profile.id : NULL, cc, profile.key};
        api_exec_json(rq, rq->ctl->st.title_details, params, 4);
}

void api_profile_create(struct ctl_req *rq)
{
        struct body_profile p;
        json_t *body = NULL;
        char lim[24], key[PROFILE_KEY_BYTES * 2 + 1];

        if (ctl_body_json(rq, 4, &body) < 0)
                return;
        if (body_profile_check(body, &p) < 0) {
                json_decref(body);
                ctl_reply_error(rq, 400, "bad_request",
                                "need \"name\" (1..100 bytes), optional \"kids\" "
                                "(bool) and \"maturity_limit\" (0..4)");
                return;
        }
        /* The key is answered once, here, and only its digest is stored. */
        if (api_random_hex(key, PROFILE_KEY_BYTES) < 0) {
                json_decref(body);
                ctl_reply_error(rq, 500, "internal", "cannot make a profile key");
                return;
        }
        if (p.maturity_limit >= 0)
                snprintf(lim, sizeof(lim), "%d", p.maturity_limit);
        const char *params[] = {p.name, p.kids ? "true" : "false",
                                p.maturity_limit >= 0 ? lim : NULL, key};
        api_exec_json(rq, rq->ctl->st.profile_create, params, 4);
        json_decref(body);
}

void api_continue_watching(struct ctl_req *rq)
{
        char cc[3], limit[24], offset[24];
        struct api_profile profile;
        int p = api_profile_param(rq, &profile);

        if (p < 0)
                return;
        if (p == 0) {
                ctl_reply_error(rq, 400, "bad_request", "'profile' is required");
                return;
        }
        if (int_param(rq, "limit", 20, 1, PAGE_MAX, limit, sizeof(limit)) < 0 ||
            int_param(rq, "offset", 0, 0, OFFSET_MAX, offset, sizeof(offset)) < 0)
                return;
        api_client_country(rq, cc);
        /* Pages with $4, the offset (043_continue_watching_finished.sql); each item says
         * whether it is licensed in $5, the client's country (050_continue_available.sql). */
        const char *params[] = {profile.id, limit, profile.key, offset, cc};
        api_exec_json(rq, rq->ctl->st.continue_watching, params, 5);
}
