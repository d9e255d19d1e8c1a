/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "tests.h"
#include "path-norm.h"

static struct path_norm pn;

static int norm(const char *t)
{
        return path_norm(t, strlen(t), &pn);
}

#define ASSERT_KEY(target, want)                                                                   \
        do {                                                                                       \
                ASSERT_EQ(norm(target), 0);                                                        \
                ASSERT_MEMEQ(pn.key, pn.key_len, want, strlen(want));                              \
                ASSERT_EQ(pn.key[pn.key_len], '\0');                                               \
        } while (0)

TEST(plain)
{
        ASSERT_KEY("/t1/v720/seg-1.m4s", "/t1/v720/seg-1.m4s");
        ASSERT_TRUE(pn.token == NULL);
        ASSERT_TRUE(pn.cmcd == NULL);
        ASSERT_KEY("/", "/");
}

TEST(refuses_non_origin_form)
{
        ASSERT_EQ(norm(""), -EINVAL);
        ASSERT_EQ(norm("t1/seg"), -EINVAL);
        ASSERT_EQ(norm("*"), -EINVAL);
        ASSERT_EQ(norm("http://a/b"), -EINVAL);
        ASSERT_EQ(path_norm(NULL, 0, &pn), -EINVAL);
}

TEST(duplicate_slashes_and_dot)
{
        ASSERT_KEY("//t1///v720//seg-1.m4s", "/t1/v720/seg-1.m4s");
        ASSERT_KEY("/t1/./v720/./seg", "/t1/v720/seg");
        ASSERT_KEY("/./t1", "/t1");
        ASSERT_KEY("/t1/.", "/t1/");
        ASSERT_KEY("/t1/", "/t1/");
        ASSERT_KEY("/t1/%2e", "/t1/");
        ASSERT_KEY("/t1/%2E/x", "/t1/x");
}

TEST(dotdot_pops)
{
        ASSERT_KEY("/a/b/../c", "/a/c");
        ASSERT_KEY("/a/b/..", "/a/");
        ASSERT_KEY("/a/..", "/");
        ASSERT_KEY("/a/b/%2e%2e/c", "/a/c");
        ASSERT_KEY("/a/b/%2E./c", "/a/c");
        ASSERT_KEY("/a/b/.%2e/c", "/a/c");
        ASSERT_KEY("/a/b/%2E%2E/c", "/a/c");
        /* "..." and "..x" are ordinary names */
        ASSERT_KEY("/a/.../b", "/a/.../b");
        ASSERT_KEY("/a/..x/b", "/a/..x/b");
        ASSERT_KEY("/a/.x", "/a/.x");
}

TEST(traversal_above_root_refused_in_every_encoding)
{
        ASSERT_EQ(norm("/.."), -EINVAL);
        ASSERT_EQ(norm("/../etc/passwd"), -EINVAL);
        ASSERT_EQ(norm("/a/../../etc/passwd"), -EINVAL);
        ASSERT_EQ(norm("/%2e%2e/etc/passwd"), -EINVAL);
        ASSERT_EQ(norm("/%2E%2E/etc/passwd"), -EINVAL);
        ASSERT_EQ(norm("/%2E./etc/passwd"), -EINVAL);
        ASSERT_EQ(norm("/.%2e/etc/passwd"), -EINVAL);
        ASSERT_EQ(norm("//../x"), -EINVAL);
        ASSERT_EQ(norm("/./../x"), -EINVAL);
        ASSERT_EQ(norm("/s/abc.def.ghi/../x"), -EINVAL);
        ASSERT_EQ(norm("/s/abc.def.ghi/a/%2e%2e/%2e%2e/x"), -EINVAL);
}

TEST(encoded_separators_refused)
{
        ASSERT_EQ(norm("/a%2f..%2f..%2fetc"), -EINVAL);
        ASSERT_EQ(norm("/a%2F..%2F..%2Fetc"), -EINVAL);
        ASSERT_EQ(norm("/a/..%2fb"), -EINVAL);
        ASSERT_EQ(norm("/a%5c..%5cb"), -EINVAL);
        ASSERT_EQ(norm("/a%5Cb"), -EINVAL);
        ASSERT_EQ(norm("/a\\..\\b"), -EINVAL);
        ASSERT_EQ(norm("/a\\b"), -EINVAL);
        ASSERT_EQ(norm("/a%00b"), -EINVAL);
        ASSERT_EQ(norm("/a/seg.m4s%00.jpg"), -EINVAL);
}

