/* SPDX-License-Identifier: MIT */
/*
 * control/json-write.c against jansson: every value written here must come out byte for byte
 * as json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) writes it (the API's answers are compared
 * by the integration tests, which would not notice a rarely taken path going wrong).
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json-write.h"
#include "tests.h"

/* Whether json_write_dumps(v) equals jansson's text; prints both when not. v is stolen. */
static bool same(json_t *v)
{
        char *ours = json_write_dumps(v);
        char *theirs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        bool eq = ours && theirs && !strcmp(ours, theirs);

        if (!eq)
                fprintf(stderr, "  ours   %s\n  jansson %s\n", ours ? ours : "(null)",
                        theirs ? theirs : "(null)");
        free(ours);
        free(theirs);
        json_decref(v);
        return eq;
}

/* The text of one real, written piece by piece. */
static bool same_real(double d)
{
        struct json_write w;
        json_t *v = json_real(d);
        char *theirs = json_dumps(v, JSON_ENCODE_ANY), *ours;
        bool eq;

        json_write_init(&w);
        json_write_real(&w, d);
        ours = json_write_steal(&w, NULL);
        eq = ours && theirs && !strcmp(ours, theirs);
        if (!eq)
                fprintf(stderr, "  %.17g: ours %s, jansson %s\n", d, ours ? ours : "(null)",
                        theirs ? theirs : "(null)");
        free(ours);
        free(theirs);
        json_decref(v);
        return eq;
}

TEST(literals_and_integers)
{
        ASSERT_TRUE(same(json_true()));
        ASSERT_TRUE(same(json_false()));
        ASSERT_TRUE(same(json_null()));
        ASSERT_TRUE(same(json_integer(0)));
        ASSERT_TRUE(same(json_integer(-1)));
        ASSERT_TRUE(same(json_integer(1234567890123LL)));
        ASSERT_TRUE(same(json_integer(INT64_MAX)));
        ASSERT_TRUE(same(json_integer(INT64_MIN)));
}

TEST(reals)
{
        static const double v[] = {
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            -0.25,
            0.1,
            1.0 / 3.0,
            2.0 / 3.0,
            3600.0,
            12.5,
            1e15,
            -1e15,
            1e15 - 1,
            1e16,
            123456789012345678.0,
            1e17,
            1e21,
            1e22,
            1e100,
            1e300,
            1e-5,
            1e-7,
            1.5e-7,
            1e-100,
            1e-300,
            5e-324,
            DBL_MIN,
            DBL_MAX,
            -DBL_MAX,
            1764290000.123,
            1764290000.0,
            9007199254740993.0,
            0.30000000000000004,
            100.0,
            4.35,
            1e7,
            1.25e+20,
        };

        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
                ASSERT_TRUE(same_real(v[i]));
                ASSERT_TRUE(same(json_real(v[i])));
        }
        /* A spread of magnitudes and fractions, as positions and licence times are. */
        srand(7);
        for (int i = 0; i < 20000; i++) {
                double d = ldexp((double)rand() / RAND_MAX, rand() % 200 - 100);
                if (rand() & 1)
                        d = -d;
                ASSERT_TRUE(same_real(d));
                ASSERT_TRUE(same_real(floor(d * 1000)));
        }
}

TEST(non_finite_reals_fail)
{
        struct json_write w;

        json_write_init(&w);
        json_write_raw(&w, "[", 1);
        json_write_real(&w, NAN);
        ASSERT_TRUE(json_write_steal(&w, NULL) == NULL);
        json_write_init(&w);
        json_write_real(&w, INFINITY);
        ASSERT_TRUE(json_write_steal(&w, NULL) == NULL);
}

TEST(strings_and_escapes)
{
        static const char *const s[] = {
            "",
            "plain",
            "http://127.0.0.1:7000/v1/manifest/S1.abc.def.mpd",
            "slash / and \\",
            "quote \" inside",
            "\b\f\n\r\t",
            "\x01\x02\x1f\x7f",
            "<MPD xmlns=\"urn:mpeg\">\n</MPD>",
            "caf\xc3\xa9",
            "\xe2\x82\xac 5",
            "\xf0\x9f\x8e\xac film",
            "mixed \"\xc3\xa9\"\n\t/",
            "\357\273\277bom",
            "\xe2\x80\xa8 line separator",
        };

        for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
                ASSERT_TRUE(same(json_string(s[i])));
        /* Every control byte, alone and in text. */
        for (int c = 1; c < 0x20; c++) {
                char b[8] = {'a', (char)c, 'b', 0};
                ASSERT_TRUE(same(json_string(b)));
        }
        /* A NUL inside a string (json_stringn), as jansson writes it. */
        ASSERT_TRUE(same(json_stringn("a\0b", 3)));
        /* Invalid UTF-8 is refused by jansson's constructor and by the writer alike. */
        {
                struct json_write w;
                json_write_init(&w);
                json_write_str(&w, "bad \xc3(", 6);
                ASSERT_TRUE(json_write_steal(&w, NULL) == NULL);
        }
}

