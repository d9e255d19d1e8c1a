/* SPDX-License-Identifier: MIT */
/*
 * control/req-parse.c: query parameters, the nesting of a JSON body and X-Forwarded-For, each
 * on good input, at and one past its limits, and on malformed input. Inputs carry their
 * length, so embedded NULs and unterminated buffers are part of the tables.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "req-parse.h"
#include "tests.h"

/* A literal with its length, NULs inside included. */
#define S(lit) lit, sizeof(lit) - 1

/* ---- req_query_get ---- */

struct query_case {
        const char *query;
        size_t len;
        const char *name;
        size_t cap;
        int ret;          /* the value's length, or -errno */
        const char *want; /* the value when ret >= 0 */
};

static const struct query_case query_cases[] = {
        /* found, first occurrence wins, names match whole */
        {S("a=1&b=2"), "a", 16, 1, "1"},
        {S("a=1&b=2"), "b", 16, 1, "2"},
        {S("a=1&a=2"), "a", 16, 1, "1"},
        {S("ab=1&a=2"), "a", 16, 1, "2"},
        {S("a=1"), "ab", 16, -ENOENT, NULL},
        {S("xa=1"), "a", 16, -ENOENT, NULL},
        {S("a=1&b=2"), "c", 16, -ENOENT, NULL},
        {S(""), "a", 16, -ENOENT, NULL},
        {S("&&a=1&"), "a", 16, 1, "1"},
        {S("b&a=x&c"), "a", 16, 1, "x"},
        /* present without a value, or with an empty one */
        {S("a&b=1"), "a", 16, 0, ""},
        {S("a=&b=1"), "a", 16, 0, ""},
        {S("b=1&a"), "a", 16, 0, ""},
        /* a value may hold '=' */
        {S("a=x=y"), "a", 16, 3, "x=y"},
        /* percent-decoding, either case of hex, '+' as a space */
        {S("a=x%20y+z"), "a", 16, 5, "x y z"},
        {S("a=%41%62%2f%2F"), "a", 16, 4, "Ab//"},
        {S("a=%2B+"), "a", 16, 2, "+ "},
        {S("a=%26b%3D1&b=2"), "a", 16, 4, "&b=1"},
        {S("a=%c3%a9"), "a", 16, 2, "\xc3\xa9"},
        {S("a=\xc3\xa9"), "a", 16, 2, "\xc3\xa9"},
        /* the length bounds the scan, not a NUL */
        {S("a=123&b=4"), "a", 16, 3, "123"},
        {"a=123&b=4", 4, "a", 16, 2, "12"},
        {"a=123&b=4", 2, "a", 16, 0, ""},
        {"a=123&b=4", 1, "a", 16, 0, ""},
        {"b=1&a=2", 3, "a", 16, -ENOENT, NULL},
        /* bad escapes: not hex, or cut short by the parameter's or the query's end */
        {S("a=%zz"), "a", 16, -EINVAL, NULL},
        {S("a=%4g"), "a", 16, -EINVAL, NULL},
        {S("a=%g4"), "a", 16, -EINVAL, NULL},
        {S("a=%"), "a", 16, -EINVAL, NULL},
        {S("a=%4"), "a", 16, -EINVAL, NULL},
        {S("a=%4&b=1"), "a", 16, -EINVAL, NULL},
        {S("a=x%&b=1"), "a", 16, -EINVAL, NULL},
        {"a=%41", 4, "a", 16, -EINVAL, NULL},
        /* control bytes, decoded or raw, NUL included; 0x20 and 0x7e are the edges of text */
        {S("a=%00"), "a", 16, -EINVAL, NULL},
        {S("a=%0a"), "a", 16, -EINVAL, NULL},
        {S("a=%1f"), "a", 16, -EINVAL, NULL},
        {S("a=%7f"), "a", 16, -EINVAL, NULL},
        {S("a=%7F"), "a", 16, -EINVAL, NULL},
        {S("a=x\x01"), "a", 16, -EINVAL, NULL},
        {S("a=x\x7f"), "a", 16, -EINVAL, NULL},
        {S("a=x\0y"), "a", 16, -EINVAL, NULL},
        {S("a=%20"), "a", 16, 1, " "},
        {S("a=%7e"), "a", 16, 1, "~"},
        /* only the parameter asked for is decoded */
        {S("b=%zz&a=1"), "a", 16, 1, "1"},
        {S("b=%00&a=1"), "a", 16, 1, "1"},
        {S("a=1&b=%zz"), "a", 16, 1, "1"},
        /* cap: a value of cap - 1 bytes fits, one more does not; decoded bytes count */
        {S("a=abc"), "a", 4, 3, "abc"},
        {S("a=abcd"), "a", 4, -E2BIG, NULL},
        {S("a=%41%42%43"), "a", 4, 3, "ABC"},
        {S("a=%41%42%43"), "a", 3, -E2BIG, NULL},
        {S("a=+++"), "a", 4, 3, "   "},
        {S("a=++++"), "a", 4, -E2BIG, NULL},
        {S("a="), "a", 1, 0, ""},
        {S("a"), "a", 1, 0, ""},
        {S("a=x"), "a", 1, -E2BIG, NULL},
        {S("a="), "a", 0, -E2BIG, NULL},
};