TEST(bad_escapes_refused)
{
        ASSERT_EQ(norm("/a%"), -EINVAL);
        ASSERT_EQ(norm("/a%2"), -EINVAL);
        ASSERT_EQ(norm("/a%2/b"), -EINVAL);
        ASSERT_EQ(norm("/a%zz"), -EINVAL);
        ASSERT_EQ(norm("/a%g0"), -EINVAL);
        ASSERT_EQ(norm("/a%%41"), -EINVAL);
}

TEST(control_bytes_refused)
{
        ASSERT_EQ(norm("/a b"), -EINVAL);
        ASSERT_EQ(norm("/a\tb"), -EINVAL);
        ASSERT_EQ(norm("/a\x7f"), -EINVAL);
        ASSERT_EQ(norm("/a%20b"), -EINVAL);
        ASSERT_EQ(norm("/a%0d%0aX-Evil:%201"), -EINVAL);
        ASSERT_EQ(norm("/a%7f"), -EINVAL);
        ASSERT_EQ(norm("/a%1f"), -EINVAL);
        ASSERT_EQ(path_norm("/a\0b", 4, &pn), -EINVAL);
        ASSERT_EQ(norm("/a?x=\x01"), -EINVAL);
}

TEST(decoded_once)
{
        /* Unreserved bytes are decoded. */
        ASSERT_KEY("/t%31/seg%2D1.m4s", "/t1/seg-1.m4s");
        /* Double encoding: one decoding leaves literal "%2e" text, not a dot segment. */
        ASSERT_KEY("/a/%252e%252e/b", "/a/%2e%2e/b");
        ASSERT_KEY("/%252e%252e/etc", "/%2e%2e/etc");
        ASSERT_KEY("/a/%252f", "/a/%2f");
        /* Overlong UTF-8 for '.' stays two plain bytes and never forms "..". */
        ASSERT_KEY("/a/%c0%ae%c0%ae/b", "/a/\xc0\xae\xc0\xae/b");
        ASSERT_KEY("/%c0%ae%c0%ae/x", "/\xc0\xae\xc0\xae/x");
        ASSERT_KEY("/%e0%80%ae./x", "/\xe0\x80\xae./x");
        /* Raw high bytes pass as they are. */
        ASSERT_KEY("/caf\xc3\xa9", "/caf\xc3\xa9");
}

TEST(fragment_refused)
{
        ASSERT_EQ(norm("/a/b#frag"), -EINVAL);
        ASSERT_EQ(norm("/a/b?x=1#f"), -EINVAL);
        /* An encoded '#' is data. */
        ASSERT_KEY("/a%23b", "/a#b");
}

TEST(token_prefix)
{
        ASSERT_KEY("/s/eyJhbGciOi.eyJleHAi.sig-_x/t1/v720/seg-3.m4s", "/t1/v720/seg-3.m4s");
        ASSERT_TRUE(pn.token != NULL);
        ASSERT_MEMEQ(pn.token, pn.token_len, "eyJhbGciOi.eyJleHAi.sig-_x", 26);

        /* Only the leading pair is a token; a later "/s/" is an ordinary path. */
        ASSERT_KEY("/t1/s/abc/seg", "/t1/s/abc/seg");
        ASSERT_TRUE(pn.token == NULL);

        /* Token with no object, empty token, token with odd bytes */
        ASSERT_EQ(norm("/s/abc.def"), -EINVAL);
        ASSERT_EQ(norm("/s//t1/seg"), -EINVAL);
        ASSERT_EQ(norm("/s/ab%2ecd/t1/seg"), -EINVAL);
        ASSERT_EQ(norm("/s/ab~cd/t1/seg"), -EINVAL);

        /* "/s" alone and "/s/" are not token forms */
        ASSERT_KEY("/s", "/s");
        ASSERT_TRUE(pn.token == NULL);
        ASSERT_EQ(norm("/s/"), -EINVAL);

        /* No key may land in the token namespace by another spelling. */
        ASSERT_EQ(norm("//s/tok/x"), -EINVAL);
        ASSERT_EQ(norm("/./s/tok/x"), -EINVAL);
        ASSERT_EQ(norm("/a/../s/tok/x"), -EINVAL);
        ASSERT_EQ(norm("/%73/tok/x"), -EINVAL);
        ASSERT_EQ(norm("/s/tok/s/tok2/x"), -EINVAL);
        ASSERT_KEY("/sx/tok/x", "/sx/tok/x");

        /* Dot segments after the token resolve against the key root only. */
        ASSERT_KEY("/s/tok/t1/../t2/seg", "/t2/seg");
        ASSERT_MEMEQ(pn.token, pn.token_len, "tok", 3);
}

