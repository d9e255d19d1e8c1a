/* SPDX-License-Identifier: MIT */
/*
 * Admission (edge/serve-admit.c) shared by HTTP/1.1 and HTTP/2: the method (405 with Allow,
 * the OPTIONS preflight), a body refused, the target as a cache key (400, 414), the peer
 * bearer and the signed URL when tokens are required, and the access-log line with its CMCD
 * fields. Requests are parsed from text; tokens are signed with the project's own signer.
 */
#include <fcntl.h>
#include <unistd.h>

#include "path-norm.h"
#include "token.h"

#include "plan-fixture.h"
#include "serve-admit.h"

#define SEG      "/t1/v1/seg-3.m4s"

static struct serve_plan plan;
static struct path_norm pn;
static struct token_keyset keys;
static bool peer;

/* Admit a request with the given header lines; has_body as request.c derives it. */
static int admit(const char *method, const char *target, const char *hdrs)
{
        struct http1_req *req = fix_req(method, target, hdrs);
        bool has_body = req->chunked || req->content_length > 0;

        peer = false;
        return serve_admit(&plan, &fix.c, req, target, strlen(target), has_body, &pn, &peer);
}

/* Require signed URLs, verified with one key. */
static void require_tokens(void)
{
        memset(&keys, 0, sizeof(keys));
        (void)snprintf(keys.keys[0].kid, sizeof(keys.keys[0].kid), "k1");
        memset(keys.keys[0].secret, 0x42, 32);
        keys.keys[0].secret_len = 32;
        keys.n = 1;
        fix.cfg.tokens.required = true;
        fix.rt.keys = &keys;
}

/* "/s/<jwt>/<path>" for a token valid now whose container is uc, signed with key. */
static const char *signed_target(const struct token_key *key, const char *uc, int64_t exp,
                                 const char *path)
{
        static char target[TOKEN_MAX + 256];
        struct token_claims c = {.exp = exp, .nbf = time(NULL) - 60};
        char jwt[TOKEN_MAX];

        (void)snprintf(c.uc, sizeof(c.uc), "%s", uc);
        if (token_sign(key, &c, jwt, sizeof(jwt)) <= 0) {
                fprintf(stderr, "token_sign failed\n");
                exit(1);
        }
        (void)snprintf(target, sizeof(target), "/s/%s%s", jwt, path);
        return target;
}

TEST(get_and_head_go_on_to_the_store)
{
        fix_init(NULL, NULL);
        ASSERT_EQ(admit("GET", "/t1//v1/./x/../seg-3.m4s?x=1", NULL), 0);
        ASSERT_MEMEQ(pn.key, pn.key_len, SEG, strlen(SEG));
        ASSERT_TRUE(!peer);
        ASSERT_EQ(admit("HEAD", SEG, NULL), 0);
        ASSERT_MEMEQ(pn.key, pn.key_len, SEG, strlen(SEG));
}

TEST(other_methods_get_405_with_allow)
{
        static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH", "BREW"};

        fix_init(NULL, NULL);
        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
                ASSERT_EQ(admit(methods[i], SEG, NULL), 1);
                ASSERT_EQ(plan.status, 405);
                ASSERT_STREQ(hdr_names(&plan), CORS_ANY ", Allow, Content-Type, Content-Length");
                ASSERT_STREQ(hdr(&plan, "Allow"), "GET, HEAD, OPTIONS");
                ASSERT_EQ(plan.body, SERVE_BODY_TEXT);
                ASSERT_MEMEQ(plan.text, plan.len, "405 Method Not Allowed\n", 23);
        }
}

