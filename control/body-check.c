/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hex.h"
#include "net-addr.h"
#include "req-sign.h"

#include "body-check.h"

/* A string member of 1..max bytes without control bytes (NUL, C0, DEL: none belongs in an
 * id, a name or a label, and they would be echoed as they are); *ret NULL when absent or
 * JSON null. */
static int str_member(json_t *o, const char *key, size_t max, const char **ret)
{
        json_t *v = json_object_get(o, key);
        const unsigned char *s;

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max)
                return -EINVAL;
        s = (const unsigned char *)json_string_value(v);
        for (size_t i = 0; i < json_string_length(v); i++)
                if (s[i] < 0x20 || s[i] == 0x7f)
                        return -EINVAL;
        *ret = json_string_value(v);
        return 0;
}

/* An integer member in 0..max; *ret -1 when absent or JSON null. */
static int uint_member(json_t *o, const char *key, json_int_t max, int64_t *ret)
{
        json_t *v = json_object_get(o, key);

        *ret = -1;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
                return -EINVAL;
        *ret = json_integer_value(v);
        return 0;
}

/* Absent, or an integer in 0..INT64_MAX (a count: no fraction, which the database would
 * refuse with its own words). */
static bool count_ok(json_t *o, const char *key)
{
        json_t *v = json_object_get(o, key);

        return !v || (json_is_integer(v) && json_integer_value(v) >= 0);
}

/* Absent or JSON null, or a string of 1..64 hex digits. */
static bool hex_ok(json_t *o, const char *key)
{
        json_t *v = json_object_get(o, key);
        const char *s;
        size_t n;

        if (!v || json_is_null(v))
                return true;
        if (!json_is_string(v) || (n = json_string_length(v)) == 0 || n > 64)
                return false;
        s = json_string_value(v);
        for (size_t i = 0; i < n; i++)
                if (hex_digit(s[i]) < 0)
                        return false;
        return true;
}

static bool num_ok(json_t *o, const char *key, double max)
{
        json_t *v = json_object_get(o, key);

        return !v || (json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= max);
}

int body_playback_check(json_t *body, struct body_playback *ret)
{
        json_t *prof = json_object_get(body, "profile");
        json_t *inl = json_object_get(body, "inline_manifest");

        memset(ret, 0, sizeof(*ret));
        if (!json_is_object(body) ||
            str_member(body, "title", BODY_ID_MAX, &ret->title) < 0 || !ret->title ||
            str_member(body, "episode", BODY_ID_MAX, &ret->episode) < 0 ||
            str_member(body, "new_profile", BODY_PROFILE_NAME_MAX, &ret->new_profile) < 0 ||
            str_member(body, "profile_key", BODY_PROFILE_KEY_MAX, &ret->profile_key) < 0 ||
            (inl && !json_is_boolean(inl)))
                return -EINVAL;
        if (prof && !json_is_null(prof)) {
                if (!json_is_integer(prof) || json_integer_value(prof) < 1 || ret->new_profile)
                        return -EINVAL;
                ret->profile = json_integer_value(prof);
        }
        if (ret->profile_key && !ret->profile)
                return -EINVAL;
        ret->inline_manifest = json_is_true(inl);
        return 0;
}

int body_report_check(json_t *body, struct body_report *ret)
{
        json_t *pos = json_object_get(body, "position");

        memset(ret, 0, sizeof(*ret));
        if (!json_is_object(body) ||
            str_member(body, "session", BODY_SESSION_MAX, &ret->session) < 0 || !ret->session ||
            str_member(body, "quality", BODY_QUALITY_MAX, &ret->quality) < 0 ||
            str_member(body, "device", BODY_DEVICE_MAX, &ret->device) < 0 ||
            !json_is_number(pos) || !(json_number_value(pos) >= 0) ||
            json_number_value(pos) > BODY_POSITION_MAX ||
            uint_member(body, "mtp", BODY_CMCD_MTP_MAX, &ret->mtp) < 0 ||
            uint_member(body, "bl", BODY_CMCD_BL_MAX, &ret->bl) < 0)
                return -EINVAL;
        ret->position = json_number_value(pos);
        return 0;
}

