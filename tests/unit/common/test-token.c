/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "tests.h"
#include "token.h"

static struct token_keyset keyset(void)
{
        struct token_keyset ks = {0};
        snprintf(ks.keys[0].kid, sizeof(ks.keys[0].kid), "k1");
        memset(ks.keys[0].secret, 0x42, 32);
        ks.keys[0].secret_len = 32;
        snprintf(ks.keys[1].kid, sizeof(ks.keys[1].kid), "k2");
        memset(ks.keys[1].secret, 0x17, 32);
        ks.keys[1].secret_len = 32;
        ks.n = 2;
        return ks;
}

static int sign(const struct token_key *k, int64_t exp, int64_t nbf, const char *uc, char *out)
{
        struct token_claims c = {.exp = exp, .nbf = nbf};
        snprintf(c.uc, sizeof(c.uc), "%s", uc);
        return token_sign(k, &c, out, TOKEN_MAX);
}

TEST(b64url_round_trip)
{
        uint8_t in[64], back[64];
        char enc[128];
        for (size_t len = 0; len < sizeof(in); len++) {
                for (size_t i = 0; i < len; i++)
                        in[i] = (uint8_t)(i * 37 + len);
                int n = b64url_encode(in, len, enc, sizeof(enc));
                ASSERT_TRUE(n >= 0);
                ASSERT_TRUE(strchr(enc, '=') == NULL);
                int m = b64url_decode(enc, (size_t)n, back, sizeof(back));
                ASSERT_EQ(m, len);
                ASSERT_TRUE(memcmp(in, back, len) == 0);
        }
        uint8_t out[4];
        ASSERT_EQ(b64url_decode("A", 1, out, sizeof(out)), -EINVAL);
        ASSERT_EQ(b64url_decode("a*b=", 4, out, sizeof(out)), -EINVAL);
        ASSERT_EQ(b64url_decode("AB", 2, out, sizeof(out)), -EINVAL); /* non-zero spare bits */
        ASSERT_EQ(b64url_decode("AAAAAAAA", 8, out, 4), -ENOBUFS);
}

TEST(sign_then_verify)
{
        struct token_keyset ks = keyset();
        char jwt[TOKEN_MAX];
        int n = sign(&ks.keys[1], 2000, 1000, "regex:^https?://[^/]+/t1/", jwt);
        ASSERT_TRUE(n > 0);
        ASSERT_EQ(strlen(jwt), n);
        struct token_claims c;
        ASSERT_EQ(token_verify(&ks, jwt, (size_t)n, 1500, 0, &c), 0);
        ASSERT_EQ(c.exp, 2000);
        ASSERT_EQ(c.nbf, 1000);
        ASSERT_STREQ(c.uc, "regex:^https?://[^/]+/t1/");
        ASSERT_EQ(token_scope_check(&c, "http://edge:8080/t1/v1/seg-3.m4s", 32, NULL), 0);
        ASSERT_EQ(token_scope_check(&c, "http://edge:8080/t2/v1/seg-3.m4s", 32, NULL), -EPERM);
}

TEST(expiry_and_not_before)
{
        struct token_keyset ks = keyset();
        char jwt[TOKEN_MAX];
        int n = sign(&ks.keys[0], 2000, 1000, "", jwt);
        ASSERT_EQ(token_verify(&ks, jwt, (size_t)n, 2001, 0, NULL), -ESTALE);
        ASSERT_EQ(token_verify(&ks, jwt, (size_t)n, 2001, 5, NULL), 0);
        ASSERT_EQ(token_verify(&ks, jwt, (size_t)n, 999, 0, NULL), -EAGAIN);
        ASSERT_EQ(token_verify(&ks, jwt, (size_t)n, 2000, 0, NULL), 0);
}

TEST(far_future_expiry)
{
        struct token_keyset ks = keyset();
        char jwt[TOKEN_MAX];
        int n = sign(&ks.keys[0], INT64_MAX, 0, "", jwt);
        ASSERT_TRUE(n > 0);
        ASSERT_EQ(token_verify(&ks, jwt, (size_t)n, 2000, 30, NULL), 0);
        n = sign(&ks.keys[0], 0, INT64_MAX, "", jwt);
        ASSERT_TRUE(n > 0);
        ASSERT_EQ(token_verify(&ks, jwt, (size_t)n, 2000, 30, NULL), -EAGAIN);
}

