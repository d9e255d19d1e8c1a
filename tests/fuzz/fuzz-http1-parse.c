/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the request-head parser: every request in the input is parsed in one call and again
 * fed in small pieces, under two sets of limits. Aborts when an invariant breaks: a parsed
 * pointer outside the input, a head longer than the input or a limit, a refusal without a
 * known status, or the two feeding patterns disagreeing about success. The input is also read
 * as one response header line (http1_field_line_value(), the edge's reading of an upstream's
 * head): a value taken is trimmed, holds only field-value bytes and fits its buffer, and a
 * smaller buffer gives the same value or says it does not fit. And as a refused request's head
 * (http1_raw_field(), the Origin of an answer to it): a value found is one of its lines',
 * within its buffer, of field-value bytes only, and the search fed in two pieces
 * (http1_field_seek_feed(), reading on after a refusal) ends as it does.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http1-parse.h"

#include "fuzz.h"

static struct http1_req req;

static void inside(const char *buf, size_t len, const char *p, size_t n)
{
        CHECK(p >= buf && p + n <= buf + len);
}

static void check_req(const char *buf, int r, const struct http1_limits *l)
{
        size_t len = (size_t)r;
        CHECK(len <= l->max_header_bytes);
        inside(buf, len, req.method_str, req.method_len);
        inside(buf, len, req.target, req.target_len);
        CHECK(req.target_len <= l->max_target && req.target_len > 0);
        CHECK(req.minor <= 1);
        CHECK(req.n_hdrs <= l->max_headers);
        CHECK(!(req.chunked && req.content_length >= 0));
        CHECK(!req.chunked || req.minor == 1);
        for (unsigned i = 0; i < req.n_hdrs; i++) {
                const struct http_hdr *h = &req.hdrs[i];
                inside(buf, len, h->name, h->name_len);
                inside(buf, len, h->value, h->value_len);
                CHECK(h->name_len > 0);
                CHECK(h->name + h->name_len < h->value || h->value_len == 0);
                for (unsigned j = 0; j < h->value_len; j++)
                        CHECK(h->value[j] != '\r' && h->value[j] != '\n' && h->value[j] != '\0');
        }
        for (int k = 0; k < HK_COUNT; k++)
                CHECK(req.known[k] >= -1 && req.known[k] < (int)req.n_hdrs);
        if (req.minor == 1)
                CHECK(req.known[HK_HOST] >= 0);
}

static void check_fail(const struct http1_parser *p, int r)
{
        if (r == -EAGAIN)
                return;
        CHECK(r == -EPROTO);
        CHECK(p->status == 400 || p->status == 414 || p->status == 431 || p->status == 501 ||
              p->status == 505);
        CHECK(p->reason != NULL);
}

/* Parse buf in pieces of step bytes; returns the final result. */
static int parse_pieces(const char *buf, size_t len, size_t step, const struct http1_limits *l)
{
        struct http1_parser p;
        int r = -EAGAIN;
        http1_parser_init(&p);
        for (size_t i = step < len ? step : len;; i = i + step < len ? i + step : len) {
                r = http1_req_parse(&p, buf, i, l, &req);
                CHECK(p.scanned <= i);
                if (r != -EAGAIN || i == len)
                        break;
        }
        if (r > 0)
                check_req(buf, r, l);
        else
                check_fail(&p, r);
        return r;
}

static void run(const char *buf, size_t len, const struct http1_limits *l, size_t step)
{
        size_t off = 0;
        /* Pipelined requests: keep going while heads complete. */
        for (int n = 0; n < 64 && off < len; n++) {
                struct http1_parser p;
                http1_parser_init(&p);
                int r = http1_req_parse(&p, buf + off, len - off, l, &req);
                if (r > 0) {
                        CHECK((size_t)r <= len - off);
                        check_req(buf + off, r, l);
                } else {
                        check_fail(&p, r);
                }
                int r2 = parse_pieces(buf + off, len - off, step, l);
                CHECK((r > 0) == (r2 > 0));
                if (r > 0)
                        CHECK(r == r2);
                if (r <= 0)
                        break;
                off += (size_t)r;
        }
}

static void check_field_line(const char *buf, size_t len, const char *name)
{
        static char big[16384 + 1];
        char small[8] = "#";
        int r, s;

        if (len >= sizeof(big))
                return;
        big[0] = '#'; /* another field's line leaves out as it was */
        r = http1_field_line_value(buf, len, name, big, len + 1);
        s = http1_field_line_value(buf, len, name, small, sizeof(small));
        CHECK(r >= 0 || r == -ENOENT || r == -EINVAL); /* room for the whole line is enough */
        if (r == -ENOENT) {
                CHECK(s == r && big[0] == '#' && small[0] == '#');
                return;
        }
        if (r < 0) {
                CHECK(s == r && !big[0] && !small[0]);
                return;
        }
        CHECK((size_t)r < len && big[r] == '\0');
        for (int i = 0; i < r; i++)
                CHECK(big[i] == ' ' || big[i] == '\t' ||
                      ((unsigned char)big[i] > 0x20 && (unsigned char)big[i] != 0x7f));
        CHECK(r == 0 ||
              (big[0] != ' ' && big[0] != '\t' && big[r - 1] != ' ' && big[r - 1] != '\t'));
        if ((size_t)r < sizeof(small))
                CHECK(s == r && !memcmp(small, big, (size_t)r + 1));
        else
                CHECK(s == -ENAMETOOLONG && !small[0]);
}

static void check_raw_field(const char *buf, size_t len)
{
        static struct http1_field_seek seek;
        char out[64], split[64];
        int r = http1_raw_field(buf, len, "Origin", out, sizeof(out));
        int q;

        /* The same search fed in two pieces ends the same way, found or not. */
        http1_field_seek_init(&seek, "Origin", (uint32_t)len);
        q = http1_field_seek_feed(&seek, buf, len / 3, split, sizeof(split));
        if (q == -EAGAIN)
                q = http1_field_seek_feed(&seek, buf + len / 3, len - len / 3, split,
                                          sizeof(split));
        CHECK((q == -EAGAIN ? -ENOENT : q) == r);
        CHECK(r < 0 || !strcmp(out, split));

        CHECK(r == -ENOENT || r == -EINVAL || r == -ENAMETOOLONG || (r >= 0 && r < 64));
        if (r < 0)
                return;
        CHECK(out[r] == '\0' && memmem(buf, len, out, (size_t)r) != NULL);
        for (int i = 0; i < r; i++)
                CHECK(out[i] != '\r' && out[i] != '\n' && out[i] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const struct http1_limits wide = {8192, 4096, 64};
        static const struct http1_limits narrow = {300, 40, 6};
        /* Copy so that reads past the end are caught by ASan instead of hitting other data. */
        char *buf = malloc(size ? size : 1);
        if (!buf)
                return 0;
        memcpy(buf, data, size);
        size_t step = size ? (size_t)(data[0] % 7) + 1 : 1;
        run(buf, size, &wide, step);
        run(buf, size, &narrow, step);
        check_field_line(buf, size, "Content-Type");
        check_field_line(buf, size, "x");
        check_raw_field(buf, size);
        free(buf);
        return 0;
}
