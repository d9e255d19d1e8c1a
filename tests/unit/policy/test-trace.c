/* SPDX-License-Identifier: MIT */
/* The trace readers (CSV and oracleGeneral), format detection and next-access analysis. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gen-dash.h"
#include "sim.h"
#include "tests.h"
#include "trace.h"

static int parse_csv(const char *text, struct trace *t, struct trace_error *err)
{
        struct trace_limits lim = trace_limits_default();
        return trace_csv_parse((const uint8_t *)text, strlen(text), &lim, t, err);
}

TEST(csv_basic_header_comments_crlf)
{
        struct trace t = {0};
        struct trace_error err = {0};
        const char *text = "timestamp,object_id,size\r\n"
                           "# comment\n"
                           "\n"
                           "10, 42 ,1000\r\n"
                           "11.75,43,0\n"
                           "12,/title/seg-1.m4s,77,extra,columns\n"
                           "13,42,1000";
        ASSERT_EQ(parse_csv(text, &t, &err), 0);
        ASSERT_EQ(t.len, 4);
        ASSERT_EQ(t.reqs[0].time, 10);
        ASSERT_EQ(t.reqs[0].id, 42);
        ASSERT_EQ(t.reqs[0].size, 1000);
        ASSERT_EQ(t.reqs[1].time, 11);
        ASSERT_EQ(t.reqs[1].size, 0);
        ASSERT_TRUE(t.reqs[2].id != 0 && t.reqs[2].id != 42);
        ASSERT_EQ(t.reqs[2].size, 77);
        ASSERT_EQ(t.reqs[3].id, 42);
        ASSERT_EQ(trace_analyse(&t), 0);
        ASSERT_EQ(t.next[0], 3);
        ASSERT_EQ(t.next[1], UINT64_MAX);
        ASSERT_EQ(t.next[3], UINT64_MAX);
        ASSERT_EQ(t.objects, 3);
        /* Zero-byte objects count one byte, like the policies' accounting. */
        ASSERT_EQ(t.footprint, 1000 + 1 + 77);
        trace_done(&t);
}

TEST(csv_errors_have_line_numbers)
{
        struct {
                const char *text;
                uint64_t line;
        } cases[] = {
            {"1,2,3\n1,2\n", 2}, {"1,2,3\nx,2,3\n", 2},    /* header only before data */
            {"1,2,-3\n", 1},     {"1,2,99999999999\n", 1}, /* over the object size limit */
            {"1,,3\n", 1},       {"99999999999,2,3\n", 1}, /* timestamp over 32 bits */
            {"1.2.3,4,5\n", 1},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct trace t = {0};
                struct trace_error err = {0};
                ASSERT_EQ(parse_csv(cases[i].text, &t, &err), -EINVAL);
                ASSERT_EQ(err.line, cases[i].line);
                ASSERT_TRUE(err.msg != NULL);
                trace_done(&t);
        }
}

TEST(csv_limits)
{
        struct trace t = {0};
        struct trace_error err = {0};
        struct trace_limits lim = {.max_requests = 2, .max_object_size = 100};
        const char *text = "1,1,1\n2,2,2\n3,3,3\n";
        ASSERT_EQ(trace_csv_parse((const uint8_t *)text, strlen(text), &lim, &t, &err), -E2BIG);
        ASSERT_EQ(t.len, 2);
        trace_done(&t);
        char *longline = malloc(TRACE_CSV_LINE_MAX + 10);
        ASSERT_TRUE(longline);
        memset(longline, '1', TRACE_CSV_LINE_MAX + 10);
        ASSERT_EQ(
            trace_csv_parse((const uint8_t *)longline, TRACE_CSV_LINE_MAX + 10, &lim, &t, &err),
            -EINVAL);
        free(longline);
        trace_done(&t);
}

static void put_record(uint8_t *b, uint32_t time, uint64_t id, uint32_t size, int64_t next)
{
        for (unsigned i = 0; i < 4; i++)
                b[i] = (uint8_t)(time >> (8 * i));
        for (unsigned i = 0; i < 8; i++)
                b[4 + i] = (uint8_t)(id >> (8 * i));
        for (unsigned i = 0; i < 4; i++)
                b[12 + i] = (uint8_t)(size >> (8 * i));
        for (unsigned i = 0; i < 8; i++)
                b[16 + i] = (uint8_t)((uint64_t)next >> (8 * i));
}