TEST(query_get)
{
        for (size_t i = 0; i < sizeof(query_cases) / sizeof(query_cases[0]); i++) {
                const struct query_case *c = &query_cases[i];
                char buf[32];
                int r;

                memset(buf, 'Z', sizeof(buf));
                r = req_query_get(c->query, c->len, c->name, buf, c->cap);
                if (r != c->ret)
                        TEST_FAIL_AT("case %zu (\"%.*s\", %s, cap %zu): %d, want %d", i,
                                     (int)c->len, c->query, c->name, c->cap, r, c->ret);
                if (r >= 0 && (strlen(buf) != (size_t)r || strcmp(buf, c->want) != 0))
                        TEST_FAIL_AT("case %zu (\"%.*s\", %s): \"%s\", want \"%s\"", i,
                                     (int)c->len, c->query, c->name, buf, c->want);
                /* nothing is written past cap */
                if (c->cap < sizeof(buf) && buf[c->cap] != 'Z')
                        TEST_FAIL_AT("case %zu: wrote past cap %zu", i, c->cap);
        }
}

/* A value as long as the caller's buffer allows, and one byte longer. */
TEST(query_get_long_value)
{
        char q[4200], buf[4096];
        size_t n;

        memcpy(q, "k=", 2);
        memset(q + 2, 'v', sizeof(buf) - 1);
        n = 2 + sizeof(buf) - 1;
        ASSERT_EQ(req_query_get(q, n, "k", buf, sizeof(buf)), sizeof(buf) - 1);
        ASSERT_EQ(strlen(buf), sizeof(buf) - 1);
        q[n++] = 'v';
        ASSERT_EQ(req_query_get(q, n, "k", buf, sizeof(buf)), -E2BIG);
        /* the same length in other parameters costs nothing */
        memcpy(q + n, "&a=1", 4);
        ASSERT_EQ(req_query_get(q, n + 4, "a", buf, 2), 1);
        ASSERT_STREQ(buf, "1");
}

/* ---- req_xff_client ---- */

/* 127.0.0.0/8 and 10.0.0.0/8 are our own proxies. */
struct trust_log {
        unsigned n;
        char asked[8][64];
};

static bool trusted_local(const char *addr, void *ud)
{
        struct trust_log *t = ud;

        if (t && t->n < 8)
                snprintf(t->asked[t->n++], sizeof(t->asked[0]), "%s", addr);
        return !strncmp(addr, "127.", 4) || !strncmp(addr, "10.", 3);
}

#define XFF_LINES_MAX 4

struct xff_case {
        const char *line[XFF_LINES_MAX]; /* NUL-terminated unless len says otherwise */
        size_t len[XFF_LINES_MAX];       /* 0: strlen(line) */
        size_t cap;                      /* 0: 64 */
        int ret;
        const char *want; /* out when ret == 1 */
};

/* The longest entry there is: a full IPv6 address with an embedded IPv4 one, bracketed, with
 * the largest port (53 bytes, under the 64 of the limit). */
#define V6_LONGEST "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"

