/* SPDX-License-Identifier: MIT */
/*
 * The configuration's address and URL checks (common/net-addr.c) and the signed-request time
 * header (common/req-sign.c) on arbitrary text: nothing longer than the limits is accepted,
 * an accepted address has a family and length that match, an accepted URL carries no byte
 * the check promises to refuse, and an origin rewritten as a browser sends it is one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Built in rather than linked, so the fuzzer's instrumentation sees the parsers' branches. */
#include "../../common/net-addr.c"
#include "../../common/req-sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
        if (!cond) {
                fprintf(stderr, "net-addr invariant violated: %s\n", what);
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct sockaddr_storage ss;
        socklen_t len = 0;
        int64_t t;
        char *s = malloc(size + 1);

        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        size_t n = strlen(s);

        int r = net_addr_parse(s, &ss, &len);
        check(r == 0 || r == -EINVAL || r == -E2BIG, "address: unexpected error");
        check(r != -E2BIG || n > NET_ADDR_TEXT_MAX, "address: E2BIG within the limit");
        if (r == 0) {
                check(n <= NET_ADDR_TEXT_MAX, "address: accepted beyond the limit");
                check((ss.ss_family == AF_INET && len == sizeof(struct sockaddr_in)) ||
                          (ss.ss_family == AF_INET6 && len == sizeof(struct sockaddr_in6)),
                      "address: family and length disagree");
        }
        if (net_url_ok(s)) {
                check(n <= NET_URL_MAX, "url: accepted beyond the limit");
                check(!strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8),
                      "url: scheme");
                check(!strpbrk(s, " \"<>\\\t\r\n"), "url: a refused byte accepted");
        }
        /* An origin taken as a browser sends it: one, no longer, and taken as itself again. */
        char canon[512], again[512];
        r = net_origin_canon(s, canon, sizeof(canon));
        check(r >= -1 && r <= 1, "origin: unexpected result");
        check((r == 0) == net_origin_ok(s), "origin: 0 for other than an origin");
        if (r == 1) {
                check(net_origin_ok(canon), "origin: rewritten to no origin");
                check(strlen(canon) <= n, "origin: rewritten longer");
                check(net_origin_canon(canon, again, sizeof(again)) == 0, "origin: not stable");
        }
        if (req_sign_time_parse(s, n, &t) == 0)
                check(n >= 1 && n <= REQ_SIGN_TIME_DIGITS && t >= 0, "time: out of range");
        free(s);
        return 0;
}