/* An id as the schema's sluice_id takes it: [A-Za-z0-9][A-Za-z0-9._-]{0,127}. */
static bool id_ok(const char *s, size_t n)
{
        if (n == 0 || n > BODY_ID_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool alnum =
                    (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
                if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
                        return false;
        }
        return true;
}

int body_heartbeat_check(json_t *body)
{
        json_t *titles = json_object_get(body, "titles"), *t;
        json_t *draining = json_object_get(body, "draining");
        size_t i;

        /* load is a share of the edge's connection limit, 0..1 (the edge caps it there). */
        /* disk_used may pass disk_total for a while (max_size lowered by a reload, eviction
         * catching up): a fact to keep, not a reason to drop the edge's heartbeat. */
        if (!json_is_object(body) || !num_ok(body, "load", 1) || !count_ok(body, "bytes_served") ||
            !count_ok(body, "disk_used") || !count_ok(body, "disk_total") ||
            !hex_ok(body, "digest") || (draining && !json_is_boolean(draining)) ||
            (titles && (!json_is_array(titles) || json_array_size(titles) > BODY_HOLDINGS_MAX)))
                return -EINVAL;
        /* Each held title an id as control's are: the edge lists no other (heartbeat.c). */
        json_array_foreach(titles, i, t)
                if (!json_is_string(t) || !id_ok(json_string_value(t), json_string_length(t)))
                        return -EINVAL;
        return 0;
}

bool body_tz_ok(const char *s, size_t len)
{
        if (!s || len == 0 || len > BODY_TZ_MAX ||
            !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '+' || c == '/' || c == '-'))
                        return false;
        }
        return true;
}

int body_edge_check(json_t *body, struct body_edge *ret)
{
        json_t *secret = json_object_get(body, "secret");
        json_t *rotate = json_object_get(body, "rotate_secret");
        json_t *tz = json_object_get(body, "tz");
        json_t *enabled = json_object_get(body, "enabled");
        json_t *cap = json_object_get(body, "capacity_mbps");

        memset(ret, 0, sizeof(*ret));
        if (!json_is_object(body) || !json_is_string(json_object_get(body, "id")) ||
            !json_is_string(json_object_get(body, "region")) ||
            !json_is_string(json_object_get(body, "base_url")) ||
            (cap && (!json_is_integer(cap) || json_integer_value(cap) < 0 ||
                     json_integer_value(cap) > 1000000000)) ||
            (rotate && !json_is_boolean(rotate)) || (enabled && !json_is_boolean(enabled)))
                return -EINVAL;
        /* It goes into manifests and playlists as it is: no byte a URL never carries bare
         * (a '"' ended the HLS attribute it sits in, and every playlist answered 500), no
         * query, fragment or userinfo, which the token and title path appended to it
         * would land in (or a steering clone's HOST carry), and an authority a player's URL
         * parser takes (a port of 99999 or an unclosed '[' made the MPD's first BaseURL one
         * no player could use). */
        ret->base_url_why = net_url_why(json_string_value(json_object_get(body, "base_url")), true);
        if (ret->base_url_why)
                return -EINVAL;
        /* A secret given is stored as it is, so rotating one as well makes no sense. */
        if (secret && (!json_is_string(secret) ||
                       !req_sign_secret_ok(json_string_value(secret), json_string_length(secret)) ||
                       json_is_true(rotate)))
                return -EINVAL;
        if (tz && !json_is_null(tz) &&
            (!json_is_string(tz) || !body_tz_ok(json_string_value(tz), json_string_length(tz))))
                return -EINVAL;
        ret->id = json_string_value(json_object_get(body, "id"));
        ret->region = json_string_value(json_object_get(body, "region"));
        ret->base_url = json_string_value(json_object_get(body, "base_url"));
        ret->secret = secret ? json_string_value(secret) : NULL;
        ret->tz = json_is_string(tz) ? json_string_value(tz) : NULL;
        ret->rotate_secret = json_is_true(rotate);
        return 0;
}

int body_profile_check(json_t *body, struct body_profile *ret)
{
        json_t *kids = json_object_get(body, "kids");
        json_t *limit = json_object_get(body, "maturity_limit");

        memset(ret, 0, sizeof(*ret));
        ret->maturity_limit = -1;
        if (!json_is_object(body) ||
            str_member(body, "name", BODY_PROFILE_NAME_MAX, &ret->name) < 0 || !ret->name ||
            (kids && !json_is_boolean(kids)) ||
            (limit && (!json_is_integer(limit) || json_integer_value(limit) < 0 ||
                       json_integer_value(limit) > BODY_MATURITY_MAX)))
                return -EINVAL;
        ret->kids = json_is_true(kids);
        if (limit)
                ret->maturity_limit = (int)json_integer_value(limit);
        return 0;
}

int body_rotate_check(json_t *body, struct body_rotate *ret)
{
        json_t *pa = json_object_get(body, "publish_after");
        json_t *ov = json_object_get(body, "overlap");

        ret->publish_after = ret->overlap = -1;
        if (!json_is_object(body) ||
            (pa && (!json_is_integer(pa) || json_integer_value(pa) < 0 ||
                    json_integer_value(pa) > BODY_ROTATE_MAX_S)) ||
            (ov && (!json_is_integer(ov) || json_integer_value(ov) < 0 ||
                    json_integer_value(ov) > BODY_ROTATE_MAX_S)))
                return -EINVAL;
        if (pa)
                ret->publish_after = json_integer_value(pa);
        if (ov)
                ret->overlap = json_integer_value(ov);
        return 0;
}

