/* SPDX-License-Identifier: MIT */
/*
 * POST /v1/playback/report: a live session's position, quality and CMCD figures, stored with
 * the profile's continue-watching in one statement, at most report_burst at once and then one
 * per report_interval a session (report-limit.h).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "metrics.h"
#include "mono-time.h"

#include "api.h"
#include "body-check.h"
#include "ctl-cfg.h"
#include "ctl.h"
#include "report-limit.h"
#include "server.h"
#include "sessid.h"

void api_report(struct ctl_req *rq)
{
        struct ctl *ctl = rq->ctl;
        struct body_report b;
        json_t *body = NULL;
        struct sessid_claims cl;
        char id[SESSID_MAX + 1], position[40], mtp[24], bl[24], ver[24], prof[24];
        int64_t wait_ms = 0;

        if (ctl_body_json(rq, 4, &body) < 0)
                return;
        if (body_report_check(body, &b) < 0) {
                json_decref(body);
                ctl_reply_error(rq, 400, "bad_request",
                                "need \"session\", \"position\" (seconds >= 0), optional "
                                "\"quality\", \"device\", \"mtp\" (CMCD measured throughput, "
                                "kbit/s) and \"bl\" (CMCD buffer length, ms)");
                return;
        }
        if (!api_session_live(ctl, b.session, &cl, id)) {
                json_decref(body);
                ctl_reply_error(rq, 404, "not_found", "unknown or expired session");
                return;
        }
        if (!report_limit_take(ctl->report_limit, cl.nonce, mono_ms(),
                               (uint32_t)ctl->cfg->report_burst, ctl->cfg->report_interval_ms,
                               &wait_ms)) {
                char secs[24], text[160];
                const char *extra[] = {"Retry-After", secs, "Cache-Control", "no-store", NULL};
                int n = snprintf(text, sizeof(text),
                                 "{\"error\":\"too_many_requests\",\"detail\":\"this session "
                                 "reports faster than report_burst %" PRId64
                                 ", then one each %" PRId64 " ms\"}",
                                 ctl->cfg->report_burst, ctl->cfg->report_interval_ms);

                json_decref(body);
                snprintf(secs, sizeof(secs), "%" PRId64, (wait_ms + 999) / 1000);
                metrics_add(ctl->m.reports_limited, 1);
                ctl_reply(rq, 429, "application/json", text, (size_t)n, extra);
                return;
        }
        snprintf(position, sizeof(position), "%.3f", b.position);
        snprintf(mtp, sizeof(mtp), "%" PRId64, b.mtp);
        snprintf(bl, sizeof(bl), "%" PRId64, b.bl);
        snprintf(ver, sizeof(ver), "%" PRId64, cl.asset_version);
        snprintf(prof, sizeof(prof), "%" PRId64, cl.profile);
        const char *params[] = {cl.nonce,
                                cl.title,
                                cl.episode[0] ? cl.episode : NULL,
                                cl.asset,
                                ver,
                                cl.profile ? prof : NULL,
                                cl.region[0] ? cl.region : NULL,
                                rq->client[0] ? rq->client : NULL,
                                position,
                                b.quality ? b.quality : "",
                                b.device ? b.device : "",
                                b.mtp >= 0 ? mtp : NULL,
                                b.bl >= 0 ? bl : NULL};
        api_exec_json_counted(rq, ctl->st.report_claims, params, 13, ctl->m.reports);
        json_decref(body);
}
