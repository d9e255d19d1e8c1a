/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <unistd.h>

#include "tests.h"

#include "access-log.c"

/* Read everything written to the pipe so far into out (NUL-terminated). */
static size_t drain(int fd, char *out, size_t cap)
{
        ssize_t n = read(fd, out, cap - 1);

        if (n < 0)
                n = 0;
        out[n] = '\0';
        return (size_t)n;
}

static struct access_log_buf b;

TEST(line_fields_and_token_masking)
{
        int p[2];
        char out[4096];
        static const char target[] = "/s/eyJhbGciOi.x.y/t1/seg-1.m4s?a=1";
        struct access_log_rec rec = {
            .conn_id = 42,
            .client = "192.0.2.7",
            .method = "GET",
            .method_len = 3,
            .target = target,
            .target_len = sizeof(target) - 1,
            .token = target + 3,
            .token_len = 14,
            .key = "/t1/seg-1.m4s",
            .key_len = 13,
            .proto = "h2",
            .send_path = "user",
        };

        ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
        access_log_buf_init(&b, p[1]);
        access_log_begin(&b, &rec);
        access_log_end(&b, 206, 1234, 56,
                       &(struct access_log_outcome){"collapsed", "http://parent-a:8080"});
        access_log_flush(&b);
        drain(p[0], out, sizeof(out));
        ASSERT_TRUE(strstr(out, " conn=42 192.0.2.7 \"GET /s/*/t1/seg-1.m4s?a=1\" 206 1234 56 "
                                "key=/t1/seg-1.m4s cmcd=- proto=h2 tls=user cache=collapsed "
                                "upstream=http://parent-a:8080\n") != NULL);
        ASSERT_TRUE(strstr(out, "eyJ") == NULL); /* the token never reaches the log */
        ASSERT_EQ(out[4], '-');
        ASSERT_TRUE(out[strlen(out) - 1] == '\n');
        (void)close(p[0]);
        (void)close(p[1]);
}

/* A target longer than the line's front has room for is cut, and its quote still closes,
 * wherever the cut falls against the escapes and the token's '*'. */
TEST(long_target_keeps_its_closing_quote)
{
        int p[2];
        static char target[ACCESS_LOG_STAGE], out[4 * ACCESS_LOG_STAGE];
        static const char tok[] = "?URISigningPackage=eyJh.eyJi.c2ln";

        ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
        for (size_t k = 0; k < 8; k++) {
                size_t len = 0;
                target[len++] = '/';
                for (size_t i = 0; i < k; i++)
                        target[len++] = 'a'; /* moves where the escapes below end */
                for (size_t i = 0; i < ACCESS_LOG_STAGE / 8; i++)
                        target[len++] = (char)0x80; /* escaped as four bytes each */
                memcpy(target + len, tok, sizeof(tok) - 1);
                len += sizeof(tok) - 1;
                struct access_log_rec rec = {
                    .method = "GET",
                    .method_len = 3,
                    .target = target,
                    .target_len = len,
                    .token = target + len - 14,
                    .token_len = 14,
                };
                access_log_buf_init(&b, p[1]);
                access_log_begin(&b, &rec);
                access_log_end(&b, 200, 1, 2, NULL);
                access_log_flush(&b);
                drain(p[0], out, sizeof(out));
                ASSERT_TRUE(strstr(out, "\" 200 1 2 key=-") != NULL);
        }
        (void)close(p[0]);
        (void)close(p[1]);
}

TEST(escaping_and_detached_lines)
{
        int p[2];
        char out[4096];
        static const char target[] = "/a\"b\\c\x01";
        struct access_log_rec rec = {
            .conn_id = 7,
            .client = "::1",
            .method = "HEAD",
            .method_len = 4,
            .target = target,
            .target_len = sizeof(target) - 1,
        };
        struct access_log_pending *pend;

        ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
        access_log_buf_init(&b, p[1]);
        access_log_begin(&b, &rec);
        pend = access_log_detach(&b);
        ASSERT_TRUE(pend != NULL);
        /* Another request's line may be written in between. */
        rec.conn_id = 8;
        access_log_begin(&b, &rec);
        access_log_end(&b, 200, 1, 2, NULL);
        access_log_end_detached(&b, pend, 404, 3, 4, &(struct access_log_outcome){"hit", NULL});
        access_log_flush(&b);
        drain(p[0], out, sizeof(out));
        ASSERT_TRUE(strstr(out, "conn=8 ::1 \"HEAD /a\\\"b\\\\c\\x01\" 200 1 2 key=- cmcd=- proto=- tls=- cache=- upstream=-\n"));
        ASSERT_TRUE(strstr(out, "conn=7 ::1 \"HEAD /a\\\"b\\\\c\\x01\" 404 3 4 key=- cmcd=- proto=- tls=- cache=hit upstream=-\n"));
        ASSERT_TRUE(strstr(out, "conn=8") < strstr(out, "conn=7"));
        (void)close(p[0]);
        (void)close(p[1]);
}