TEST(unsignable_claim_refused)
{
        struct token_keyset ks = keyset();
        char jwt[TOKEN_MAX];
        /* Not UTF-8: the claim cannot be carried, and a token without it must not be made. */
        ASSERT_EQ(sign(&ks.keys[0], 2000, 0, "regex:^/t\xff/", jwt), -EINVAL);
}

TEST(longest_escaped_claim_round_trips)
{
        /* Every byte of the longest scope escaped in the signed JSON ("\"" takes two). */
        struct token_keyset ks = keyset();
        struct token_claims c = {.exp = 2000}, back;
        char jwt[TOKEN_MAX];
        int n;

        memset(c.uc, '"', TOKEN_UC_MAX);
        c.uc[TOKEN_UC_MAX] = '\0';
        n = token_sign(&ks.keys[0], &c, jwt, sizeof(jwt));
        ASSERT_TRUE(n > 0);
        ASSERT_EQ(token_verify(&ks, jwt, (size_t)n, 1500, 0, &back), 0);
        ASSERT_STREQ(back.uc, c.uc);
}

TEST(tampering_refused)
{
        struct token_keyset ks = keyset();
        char jwt[TOKEN_MAX];
        int n = sign(&ks.keys[0], 2000, 0, "regex:^.*/t1/", jwt);
        ASSERT_TRUE(n > 0);
        /* Flip one character in each part in turn. */
        const char *d1 = strchr(jwt, '.');
        const char *d2 = strchr(d1 + 1, '.');
        size_t pos[] = {1, (size_t)(d1 - jwt) + 3, (size_t)(d2 - jwt) + 3};
        for (size_t i = 0; i < 3; i++) {
                char t[TOKEN_MAX];
                memcpy(t, jwt, (size_t)n + 1);
                t[pos[i]] = t[pos[i]] == 'A' ? 'B' : 'A';
                int r = token_verify(&ks, t, (size_t)n, 1500, 0, NULL);
                ASSERT_TRUE(r == -EPERM || r == -EINVAL || r == -ENOKEY);
        }
        /* Truncated, extra dots, empty. */
        ASSERT_EQ(token_verify(&ks, jwt, (size_t)n - 1, 1500, 0, NULL), -EPERM);
        ASSERT_EQ(token_verify(&ks, "a.b.c.d", 7, 1500, 0, NULL), -EINVAL);
        ASSERT_EQ(token_verify(&ks, "", 0, 1500, 0, NULL), -EINVAL);
        /* Unknown kid. */
        struct token_key other = ks.keys[0];
        snprintf(other.kid, sizeof(other.kid), "nope");
        n = sign(&other, 2000, 0, "", jwt);
        ASSERT_EQ(token_verify(&ks, jwt, (size_t)n, 1500, 0, NULL), -ENOKEY);
        /* Right kid, wrong secret. */
        other = ks.keys[0];
        other.secret[0] ^= 1;
        n = sign(&other, 2000, 0, "", jwt);
        ASSERT_EQ(token_verify(&ks, jwt, (size_t)n, 1500, 0, NULL), -EPERM);
}

TEST(alg_none_refused)
{
        struct token_keyset ks = keyset();
        /* {"alg":"none","kid":"k1"}.{"exp":9999999999}. */
        char hdr[64], cl[64], jwt[256];
        const char *h = "{\"alg\":\"none\",\"kid\":\"k1\"}";
        const char *c = "{\"exp\":9999999999}";
        int a = b64url_encode((const uint8_t *)h, strlen(h), hdr, sizeof(hdr));
        int b = b64url_encode((const uint8_t *)c, strlen(c), cl, sizeof(cl));
        int n = snprintf(jwt, sizeof(jwt), "%.*s.%.*s.", a, hdr, b, cl);
        ASSERT_EQ(token_verify(&ks, jwt, (size_t)n, 1500, 0, NULL), -EINVAL);
}