TEST(oracle_general_records)
{
        uint8_t buf[3 * TRACE_ORACLE_RECORD];
        put_record(buf, 100, 0x1122334455667788ULL, 4096, 2);
        put_record(buf + 24, 101, 7, 10, -1);
        put_record(buf + 48, 102, 0x1122334455667788ULL, 4096, -1);
        struct trace t = {0};
        struct trace_error err = {0};
        struct trace_limits lim = trace_limits_default();
        ASSERT_EQ(trace_format_detect(buf, sizeof(buf)), TRACE_FORMAT_ORACLE);
        ASSERT_EQ(trace_oracle_parse(buf, sizeof(buf), &lim, &t, &err), 0);
        ASSERT_EQ(t.len, 3);
        ASSERT_EQ(t.reqs[0].time, 100);
        ASSERT_EQ(t.reqs[0].id, 0x1122334455667788ULL);
        ASSERT_EQ(t.reqs[0].size, 4096);
        ASSERT_EQ(t.reqs[1].id, 7);
        ASSERT_EQ(trace_analyse(&t), 0);
        ASSERT_EQ(t.next[0], 2);
        trace_done(&t);
        ASSERT_EQ(trace_oracle_parse(buf, sizeof(buf) - 1, &lim, &t, &err), -EINVAL);
        trace_done(&t);
        lim.max_object_size = 100;
        ASSERT_EQ(trace_oracle_parse(buf, sizeof(buf), &lim, &t, &err), -EINVAL);
        ASSERT_EQ(err.line, 1);
        trace_done(&t);
}

TEST(detect_text)
{
        const char *csv = "1,2,3\n";
        ASSERT_EQ(trace_format_detect((const uint8_t *)csv, strlen(csv)), TRACE_FORMAT_CSV);
}

TEST(write_and_load_roundtrip)
{
        struct trace t = {0}, csv = {0}, bin = {0};
        struct trace_error err;
        struct trace_limits lim = trace_limits_default();
        struct gen_dash_opts o = gen_dash_opts_default();
        o.days = 1;
        o.titles = 20;
        o.sessions_per_day = 30;
        ASSERT_EQ(gen_dash_run(&o, &lim, &t), 0);
        ASSERT_TRUE(t.len > 100);
        ASSERT_EQ(trace_analyse(&t), 0);
        char pcsv[] = "/tmp/sluice-trace-XXXXXX", pbin[] = "/tmp/sluice-trace-XXXXXX";
        int fd1 = mkstemp(pcsv), fd2 = mkstemp(pbin);
        ASSERT_TRUE(fd1 >= 0 && fd2 >= 0);
        close(fd1);
        close(fd2);
        ASSERT_EQ(trace_write(&t, pcsv, TRACE_FORMAT_CSV), 0);
        ASSERT_EQ(trace_write(&t, pbin, TRACE_FORMAT_ORACLE), 0);
        ASSERT_EQ(trace_load(pcsv, TRACE_FORMAT_AUTO, &lim, &csv, &err), 0);
        ASSERT_EQ(trace_load(pbin, TRACE_FORMAT_AUTO, &lim, &bin, &err), 0);
        unlink(pcsv);
        unlink(pbin);
        ASSERT_EQ(csv.len, t.len);
        ASSERT_EQ(bin.len, t.len);
        ASSERT_MEMEQ(csv.reqs, t.len * sizeof(*t.reqs), t.reqs, t.len * sizeof(*t.reqs));
        ASSERT_MEMEQ(bin.reqs, t.len * sizeof(*t.reqs), t.reqs, t.len * sizeof(*t.reqs));
        trace_done(&t);
        trace_done(&csv);
        trace_done(&bin);
}

/* A child writes buf into a new pipe; returns its read end (the child's pid in *pid). */
static int pipe_from_child(const uint8_t *buf, size_t len, pid_t *pid)
{
        int p[2];

        if (pipe2(p, O_CLOEXEC) < 0)
                return -1;
        *pid = fork();
        if (*pid == 0) {
                size_t off = 0;
                close(p[0]);
                while (off < len) {
                        ssize_t n = write(p[1], buf + off, len - off);
                        if (n <= 0)
                                _exit(1);
                        off += (size_t)n;
                }
                _exit(0);
        }
        close(p[1]);
        return p[0];
}

/* A trace from a pipe (a decompressor's output, standard input) loads like the same file,
 * with more bytes than a pipe holds at once so the reader's buffer grows. */