TEST(closed_connection_ends_only_its_own_line)
{
        int p[2];
        char out[4096];
        struct access_log_rec rec = {
            .conn_id = 5,
            .client = "192.0.2.1",
            .method = "GET",
            .method_len = 3,
            .target = "/x",
            .target_len = 2,
        };

        ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
        access_log_buf_init(&b, p[1]);
        access_log_begin(&b, &rec);
        /* Another connection closing writes nothing; the line's own connection writes it. */
        access_log_end_conn(&b, 6, 499, 0, 1, NULL);
        access_log_flush(&b);
        ASSERT_EQ(drain(p[0], out, sizeof(out)), 0);
        access_log_end_conn(&b, 5, 200, 0, 1, NULL);
        access_log_end_conn(&b, 5, 499, 0, 1, NULL); /* once only */
        access_log_flush(&b);
        drain(p[0], out, sizeof(out));
        ASSERT_STREQ(strchr(out, ' '),
                     " conn=5 192.0.2.1 \"GET /x\" 200 0 1 key=- cmcd=- proto=- tls=- cache=- "
                     "upstream=-\n");
        (void)close(p[0]);
        (void)close(p[1]);
}

/* The longest key, every byte escaped, and a full CMCD rendering: both are written whole and
 * the fields after them still come, so a client's key cannot cut the line short. */
TEST(longest_key_and_cmcd_keep_every_field)
{
        int p[2];
        static char key[PATH_NORM_MAX], out[4 * ACCESS_LOG_STAGE], want[4 * PATH_NORM_MAX + 8];
        struct cmcd cm;
        char sid[80] = "sid=\"";
        size_t o;

        key[0] = '/';
        memset(key + 1, 0xc3, sizeof(key) - 1);
        for (o = 5; o < 5 + 64; o++)
                sid[o] = ' '; /* escaped as four bytes each */
        memcpy(sid + o, "\",br=3000", 10);
        cmcd_init(&cm);
        ASSERT_EQ(cmcd_parse(&cm, sid, strlen(sid), 1), 0);
        struct access_log_rec rec = {
            .conn_id = 9,
            .client = "192.0.2.9",
            .method = "GET",
            .method_len = 3,
            .target = "/t1/a.m4s",
            .target_len = 9,
            .key = key,
            .key_len = sizeof(key),
            .cmcd = &cm,
            .proto = "h2",
            .send_path = "plain",
        };

        ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
        access_log_buf_init(&b, p[1]);
        access_log_begin(&b, &rec);
        access_log_end(&b, 404, 1, 2, NULL);
        access_log_flush(&b);
        drain(p[0], out, sizeof(out));
        o = 0;
        want[o++] = '/';
        for (size_t i = 1; i < sizeof(key); i++, o += 4)
                memcpy(want + o, "\\xc3", 4);
        want[o] = '\0';
        ASSERT_TRUE(strstr(out, want) != NULL);
        ASSERT_TRUE(strstr(out, "\\x20\" proto=h2 tls=plain cache=- upstream=-\n") != NULL);
        ASSERT_TRUE(strstr(out, " cmcd=br=3000,sid=\"\\x20") != NULL);
        (void)close(p[0]);
        (void)close(p[1]);
}

TEST(logging_off_is_a_no_op)
{
        struct access_log_rec rec = {
            .method = "GET", .method_len = 3, .target = "/", .target_len = 1};

        access_log_buf_init(&b, -1);
        access_log_begin(&b, &rec);
        ASSERT_TRUE(access_log_detach(&b) == NULL);
        access_log_end(&b, 200, 0, 0, NULL);
        ASSERT_EQ(b.len, 0);
}

TEST_MAIN()