static const struct xff_case xff_cases[] = {
        /* one entry, one line */
        {{"203.0.113.7"}, {0}, 0, 1, "203.0.113.7"},
        {{"2001:db8::1"}, {0}, 0, 1, "2001:db8::1"},
        {{"::ffff:192.0.2.1"}, {0}, 0, 1, "::ffff:192.0.2.1"},
        /* right to left past our own proxies; the first other entry wins */
        {{"203.0.113.7, 127.0.0.1"}, {0}, 0, 1, "203.0.113.7"},
        {{"203.0.113.7, 10.1.2.3, 127.0.0.1"}, {0}, 0, 1, "203.0.113.7"},
        {{"198.51.100.1, 203.0.113.7"}, {0}, 0, 1, "203.0.113.7"},
        {{"198.51.100.1, 203.0.113.7, 127.0.0.1"}, {0}, 0, 1, "203.0.113.7"},
        {{"10.0.0.1, 198.51.100.1, 127.0.0.1"}, {0}, 0, 1, "198.51.100.1"},
        /* nothing untrusted: 0 */
        {{"127.0.0.1"}, {0}, 0, 0, NULL},
        {{"127.0.0.1, 10.0.0.2, 127.0.0.3"}, {0}, 0, 0, NULL},
        {{""}, {0}, 0, 0, NULL},
        {{" , ,\t,"}, {0}, 0, 0, NULL},
        /* spaces, tabs and empty list elements around entries */
        {{"  203.0.113.7 \t"}, {0}, 0, 1, "203.0.113.7"},
        {{",203.0.113.7,,"}, {0}, 0, 1, "203.0.113.7"},
        {{"203.0.113.7,,, ,127.0.0.1"}, {0}, 0, 1, "203.0.113.7"},
        {{"\t203.0.113.7\t,\t127.0.0.1\t"}, {0}, 0, 1, "203.0.113.7"},
        /* ports are dropped, IPv6 ones need brackets; 65535 is the last port */
        {{"203.0.113.7:8080"}, {0}, 0, 1, "203.0.113.7"},
        {{"203.0.113.7:0"}, {0}, 0, 1, "203.0.113.7"},
        {{"203.0.113.7:65535"}, {0}, 0, 1, "203.0.113.7"},
        {{"203.0.113.7:00080"}, {0}, 0, 1, "203.0.113.7"},
        {{"[2001:db8::1]"}, {0}, 0, 1, "2001:db8::1"},
        {{"[2001:db8::1]:443"}, {0}, 0, 1, "2001:db8::1"},
        {{"[2001:db8::1]:65535"}, {0}, 0, 1, "2001:db8::1"},
        {{"203.0.113.7, 127.0.0.1:443"}, {0}, 0, 1, "203.0.113.7"},
        {{"[" V6_LONGEST "]:65535"}, {0}, 0, 1, V6_LONGEST},
        /* the lines are one list: the last line is its end */
        {{"198.51.100.1", "203.0.113.7"}, {0}, 0, 1, "203.0.113.7"},
        {{"198.51.100.1", "127.0.0.1"}, {0}, 0, 1, "198.51.100.1"},
        {{"198.51.100.1, 10.0.0.1", "127.0.0.1", "127.0.0.2"}, {0}, 0, 1, "198.51.100.1"},
        {{"198.51.100.1", "", "127.0.0.1"}, {0}, 0, 1, "198.51.100.1"},
        {{"127.0.0.1", "127.0.0.2"}, {0}, 0, 0, NULL},
        /* a malformed entry ends the walk: nothing left of it is believed */
        {{"unknown"}, {0}, 0, -EINVAL, NULL},
        {{"198.51.100.1, unknown, 127.0.0.1"}, {0}, 0, -EINVAL, NULL},
        {{"198.51.100.1", "unknown"}, {0}, 0, -EINVAL, NULL},
        {{"198.51.100.1", "127.0.0.1, _"}, {0}, 0, -EINVAL, NULL},
        /* ... but one left of the answer is never read */
        {{"unknown, 203.0.113.7"}, {0}, 0, 1, "203.0.113.7"},
        {{"unknown", "203.0.113.7"}, {0}, 0, 1, "203.0.113.7"},
        /* malformed addresses and ports */
        {{"1.2.3"}, {0}, 0, -EINVAL, NULL},
        {{"1.2.3.256"}, {0}, 0, -EINVAL, NULL},
        {{"1.2.3.4.5"}, {0}, 0, -EINVAL, NULL},
        {{"1.2.3.4 5"}, {0}, 0, -EINVAL, NULL},
        {{"1.2.3.4;x"}, {0}, 0, -EINVAL, NULL},
        {{"1.2.3.4:"}, {0}, 0, -EINVAL, NULL},
        {{"1.2.3.4:65536"}, {0}, 0, -EINVAL, NULL},
        {{"1.2.3.4:123456"}, {0}, 0, -EINVAL, NULL},
        {{"1.2.3.4:000080"}, {0}, 0, -EINVAL, NULL},     /* five digits at most */
        {{"1.2.3.4:4294967376"}, {0}, 0, -EINVAL, NULL}, /* 2^32 + 80 */
        {{"[2001:db8::1]:4294967376"}, {0}, 0, -EINVAL, NULL},
        {{"1.2.3.4:8x"}, {0}, 0, -EINVAL, NULL},
        {{"1.2.3.4:-1"}, {0}, 0, -EINVAL, NULL},
        {{"1.2.3.4:80:81"}, {0}, 0, -EINVAL, NULL},
        {{":80"}, {0}, 0, -EINVAL, NULL},
        {{"[1.2.3.4]"}, {0}, 0, -EINVAL, NULL},
        {{"[1.2.3.4]:80"}, {0}, 0, -EINVAL, NULL},
        {{"[2001:db8::1"}, {0}, 0, -EINVAL, NULL},
        {{"2001:db8::1]"}, {0}, 0, -EINVAL, NULL},
        {{"[2001:db8::1]:"}, {0}, 0, -EINVAL, NULL},
        {{"[2001:db8::1]:65536"}, {0}, 0, -EINVAL, NULL},
        {{"[2001:db8::1]443"}, {0}, 0, -EINVAL, NULL},
        {{"[2001:db8::1]]"}, {0}, 0, -EINVAL, NULL},
        {{"[]"}, {0}, 0, -EINVAL, NULL},
        {{"[]:80"}, {0}, 0, -EINVAL, NULL},
        {{"["}, {0}, 0, -EINVAL, NULL},
        {{"]"}, {0}, 0, -EINVAL, NULL},
        {{"2001:db8::g"}, {0}, 0, -EINVAL, NULL},
        {{"fe80::1%eth0"}, {0}, 0, -EINVAL, NULL},
        {{"\"203.0.113.7\""}, {0}, 0, -EINVAL, NULL},
        {{"for=203.0.113.7"}, {0}, 0, -EINVAL, NULL},
        /* an entry with a NUL in it is no address, whatever comes before the NUL */
        {{"203.0.113.7\0x"}, {13}, 0, -EINVAL, NULL},
        {{"203.0.113.7\0"}, {12}, 0, -EINVAL, NULL},
        {{"203.0.113.7:80\0"}, {15}, 0, -EINVAL, NULL},
        {{"[2001:db8::1\0]"}, {14}, 0, -EINVAL, NULL},
        {{"2001:db8::1\0x"}, {13}, 0, -EINVAL, NULL},
        /* the length bounds each line, not a NUL */
        {{"203.0.113.7, 198.51.100.1"}, {11}, 0, 1, "203.0.113.7"},
        {{"203.0.113.7:8080"}, {11}, 0, 1, "203.0.113.7"},
        {{"203.0.113.7:8080"}, {12}, 0, -EINVAL, NULL},
        /* out: the address and its NUL fit in cap, or -EINVAL */
        {{"203.0.113.7"}, {0}, 12, 1, "203.0.113.7"},
        {{"203.0.113.7"}, {0}, 11, -EINVAL, NULL},
        {{"203.0.113.7:8080"}, {0}, 12, 1, "203.0.113.7"},
        {{"[2001:db8::1]:443"}, {0}, 12, 1, "2001:db8::1"},
        {{"[2001:db8::1]:443"}, {0}, 11, -EINVAL, NULL},
        {{"127.0.0.1"}, {0}, 1, 0, NULL},
        {{"1.2.3.4"}, {0}, 1, -EINVAL, NULL},
};