/* n decimal digits at s, their value in lo..hi. */
static bool digits(const char *s, int n, int lo, int hi)
{
        int v = 0;

        for (int i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (s[i] - '0');
        }
        return v >= lo && v <= hi;
}

bool body_time_ok(const char *s, size_t len)
{
        size_t i = 19;

        /* 2030-01-01T00:00:00 (a leap second may be :60), the 'T' in either case */
        if (!s || len < 20 || !digits(s, 4, 0, 9999) || s[4] != '-' || !digits(s + 5, 2, 1, 12) ||
            s[7] != '-' || !digits(s + 8, 2, 1, 31) || (s[10] != 'T' && s[10] != 't') ||
            !digits(s + 11, 2, 0, 23) || s[13] != ':' || !digits(s + 14, 2, 0, 59) ||
            s[16] != ':' || !digits(s + 17, 2, 0, 60))
                return false;
        if (s[i] == '.') {
                size_t f = ++i;
                while (i < len && s[i] >= '0' && s[i] <= '9')
                        i++;
                if (i == f)
                        return false;
        }
        /* The offset is what makes the instant independent of any time zone setting. */
        if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z'))
                return true;
        return i + 6 == len && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2, 0, 23) &&
               s[i + 3] == ':' && digits(s + i + 4, 2, 0, 59);
}

int body_licences_check(json_t *body, json_t **ret, char *detail, size_t cap)
{
        static const char *const keys[] = {"from", "until"};
        json_t *lic = json_object_get(body, "licences"), *w;
        size_t i;

        *ret = NULL;
        if (!json_is_object(body) || !json_is_array(lic) ||
            json_array_size(lic) > BODY_LICENCES_MAX) {
                snprintf(detail, cap, "need \"licences\": an array (<= %d)", BODY_LICENCES_MAX);
                return -EINVAL;
        }
        json_array_foreach(lic, i, w)
        {
                if (!json_is_object(w)) {
                        snprintf(detail, cap, "licences[%zu] is not an object", i);
                        return -EINVAL;
                }
                for (size_t k = 0; k < 2; k++) {
                        json_t *t = json_object_get(w, keys[k]);
                        if (!t || json_is_null(t) ||
                            (json_is_string(t) &&
                             body_time_ok(json_string_value(t), json_string_length(t))))
                                continue;
                        snprintf(detail, cap,
                                 "licences[%zu].%s: want an RFC 3339 date-time with Z or a "
                                 "+hh:mm/-hh:mm offset, such as 2030-01-01T00:00:00Z (leave it "
                                 "out for %s)",
                                 i, keys[k], k == 0 ? "now" : "no end");
                        return -EINVAL;
                }
        }
        *ret = lic;
        return 0;
}

/* One member of a registration's object: its type and bounds (strings: bytes). */
enum member_kind { M_STR, M_INT, M_NUM };

struct member_rule {
        const char *key;
        enum member_kind kind;
        double min, max; /* a string's max 0: no bound but the body's */
        bool required;   /* absent or null refused */
};

/* Each member of o that rules name, checked; 0, or -EINVAL with "<where>.<key>: want ..." in
 * detail. Absent and null are the same (control keeps what it has) unless required. */
static int members_check(json_t *o, const char *where, const struct member_rule *rules, size_t n,
                         char *detail, size_t cap)
{
        for (size_t i = 0; i < n; i++) {
                const struct member_rule *m = &rules[i];
                json_t *v = json_object_get(o, m->key);
                bool ok;

                if (!v || json_is_null(v)) {
                        ok = !m->required;
                } else if (m->kind == M_STR) {
                        ok = json_is_string(v) && json_string_length(v) >= (size_t)m->min &&
                             (m->max == 0 || json_string_length(v) <= (size_t)m->max);
                } else if (m->kind == M_INT) {
                        ok = json_is_integer(v) && json_integer_value(v) >= (json_int_t)m->min &&
                             json_integer_value(v) <= (json_int_t)m->max;
                } else {
                        ok = json_is_number(v) && json_number_value(v) >= m->min &&
                             json_number_value(v) <= m->max;
                }
                if (ok)
                        continue;
                if (m->kind == M_STR && m->max == 0)
                        snprintf(detail, cap, "%s.%s: want a string%s", where, m->key,
                                 m->required ? "" : " (or leave it out)");
                else if (m->kind == M_STR)
                        snprintf(detail, cap, "%s.%s: want a string of %.0f..%.0f bytes%s", where,
                                 m->key, m->min, m->max, m->required ? "" : " (or leave it out)");
                else
                        snprintf(detail, cap, "%s.%s: want %s in %.0f..%.0f%s", where, m->key,
                                 m->kind == M_INT ? "an integer" : "a number", m->min, m->max,
                                 m->required ? "" : " (or leave it out)");
                return -EINVAL;
        }
        return 0;
}