TEST(preflight)
{
        static const char allow_headers[] =
            "Range, If-Range, If-None-Match, If-Modified-Since, If-Match, If-Unmodified-Since, "
            "CMCD-Object, CMCD-Request, CMCD-Session, CMCD-Status";

        fix_init(NULL, NULL);
        ASSERT_EQ(admit("OPTIONS", SEG,
                        "Origin: https://player.example\r\n"
                        "Access-Control-Request-Method: GET\r\n"
                        "Access-Control-Request-Headers: range, cmcd-request\r\n"),
                  1);
        ASSERT_EQ(plan.status, 204);
        ASSERT_EQ(plan.body, SERVE_BODY_NONE);
        ASSERT_STREQ(hdr_names(&plan), CORS_ANY ", Allow, Access-Control-Allow-Methods, "
                                                "Access-Control-Allow-Headers, "
                                                "Access-Control-Max-Age");
        ASSERT_STREQ(hdr(&plan, "Access-Control-Allow-Origin"), "*");
        ASSERT_STREQ(hdr(&plan, "Allow"), "GET, HEAD, OPTIONS");
        ASSERT_STREQ(hdr(&plan, "Access-Control-Allow-Methods"), "GET, HEAD, OPTIONS");
        ASSERT_STREQ(hdr(&plan, "Access-Control-Allow-Headers"), allow_headers);
        ASSERT_STREQ(hdr(&plan, "Access-Control-Max-Age"), "86400");
        ASSERT_TRUE(hdr(&plan, "Content-Length") == NULL); /* 204 */
        ASSERT_TRUE(hdr(&plan, "Access-Control-Allow-Credentials") == NULL);

        /* a listed origin is echoed, with Vary */
        fix_init(NULL, "https://player.example");
        ASSERT_EQ(admit("OPTIONS", SEG, "Origin: https://player.example\r\n"), 1);
        ASSERT_EQ(plan.status, 204);
        ASSERT_STREQ(hdr(&plan, "Vary"), "Origin");
        ASSERT_STREQ(hdr(&plan, "Access-Control-Allow-Origin"), "https://player.example");

        /* a preflight with a body is refused like any request with one */
        fix_init(NULL, NULL);
        ASSERT_EQ(admit("OPTIONS", SEG, "Content-Length: 3\r\n"), 1);
        ASSERT_EQ(plan.status, 400);
}

TEST(a_body_is_refused)
{
        fix_init(NULL, NULL);
        ASSERT_EQ(admit("GET", SEG, "Content-Length: 5\r\n"), 1);
        ASSERT_EQ(plan.status, 400);
        ASSERT_MEMEQ(plan.text, plan.len, "400 Bad Request\n", 16);
        ASSERT_EQ(admit("GET", SEG, "Transfer-Encoding: chunked\r\n"), 1);
        ASSERT_EQ(plan.status, 400);
        ASSERT_EQ(admit("HEAD", SEG, "Content-Length: 1\r\n"), 1);
        ASSERT_EQ(plan.status, 400);
        /* an empty body is no body */
        ASSERT_EQ(admit("GET", SEG, "Content-Length: 0\r\n"), 0);
}

TEST(targets_that_are_not_keys)
{
        static char long_target[PATH_NORM_MAX + 64];

        fix_init(NULL, NULL);
        ASSERT_EQ(admit("GET", "/t1/../../etc/passwd", NULL), 1);
        ASSERT_EQ(plan.status, 400);
        ASSERT_EQ(admit("GET", "/t1/%2e%2e/%2e%2e/etc/passwd", NULL), 1);
        ASSERT_EQ(plan.status, 400);
        ASSERT_EQ(admit("GET", "/t1/a%2fb", NULL), 1); /* an encoded separator */
        ASSERT_EQ(plan.status, 400);
        ASSERT_EQ(admit("GET", "/t1/a%00b", NULL), 1);
        ASSERT_EQ(plan.status, 400);

        long_target[0] = '/';
        memset(long_target + 1, 'a', sizeof(long_target) - 2);
        ASSERT_EQ(admit("GET", long_target, NULL), 1);
        ASSERT_EQ(plan.status, 414);
}

TEST(tokens_missing_bad_and_good)
{
        struct token_key other = {.kid = "k1", .secret_len = 32};
        const char *t;
        int64_t exp = time(NULL) + 3600;

        fix_init(NULL, NULL);
        require_tokens();
        ASSERT_EQ(admit("GET", SEG, NULL), 1);
        ASSERT_EQ(plan.status, 403);
        ASSERT_MEMEQ(plan.text, plan.len, "403 Forbidden\n", 14);
        ASSERT_EQ(admit("GET", "/s/not.a.token" SEG, NULL), 1);
        ASSERT_EQ(plan.status, 403);

        /* signed by a key with the right id and the wrong secret */
        memset(other.secret, 0x17, 32);
        ASSERT_EQ(admit("GET", signed_target(&other, "", exp, SEG), NULL), 1);
        ASSERT_EQ(plan.status, 403);
        /* expired beyond the skew */
        ASSERT_EQ(admit("GET", signed_target(&keys.keys[0], "", time(NULL) - 120, SEG), NULL), 1);
        ASSERT_EQ(plan.status, 403);
        /* scoped to another title */
        t = signed_target(&keys.keys[0], "regex:^https?://[^/]+/t2/", exp, SEG);
        ASSERT_EQ(admit("GET", t, NULL), 1);
        ASSERT_EQ(plan.status, 403);

        /* good: in the path and in the query; the key loses the signing package */
        t = signed_target(&keys.keys[0], "regex:^https?://[^/]+/t1/", exp, SEG);
        ASSERT_EQ(admit("GET", t, NULL), 0);
        ASSERT_MEMEQ(pn.key, pn.key_len, SEG, strlen(SEG));
        ASSERT_TRUE(pn.token != NULL);
        char query[TOKEN_MAX + 256];
        (void)snprintf(query, sizeof(query), SEG "?URISigningPackage=%.*s", (int)pn.token_len,
                       pn.token);
        ASSERT_EQ(admit("HEAD", query, NULL), 0);
        ASSERT_MEMEQ(pn.key, pn.key_len, SEG, strlen(SEG));

        /* tokens required but no keys loaded: nothing passes */
        fix.rt.keys = NULL;
        ASSERT_EQ(admit("GET", t, NULL), 1);
        ASSERT_EQ(plan.status, 403);
}