TEST(xff_client)
{
        for (size_t i = 0; i < sizeof(xff_cases) / sizeof(xff_cases[0]); i++) {
                const struct xff_case *c = &xff_cases[i];
                struct req_span lines[XFF_LINES_MAX];
                size_t n = 0, cap = c->cap ? c->cap : 64;
                char out[80];
                int r;

                for (; n < XFF_LINES_MAX && c->line[n]; n++)
                        lines[n] = (struct req_span){
                            c->line[n], c->len[n] ? c->len[n] : strlen(c->line[n])};
                memset(out, 'Z', sizeof(out));
                r = req_xff_client(lines, n, trusted_local, NULL, out, cap);
                if (r != c->ret)
                        TEST_FAIL_AT("case %zu (\"%.*s\"%s, cap %zu): %d, want %d", i,
                                     (int)lines[0].len, lines[0].p, n > 1 ? "..." : "", cap, r,
                                     c->ret);
                if (r == 1 && strcmp(out, c->want) != 0)
                        TEST_FAIL_AT("case %zu (\"%s\"): \"%s\", want \"%s\"", i, c->line[0],
                                     out, c->want);
                if (r != 1 && out[0] != 'Z')
                        TEST_FAIL_AT("case %zu: out written on %d", i, r);
                if (out[cap] != 'Z')
                        TEST_FAIL_AT("case %zu: wrote past cap %zu", i, cap);
        }
}