TEST(client_ip_claim)
{
        struct token_claims c = {0};
        snprintf(c.ip, sizeof(c.ip), "192.0.2.7");
        ASSERT_EQ(token_scope_check(&c, "/x", 2, "192.0.2.7"), 0);
        ASSERT_EQ(token_scope_check(&c, "/x", 2, "192.0.2.8"), -EPERM);
        ASSERT_EQ(token_scope_check(&c, "/x", 2, NULL), -EPERM);
        /* the client on an IPv6 socket as an IPv4-mapped address is that address */
        ASSERT_EQ(token_scope_check(&c, "/x", 2, "::ffff:192.0.2.7"), 0);
        /* a prefix (RFC 9246 section 2.1.9) */
        snprintf(c.ip, sizeof(c.ip), "192.0.2.0/24");
        ASSERT_EQ(token_scope_check(&c, "/x", 2, "192.0.2.200"), 0);
        ASSERT_EQ(token_scope_check(&c, "/x", 2, "192.0.3.1"), -EPERM);
        snprintf(c.ip, sizeof(c.ip), "10.0.0.0/9");
        ASSERT_EQ(token_scope_check(&c, "/x", 2, "10.127.255.255"), 0);
        ASSERT_EQ(token_scope_check(&c, "/x", 2, "10.128.0.0"), -EPERM);
        snprintf(c.ip, sizeof(c.ip), "0.0.0.0/0");
        ASSERT_EQ(token_scope_check(&c, "/x", 2, "203.0.113.9"), 0);
        ASSERT_EQ(token_scope_check(&c, "/x", 2, "2001:db8::1"), -EPERM); /* another family */
        /* IPv6: spelling does not matter, prefixes work */
        snprintf(c.ip, sizeof(c.ip), "2001:DB8::1");
        ASSERT_EQ(token_scope_check(&c, "/x", 2, "2001:db8:0::1"), 0);
        snprintf(c.ip, sizeof(c.ip), "2001:db8::/32");
        ASSERT_EQ(token_scope_check(&c, "/x", 2, "2001:db8:ffff::5"), 0);
        ASSERT_EQ(token_scope_check(&c, "/x", 2, "2001:db9::5"), -EPERM);
        /* malformed claims match nobody */
        static const char *bad[] = {"192.0.2.0/33", "192.0.2.0/", "192.0.2.0/-1", "host.test",
                                    "192.0.2.0/8x", "2001:db8::/129", ""};
        for (size_t i = 0; i + 1 < sizeof(bad) / sizeof(bad[0]); i++) {
                snprintf(c.ip, sizeof(c.ip), "%s", bad[i]);
                if (token_scope_check(&c, "/x", 2, "192.0.2.1") != -EPERM)
                        TEST_FAIL_AT("claim '%s' matched", bad[i]);
        }
        struct token_claims d = {0};
        snprintf(d.uc, sizeof(d.uc), "hash:abc");
        ASSERT_EQ(token_scope_check(&d, "/x", 2, NULL), -EINVAL);
}

/* A cdniuc pattern regexec() could not run in bounded time (back-references) or regcomp()
 * in bounded memory (bounded repeats multiplying past RX_REPEAT_MAX) is an unusable claim:
 * refused at once, where ^(.*)(.*)(.*)(.*)\4\3\2\1x$ held the worker for seconds. Patterns
 * of the usual shapes, bounded repeats and brackets included, still match. */
TEST(scope_pattern_bounded)
{
        static const char uri[] = "http://edge.test/t1/v1/seg-0123456789012345678901234567.m4s";
        static const char *const refused[] = {
            "regex:^(.*)(.*)(.*)(.*)\\4\\3\\2\\1x$",
            "regex:^(a{1,100}){1,100}$",
            "regex:^(x{2000})",
            "regex:^h{1,40}t{1,40}",
        };
        static const char *const taken[] = {
            "regex:^https?://[^/]+/t1/",
            "regex:^http://edge\\.test/t1/v[0-9]{1,4}/seg-[0-9]{1,40}\\.m4s$",
            "regex:^http://[{a-z.]+/t[1]/",
            "regex:^http://[^/]+/(t1|t2)/.*$",
        };
        struct token_claims c = {0};

        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
                snprintf(c.uc, sizeof(c.uc), "%s", refused[i]);
                ASSERT_EQ(token_scope_check(&c, uri, strlen(uri), NULL), -EINVAL);
        }
        for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
                snprintf(c.uc, sizeof(c.uc), "%s", taken[i]);
                ASSERT_EQ(token_scope_check(&c, uri, strlen(uri), NULL), 0);
        }
}

