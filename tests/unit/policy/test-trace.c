/* SPDX-License-Identifier: MIT */
/* The trace readers (CSV and oracleGeneral), format detection and next-access analysis. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/*
 * A timestamp refused says what was expected, and names milliseconds (or finer) since the
 * epoch, which other tools' traces often carry, for what they look like. It said only "bad
 * timestamp".
 */
TEST(csv_timestamp_errors_say_what_was_expected)
{
        struct {
                const char *text, *unit;
        } cases[] = {
            {"1733616000123,2,3\n", "milliseconds (divide by 1000)"},
            {"1733616000123.5,2,3\n", "milliseconds (divide by 1000)"},
            {"1733616000123456,2,3\n", "microseconds"},
            {"1733616000123456789,2,3\n", "nanoseconds"},
            {"1,2,3\n2024-12-08T00:00:00Z,2,3\n", NULL},
            {"1.2.3,4,5\n", NULL},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct trace t = {0};
                struct trace_error err = {0};
                ASSERT_EQ(parse_csv(cases[i].text, &t, &err), -EINVAL);
                ASSERT_TRUE(err.msg != NULL);
                ASSERT_TRUE(strstr(err.msg, "expected seconds (a whole number up to 4294967295")
                            != NULL);
                if (cases[i].unit)
                        ASSERT_TRUE(strstr(err.msg, cases[i].unit) != NULL);
                else
                        ASSERT_TRUE(strstr(err.msg, "looks like") == NULL);
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
        /* A line that would parse but for its length (a long id, hashed): only the limit
         * refuses it. One byte shorter is accepted. */
        char *longline = malloc(TRACE_CSV_LINE_MAX + 2);
        ASSERT_TRUE(longline);
        memset(longline, 'x', TRACE_CSV_LINE_MAX + 1);
        memcpy(longline, "1,", 2);
        memcpy(longline + TRACE_CSV_LINE_MAX + 1 - 2, ",3", 2);
        longline[TRACE_CSV_LINE_MAX + 1] = '\n';
        ASSERT_EQ(
            trace_csv_parse((const uint8_t *)longline, TRACE_CSV_LINE_MAX + 2, &lim, &t, &err),
            -EINVAL);
        ASSERT_EQ(err.line, 1);
        ASSERT_STREQ(err.msg, "line too long");
        ASSERT_EQ(t.len, 0);
        memmove(longline + 2, longline + 3, TRACE_CSV_LINE_MAX - 1); /* one x less */
        ASSERT_EQ(
            trace_csv_parse((const uint8_t *)longline, TRACE_CSV_LINE_MAX + 1, &lim, &t, &err), 0);
        ASSERT_EQ(t.len, 1);
        ASSERT_EQ(t.reqs[0].size, 3);
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

/*
 * UTF-8 is text: a CSV whose first line names a URL with non-ASCII bytes, or that starts with
 * a byte-order mark, is CSV. Read as oracleGeneral, the 48-byte file below would have been
 * two records of nonsense, silently.
 */
TEST(detect_and_parse_utf8_csv)
{
        const char *url = "1,/caf\xc3\xa9/seg-1.m4s,100\n2,70707,100\n3,70707,1000\n";
        const char *bom = "\xef\xbb\xbf"
                          "1,5,100\n2,5,100\n";
        struct trace_limits lim = trace_limits_default();
        struct trace t = {0};
        struct trace_error err = {0};
        char path[] = "/tmp/sluice-trace-XXXXXX";
        int fd;

        ASSERT_EQ(strlen(url), 2 * TRACE_ORACLE_RECORD);
        ASSERT_EQ(trace_format_detect((const uint8_t *)url, strlen(url)), TRACE_FORMAT_CSV);
        ASSERT_EQ(trace_format_detect((const uint8_t *)bom, strlen(bom)), TRACE_FORMAT_CSV);
        fd = mkstemp(path);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, url, strlen(url)), (ssize_t)strlen(url));
        close(fd);
        ASSERT_EQ(trace_load(path, TRACE_FORMAT_AUTO, &lim, &t, &err), 0);
        unlink(path);
        ASSERT_EQ(t.len, 3);
        ASSERT_EQ(t.reqs[1].id, 70707);
        ASSERT_EQ(t.reqs[2].size, 1000);
        trace_done(&t);
        /* The mark is not taken for a header: the first request is kept. */
        ASSERT_EQ(parse_csv(bom, &t, &err), 0);
        ASSERT_EQ(t.len, 2);
        ASSERT_EQ(t.reqs[0].time, 1);
        ASSERT_EQ(t.reqs[0].id, 5);
        trace_done(&t);
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

/*
 * A pipe is parsed as it is read: CSV lines and records that straddle the reader's buffers
 * load as from memory, and --max-requests stops the reading at the limit. A trace was read
 * whole first, into memory (up to 16 GiB), and only then refused as too long.
 */
TEST(pipe_parsed_as_read_and_stopped_at_the_limit)
{
        struct trace_limits lim = trace_limits_default();
        struct trace_error err;
        struct trace whole = {0}, piped = {0};
        const size_t lines = 200000, big = 64u << 20, cap = lines * 32 + 64;
        size_t len = 3, off;
        char *text = malloc(cap), fdpath[32];
        int fd, status;
        pid_t pid;

        ASSERT_TRUE(text != NULL);
        memcpy(text, "\xef\xbb\xbf", 3);
        len += (size_t)snprintf(text + len, cap - len, "timestamp,object_id,size\r\n");
        for (size_t i = 0; i < lines; i++)
                len += (size_t)snprintf(text + len, cap - len, "%zu,/t/seg-%zu.m4s,%zu\n", i,
                                        i % 977, i);
        ASSERT_TRUE(len > (2u << 20)); /* lines cross the 1 MiB buffer's ends */
        ASSERT_EQ(trace_csv_parse((const uint8_t *)text, len, &lim, &whole, &err), 0);
        ASSERT_EQ(whole.len, lines);
        fd = pipe_from_child((const uint8_t *)text, len, &pid);
        ASSERT_TRUE(fd >= 0);
        snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", fd);
        ASSERT_EQ(trace_load(fdpath, TRACE_FORMAT_AUTO, &lim, &piped, &err), 0);
        close(fd);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_EQ(piped.len, whole.len);
        ASSERT_MEMEQ(piped.reqs, whole.len * sizeof(*whole.reqs), whole.reqs,
                     whole.len * sizeof(*whole.reqs));
        trace_done(&piped);

        /* 64 MiB of requests behind a limit of 10: the writer meets a closed pipe. */
        free(text);
        text = malloc(big);
        ASSERT_TRUE(text != NULL);
        for (off = 0; off + 6 <= big; off += 6)
                memcpy(text + off, "1,2,3\n", 6);
        lim.max_requests = 10;
        fd = pipe_from_child((const uint8_t *)text, off, &pid);
        ASSERT_TRUE(fd >= 0);
        snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", fd);
        ASSERT_EQ(trace_load(fdpath, TRACE_FORMAT_CSV, &lim, &piped, &err), -E2BIG);
        ASSERT_EQ(err.line, 11);
        ASSERT_EQ(piped.len, 10);
        close(fd);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(!WIFEXITED(status) || WEXITSTATUS(status) != 0);
        trace_done(&piped);

        /* A record cut short at the stream's end is named by its number. */
        lim = trace_limits_default();
        memset(text, 1, 10 * TRACE_ORACLE_RECORD + 5);
        fd = pipe_from_child((const uint8_t *)text, 10 * TRACE_ORACLE_RECORD + 5, &pid);
        ASSERT_TRUE(fd >= 0);
        snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", fd);
        ASSERT_EQ(trace_load(fdpath, TRACE_FORMAT_ORACLE, &lim, &piped, &err), -EINVAL);
        ASSERT_EQ(err.line, 11);
        ASSERT_STREQ(err.msg, "file size is not a multiple of 24-byte records");
        close(fd);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        free(text);
        trace_done(&piped);
        trace_done(&whole);
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

/* Session starts: the first media segment of the lowest rung (every session begins there). */
static bool is_start(uint64_t id)
{
        return gen_dash_id_rung(id) == 0 && gen_dash_id_segment(id) == 0;
}

/* Titles that one session alone asked for, replayed request by request: each starts at
 * segment 0 on the lowest rung and climbs, seeks forward and back now and then, and abandons
 * early, part-way or at the end, in the proportions the model gives. */
TEST(generator_sessions_climb_seek_and_abandon)
{
        struct trace t = {0};
        struct trace_limits lim = trace_limits_default();
        struct gen_dash_opts o = gen_dash_opts_default();
        struct gen_dash_catalog cat = {0};
        o.days = 1;
        o.titles = 6000;
        o.sessions_per_day = 1500;
        o.zipf = 0; /* uniform: most titles get one session or none */
        o.releases_per_day = 0;
        o.churn = 0;
        ASSERT_EQ(gen_dash_run(&o, &lim, &t), 0);
        ASSERT_EQ(gen_dash_catalog_new(&o, &cat), 0);
        uint32_t *starts = calloc(cat.n + 1, sizeof(*starts));
        ASSERT_TRUE(starts != NULL);
        for (size_t i = 0; i < t.len; i++)
                if (is_start(t.reqs[i].id))
                        starts[gen_dash_id_title(t.reqs[i].id)]++;
        /* Per title: last segment and rung seen, first request checked, counts. */
        struct seen {
                int64_t seg;
                uint32_t rung, media, top;
        } *v = calloc(cat.n + 1, sizeof(*v));
        ASSERT_TRUE(v != NULL);
        uint64_t steps = 0, ahead = 0, back = 0;
        for (size_t i = 0; i < t.len; i++) {
                uint64_t id = t.reqs[i].id;
                uint32_t ti = gen_dash_id_title(id), seg = gen_dash_id_segment(id);
                if (starts[ti] != 1 || seg == GEN_DASH_INIT_SEGMENT)
                        continue;
                struct seen *e = &v[ti];
                if (e->media++ == 0) {
                        ASSERT_TRUE(is_start(id)); /* segment 0, lowest rung, first */
                } else {
                        steps++;
                        ahead += (int64_t)seg >= e->seg + 15;
                        back += (int64_t)seg < e->seg;
                }
                e->seg = seg;
                e->rung = gen_dash_id_rung(id);
                if (e->rung > e->top)
                        e->top = e->rung;
        }
        unsigned sessions = 0, long_ones = 0, climbed = 0, topmost = 0, short_ones = 0, to_end = 0;
        for (size_t ti = 1; ti <= cat.n; ti++) {
                if (starts[ti] != 1)
                        continue;
                sessions++;
                short_ones += v[ti].media < 30;
                to_end += v[ti].seg + 1 == (int64_t)cat.segs[ti - 1];
                if (v[ti].media >= 20) {
                        long_ones++;
                        climbed += v[ti].top >= 1;
                        topmost += v[ti].top == GEN_DASH_RUNGS - 1;
                }
        }
        ASSERT_TRUE(sessions >= 1000);
        /* 95% of sessions may go above the lowest rung and climb a rung in about three
         * segments; 35% may reach the top. */
        ASSERT_TRUE(climbed > long_ones * 85 / 100);
        ASSERT_TRUE(topmost > long_ones / 5 && topmost < long_ones / 2);
        /* A forward seek 0.4% and a seek back 0.1% of segment steps. */
        ASSERT_TRUE(ahead > steps / 1000 && ahead < steps / 100);
        ASSERT_TRUE(back > steps / 5000 && back < steps / 200);
        /* 35% sample a few minutes; 30% watch to the end; the rest stop part-way. */
        ASSERT_TRUE(short_ones > sessions / 8 && short_ones < sessions / 2);
        ASSERT_TRUE(to_end > sessions / 6 && to_end < sessions / 2);
        free(v);
        free(starts);
        gen_dash_catalog_done(&cat);
        trace_done(&t);
}

/* Session starts per title and day. */
static uint32_t *starts_by_day(const struct trace *t, size_t titles, unsigned days)
{
        uint32_t *c = calloc((titles + 1) * days, sizeof(*c));
        for (size_t i = 0; c && i < t->len; i++) {
                unsigned d = t->reqs[i].time / 86400u;
                if (is_start(t->reqs[i].id) && d < days)
                        c[d * (titles + 1) + gen_dash_id_title(t->reqs[i].id)]++;
        }
        return c;
}

static int cmp_desc(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return (x < y) - (x > y);
}

/* How many of day a's 20 most-started titles are among day b's 20 (c: starts_by_day). */
static unsigned top20_kept(const uint32_t *c, size_t titles, unsigned a, unsigned b)
{
        uint32_t sa[2048], sb[2048];
        unsigned kept = 0;
        if (titles + 1 > 2048)
                return 0;
        memcpy(sa, c + a * (titles + 1), (titles + 1) * sizeof(*sa));
        memcpy(sb, c + b * (titles + 1), (titles + 1) * sizeof(*sb));
        qsort(sa, titles + 1, sizeof(*sa), cmp_desc);
        qsort(sb, titles + 1, sizeof(*sb), cmp_desc);
        for (size_t ti = 1; ti <= titles; ti++) {
                const uint32_t *ra = c + a * (titles + 1), *rb = c + b * (titles + 1);
                kept += ra[ti] >= sa[19] && ra[ti] > 0 && rb[ti] >= sb[19] && rb[ti] > 0;
        }
        return kept;
}

/* Title popularity is Zipf-skewed, drifts from day to day (churn), new releases spike on
 * their day and fade, and sessions start mostly in the evening. */
TEST(generator_popularity_releases_and_diurnal_curve)
{
        struct trace t = {0}, still = {0};
        struct trace_limits lim = trace_limits_default();
        struct gen_dash_opts o = gen_dash_opts_default();
        o.days = 3;
        o.titles = 400;
        o.sessions_per_day = 2000;
        o.churn = 1.0;
        ASSERT_EQ(gen_dash_run(&o, &lim, &t), 0);
        size_t n = o.titles + (size_t)o.releases_per_day * o.days;
        uint32_t *c = starts_by_day(&t, n, o.days);
        ASSERT_TRUE(c != NULL);

        /* Zipf 0.9 over the day-0 catalogue: its top 10% takes far more than 10%. */
        uint32_t day0[2048];
        uint64_t all0 = 0, top = 0;
        ASSERT_TRUE(n + 1 <= 2048);
        memcpy(day0, c, (n + 1) * sizeof(*day0));
        qsort(day0 + 1, o.titles, sizeof(*day0), cmp_desc);
        for (size_t i = 1; i <= o.titles; i++) {
                all0 += day0[i];
                top += i <= o.titles / 10 ? day0[i] : 0;
        }
        ASSERT_TRUE(all0 > 1000);
        ASSERT_TRUE(top * 10 > all0 * 4);

        /* Day 1's three releases: well above their 3-in-406 share that day, less the next. */
        uint64_t d1 = 0, d2 = 0, rel1 = 0, rel2 = 0;
        for (size_t ti = 1; ti <= n; ti++) {
                d1 += c[1 * (n + 1) + ti];
                d2 += c[2 * (n + 1) + ti];
        }
        for (size_t ti = o.titles + 1 + o.releases_per_day; ti <= o.titles + 2 * o.releases_per_day;
             ti++) {
                rel1 += c[1 * (n + 1) + ti];
                rel2 += c[2 * (n + 1) + ti];
        }
        ASSERT_TRUE(rel1 * 100 > d1 * 5);
        ASSERT_TRUE(rel2 * d1 < rel1 * d2); /* a smaller share on day 2 */

        /* The evening peak (19-23 h) against the morning (7-11 h). */
        uint64_t evening = 0, morning = 0;
        for (size_t i = 0; i < t.len; i++) {
                unsigned h = (t.reqs[i].time % 86400u) / 3600u;
                if (!is_start(t.reqs[i].id))
                        continue;
                evening += h >= 19 && h < 23;
                morning += h >= 7 && h < 11;
        }
        ASSERT_TRUE(evening > 3 * morning && morning > 0);

        /* Churn: with popularity drifting, fewer of day 0's top titles stay on top by day 2. */
        o.churn = 0;
        ASSERT_EQ(gen_dash_run(&o, &lim, &still), 0);
        uint32_t *cs = starts_by_day(&still, n, o.days);
        ASSERT_TRUE(cs != NULL);
        ASSERT_TRUE(top20_kept(c, n, 0, 2) < top20_kept(cs, n, 0, 2));
        free(cs);
        free(c);
        trace_done(&t);
        trace_done(&still);
}

TEST_MAIN()
