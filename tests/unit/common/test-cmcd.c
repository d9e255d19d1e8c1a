/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "cmcd.h"
#include "http1-parse.h"
#include "tests.h"

static struct cmcd c;

static int parse(const char *s, int decoded)
{
        cmcd_init(&c);
        return cmcd_parse(&c, s, strlen(s), decoded);
}

TEST(init)
{
        cmcd_init(&c);
        ASSERT_EQ(c.br, -1);
        ASSERT_EQ(c.tb, -1);
        ASSERT_TRUE(!c.bs && !c.su);
        ASSERT_STREQ(c.sid, "");
        char out[16];
        ASSERT_EQ(cmcd_format_log(&c, out, sizeof(out)), 0);
        ASSERT_STREQ(out, "");
}

TEST(query_form)
{
        /* A dash.js-style query value, percent-encoded. */
        ASSERT_EQ(parse("bl%3D21300%2Cbr%3D3200%2Cbs%2Ccid%3D%22faec5fc2-ac30-11eabb37-0242ac130002"
                        "%22%2Cd%3D4004%2Cdl%3D18500%2Cmtp%3D48100%2Cnor%3D%22..%252F300kbps%252F"
                        "track.m4v%22%2Cot%3Dv%2Crtp%3D12000%2Csf%3Dd%2Csid%3D%226e2fb550-c457-"
                        "11e9-bb97-0800200c9a66%22%2Cst%3Dv%2Csu%2Ctb%3D6000",
                        0),
                  0);
        ASSERT_EQ(c.bl, 21300);
        ASSERT_EQ(c.br, 3200);
        ASSERT_TRUE(c.bs);
        ASSERT_STREQ(c.cid, "faec5fc2-ac30-11eabb37-0242ac130002");
        ASSERT_EQ(c.d, 4004);
        ASSERT_EQ(c.dl, 18500);
        ASSERT_EQ(c.mtp, 48100);
        ASSERT_STREQ(c.nor, "../300kbps/track.m4v");
        ASSERT_STREQ(c.ot, "v");
        ASSERT_EQ(c.rtp, 12000);
        ASSERT_STREQ(c.sf, "d");
        ASSERT_STREQ(c.sid, "6e2fb550-c457-11e9-bb97-0800200c9a66");
        ASSERT_STREQ(c.st, "v");
        ASSERT_TRUE(c.su);
        ASSERT_EQ(c.tb, 6000);
}

TEST(header_form)
{
        /* Each CMCD-* header adds to the same struct. */
        cmcd_init(&c);
        const char *obj = "br=3200, d=4004, ot=av, tb=6000";
        const char *req = "bl=21300,  dl=18500, mtp=48100, nor=\"seg-2.m4s\", su";
        const char *ses = "cid=\"abc\",sf=h,sid=\"6e2f\",st=l";
        ASSERT_EQ(cmcd_parse(&c, obj, strlen(obj), 1), 0);
        ASSERT_EQ(cmcd_parse(&c, req, strlen(req), 1), 0);
        ASSERT_EQ(cmcd_parse(&c, ses, strlen(ses), 1), 0);
        ASSERT_EQ(c.br, 3200);
        ASSERT_STREQ(c.ot, "av");
        ASSERT_EQ(c.bl, 21300);
        ASSERT_STREQ(c.nor, "seg-2.m4s");
        ASSERT_TRUE(c.su);
        ASSERT_TRUE(!c.bs);
        ASSERT_STREQ(c.sf, "h");
        ASSERT_STREQ(c.st, "l");
}