#define RULES(r) r, sizeof(r) / sizeof(r[0])

int body_title_check(json_t *body, char *detail, size_t cap)
{
        static const struct member_rule meta[] = {
            {"name", M_STR, 1, 500, false},
            {"synopsis", M_STR, 0, 0, false},
            {"year", M_INT, 1870, 3000, false},
            {"maturity_rating", M_STR, 0, 0, false},
        };
        static const struct member_rule person[] = {
            {"name", M_STR, 1, 300, true},
            {"character", M_STR, 0, 0, false},
        };
        static const struct member_rule series[] = {
            {"id", M_STR, 1, BODY_ID_MAX, true},   {"name", M_STR, 1, 500, false},
            {"season", M_INT, 0, INT32_MAX, true}, {"episode", M_INT, 0, INT32_MAX, true},
            {"episode_name", M_STR, 0, 0, false},  {"episode_synopsis", M_STR, 0, 0, false},
        };
        static const struct member_rule marker[] = {
            {"start", M_NUM, 0, BODY_POSITION_MAX, true},
            {"end", M_NUM, 0, BODY_POSITION_MAX, true},
        };
        static const char *const roles[] = {"actor", "director", "writer", "producer", "creator"};
        json_t *md = json_object_get(body, "metadata"), *s = json_object_get(body, "series");
        json_t *mk = json_object_get(body, "markers"), *cast, *v;
        const char *key;
        char where[48];
        size_t i;

        if (md && !json_is_null(md)) {
                if (!json_is_object(md)) {
                        snprintf(detail, cap, "metadata: want an object (or leave it out)");
                        return -EINVAL;
                }
                if (members_check(md, "metadata", RULES(meta), detail, cap) < 0)
                        return -EINVAL;
                cast = json_object_get(md, "cast");
                if (cast && !json_is_null(cast) && !json_is_array(cast)) {
                        snprintf(detail, cap,
                                 "metadata.cast: want an array of {\"name\", "
                                 "\"role\"?, \"character\"?}");
                        return -EINVAL;
                }
                json_array_foreach(cast, i, v)
                {
                        json_t *role = json_object_get(v, "role");
                        size_t r = 0;

                        snprintf(where, sizeof(where), "metadata.cast[%zu]", i);
                        if (!json_is_object(v)) {
                                snprintf(detail, cap, "%s: want an object", where);
                                return -EINVAL;
                        }
                        if (members_check(v, where, RULES(person), detail, cap) < 0)
                                return -EINVAL;
                        while (json_is_string(role) && r < 5 &&
                               strcmp(json_string_value(role), roles[r]))
                                r++;
                        if (role && !json_is_null(role) && r == 5) {
                                snprintf(detail, cap,
                                         "%s.role: want actor, director, writer, "
                                         "producer or creator (or leave it out)",
                                         where);
                                return -EINVAL;
                        }
                }
        }
        if (s && !json_is_null(s) &&
            (!json_is_object(s) || members_check(s, "series", RULES(series), detail, cap) < 0)) {
                if (!json_is_object(s))
                        snprintf(detail, cap, "series: want an object (or leave it out)");
                return -EINVAL;
        }
        if (mk && !json_is_null(mk) && !json_is_object(mk)) {
                snprintf(detail, cap, "markers: want an object (or leave it out)");
                return -EINVAL;
        }
        json_object_foreach(mk, key, v)
        {
                if (strcmp(key, "intro") && strcmp(key, "credits")) {
                        snprintf(detail, cap, "markers: want \"intro\" and \"credits\" only");
                        return -EINVAL;
                }
                snprintf(where, sizeof(where), "markers.%s", key);
                if (!json_is_object(v)) {
                        snprintf(detail, cap, "%s: want {\"start\", \"end\"}", where);
                        return -EINVAL;
                }
                if (members_check(v, where, RULES(marker), detail, cap) < 0)
                        return -EINVAL;
                if (json_number_value(json_object_get(v, "end")) <=
                    json_number_value(json_object_get(v, "start"))) {
                        snprintf(detail, cap, "%s: end must be after start", where);
                        return -EINVAL;
                }
        }
        return 0;
}
