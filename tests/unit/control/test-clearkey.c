/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include <jansson.h>

#include "clearkey.h"
#include "tests.h"

/* kid 0x00..0x0f and 0xff x16 in base64url */
#define KID_A "AAECAwQFBgcICQoLDA0ODw"
#define KID_B "_____________________w"

static int parse(const char *s, struct clearkey_request *r)
{
        return clearkey_request_parse(s, strlen(s), r);
}

TEST(request)
{
        struct clearkey_request r;
        ASSERT_EQ(parse("{\"kids\":[\"" KID_A "\",\"" KID_B "\"],\"type\":\"temporary\"}", &r), 0);
        ASSERT_EQ(r.n_kids, 2);
        ASSERT_EQ(r.type, CLEARKEY_TEMPORARY);
        for (int i = 0; i < 16; i++) {
                ASSERT_EQ(r.kids[0][i], i);
                ASSERT_EQ(r.kids[1][i], 0xff);
        }
        /* Padding tolerated, type optional, duplicates folded. */
        ASSERT_EQ(parse("{\"kids\":[\"" KID_A "==\",\"" KID_A "\"]}", &r), 0);
        ASSERT_EQ(r.n_kids, 1);
        ASSERT_EQ(parse("{\"kids\":[\"" KID_A "\"],\"type\":\"persistent-license\"}", &r), 0);
        ASSERT_EQ(r.type, CLEARKEY_PERSISTENT_LICENSE);
}

TEST(request_refusals)
{
        struct clearkey_request r;
        ASSERT_EQ(parse("", &r), -EBADMSG);
        ASSERT_EQ(parse("[]", &r), -EBADMSG);
        ASSERT_EQ(parse("{}", &r), -EBADMSG);
        ASSERT_EQ(parse("{\"kids\":[]}", &r), -EBADMSG);
        ASSERT_EQ(parse("{\"kids\":\"" KID_A "\"}", &r), -EBADMSG);
        ASSERT_EQ(parse("{\"kids\":[1]}", &r), -EBADMSG);
        ASSERT_EQ(parse("{\"kids\":[\"AAECAwQFBgcICQoLDA0O\"]}", &r), -EBADMSG);    /* 15 bytes */
        ASSERT_EQ(parse("{\"kids\":[\"AAECAwQFBgcICQoLDA0ODxA\"]}", &r), -EBADMSG); /* 17 bytes */
        ASSERT_EQ(parse("{\"kids\":[\"AAECAwQFBgcICQoLDA0OD+\"]}", &r),
                  -EBADMSG); /* not url alphabet */
        ASSERT_EQ(parse("{\"kids\":[\"AAECAwQFBgcICQoLDA0ODx\"]}", &r), -EBADMSG); /* stray bits */
        ASSERT_EQ(parse("{\"kids\":[\"" KID_A "\"],\"type\":\"forever\"}", &r), -EBADMSG);
        ASSERT_EQ(parse("{\"kids\":[\"" KID_A "\"],\"type\":1}", &r), -EBADMSG);
        ASSERT_EQ(parse("{\"kids\":[\"" KID_A "\"],\"kids\":[]}", &r), -EBADMSG);
        ASSERT_EQ(parse("{\"kids\":[\"" KID_A "\"],\"x\":[[[[{}]]]]}", &r), -EBADMSG); /* depth */
        ASSERT_EQ(r.n_kids, 0);

        char buf[CLEARKEY_REQUEST_MAX + 64];
        size_t o = (size_t)snprintf(buf, sizeof(buf), "{\"kids\":[");
        for (int i = 0; i <= CLEARKEY_KIDS_MAX; i++)
                o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\"" KID_A "\"", i ? "," : "");
        snprintf(buf + o, sizeof(buf) - o, "]}");
        ASSERT_EQ(parse(buf, &r), -E2BIG);
        memset(buf, ' ', sizeof(buf));
        ASSERT_EQ(clearkey_request_parse(buf, CLEARKEY_REQUEST_MAX + 1, &r), -E2BIG);
}

TEST(select_and_respond)
{
        struct clearkey_request r;
        ASSERT_EQ(parse("{\"kids\":[\"" KID_B "\",\"" KID_A "\"]}", &r), 0);
        struct clearkey_key avail[2] = {0};
        for (int i = 0; i < 16; i++) {
                avail[0].kid[i] = (uint8_t)i;
                avail[0].key[i] = (uint8_t)(0xa0 + i);
                avail[1].kid[i] = 0x11;
        }
        struct clearkey_key got[CLEARKEY_KIDS_MAX];
        /* Only kid A is both asked for and allowed. */
        size_t n = clearkey_keys_select(&r, avail, 2, got, CLEARKEY_KIDS_MAX);
        ASSERT_EQ(n, 1);
        ASSERT_EQ(got[0].key[0], 0xa0);

        char *s;
        size_t len;
        ASSERT_EQ(clearkey_response_build(got, n, r.type, &s, &len), 0);
        ASSERT_STREQ(s, "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"" KID_A
                        "\",\"k\":\"oKGio6SlpqeoqaqrrK2urw\"}],"
                        "\"type\":\"temporary\"}");
        ASSERT_EQ(strlen(s), len);
        json_t *j = json_loads(s, 0, NULL);
        ASSERT_TRUE(j != NULL);
        ASSERT_EQ(json_array_size(json_object_get(j, "keys")), 1);
        json_decref(j);
        clearkey_response_free(s);

        /* Refusal: nothing allowed, no key bytes. */
        ASSERT_EQ(clearkey_keys_select(&r, avail + 1, 1, got, CLEARKEY_KIDS_MAX), 0);
        ASSERT_EQ(clearkey_response_build(NULL, 0, CLEARKEY_PERSISTENT_LICENSE, &s, &len), 0);
        ASSERT_STREQ(s, "{\"keys\":[],\"type\":\"persistent-license\"}");
        clearkey_response_free(s);
        clearkey_response_free(NULL);

        /* Full house: 16 keys fit. */
        struct clearkey_key many[CLEARKEY_KIDS_MAX];
        memset(many, 0x5a, sizeof(many));
        ASSERT_EQ(clearkey_response_build(many, CLEARKEY_KIDS_MAX, CLEARKEY_TEMPORARY, &s, &len),
                  0);
        j = json_loads(s, 0, NULL);
        ASSERT_EQ(json_array_size(json_object_get(j, "keys")), CLEARKEY_KIDS_MAX);
        json_decref(j);
        clearkey_response_free(s);
        ASSERT_EQ(
            clearkey_response_build(many, CLEARKEY_KIDS_MAX + 1, CLEARKEY_TEMPORARY, &s, &len),
            -EINVAL);
}

TEST(kid_encoding)
{
        uint8_t kid[16];
        char out[23];
        for (int i = 0; i < 16; i++)
                kid[i] = (uint8_t)i;
        ASSERT_STREQ(clearkey_kid_b64url(kid, out), KID_A);
        memset(kid, 0xff, 16);
        ASSERT_STREQ(clearkey_kid_b64url(kid, out), KID_B);
}

TEST_MAIN()