TEST(types_and_unknown_keys)
{
        /* unknown keys of every type are skipped; custom hyphenated keys too */
        ASSERT_EQ(parse("xr=1.25,xv=1,com.example-myKey=\"x\",xyz=tok/en,flag,n=-5,br=10", 1), 0);
        ASSERT_EQ(c.br, 10);
        /* booleans in SFV form */
        ASSERT_EQ(parse("bs=?1,su=?0", 1), 0);
        ASSERT_TRUE(c.bs);
        ASSERT_TRUE(!c.su);
        /* wrong types for known keys are dropped, not errors */
        ASSERT_EQ(parse("br=\"3200\",bs=1,sid=abc,ot=\"v\",d=-1,tb=1.5", 1), 0);
        ASSERT_EQ(c.br, -1);
        ASSERT_TRUE(!c.bs);
        ASSERT_STREQ(c.sid, "");
        ASSERT_STREQ(c.ot, "");
        ASSERT_EQ(c.d, -1);
        ASSERT_EQ(c.tb, -1);
        /* last one wins */
        ASSERT_EQ(parse("br=1,br=2", 1), 0);
        ASSERT_EQ(c.br, 2);
        /* escapes in strings */
        ASSERT_EQ(parse("sid=\"a\\\"b\\\\c\"", 1), 0);
        ASSERT_STREQ(c.sid, "a\"b\\c");
        ASSERT_EQ(parse("", 1), 0);
        ASSERT_EQ(parse("  ", 0), 0);
        /* an inner list or a byte sequence under a custom key is skipped; the keys after it
         * (sent in alphabetical order, so the usual ones) still count */
        ASSERT_EQ(parse("br=3200,com.example-myKey=(1 \"a)b\" 2),d=4004,sid=\"s\",su", 1), 0);
        ASSERT_EQ(c.d, 4004);
        ASSERT_STREQ(c.sid, "s");
        ASSERT_TRUE(c.su);
        ASSERT_EQ(parse("com.x-b=:aGVsbG8=:,d=2000", 1), 0);
        ASSERT_EQ(c.d, 2000);
        /* given to a known key, its first member counts (version 2, next test) */
        ASSERT_EQ(parse("br=(1 2),d=10", 1), 0);
        ASSERT_EQ(c.br, 1);
        ASSERT_EQ(c.d, 10);
}

TEST(version_2_inner_lists)
{
        /* CTA-5004-B: nor is a list of strings with an optional range parameter; br, bl, mtp
         * and tb lists of integers with object-type tokens. The first member counts. */
        ASSERT_EQ(parse("bl=(21300;v 9800;a),br=(3000;v 128;a),mtp=(48100),"
                        "nor=(\"..%252Fv2%252Fseg-5.m4s\";r=\"0-99\" \"seg-6.m4s\"),"
                        "sid=\"s\",tb=( 6000 ),v=2",
                        0),
                  0);
        ASSERT_EQ(c.bl, 21300);
        ASSERT_EQ(c.br, 3000);
        ASSERT_EQ(c.mtp, 48100);
        ASSERT_EQ(c.tb, 6000);
        ASSERT_STREQ(c.nor, "../v2/seg-5.m4s");
        ASSERT_STREQ(c.sid, "s");
        /* the header form, as a player in header mode sends it */
        ASSERT_EQ(parse("nor=(\"seg-7.m4s\")", 1), 0);
        ASSERT_STREQ(c.nor, "seg-7.m4s");
        /* an empty list, or a first member of the wrong type, is no value; the rest stays */
        ASSERT_EQ(parse("br=(),nor=(),d=4004", 1), 0);
        ASSERT_EQ(c.br, -1);
        ASSERT_STREQ(c.nor, "");
        ASSERT_EQ(c.d, 4004);
        ASSERT_EQ(parse("br=(\"3000\" 2),nor=(seg-8 \"seg-9.m4s\"),bl=(:aGk=: 1)", 1), 0);
        ASSERT_EQ(c.br, -1);
        ASSERT_STREQ(c.nor, "");
        ASSERT_EQ(c.bl, -1);
        /* a control byte in the first next object is refused as in version 1 */
        ASSERT_EQ(parse("nor=(\"seg%0A2.m4s\")", 1), 0);
        ASSERT_STREQ(c.nor, "");
}

