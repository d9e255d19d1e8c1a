/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * CMCD (CTA-5004) parsing from the "CMCD" query argument (percent-encoded) or from the
 * CMCD-Object / CMCD-Request / CMCD-Session / CMCD-Status headers. Unknown keys are ignored.
 * Limits: input at most 1024 bytes; strings truncated to their field size.
 */
struct cmcd {
        int64_t br, bl, d, dl, mtp, rtp, tb; /* -1 when absent */
        int64_t pr;                          /* playback rate in thousandths; -1 when absent */
        int64_t v;                           /* version; -1 when absent (version 1) */
        char sid[65];
        char cid[65];
        char ot[8];
        char sf[4];
        char st[4];
        char nor[257]; /* next object request (relative URL), decoded */
        char nrr[32];  /* next range request, "<first>-<last>" */
        bool su, bs;
};

void cmcd_init(struct cmcd *c);

/* Parse a CMCD key list "k=v,k2,..." (already percent-decoded when decoded != 0). Returns 0 or
 * -EINVAL for a malformed list (fields parsed so far are kept). */
int cmcd_parse(struct cmcd *c, const char *s, size_t len, int decoded);

struct http1_req;

/* Parse a request's CMCD: the query argument's value query[0..query_len) (NULL: none) and the
 * four CMCD-* headers of req, every line of each, into c (initialised here). Returns whether
 * there was any. */
bool cmcd_from_request(struct cmcd *c, const struct http1_req *req, const char *query,
                       size_t query_len);

/* Append a compact "k=v" rendering for the access log into out. Returns bytes written. */
size_t cmcd_format_log(const struct cmcd *c, char *out, size_t cap);
