/* SPDX-License-Identifier: MIT */
/*
 * sluice-control request parsers (control/req-parse.c): query parameters, JSON body nesting
 * (then jansson on what passes, as the handlers do) and X-Forwarded-For; the checks of the
 * playback, report, heartbeat, profile, admin edge, licences and key rotation bodies
 * (control/body-check.c) on whatever jansson makes of the input; and the steering query
 * (control/steering.c). The first byte picks the parser (modulo 5); the rest is its input.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "body-check.h"
#include "json-depth.h"
#include "req-parse.h"
#include "req-sign.h"
#include "steering.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant, checked in every build (assert() vanishes under NDEBUG). */
#define need(c) need_at((c), #c)

static void need_at(bool ok, const char *what)
{
        if (!ok) {
                fprintf(stderr, "ctl-req invariant violated: %s\n", what);
                abort();
        }
}

static bool trusted_127(const char *addr, void *ud)
{
        (void)ud;
        return !strncmp(addr, "127.", 4);
}

static void str_ok(const char *s, size_t max, bool required)
{
        need(s || !required);
        if (s)
                need(strlen(s) >= 1 && strlen(s) <= max);
}

/* An id steering keeps: [A-Za-z0-9._-]+, shorter than cap. */
static bool steering_id(const char *s, size_t cap)
{
        size_t n = strnlen(s, cap);

        if (n == 0 || n >= cap)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
                        return false;
        return true;
}

static void check_steering(const char *in, size_t len)
{
        struct steering_query q;
        int r = steering_query_parse(in, len, &q);

        need(r == 0 || (r == -EINVAL && len > 8192));
        need(q.n <= STEERING_PATHWAYS_MAX && q.n_manifest <= STEERING_MANIFEST_MAX);
        need(r == 0 || (q.n == 0 && !q.has_manifest));
        need(q.current >= -1 && q.current < (int)q.n);
        if (q.current >= 0)
                need(q.pathway[q.current][0] != '\0');
        for (size_t i = 0; i < q.n; i++)
                need(!q.pathway[i][0] || steering_id(q.pathway[i], STEERING_ID_MAX));
        for (size_t i = 0; i < STEERING_PATHWAYS_MAX; i++)
                need(q.throughput[i] >= -1);
        need(q.has_manifest || q.n_manifest == 0);
        for (size_t i = 0; i < q.n_manifest; i++) {
                need(steering_id(q.manifest[i], STEERING_MANIFEST_ID_MAX));
                for (size_t k = 0; k < i; k++)
                        need(strcmp(q.manifest[i], q.manifest[k]) != 0);
        }
}

static bool tz_form(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > BODY_TZ_MAX ||
            !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
                return false;
        return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+/-") == n;
}

/* A licence time that passed: absent, null, or a date-time that ends in its offset. */
static void time_ok(json_t *t)
{
        const char *s = json_string_value(t);
        size_t n = json_string_length(t);

        if (!t || json_is_null(t))
                return;
        need(s && strlen(s) == n && n >= 20 && (s[10] == 'T' || s[10] == 't'));
        need(strspn(s, "0123456789-:.TtZz+") == n);
        need(s[n - 1] == 'Z' || s[n - 1] == 'z' ||
             ((s[n - 6] == '+' || s[n - 6] == '-') && s[n - 3] == ':'));
}