/* CTA-5004's pr (Decimal), v (Integer) and nrr (String) are read and logged like the rest. */
TEST(playback_rate_version_and_next_range)
{
        char out[256];

        ASSERT_EQ(parse("br=3200,nor=\"seg-4.m4s\",nrr=\"1000-1999\",pr=1.25,v=1", 1), 0);
        ASSERT_EQ(c.pr, 1250);
        ASSERT_EQ(c.v, 1);
        ASSERT_STREQ(c.nrr, "1000-1999");
        cmcd_format_log(&c, out, sizeof(out));
        ASSERT_STREQ(out, "br=3200,nor=\"seg-4.m4s\",nrr=\"1000-1999\",pr=1.25,v=1");
        /* the query form, as a player sends it */
        ASSERT_EQ(parse("nrr%3D%22500-%22%2Cpr%3D0.5%2Csid%3D%22s%22", 0), 0);
        ASSERT_STREQ(c.nrr, "500-");
        ASSERT_EQ(c.pr, 500);
        ASSERT_EQ(c.v, -1);
        cmcd_format_log(&c, out, sizeof(out));
        ASSERT_STREQ(out, "nrr=\"500-\",pr=0.5,sid=\"s\"");
        /* a whole rate may come as an Integer, and logs as a Decimal */
        ASSERT_EQ(parse("pr=2,v=2", 1), 0);
        ASSERT_EQ(c.pr, 2000);
        ASSERT_EQ(c.v, 2);
        cmcd_format_log(&c, out, sizeof(out));
        ASSERT_STREQ(out, "pr=2.0,v=2");
        ASSERT_EQ(parse("pr=0.001", 1), 0);
        cmcd_format_log(&c, out, sizeof(out));
        ASSERT_STREQ(out, "pr=0.001");
        /* out of range or of the wrong type: dropped, the rest kept */
        ASSERT_EQ(parse("pr=-0.5,v=0,nrr=\"a-b\",d=10", 1), 0);
        ASSERT_EQ(c.pr, -1);
        ASSERT_EQ(c.v, -1);
        ASSERT_STREQ(c.nrr, "");
        ASSERT_EQ(c.d, 10);
        ASSERT_EQ(parse("pr=\"1\",v=1.0,nrr=r100-200", 1), 0);
        ASSERT_EQ(c.pr, -1);
        ASSERT_EQ(c.v, -1);
        ASSERT_STREQ(c.nrr, "");
        ASSERT_EQ(parse("pr=1000000000000", 1), 0);
        ASSERT_EQ(c.pr, -1);
        ASSERT_EQ(parse("pr=999999999999.999", 1), 0);
        cmcd_format_log(&c, out, sizeof(out));
        ASSERT_STREQ(out, "pr=999999999999.999");
        ASSERT_EQ(parse("nrr=\"-\"", 1), 0);
        ASSERT_STREQ(c.nrr, "");
        ASSERT_EQ(parse("nrr=\"1-2-3\"", 1), 0);
        ASSERT_STREQ(c.nrr, "");
        ASSERT_EQ(parse("nrr=\"1234567890123456-1234567890123456\"", 1), 0);
        ASSERT_STREQ(c.nrr, "");
}

TEST(malformed)
{
        static const char *bad[] = {
                "br=",          "br=abc def",    "br=1;x=2",   "=1",         "br=1,",
                "br=1,,bl=2",   "sid=\"abc",     "sid=\"a\\x\"", "br=1 bl=2", "9=1",
                "br=1234567890123456", "pr=1.2345", "pr=1.",   "bs=?2",      "sid=\"\x01\"",
                "br==1",        "-br=1",         "br=--1",       "x=(1 2",      "x=((1))",
                "x=(1,2)",      "x=:abc",        "x=:a b:",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                if (parse(bad[i], 1) != -EINVAL)
                        TEST_FAIL_AT("accepted '%s'", bad[i]);
        }
        /* what came before the error is kept */
        ASSERT_EQ(parse("br=100,bl=200,d=!", 1), -EINVAL);
        ASSERT_EQ(c.br, 100);
        ASSERT_EQ(c.bl, 200);
        /* bad percent-encoding in the query form */
        ASSERT_EQ(parse("br%3", 0), -EINVAL);
        ASSERT_EQ(parse("br%3Z1", 0), -EINVAL);
        ASSERT_EQ(parse("br%", 0), -EINVAL);
        /* '%' is literal when the caller already decoded */
        ASSERT_EQ(parse("xyz=a%b,br=1", 1), 0);
        ASSERT_EQ(c.br, 1);
}