TEST(load_from_a_pipe_and_stdin)
{
        struct trace t = {0}, file = {0}, piped = {0}, in = {0};
        struct trace_error err;
        struct trace_limits lim = trace_limits_default();
        struct gen_dash_opts o = gen_dash_opts_default();
        char path[] = "/tmp/sluice-trace-XXXXXX", fdpath[32];
        int fd, status, saved;
        uint8_t *bytes;
        long size;
        pid_t pid;
        FILE *f;

        o.days = 1;
        o.titles = 50;
        o.sessions_per_day = 200;
        ASSERT_EQ(gen_dash_run(&o, &lim, &t), 0);
        fd = mkstemp(path);
        ASSERT_TRUE(fd >= 0);
        close(fd);
        ASSERT_EQ(trace_write(&t, path, TRACE_FORMAT_ORACLE), 0);
        ASSERT_EQ(trace_load(path, TRACE_FORMAT_AUTO, &lim, &file, &err), 0);
        f = fopen(path, "rb");
        ASSERT_TRUE(f != NULL);
        ASSERT_EQ(fseek(f, 0, SEEK_END), 0);
        size = ftell(f);
        ASSERT_TRUE(size > 4 * 65536);
        rewind(f);
        bytes = malloc((size_t)size);
        ASSERT_TRUE(bytes != NULL);
        ASSERT_EQ(fread(bytes, 1, (size_t)size, f), (size_t)size);
        fclose(f);
        unlink(path);

        fd = pipe_from_child(bytes, (size_t)size, &pid);
        ASSERT_TRUE(fd >= 0);
        snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", fd);
        ASSERT_EQ(trace_load(fdpath, TRACE_FORMAT_AUTO, &lim, &piped, &err), 0);
        close(fd);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        fd = pipe_from_child(bytes, (size_t)size, &pid);
        ASSERT_TRUE(fd >= 0);
        saved = dup(STDIN_FILENO);
        ASSERT_TRUE(saved >= 0);
        ASSERT_EQ(dup2(fd, STDIN_FILENO), STDIN_FILENO);
        close(fd);
        ASSERT_EQ(trace_load("-", TRACE_FORMAT_ORACLE, &lim, &in, &err), 0);
        ASSERT_EQ(dup2(saved, STDIN_FILENO), STDIN_FILENO);
        close(saved);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);

        ASSERT_EQ(file.len, t.len);
        ASSERT_EQ(piped.len, t.len);
        ASSERT_EQ(in.len, t.len);
        ASSERT_MEMEQ(piped.reqs, t.len * sizeof(*t.reqs), file.reqs, t.len * sizeof(*t.reqs));
        ASSERT_MEMEQ(in.reqs, t.len * sizeof(*t.reqs), file.reqs, t.len * sizeof(*t.reqs));
        /* A directory is refused up front rather than read. */
        ASSERT_EQ(trace_load("/tmp", TRACE_FORMAT_AUTO, &lim, &in, &err), -EISDIR);
        free(bytes);
        trace_done(&t);
        trace_done(&file);
        trace_done(&piped);
        trace_done(&in);
}

TEST(generator_is_deterministic_and_dash_shaped)
{
        struct trace a = {0}, b = {0};
        struct trace_limits lim = trace_limits_default();
        struct gen_dash_opts o = gen_dash_opts_default();
        o.days = 2;
        o.titles = 50;
        o.sessions_per_day = 60;
        ASSERT_EQ(gen_dash_run(&o, &lim, &a), 0);
        ASSERT_EQ(gen_dash_run(&o, &lim, &b), 0);
        ASSERT_EQ(a.len, b.len);
        ASSERT_MEMEQ(a.reqs, a.len * sizeof(*a.reqs), b.reqs, b.len * sizeof(*b.reqs));
        uint64_t seg0 = 0, init = 0;
        for (size_t i = 0; i < a.len; i++) {
                ASSERT_TRUE(i == 0 || a.reqs[i].time >= a.reqs[i - 1].time);
                ASSERT_TRUE(gen_dash_id_title(a.reqs[i].id) >= 1);
                ASSERT_TRUE(gen_dash_id_rung(a.reqs[i].id) < GEN_DASH_RUNGS);
                ASSERT_TRUE(a.reqs[i].time < 2 * 86400u + 86400u);
                seg0 += gen_dash_id_segment(a.reqs[i].id) == 0;
                init += gen_dash_id_segment(a.reqs[i].id) == GEN_DASH_INIT_SEGMENT;
        }
        /* Every session starts at segment 0 on the lowest rung, after its init segment. */
        ASSERT_TRUE(seg0 >= 120);
        ASSERT_TRUE(init >= 120);
        trace_done(&b);
        o.seed = 2;
        ASSERT_EQ(gen_dash_run(&o, &lim, &b), 0);
        ASSERT_TRUE(a.len != b.len || memcmp(a.reqs, b.reqs, a.len * sizeof(*a.reqs)) != 0);
        trace_done(&a);
        trace_done(&b);
}

TEST_MAIN()
