/* SPDX-License-Identifier: MIT */
/*
 * POST /v1/license/clearkey?session=: the keys of a live session's asset, to that session
 * only (the statement checks it was not ended and that the title is licensed in its
 * country now). Key bytes are wiped from every buffer they pass through.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "hex.h"
#include "metrics.h"

#include "api.h"
#include "clearkey.h"
#include "ctl.h"
#include "pgdb.h"
#include "server.h"
#include "sessid.h"

static const char *const nocache[] = {"Cache-Control", "no-store", NULL};

struct licence_ctx {
        struct ctl_req *rq;
        struct clearkey_request req;
};

static void licence_done(void *userdata, int err, const struct pgdb_res *res)
{
        struct licence_ctx *lx = userdata;
        struct ctl_req *rq = lx->rq;
        struct ctl *ctl = rq->ctl;
        struct clearkey_key avail = {0}, sel[CLEARKEY_KIDS_MAX];
        const char *kid = NULL, *key = NULL;
        char *out = NULL;
        size_t len = 0, kid_len = 0, key_len = 0, n;

        rq->handler_data = NULL;
        if (err < 0) {
                metrics_add(ctl->m.licence_refusals, 1);
                ctl_reply_db_error(rq, err, res);
                goto out;
        }
        kid = pgdb_res_value(res, 0, 0, &kid_len);
        key = pgdb_res_value(res, 0, 1, &key_len);
        if (!kid || !key || hex_decode(kid, kid_len, avail.kid, 16) < 0 ||
            hex_decode(key, key_len, avail.key, 16) < 0) {
                ctl_reply_error(rq, 500, "internal", "bad key record");
                goto out;
        }
        n = clearkey_keys_select(&lx->req, &avail, 1, sel, CLEARKEY_KIDS_MAX);
        if (n == 0) {
                metrics_add(ctl->m.licence_refusals, 1);
                ctl_reply_error(rq, 403, "forbidden", "no requested key belongs to this session");
                goto out;
        }
        if (clearkey_response_build(sel, n, lx->req.type, &out, &len) < 0) {
                ctl_reply_error(rq, 500, "internal", "cannot build the licence");
                goto out;
        }
        metrics_add(ctl->m.licences, 1);
        ctl_reply(rq, 200, "application/json", out, len, nocache);
        clearkey_response_free(out);
out:
        /* The key passed through these buffers: wipe them, and the result's text of it, which
         * the pool frees unwiped when this returns (the reply's copy is server.c's to wipe). */
        if (key)
                OPENSSL_cleanse((char *)key, key_len);
        OPENSSL_cleanse(&avail, sizeof(avail));
        OPENSSL_cleanse(sel, sizeof(sel));
        free(lx);
}

void api_license_clearkey(struct ctl_req *rq)
{
        struct ctl *ctl = rq->ctl;
        struct licence_ctx *lx;
        struct sessid_claims cl;
        char sid_arg[SESSID_MAX + 2], id[SESSID_MAX + 1], ver[24], why[64];
        int r = ctl_query_get(rq, "session", sid_arg, sizeof(sid_arg));

        /* What the body is comes first, as on every route: a body over the limit is 413 and
         * one of another type 415, whichever session it names. */
        if (rq->body_len > CLEARKEY_REQUEST_MAX) {
                snprintf(why, sizeof(why), "a ClearKey licence request is at most %d bytes",
                         CLEARKEY_REQUEST_MAX);
                ctl_reply_error(rq, 413, "payload_too_large", why);
                return;
        }
        if (!ctl_body_type_ok(rq))
                return;
        /* Keys go only to a live session: its id verified and not expired, and (in the
         * statement) not ended by an operator, the title licensed in its country now. */
        if (r < 0 || !api_session_live(ctl, sid_arg, &cl, id)) {
                metrics_add(ctl->m.licence_refusals, 1);
                ctl_reply_error(rq, 403, "forbidden", "no live session");
                return;
        }
        lx = calloc(1, sizeof(*lx));
        if (!lx) {
                ctl_reply_error(rq, 500, "internal", "out of memory");
                return;
        }
        lx->rq = rq;
        r = clearkey_request_parse(rq->body, rq->body_len, &lx->req);
        if (r < 0) {
                free(lx);
                /* Too many kids in a body within the limit is a bad request. */
                if (r == -E2BIG) {
                        snprintf(why, sizeof(why), "more than %d kids in one licence request",
                                 CLEARKEY_KIDS_MAX);
                        ctl_reply_error(rq, 400, "bad_request", why);
                } else {
                        ctl_reply_error(rq, 400, "bad_request",
                                        "not a ClearKey licence request ({\"kids\":[...]})");
                }
                return;
        }
        rq->handler_data = lx;
        snprintf(ver, sizeof(ver), "%" PRId64, cl.asset_version);
        const char *params[] = {cl.nonce, cl.title, cl.asset, ver, cl.country};
        r = pgdb_exec(ctl->db, ctl->st.license_key_claims, params, 5, licence_done, lx);
        if (r < 0) {
                free(lx);
                ctl_reply_db_error(rq, r, NULL);
        }
}