TEST(limits)
{
        char buf[1100];
        memset(buf, ' ', sizeof(buf));
        memcpy(buf, "br=1", 4);
        cmcd_init(&c);
        ASSERT_EQ(cmcd_parse(&c, buf, 1024, 1), 0);
        ASSERT_EQ(c.br, 1);
        cmcd_init(&c);
        ASSERT_EQ(cmcd_parse(&c, buf, 1025, 1), -EINVAL);
        ASSERT_EQ(c.br, -1);

        /* strings truncate to their field */
        char s[200];
        int n = snprintf(s, sizeof(s), "sid=\"");
        memset(s + n, 'x', 100);
        n += 100;
        snprintf(s + n, sizeof(s) - (size_t)n, "\"");
        ASSERT_EQ(parse(s, 1), 0);
        ASSERT_EQ(strlen(c.sid), 64);
        /* a token too long for its field is dropped rather than cut into another value */
        ASSERT_EQ(parse("ot=abcdefghij,sf=toolong", 1), 0);
        ASSERT_STREQ(c.ot, "");
        ASSERT_STREQ(c.sf, "");
        /* 15 digits is the SFV integer limit */
        ASSERT_EQ(parse("br=999999999999999", 1), 0);
        ASSERT_EQ(c.br, 999999999999999LL);
}

TEST(nor_safety)
{
        ASSERT_EQ(parse("nor=\"seg%0A2.m4s\"", 1), 0);
        ASSERT_STREQ(c.nor, "");
        ASSERT_EQ(parse("nor=\"seg%002.m4s\"", 1), 0);
        ASSERT_STREQ(c.nor, "");
        ASSERT_EQ(parse("nor=\"seg%zz\"", 1), 0);
        ASSERT_STREQ(c.nor, "");
        ASSERT_EQ(parse("nor=\"a%20b.m4s\"", 1), 0);
        ASSERT_STREQ(c.nor, "a b.m4s");
}

TEST(format_log)
{
        char out[512];
        ASSERT_EQ(parse("tb=6000,br=3200,bs,sid=\"s\\\"1\",ot=v,nor=\"a%20b%2Cc\",su,d=4004", 1),
                  0);
        size_t n = cmcd_format_log(&c, out, sizeof(out));
        ASSERT_STREQ(out, "br=3200,bs,d=4004,nor=\"a%20b%2Cc\",ot=v,sid=\"s\\\"1\",su,tb=6000");
        ASSERT_EQ(n, strlen(out));

        /* the log rendering parses back to the same values */
        struct cmcd back;
        cmcd_init(&back);
        ASSERT_EQ(cmcd_parse(&back, out, n, 1), 0);
        ASSERT_EQ(back.br, 3200);
        ASSERT_STREQ(back.sid, "s\"1");
        ASSERT_STREQ(back.nor, "a b,c");

        /* small buffers get whole items only */
        char small[12];
        n = cmcd_format_log(&c, small, sizeof(small));
        ASSERT_STREQ(small, "br=3200,bs");
        ASSERT_EQ(n, 10);
        ASSERT_EQ(cmcd_format_log(&c, small, 1), 0);
        ASSERT_STREQ(small, "");
        ASSERT_EQ(cmcd_format_log(&c, small, 0), 0);
}

TEST(header_lines)
{
        /* A CMCD-* field on several lines is one list (RFC 8941 §4.2): a player or a proxy
         * may split CMCD-Request, and the keys of the later lines count too. */
        static const char head[] = "GET /t1/v1/seg-3.m4s HTTP/1.1\r\nHost: a\r\n"
                                   "CMCD-Request: bl=21300\r\n"
                                   "CMCD-Session: sid=\"s1\"\r\n"
                                   "CMCD-Request: nor=\"seg-4.m4s\",su\r\n"
                                   "CMCD-Object: br=3200\r\n"
                                   "CMCD-Object: d=4004\r\n\r\n";
        struct http1_parser p;
        struct http1_req req;

        http1_parser_init(&p);
        ASSERT_EQ(http1_req_parse(&p, head, sizeof(head) - 1, NULL, &req), (int)sizeof(head) - 1);
        ASSERT_TRUE(cmcd_from_request(&c, &req, NULL, 0));
        ASSERT_EQ(c.bl, 21300);
        ASSERT_STREQ(c.sid, "s1");
        ASSERT_STREQ(c.nor, "seg-4.m4s");
        ASSERT_TRUE(c.su);
        ASSERT_EQ(c.br, 3200);
        ASSERT_EQ(c.d, 4004);
}

TEST_MAIN()