/* What a handler acts on after a check passes is within the check's promises. */
static void check_bodies(const char *in, size_t len)
{
        struct body_playback p;
        struct body_report r;
        struct body_edge e;
        struct body_profile pr;
        struct body_rotate rot;
        json_t *v, *lic, *w;
        char detail[200];
        size_t i;

        if (json_depth(in, len, 8) > 8)
                return;
        v = json_loadb(in, len, JSON_REJECT_DUPLICATES, NULL);
        if (!v)
                return;
        if (body_playback_check(v, &p) == 0) {
                str_ok(p.title, BODY_ID_MAX, true);
                str_ok(p.episode, BODY_ID_MAX, false);
                str_ok(p.new_profile, BODY_PROFILE_NAME_MAX, false);
                str_ok(p.profile_key, BODY_PROFILE_KEY_MAX, false);
                need(p.profile >= 0 && !(p.profile && p.new_profile));
                need(!p.profile_key || p.profile);
        }
        if (body_report_check(v, &r) == 0) {
                str_ok(r.session, BODY_SESSION_MAX, true);
                str_ok(r.quality, BODY_QUALITY_MAX, false);
                str_ok(r.device, BODY_DEVICE_MAX, false);
                need(r.position >= 0 && r.position <= BODY_POSITION_MAX);
                need(r.mtp >= -1 && r.mtp <= BODY_CMCD_MTP_MAX);
                need(r.bl >= -1 && r.bl <= BODY_CMCD_BL_MAX);
        }
        if (body_heartbeat_check(v) == 0) {
                json_t *t = json_object_get(v, "titles");
                need(json_is_object(v));
                need(!t || (json_is_array(t) && json_array_size(t) <= BODY_HOLDINGS_MAX));
        }
        if (body_edge_check(v, &e) == 0) {
                need(e.id && e.region && e.base_url);
                need(!e.secret || req_sign_secret_ok(e.secret, strlen(e.secret)));
                need(!(e.secret && e.rotate_secret));
                need(!e.tz || (tz_form(e.tz) && body_tz_ok(e.tz, strlen(e.tz))));
        }
        if (body_profile_check(v, &pr) == 0) {
                str_ok(pr.name, BODY_PROFILE_NAME_MAX, true);
                need(pr.maturity_limit >= -1 && pr.maturity_limit <= BODY_MATURITY_MAX);
        }
        if (body_rotate_check(v, &rot) == 0) {
                need(rot.publish_after >= -1 && rot.publish_after <= BODY_ROTATE_MAX_S);
                need(rot.overlap >= -1 && rot.overlap <= BODY_ROTATE_MAX_S);
        }
        if (body_licences_check(v, &lic, detail, sizeof(detail)) == 0) {
                need(json_is_array(lic) && json_array_size(lic) <= BODY_LICENCES_MAX);
                json_array_foreach(lic, i, w)
                {
                        need(json_is_object(w));
                        time_ok(json_object_get(w, "from"));
                        time_ok(json_object_get(w, "until"));
                }
        } else {
                need(lic == NULL);
                need(memchr(detail, '\0', sizeof(detail)) && detail[0]);
        }
        detail[0] = '\0';
        if (body_title_check(v, detail, sizeof(detail)) == 0) {
                json_t *md = json_object_get(v, "metadata"), *y = json_object_get(md, "year");
                need(!y || json_is_null(y) ||
                     (json_is_integer(y) && json_integer_value(y) >= 1870 &&
                      json_integer_value(y) <= 3000));
        } else {
                need(memchr(detail, '\0', sizeof(detail)) && detail[0]);
        }
        json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *const names[] = {"profile", "q", "genre", "session", "edge", "limit",
                                            "", "_DASH_pathway", "profile_key"};
        char buf[130];

        if (size < 1 || size > 1 << 20)
                return 0;
        const char *in = (const char *)data + 1;
        size_t len = size - 1;

        /* Modulo 5, so the corpus files' selectors 0..3 keep their meaning. */
        switch (data[0] % 5) {
        case 0:
                for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                        for (size_t cap = 1; cap <= sizeof(buf); cap += 64) {
                                int r = req_query_get(in, len, names[i], buf, cap);
                                if (r >= 0) {
                                        need((size_t)r < cap && buf[r] == '\0');
                                        need(strlen(buf) == (size_t)r);
                                        for (int k = 0; k < r; k++)
                                                need((unsigned char)buf[k] >= 0x20 &&
                                                       buf[k] != 0x7f);
                                }
                        }
                }
                break;
        case 1: {
                size_t d = json_depth(in, len, 8);
                if (d <= 8) {
                        json_error_t e;
                        json_t *v = json_loadb(in, len, JSON_REJECT_DUPLICATES, &e);
                        json_decref(v);
                }
                break;
        }
        case 2: {
                /* '\n' separates field lines, as many as a head holds. */
                struct req_span lines[64];
                size_t n = 0, at = 0;
                while (n < 64) {
                        const char *nl = memchr(in + at, '\n', len - at);
                        size_t e = nl ? (size_t)(nl - in) : len;
                        lines[n++] = (struct req_span){in + at, e - at};
                        if (!nl)
                                break;
                        at = e + 1;
                }
                for (size_t cap = 1; cap <= sizeof(buf); cap += 43) {
                        int r = req_xff_client(lines, n, trusted_127, NULL, buf, cap);
                        need(r == 1 || r == 0 || r == -EINVAL);
                        if (r == 1) {
                                need(strlen(buf) < cap && strlen(buf) < 64);
                                need(!trusted_127(buf, NULL));
                                need(!strchr(buf, '[') && !strchr(buf, ',') &&
                                     !strchr(buf, ' '));
                        }
                }
                break;
        }
        case 3:
                check_bodies(in, len);
                break;
        case 4:
                check_steering(in, len);
                break;
        }
        return 0;
}
