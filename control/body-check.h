/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * I/O-free checks of the JSON bodies control takes from players and edges, after jansson has
 * parsed them (nesting bounded first by json_depth_exceeds): which members, of which types and
 * bounds. The handlers act only on what passes; fuzzed by tests/fuzz/fuzz-ctl-req.c.
 * Strings returned point into the body and live as long as it.
 */

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#define BODY_ID_MAX           128       /* title, episode ids */
#define BODY_PROFILE_NAME_MAX 100       /* as POST /v1/profiles */
#define BODY_PROFILE_KEY_MAX  128       /* a profile's key as sent (control makes 64 hex) */
#define BODY_SESSION_MAX      1024      /* a signed session id (sessid.h SESSID_MAX) */
#define BODY_QUALITY_MAX      32
#define BODY_DEVICE_MAX       64
#define BODY_POSITION_MAX     1e7       /* seconds */
#define BODY_CMCD_MTP_MAX     100000000 /* kbit/s: 100 Gbit/s, far above any player's estimate */
#define BODY_CMCD_BL_MAX      86400000  /* ms: a day of buffer */
#define BODY_HOLDINGS_MAX     100000    /* titles in one heartbeat */
#define BODY_TZ_MAX           64        /* an IANA zone name (the longest is under 40) */
#define BODY_MATURITY_MAX     4         /* profiles' maturity_limit: 0 (kids) .. 4 (adult) */
#define BODY_LICENCES_MAX     1000      /* windows in one licences body */
#define BODY_ROTATE_MAX_S     (86400 * 30) /* a key rotation's publish_after and overlap */

/* POST /v1/playback */
struct body_playback {
        const char *title;       /* required */
        const char *episode;     /* NULL: none */
        const char *new_profile; /* NULL: none; excludes profile */
        int64_t profile;         /* 0: none */
        const char *profile_key; /* NULL: none; only with profile, 1..BODY_PROFILE_KEY_MAX */
        bool inline_manifest;
};

/* POST /v1/playback/report; mtp and bl are -1 when absent. */
struct body_report {
        const char *session;
        const char *quality, *device; /* NULL: absent */
        double position;
        int64_t mtp, bl;
};

/*
 * POST /v1/admin/edges. id, region and base_url are strings whose form the database checks;
 * capacity_mbps a number in 0..1e9 when present (the database wants a positive integer).
 */
struct body_edge {
        const char *id, *region, *base_url;
        const char *secret; /* NULL: none; else 32..128 visible ASCII (req_sign_secret_ok) */
        const char *tz;     /* NULL: absent or null; else body_tz_ok */
        bool rotate_secret; /* never with secret */
        const char *base_url_why; /* on -EINVAL for base_url alone: why (net_url_why) */
};

/* POST /v1/profiles */
struct body_profile {
        const char *name; /* required: 1..BODY_PROFILE_NAME_MAX bytes, no NUL */
        bool kids;
        int maturity_limit; /* 0..BODY_MATURITY_MAX; -1 absent */
};

/* POST /v1/admin/keys/rotate: seconds in 0..BODY_ROTATE_MAX_S, -1 when absent. */
struct body_rotate {
        int64_t publish_after, overlap;
};

/* 0 and *ret filled, or -EINVAL (the handler answers 400 with its usage text). */
int body_playback_check(json_t *body, struct body_playback *ret);
int body_edge_check(json_t *body, struct body_edge *ret);
int body_profile_check(json_t *body, struct body_profile *ret);
int body_rotate_check(json_t *body, struct body_rotate *ret);
/*
 * PUT /v1/admin/titles/<id>/licences: 0 and *ret (borrowed from body) the "licences" array
 * of at most BODY_LICENCES_MAX windows, each an object whose "from" and "until" are absent,
 * null or body_time_ok (the database checks the rest); or -EINVAL with a message for the
 * client in detail[0..cap) (cap > 0).
 */
int body_licences_check(json_t *body, json_t **ret, char *detail, size_t cap);
/*
 * POST /v1/admin/titles: the types and bounds of "metadata" (name, synopsis, year,
 * maturity_rating, cast; genres are the database's), "series" and "markers", each absent,
 * null or as docs/control.md gives it. 0, or -EINVAL with the member named in detail[0..cap)
 * (cap > 0), such as "metadata.year: want an integer in 1870..3000 (or leave it out)".
 */
int body_title_check(json_t *body, char *detail, size_t cap);
/*
 * Whether s[0..len) is an RFC 3339 date-time (5.6) with its offset: 2030-01-01T00:00:00Z,
 * a fraction of a second optional, 'Z' or +hh:mm/-hh:mm (either case for 'T' and 'Z').
 * Without the offset PostgreSQL would read the time in the session's zone; words it also
 * reads ("today", "infinity") are refused as well. Whether the day exists in its month is
 * the database's check.
 */
bool body_time_ok(const char *s, size_t len);
int body_report_check(json_t *body, struct body_report *ret);
/* A heartbeat's numbers (>= 0, load <= 1000) and titles (an array of at most
 * BODY_HOLDINGS_MAX): 0 or -EINVAL. */
int body_heartbeat_check(json_t *body);

/*
 * Whether s[0..len) has the form of an IANA time zone name: 1..BODY_TZ_MAX bytes of
 * [A-Za-z0-9_+/-], the first a letter (so never an absolute path, and never ".."). Whether
 * the zone exists is the database's check (migration 014).
 */
bool body_tz_ok(const char *s, size_t len);