TEST(query_args)
{
        ASSERT_KEY("/t1/seg-1.m4s?URISigningPackage=aaa.bbb.ccc", "/t1/seg-1.m4s");
        ASSERT_MEMEQ(pn.token, pn.token_len, "aaa.bbb.ccc", 11);

        ASSERT_KEY("/t1/seg-1.m4s?CMCD=bl%3D21300%2Cbr%3D3200&foo=bar", "/t1/seg-1.m4s");
        ASSERT_TRUE(pn.token == NULL);
        ASSERT_MEMEQ(pn.cmcd, pn.cmcd_len, "bl%3D21300%2Cbr%3D3200", 22);

        ASSERT_KEY("/t1/seg?a=1&CMCD=sid%3D%22x%22&URISigningPackage=t.u.v&z", "/t1/seg");
        ASSERT_MEMEQ(pn.cmcd, pn.cmcd_len, "sid%3D%22x%22", 13);
        ASSERT_MEMEQ(pn.token, pn.token_len, "t.u.v", 5);

        /* Other arguments never reach the key. */
        ASSERT_KEY("/t1/seg?v=2", "/t1/seg");
        ASSERT_KEY("/t1/seg?", "/t1/seg");
        ASSERT_KEY("/t1/seg?&&", "/t1/seg");
        ASSERT_TRUE(pn.cmcd == NULL && pn.token == NULL);

        /* Empty CMCD is present but empty */
        ASSERT_KEY("/t1/seg?CMCD=", "/t1/seg");
        ASSERT_TRUE(pn.cmcd != NULL);
        ASSERT_EQ(pn.cmcd_len, 0);

        /* Names are case-sensitive; lookalikes are dropped like any argument. */
        ASSERT_KEY("/t1/seg?urisigningpackage=x&cmcd=y", "/t1/seg");
        ASSERT_TRUE(pn.cmcd == NULL && pn.token == NULL);

        /* A '?' or '/' in the query does not touch the path */
        ASSERT_KEY("/t1/seg?x=/../../etc?y", "/t1/seg");
}

TEST(query_arg_decoded)
{
        static const char t[] = "/admin/objects?prefix=/t1/&limit=7&after=%2Ft1%2Fa+b%zz&limit=8";
        char out[32], small[4];

        ASSERT_EQ(path_norm_query_arg(t, strlen(t), "limit", out, sizeof(out)), 1);
        ASSERT_STREQ(out, "7"); /* the first of two */
        ASSERT_EQ(path_norm_query_arg(t, strlen(t), "after", out, sizeof(out)), 10);
        ASSERT_STREQ(out, "/t1/a b%zz"); /* '+' a space, a bad escape kept */
        ASSERT_EQ(path_norm_query_arg(t, strlen(t), "prefix", out, sizeof(out)), 4);
        ASSERT_STREQ(out, "/t1/");
        /* a name is whole: "limi" is not "limit", nor is "fter" the tail of "after" */
        ASSERT_EQ(path_norm_query_arg(t, strlen(t), "limi", out, sizeof(out)), -ENOENT);
        ASSERT_EQ(path_norm_query_arg(t, strlen(t), "fter", out, sizeof(out)), -ENOENT);
        ASSERT_EQ(path_norm_query_arg("/a/b", 4, "limit", out, sizeof(out)), -ENOENT);
        ASSERT_EQ(path_norm_query_arg("/a?limit", 8, "limit", out, sizeof(out)), -ENOENT);
        ASSERT_EQ(path_norm_query_arg("/a?limit=", 9, "limit", out, sizeof(out)), 0);
        ASSERT_STREQ(out, "");
        /* a value that does not fit is refused, never cut */
        ASSERT_EQ(path_norm_query_arg(t, strlen(t), "after", small, sizeof(small)), -ENAMETOOLONG);
        ASSERT_STREQ(small, "");
        ASSERT_EQ(path_norm_query_arg("/a?x=%41%42%43", 14, "x", small, sizeof(small)), 3);
        ASSERT_STREQ(small, "ABC");
        /* an escape cut by the end of the target or by '&' is kept as it is */
        ASSERT_EQ(path_norm_query_arg("/a?x=%4", 7, "x", out, sizeof(out)), 2);
        ASSERT_STREQ(out, "%4");
        ASSERT_EQ(path_norm_query_arg("/a?x=%4&y=1", 11, "x", out, sizeof(out)), 2);
        ASSERT_STREQ(out, "%4");
        ASSERT_EQ(path_norm_query_arg("/a?x=%00", 8, "x", out, sizeof(out)), 1);
        ASSERT_EQ(out[0], '\0');
}