/* No lines at all: no client address. */
TEST(xff_no_lines)
{
        char out[64] = "";

        ASSERT_EQ(req_xff_client(NULL, 0, trusted_local, NULL, out, sizeof(out)), 0);
        ASSERT_STREQ(out, "");
}

/* trusted() sees each bare address (no port, no brackets), right to left, and nothing after
 * the first entry it does not trust; ud reaches it unchanged. */
TEST(xff_trusted_sees_bare_addresses)
{
        struct req_span lines[] = {
            {S("192.0.2.9, 198.51.100.1:1234")},
            {S("[::1]:80, 10.0.0.1:8080 ,127.0.0.1")},
        };
        struct trust_log t = {0};
        char out[64];

        ASSERT_EQ(req_xff_client(lines, 2, trusted_local, &t, out, sizeof(out)), 1);
        ASSERT_STREQ(out, "::1");
        ASSERT_EQ(t.n, 3);
        ASSERT_STREQ(t.asked[0], "127.0.0.1");
        ASSERT_STREQ(t.asked[1], "10.0.0.1");
        ASSERT_STREQ(t.asked[2], "::1");

        /* with ::1 trusted too, the walk crosses into the first line */
        memset(&t, 0, sizeof(t));
        lines[1] = (struct req_span){S("10.0.0.1:8080 ,127.0.0.1")};
        ASSERT_EQ(req_xff_client(lines, 2, trusted_local, &t, out, sizeof(out)), 1);
        ASSERT_STREQ(out, "198.51.100.1");
        ASSERT_EQ(t.n, 3);
        ASSERT_STREQ(t.asked[2], "198.51.100.1");
}

/* Entries of 64 bytes or more are malformed whatever they hold; no valid entry is that long
 * (the longest is 53), so at 63 and 64 bytes only junk is left to try. Long entries are not
 * copied anywhere: a line of a few KiB is refused, one a proxy appended after it still read. */
TEST(xff_long_entries)
{
        char line[4200], out[64];
        struct req_span l[2];
        size_t n;

        for (size_t len = 62; len <= 65; len++) {
                memset(line, '1', len);
                l[0] = (struct req_span){line, len};
                ASSERT_EQ(req_xff_client(l, 1, trusted_local, NULL, out, sizeof(out)), -EINVAL);
        }
        /* a 63-byte entry padded to it with spaces is trimmed first */
        memset(line, ' ', 63);
        memcpy(line + 20, "203.0.113.7", 11);
        l[0] = (struct req_span){line, 63};
        ASSERT_EQ(req_xff_client(l, 1, trusted_local, NULL, out, sizeof(out)), 1);
        ASSERT_STREQ(out, "203.0.113.7");

        memset(line, '9', 4096);
        n = 4096;
        memcpy(line + n, ", 203.0.113.7", 13);
        n += 13;
        l[0] = (struct req_span){line, 4096};
        ASSERT_EQ(req_xff_client(l, 1, trusted_local, NULL, out, sizeof(out)), -EINVAL);
        l[0] = (struct req_span){line, n};
        ASSERT_EQ(req_xff_client(l, 1, trusted_local, NULL, out, sizeof(out)), 1);
        ASSERT_STREQ(out, "203.0.113.7");
        l[1] = (struct req_span){S("198.51.100.1")};
        l[0] = (struct req_span){line, 4096};
        ASSERT_EQ(req_xff_client(l, 2, trusted_local, NULL, out, sizeof(out)), 1);
        ASSERT_STREQ(out, "198.51.100.1");
}

TEST_MAIN()
