/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edge-cfg.h"

/*
 * One client response described independently of the protocol that carries it: status, the
 * header fields in the order they go out, and where the body comes from (a short text, a range
 * of a store object, a range of an in-flight fill, or nothing). The rules that decide it —
 * preconditions, Range and If-Range, validators, Content-Type, Cache-Control, Cache-Status,
 * CORS — live here once; request.c renders a plan as an HTTP/1.1 head (adding the status line,
 * Date, Server and Connection) and h2-serve.c as HTTP/2 header fields (adding date).
 *
 * A plan lives on the caller's stack for one answer. Header values are either borrowed (they
 * must outlive the rendering, which follows at once) or copied into the plan's own arena; a
 * plan whose headers did not fit is marked overflowed and must not be sent.
 */

#define SERVE_PLAN_HDRS  24
#define SERVE_PLAN_ARENA 1024
#define SERVE_TEXT_MAX   64 /* the longest text body a plan carries ("412 Precondition...") */

struct conn;
struct fill;
struct fill_reval;
struct http1_req;
struct store_obj;

enum serve_body {
        SERVE_BODY_NONE,
        SERVE_BODY_TEXT, /* text[0..len), always below SERVE_TEXT_MAX */
        SERVE_BODY_FILE, /* [off, off+len) of obj->fd */
        SERVE_BODY_FILL, /* [off, off+len) of the fill's temp file, as it grows */
};

struct serve_hdr {
        const char *name; /* canonical case ("Content-Type"); h2 lowercases it */
        const char *value;
        size_t name_len, value_len;
};

struct serve_plan {
        int status;
        bool head_only; /* HEAD: the headers describe a body that is not sent */
        bool overflow;  /* a header did not fit: never send this plan */
        enum serve_body body;
        const char *text;
        struct store_obj *obj; /* borrowed from the caller, who keeps or hands it over */
        struct fill *fill;     /* borrowed */
        uint64_t off, len;     /* len: the Content-Length of the body described */
        const char *log_cache;    /* access log cache=: a literal, NULL when not a cache answer */
        const char *log_upstream; /* access log upstream=: the fill's URL (borrowed), or NULL */
        size_t n_hdrs;
        struct serve_hdr hdrs[SERVE_PLAN_HDRS];
        size_t arena_len;
        char arena[SERVE_PLAN_ARENA];
};

/*
 * What a miss keeps of its request until the fill can answer it: the request buffer is gone
 * (HTTP/1.1) by then. A Range too long to keep, or its If-Range, means the whole object (a
 * correct answer to either); a date too long to keep is no date, ignored as a hit ignores it.
 * If-Match and If-None-Match are kept whole, whatever their length, each as the one list its
 * lines form: a 412 for a failing If-Match cannot be traded for the full answer, nor can an
 * If-None-Match be dropped and leave If-Modified-Since to decide alone.
 */
struct serve_kept {
        bool head_only;
        bool peer; /* a child edge's fill (answer with X-Sluice-SHA256) */
        bool collapsed;
        bool stale; /* revalidating a stored copy: fwd=stale, and a 304 or a failed fill is
                     * answered from the store (serve_plan_fill returns 1) */
        char range[128]; /* "" when none or ignored */
        char origin[EDGE_CFG_ORIGIN_MAX]; /* Origin, for CORS */
        size_t origin_len;
        char *lists; /* owned: if_none_match and if_match, NUL-terminated (serve_kept_free) */
        const char *if_none_match, *if_match; /* in lists, joined by ", "; NULL when absent */
        size_t if_none_match_len, if_match_len;
        char if_modified_since[40];
        char if_unmodified_since[40];
        char if_range[64];
};

/* Start a plan for c's request req (NULL for a refused request): status, and the CORS fields
 * for a client (none on the admin listener). */
void serve_plan_start(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                      int status);

/* Append a field whose value is borrowed (must outlive the rendering); name_len is name's. */
void serve_plan_header_named(struct serve_plan *p, const char *name, size_t name_len,
                             const char *value, size_t len);
/* The same for a name the compiler can measure (the literals every caller gives). */
static inline void serve_plan_header(struct serve_plan *p, const char *name, const char *value,
                                     size_t len)
{
        serve_plan_header_named(p, name, __builtin_strlen(name), value, len);
}
/* Append a field whose value is copied into the plan. */
void serve_plan_header_copy(struct serve_plan *p, const char *name, const char *value,
                            size_t len);