TEST(two_tokens_refused)
{
        ASSERT_EQ(norm("/s/aaa/t1/seg?URISigningPackage=bbb"), -EINVAL);
        ASSERT_EQ(norm("/t1/seg?URISigningPackage=a&URISigningPackage=b"), -EINVAL);
        ASSERT_EQ(norm("/t1/seg?URISigningPackage="), -EINVAL);
        ASSERT_EQ(norm("/t1/seg?URISigningPackage=a%2eb"), -EINVAL);
}

TEST(length_limit)
{
        char buf[PATH_NORM_MAX + 64];
        buf[0] = '/';
        memset(buf + 1, 'a', PATH_NORM_MAX - 1);
        ASSERT_EQ(path_norm(buf, PATH_NORM_MAX, &pn), 0);
        ASSERT_EQ(pn.key_len, PATH_NORM_MAX);
        memset(buf + 1, 'a', PATH_NORM_MAX);
        ASSERT_EQ(path_norm(buf, PATH_NORM_MAX + 1, &pn), -ENAMETOOLONG);
        /* A trailing slash that would push it over also counts. */
        memset(buf + 1, 'a', PATH_NORM_MAX - 1);
        buf[PATH_NORM_MAX] = '/';
        ASSERT_EQ(path_norm(buf, PATH_NORM_MAX + 1, &pn), -ENAMETOOLONG);
        /* Encoded bytes count once decoded: 3 input bytes per key byte. */
        char big[3 * PATH_NORM_MAX + 8];
        big[0] = '/';
        size_t o = 1;
        for (int i = 0; i < PATH_NORM_MAX - 1; i++) {
                memcpy(big + o, "%41", 3);
                o += 3;
        }
        ASSERT_EQ(path_norm(big, o, &pn), 0);
        ASSERT_EQ(pn.key_len, PATH_NORM_MAX);
        /* Dot segments beyond the limit do not matter once removed. */
        char many[4096];
        o = 0;
        while (o + 2 < sizeof(many)) {
                many[o++] = '/';
                many[o++] = '.';
        }
        ASSERT_EQ(path_norm(many, o, &pn), 0);
        ASSERT_STREQ(pn.key, "/");
}

/* "/" + a run of n1 'a's [+ "/" + a run of n2 'b's] + tail, into buf; returns its length. */
static size_t long_path(char *buf, size_t n1, size_t n2, const char *tail)
{
        size_t o = 0;

        buf[o++] = '/';
        memset(buf + o, 'a', n1);
        o += n1;
        if (n2) {
                buf[o++] = '/';
                memset(buf + o, 'b', n2);
                o += n2;
        }
        memcpy(buf + o, tail, strlen(tail));
        return o + strlen(tail);
}

TEST(dot_segments_before_the_limit)
{
        /* RFC 3986 §5.2.4 removes "/x/.." before the key's length is judged: a segment too
         * long for the key, taken back by a later "..", leaves a short key. */
        char buf[1400];

        ASSERT_EQ(path_norm(buf, long_path(buf, 600, 0, "/../t1/one.bin"), &pn), 0);
        ASSERT_STREQ(pn.key, "/t1/one.bin");
        /* Two segments, the second over the limit with the first, both taken back. */
        ASSERT_EQ(path_norm(buf, long_path(buf, 400, 200, "/../../t1/x"), &pn), 0);
        ASSERT_STREQ(pn.key, "/t1/x");
        /* Only the segment over the limit taken back: the first stays. */
        ASSERT_EQ(path_norm(buf, long_path(buf, 400, 200, "/../c"), &pn), 0);
        ASSERT_EQ(pn.key_len, 403);
        ASSERT_TRUE(memcmp(pn.key + 400, "a/c", 3) == 0);
        /* One left over at the end is still too long, and ".." still stops at the root. */
        ASSERT_EQ(path_norm(buf, long_path(buf, 400, 200, "/./c"), &pn), -ENAMETOOLONG);
        ASSERT_EQ(path_norm(buf, long_path(buf, 400, 200, "/../../.."), &pn), -EINVAL);
        /* A dot segment after a full key is still one. */
        ASSERT_EQ(path_norm(buf, long_path(buf, PATH_NORM_MAX - 1, 0, "/../b"), &pn), 0);
        ASSERT_STREQ(pn.key, "/b");
}

TEST(failure_clears_output)
{
        ASSERT_EQ(norm("/s/tok/a/../../x?CMCD=1"), -EINVAL);
        ASSERT_EQ(pn.key_len, 0);
        ASSERT_TRUE(pn.token == NULL && pn.cmcd == NULL);
}