TEST(nesting_and_order)
{
        json_t *o = json_pack("{s:s, s:i, s:f, s:b, s:n, s:[i, f, s, {}, []], s:{s:{s:f, s:f}}}",
                              "session", "0123abcd", "expires", 1764290000, "resume_position", 0.0,
                              "encrypted", 1, "hls_url", "list", 1, 2.5, "caf\xc3\xa9", "markers",
                              "intro", "start", 10.0, "end", 95.5);

        ASSERT_TRUE(o != NULL);
        /* Members keep their insertion order, also after a delete and a re-add. */
        json_object_del(o, "expires");
        json_object_set_new(o, "expires", json_integer(5));
        json_object_set_new(o, "session", json_string("replaced in place"));
        json_object_set_new(o, "k\"ey\n", json_string("escaped key"));
        ASSERT_TRUE(same(o));

        /* Deeper than the writer goes itself: jansson writes the rest. */
        json_t *deep = json_array(), *cur = deep;
        for (int i = 0; i < JSON_WRITE_DEPTH + 8; i++) {
                json_t *n = i % 2 ? json_array() : json_object();
                if (json_is_array(cur))
                        json_array_append_new(cur, n);
                else
                        json_object_set_new(cur, "k", n);
                cur = n;
        }
        ASSERT_TRUE(same(deep));
        ASSERT_TRUE(same(json_object()));
        ASSERT_TRUE(same(json_array()));
}

TEST(pieces_match_a_tree)
{
        json_t *o = json_pack("{s:s, s:n, s:I, s:f, s:s}", "url", "http://h/x?a=1&b=\"2\"",
                              "episode", "expires", (json_int_t)1764290123, "position", 12.75,
                              "name", "Am\xc3\xa9lie");
        char *theirs = json_dumps(o, JSON_COMPACT), *ours;
        struct json_write w;
        size_t len = 0;

        json_write_init(&w);
        json_write_lit(&w, "{\"url\":");
        json_write_cstr(&w, "http://h/x?a=1&b=\"2\"");
        json_write_lit(&w, ",\"episode\":");
        json_write_cstr(&w, NULL);
        json_write_lit(&w, ",\"expires\":");
        json_write_int(&w, 1764290123);
        json_write_lit(&w, ",\"position\":");
        json_write_real(&w, 12.75);
        json_write_lit(&w, ",\"name\":");
        json_write_value(&w, json_object_get(o, "name"));
        json_write_raw(&w, "}", 1);
        ours = json_write_steal(&w, &len);
        ASSERT_STREQ(ours, theirs);
        ASSERT_EQ(len, strlen(theirs));
        /* The buffer is empty after a steal and can be used again. */
        ASSERT_TRUE(w.b.p == NULL && w.b.len == 0);
        free(ours);
        free(theirs);
        json_decref(o);
}

TEST(members_left_open)
{
        json_t *o = json_pack("{s:s, s:{s:i}}", "a", "x", "b", "c", 1);
        char *theirs, *ours;
        struct json_write w;

        json_object_set_new(o, "manifest", json_string("<MPD>\n</MPD>"));
        theirs = json_dumps(o, JSON_COMPACT);
        json_object_del(o, "manifest");
        json_write_init(&w);
        json_write_members(&w, o);
        json_write_lit(&w, ",\"manifest\":");
        json_write_cstr(&w, "<MPD>\n</MPD>");
        json_write_raw(&w, "}", 1);
        ours = json_write_steal(&w, NULL);
        ASSERT_STREQ(ours, theirs);
        free(ours);
        free(theirs);
        /* Not an object: nothing to leave open. */
        json_write_init(&w);
        json_write_members(&w, json_object_get(o, "a"));
        ASSERT_TRUE(json_write_steal(&w, NULL) == NULL);
        json_decref(o);
}

TEST(a_null_value_fails)
{
        ASSERT_TRUE(json_write_dumps(NULL) == NULL);
}

TEST_MAIN()
