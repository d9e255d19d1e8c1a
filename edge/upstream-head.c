/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http1-parse.h"

#include "upstream-head.h"

void upstream_head_reset(struct upstream_head *h)
{
        h->ctype[0] = h->sha[0] = h->cstatus[0] = h->lastmod[0] = h->cenc[0] = '\0';
        h->cl[0] = '\0';
        h->te = h->cl_bad = false;
}

/* Copy a header value (trimmed) into out when name matches. Returns whether it did. */
static bool header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
        return http1_field_line_value(line, len, name, out, cap) != -ENOENT;
}

/*
 * A Content-Encoding line: out gets the coding when it is not identity (the edge asks for
 * identity and stores what it receives as the object itself), "?" when the value is not one
 * the edge can read. Returns whether the line was one.
 */
static bool content_coding(const char *line, size_t len, char *out, size_t cap)
{
        char v[32];
        int r = http1_field_line_value(line, len, "Content-Encoding", v, sizeof(v));

        if (r == -ENOENT)
                return false;
        if (r < 0)
                (void)snprintf(out, cap, "?");
        else if (r > 0 && strcasecmp(v, "identity") != 0)
                (void)snprintf(out, cap, "%s", v);
        return true;
}

/*
 * A Content-Length line: the first one's value is kept; a later one with another value, a
 * list, or one the edge cannot read makes the framing unknown (cl_bad). curl takes one of
 * them and would end the body there. Returns whether the line was one.
 */
static bool content_length(struct upstream_head *h, const char *line, size_t len)
{
        char v[sizeof(h->cl)];
        int r = http1_field_line_value(line, len, "Content-Length", v, sizeof(v));

        if (r == -ENOENT)
                return false;
        if (r < 0 || strchr(v, ','))
                h->cl_bad = true;
        else if (!h->cl[0])
                memcpy(h->cl, v, strlen(v) + 1);
        else if (strcmp(h->cl, v) != 0)
                h->cl_bad = true;
        return true;
}

void upstream_head_line(struct upstream_head *h, const char *line, size_t len)
{
        char scratch[8];

        if (!header_value(line, len, "Content-Type", h->ctype, sizeof(h->ctype)) &&
            !header_value(line, len, "X-Sluice-SHA256", h->sha, sizeof(h->sha)) &&
            !header_value(line, len, "Cache-Status", h->cstatus, sizeof(h->cstatus)) &&
            !header_value(line, len, "Last-Modified", h->lastmod, sizeof(h->lastmod)) &&
            !content_coding(line, len, h->cenc, sizeof(h->cenc)) && !content_length(h, line, len) &&
            header_value(line, len, "Transfer-Encoding", scratch, sizeof(scratch)))
                h->te = true;
}

int64_t upstream_head_length(const struct upstream_head *h, int64_t curl_cl)
{
        return h->te || h->cl_bad ? -1 : curl_cl;
}