TEST(token_span_for_logs)
{
        const char *t;
        size_t n;
#define SPAN(s) path_norm_token_span(s, strlen(s), &t, &n)
        ASSERT_TRUE(SPAN("/s/abc.def/t/a.m4s") && n == 7 && !memcmp(t, "abc.def", 7));
        ASSERT_TRUE(SPAN("/s/not a token") && n == 11);
        ASSERT_TRUE(SPAN("/t/a?x=1&URISigningPackage=q.r&y") && n == 3 && !memcmp(t, "q.r", 3));
        /* two tokens: one span over both */
        ASSERT_TRUE(SPAN("/s/a.b/t?URISigningPackage=c.d") && n == 27 && t[0] == 'a');
        ASSERT_TRUE(!SPAN("/t/a.m4s?URISigningPackageX=1"));
        ASSERT_TRUE(!SPAN("/x/s/a.b/c"));
        ASSERT_TRUE(!SPAN("/s/"));
        ASSERT_TRUE(!SPAN("/t?URISigningPackage="));
        /* Absolute form, and leading slashes: refused targets are logged as written, so their
         * tokens were shown. */
        ASSERT_TRUE(SPAN("http://x/s/a.b.c/t1/seg-1.m4s") && n == 5 && !memcmp(t, "a.b.c", 5));
        ASSERT_TRUE(SPAN("HTTPS://h:8443/s/a.b/x") && n == 3 && !memcmp(t, "a.b", 3));
        ASSERT_TRUE(SPAN("//s/a.b/t/x") && n == 3 && !memcmp(t, "a.b", 3));
        ASSERT_TRUE(SPAN("http://x//s/a.b") && n == 3 && !memcmp(t, "a.b", 3));
        ASSERT_TRUE(!SPAN("http://s/a.b/t"));
        ASSERT_TRUE(!SPAN("http://x/t/s/a.b"));
        ASSERT_TRUE(!SPAN("s/a.b/t"));
        /* A token in a target the rules above do not read (refused, but logged as written). */
#define JWT "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2ln-_x"
        ASSERT_TRUE(SPAN("/./s/" JWT "/t1/seg-1.m4s") && n == strlen(JWT) &&
                    !memcmp(t, JWT, n));
        ASSERT_TRUE(SPAN("/%73/" JWT "/t1/seg-1.m4s") && n == strlen(JWT) && t[0] == 'e');
        ASSERT_TRUE(SPAN("http://h?/s/" JWT "/t1/x") && n == strlen(JWT) && t[0] == 'e');
        ASSERT_TRUE(SPAN("/a/..%2fs/" JWT) && n == strlen(JWT));
        ASSERT_TRUE(!SPAN("/t1/eyJabc.def/x.m4s"));      /* one dot */
        ASSERT_TRUE(!SPAN("/t1/xeyJhbGci.eyJ.abcdefgh")); /* not at a run's start */
        ASSERT_TRUE(!SPAN("/t1/eyJ.a.b"));                /* too short for a token */
#undef JWT
#undef SPAN
}

TEST(encode_round_trip)
{
        char out[PATH_NORM_MAX * 3 + 1];
        const char *targets[] = {"/a/%252e%252e/b", "/a%23b",   "/caf%C3%A9/x?y",
                                 "/t1/seg-1.m4s",   "/a%3Fb/c", "/~u/x:y@z"};
        for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
                struct path_norm a, b;
                ASSERT_EQ(path_norm(targets[i], strlen(targets[i]), &a), 0);
                int n = path_norm_encode(a.key, a.key_len, out, sizeof(out));
                ASSERT_TRUE(n > 0);
                ASSERT_EQ(path_norm(out, (size_t)n, &b), 0);
                ASSERT_MEMEQ(a.key, a.key_len, b.key, b.key_len);
        }
        ASSERT_EQ(path_norm_encode("/a%2e", 5, out, sizeof(out)), 7);
        ASSERT_STREQ(out, "/a%252e");
        ASSERT_EQ(path_norm_encode("/abc", 4, out, 4), -ENOBUFS);
        ASSERT_EQ(path_norm_encode("/abc", 4, out, 5), 4);
        ASSERT_EQ(path_norm_encode("/a b", 4, out, 6), -ENOBUFS);
        ASSERT_EQ(path_norm_encode("/a b", 4, out, 7), 6);
        ASSERT_STREQ(out, "/a%20b");
}

TEST_MAIN()