TEST(peer_bearer)
{
        fix_init(NULL, NULL);
        require_tokens();
        memcpy(fix.rt.peer_token, "child-secret", 12);
        fix.rt.peer_token_len = 12;

        ASSERT_EQ(admit("GET", SEG, "Authorization: Bearer child-secret\r\n"), 0);
        ASSERT_TRUE(peer);
        ASSERT_EQ(admit("GET", SEG, "Authorization: bearer child-secret\r\n"), 0);
        ASSERT_TRUE(peer);
        ASSERT_EQ(admit("GET", SEG, "Authorization: Bearer child-secreT\r\n"), 1);
        ASSERT_TRUE(!peer);
        ASSERT_EQ(plan.status, 403);
        ASSERT_EQ(admit("GET", SEG, "Authorization: Bearer child-secret2\r\n"), 1);
        ASSERT_EQ(plan.status, 403);
        ASSERT_EQ(admit("GET", SEG, "Authorization: Basic child-secret\r\n"), 1);
        ASSERT_EQ(plan.status, 403);

        /* no peer token configured: a bearer is nobody */
        fix.rt.peer_token_len = 0;
        ASSERT_EQ(admit("GET", SEG, "Authorization: Bearer \r\n"), 1);
        ASSERT_TRUE(!peer);
}

/* The access-log line the admitted request stages, once ended with status 200. */
static const char *log_line(const char *target, const char *hdrs)
{
        static char out[4096];
        int p[2];
        ssize_t n;

        if (pipe2(p, O_NONBLOCK) < 0) {
                perror("pipe2");
                exit(1);
        }
        access_log_buf_init(&fix.w.alog, p[1]);
        (void)admit("GET", target, hdrs);
        access_log_end(&fix.w.alog, 200, 0, 0, NULL);
        access_log_flush(&fix.w.alog);
        n = read(p[0], out, sizeof(out) - 1);
        out[n > 0 ? n : 0] = '\0';
        access_log_buf_init(&fix.w.alog, -1);
        (void)close(p[0]);
        (void)close(p[1]);
        return out;
}

TEST(cmcd_in_the_log_line)
{
        const char *line;

        fix_init(NULL, NULL);
        line = log_line(SEG "?CMCD=br%3D3200%2Cbl%3D2000%2Csid%3D%22s1%22", NULL);
        ASSERT_TRUE(strstr(line, " key=" SEG " cmcd=bl=2000,br=3200,sid=\"s1\" proto=h1 ") !=
                    NULL);
        /* the headers, merged with the query */
        line = log_line(SEG "?CMCD=br%3D3200", "CMCD-Session: sid=\"s2\"\r\n"
                                               "CMCD-Request: bl=900\r\n");
        ASSERT_TRUE(strstr(line, " cmcd=bl=900,br=3200,sid=\"s2\" ") != NULL);
        /* a syntax error keeps what came before it, and never fails the request */
        line = log_line(SEG, "CMCD-Request: bl=900,=x\r\n");
        ASSERT_TRUE(strstr(line, " 200 ") != NULL);
        ASSERT_TRUE(strstr(line, " cmcd=bl=900 ") != NULL);
        line = log_line(SEG, NULL);
        ASSERT_TRUE(strstr(line, " cmcd=- ") != NULL);
        /* a refused request is logged too, without a key */
        line = log_line("/t1/../../x", NULL);
        ASSERT_TRUE(strstr(line, " key=- cmcd=- ") != NULL);
}

TEST_MAIN()