void serve_plan_headerf(struct serve_plan *p, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void serve_plan_header_u64(struct serve_plan *p, const char *name, uint64_t v);

/* End a plan with a text body (NULL: none): Content-Type when there is one, Content-Length
 * except for 204 and 304. */
void serve_plan_text(struct serve_plan *p, const char *text);
/* "<status> <reason>\n" in the plan's arena, for serve_plan_text(); NULL when it is full
 * (the plan is then overflowed). */
const char *serve_plan_status_text(struct serve_plan *p);
/* The plain answer "<status> <reason>\n" for c's request. */
void serve_plan_status(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                       int status);
/* The same for a request the parser refused, whose Origin field (NULL: none found) still
 * gets the CORS fields a browser needs to read the status. The plan borrows nothing from
 * origin. */
#define SERVE_ORIGIN_MAX 512
void serve_plan_refused(struct serve_plan *p, struct conn *c, const char *origin, size_t origin_len,
                        bool head_only, int status);

/* Cache-Control value for a key: short for manifests/playlists, a day for media. */
const char *serve_cache_control(const char *key, size_t len);

/* The short max-age of manifests and playlists, which the edge keeps to itself too: a stored
 * one is revalidated upstream once it is older (fill_fresh, fill_get_reval). */
#define SERVE_MANIFEST_MAX_AGE_MS 2000
/* Whether key is answered with that max-age (.mpd, .m3u8). */
bool serve_key_short_lived(const char *key, size_t len);
/* The Cache-Status name of this edge (control.edge_id, or "sluice"). */
const char *serve_cache_name(const struct conn *c);

/*
 * A hit on obj for key: preconditions (RFC 9110 §13.2.2, 412 / 304), then Range when If-Range
 * allows (one range → 206, unsatisfiable → 416, several → 200), validators, Cache-Status "hit",
 * X-Sluice-SHA256 for a peer. Counts the hit and its outcome. The plan borrows obj: the caller
 * releases it unless the plan's body is SERVE_BODY_FILE and the transport takes it.
 */
void serve_plan_hit(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                    const char *key, size_t key_len, struct store_obj *obj, bool peer);
/*
 * serve_plan_hit() for a stored copy that f revalidated (f FILL_FRESH: Cache-Status "fwd=stale;
 * fwd-status=304") or failed to (f FILL_FAILED: served stale, "fwd=stale;
 * detail=upstream-failed"). Not counted as a hit: the request was counted as a miss.
 */
void serve_plan_hit_revalidated(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                                const char *key, size_t key_len, struct store_obj *obj,
                                bool peer, struct fill *f);

/*
 * serve_plan_hit() for a stored copy due for revalidation that no fill could be started for
 * (serve_fill_join returned 2: cache.max_fills in flight): served as it is, Cache-Status
 * "fwd=stale; detail=fill-limit", logged "stale". Not counted as a hit.
 */
void serve_plan_hit_unrevalidated(struct serve_plan *p, struct conn *c,
                                  const struct http1_req *req, const char *key, size_t key_len,
                                  struct store_obj *obj, bool peer);

/* Keep what a miss needs of req (see struct serve_kept), before serve_fill_join(). Returns 0,
 * or -ENOMEM (k then holds nothing to free). */
int serve_kept_save(struct serve_kept *k, const struct http1_req *req, bool peer);
/* Free what k holds (its lists); k may be all zero. */
void serve_kept_free(struct serve_kept *k);

/*
 * Join or start key's fill for a miss (counted, and told to the admission sketch), or with
 * reval (NULL: none) a revalidation of the stored copy that has those validators.
 * Returns 0 with *ret_fill (a reference) and *ret_collapsed (it joined a fill under way); 1
 * when p holds the answer (no upstream, negative cache, busy); 2 for a revalidation that
 * cache.max_fills leaves no fill for (the stored copy answers: serve_plan_hit_unrevalidated on
 * a fresh lookup; p untouched); -EEXIST when the key was committed since the lookup and retry
 * is false (nothing counted: look it up again); -ENOMEM.
 */
int serve_fill_join(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                    const char *key, size_t key_len, bool retry, const struct fill_reval *reval,
                    struct fill **ret_fill, bool *ret_collapsed);

/*
 * The answer a fill allows now for a miss on key: 404 / 502 / 503 from a fill without a body,
 * else the preconditions (304 / 412) against the fill's validators, then Range as for a hit,
 * with the body streamed from the fill. Returns 0 with p, -EAGAIN while the fill has no head
 * yet or an entity-tag condition waits for the ETag (the end of the fill), or 1 for a
 * revalidation (k->stale) that the stored copy answers: the upstream said 304, or failed
 * before its head (serve_plan_hit_revalidated, on a fresh lookup of key).
 */
int serve_plan_fill(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                    const struct serve_kept *k, struct fill *f, const char *key, size_t key_len);