/* The signed parts are the compact, key-sorted JSON a JSON library prints for the same
 * objects (the signer writes them by hand), quotes and backslashes escaped. */
TEST(signed_json_is_canonical)
{
        struct token_keyset ks = keyset();
        struct token_claims c = {.exp = 2000000000, .nbf = -5};
        char jwt[TOKEN_MAX], part[TOKEN_MAX];
        uint8_t raw[TOKEN_MAX];

        snprintf(c.uc, sizeof(c.uc), "regex:^https?://[^/]*/a\\.b/\".*");
        snprintf(c.ip, sizeof(c.ip), "192.0.2.1");
        snprintf(ks.keys[0].kid, sizeof(ks.keys[0].kid), "k\"1");
        int n = token_sign(&ks.keys[0], &c, jwt, sizeof(jwt));
        ASSERT_TRUE(n > 0);
        const char *dot1 = strchr(jwt, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
        ASSERT_TRUE(dot1 && dot2);
        const char *parts[2][2] = {{jwt, dot1}, {dot1 + 1, dot2}};
        for (int i = 0; i < 2; i++) {
                int len = b64url_decode(parts[i][0], (size_t)(parts[i][1] - parts[i][0]), raw,
                                        sizeof(raw));
                ASSERT_TRUE(len > 0);
                json_t *j = json_loadb((const char *)raw, (size_t)len, 0, NULL);
                ASSERT_TRUE(j != NULL);
                size_t m = json_dumpb(j, part, sizeof(part), JSON_COMPACT | JSON_SORT_KEYS);
                json_decref(j);
                ASSERT_MEMEQ(raw, (size_t)len, part, m);
        }
        /* A control byte cannot be written as the claim says. */
        snprintf(c.uc, sizeof(c.uc), "regex:^/a\n");
        ASSERT_EQ(token_sign(&ks.keys[0], &c, jwt, sizeof(jwt)), -EINVAL);
}

TEST(keyset_file)
{
        char path[] = "/tmp/sluice-test-keys-XXXXXX";
        int fd = mkstemp(path);
        ASSERT_TRUE(fd >= 0);
        const char *doc = "keys:\n"
                          "  - {kid: a, secret: 000102030405060708090a0b0c0d0e0f1011121314151617}\n"
                          "  - {kid: b, secret: c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0}\n";
        ASSERT_EQ(write(fd, doc, strlen(doc)), strlen(doc));
        close(fd);
        struct token_keyset ks;
        char err[512];
        ASSERT_EQ(token_keyset_load(path, TOKEN_SECRET_MIN, &ks, err, sizeof(err)), 0);
        ASSERT_EQ(ks.n, 2);
        ASSERT_STREQ(ks.keys[0].kid, "a");
        ASSERT_EQ(ks.keys[0].secret_len, 24);
        ASSERT_EQ(ks.keys[0].secret[23], 0x17);
        ASSERT_EQ(ks.keys[1].secret_len, 27);
        /* A signer's minimum: 24 bytes load to verify, not to sign. */
        ASSERT_EQ(token_keyset_load(path, TOKEN_SIGN_SECRET_MIN, &ks, err, sizeof(err)), -EINVAL);
        ASSERT_TRUE(strstr(err, "key a: secret is 24 bytes; it must be 32 to 64") != NULL);
        unlink(path);

        char path2[] = "/tmp/sluice-test-keys-XXXXXX";
        fd = mkstemp(path2);
        ASSERT_TRUE(fd >= 0);
        const char *bad = "keys:\n  - {kid: a, secret: short}\n";
        ASSERT_EQ(write(fd, bad, strlen(bad)), strlen(bad));
        close(fd);
        ASSERT_EQ(token_keyset_load(path2, TOKEN_SECRET_MIN, &ks, err, sizeof(err)), -EINVAL);
        ASSERT_TRUE(strstr(err, "secret") != NULL);
        /* The error says where: the file, then the line and column of the secret. */
        char where[600];
        snprintf(where, sizeof(where), "%s:2:", path2);
        ASSERT_TRUE(strncmp(err, where, strlen(where)) == 0);
        unlink(path2);

        /* A kid twice, or an empty one: only the first of two alike would ever be tried (the
         * other's tokens all bad_signature), and an empty one names no key. Refused where. */
        static const char *const twice[][2] = {
            {"keys:\n"
             "  - {kid: a, secret: 000102030405060708090a0b0c0d0e0f1011121314151617}\n"
             "  - {kid: a, secret: c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0}\n",
             ":3:11: key 2: kid \"a\" again (key 1 has it)"},
            {"keys:\n  - {kid: '', secret: 000102030405060708090a0b0c0d0e0f1011121314151617}\n",
             ":2:11: key 1: empty kid"},
        };
        for (size_t i = 0; i < sizeof(twice) / sizeof(twice[0]); i++) {
                char path3[] = "/tmp/sluice-test-keys-XXXXXX";
                fd = mkstemp(path3);
                ASSERT_TRUE(fd >= 0);
                ASSERT_EQ(write(fd, twice[i][0], strlen(twice[i][0])), strlen(twice[i][0]));
                close(fd);
                ASSERT_EQ(token_keyset_load(path3, TOKEN_SECRET_MIN, &ks, err, sizeof(err)),
                          -EINVAL);
                snprintf(where, sizeof(where), "%s%s", path3, twice[i][1]);
                ASSERT_STREQ(err, where);
                unlink(path3);
        }
}

/* Control's GET /v1/admin/keys answer, written as it is, is a keys file: sign_from is read
 * and left, retire_at ends what its key verifies (with the skew allowed). */
TEST(keyset_file_as_control_lists_it)
{
        static const char doc[] =
            "{\"keys\": [{\"kid\": \"new\", \"secret\": "
            "\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\", \"sign_from\": "
            "1700000060, \"retire_at\": null}, {\"kid\": \"old\", \"secret\": "
            "\"1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100\", \"sign_from\": "
            "1690000000, \"retire_at\": 1700001000}]}\n";
        char path[] = "/tmp/sluice-test-keys-XXXXXX", err[512], jwt[TOKEN_MAX];
        struct token_keyset ks;
        struct token_claims c;
        int fd = mkstemp(path), n;

        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, doc, strlen(doc)), strlen(doc));
        close(fd);
        ASSERT_EQ(token_keyset_load(path, TOKEN_SECRET_MIN, &ks, err, sizeof(err)), 0);
        ASSERT_EQ(ks.n, 2);
        ASSERT_EQ(ks.keys[0].retire_at, 0);
        ASSERT_EQ(ks.keys[1].retire_at, 1700001000);
        n = sign(&ks.keys[1], 1700005000, 0, "regex:.*", jwt);
        ASSERT_TRUE(n > 0);
        ASSERT_EQ(token_verify(&ks, jwt, (size_t)n, 1700001000, 30, &c), 0);
        ASSERT_EQ(token_verify(&ks, jwt, (size_t)n, 1700001030, 30, &c), 0);
        ASSERT_EQ(token_verify(&ks, jwt, (size_t)n, 1700001031, 30, &c), -ENOKEY);
        n = sign(&ks.keys[0], 1700005000, 0, "regex:.*", jwt);
        ASSERT_EQ(token_verify(&ks, jwt, (size_t)n, 1700004000, 30, &c), 0);
        unlink(path);

        static const char bad[] = "keys:\n  - {kid: a, secret: "
                                  "000102030405060708090a0b0c0d0e0f1011121314151617, "
                                  "retire_at: soon}\n";
        char path2[] = "/tmp/sluice-test-keys-XXXXXX", where[600];
        fd = mkstemp(path2);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, bad, strlen(bad)), strlen(bad));
        close(fd);
        ASSERT_EQ(token_keyset_load(path2, TOKEN_SECRET_MIN, &ks, err, sizeof(err)), -EINVAL);
        snprintf(where, sizeof(where), "%s:2:", path2);
        ASSERT_TRUE(strncmp(err, where, strlen(where)) == 0);
        ASSERT_TRUE(strstr(err, "key a: retire_at must be Unix seconds (or null)") != NULL);
        unlink(path2);
}

TEST_MAIN()
