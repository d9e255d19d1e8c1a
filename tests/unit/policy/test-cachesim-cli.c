/* SPDX-License-Identifier: MIT */
/*
 * Runs the sluice-cachesim binary ($SLUICE_CACHESIM) on the sample trace
 * ($SLUICE_SAMPLE_TRACE) and on a trace it generates, and checks that --json is valid JSON
 * with exactly the contracted fields. meson sets both variables.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests.h"

static const char *bin, *sample;

static void need_env(void)
{
        bin = getenv("SLUICE_CACHESIM");
        sample = getenv("SLUICE_SAMPLE_TRACE");
        if (!bin || !sample)
                TEST_SKIP(
                    "SLUICE_CACHESIM and SLUICE_SAMPLE_TRACE are not set (run via meson test)");
}

/* Runs argv, returns its exit status and (malloc'd, NUL-terminated) stdout in *out. */
static int run(char *const argv[], char **out)
{
        int pfd[2];
        if (pipe(pfd) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                dup2(pfd[1], 1);
                close(pfd[0]);
                close(pfd[1]);
                execv(argv[0], argv);
                _exit(127);
        }
        close(pfd[1]);
        size_t len = 0, cap = 4096;
        char *buf = malloc(cap);
        ssize_t n;
        while (buf && (n = read(pfd[0], buf + len, cap - len - 1)) > 0) {
                len += (size_t)n;
                if (cap - len < 2) {
                        char *nb = realloc(buf, cap * 2);
                        if (!nb) {
                                free(buf);
                                buf = NULL;
                                break;
                        }
                        buf = nb;
                        cap *= 2;
                }
        }
        close(pfd[0]);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (buf)
                buf[len] = '\0';
        *out = buf;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Checks the --json contract; returns the array (owned by the caller) or NULL. */
static json_t *parse_results(const char *text, size_t want_len)
{
        json_error_t jerr;
        json_t *root = json_loads(text, 0, &jerr);
        if (!root) {
                fprintf(stderr, "  bad JSON at line %d: %s\n", jerr.line, jerr.text);
                return NULL;
        }
        bool ok = json_is_array(root) && json_array_size(root) == want_len;
        size_t i;
        json_t *row;
        json_array_foreach(root, i, row)
        {
                json_t *pol = json_object_get(row, "policy");
                json_t *size = json_object_get(row, "size_bytes");
                json_t *bmr = json_object_get(row, "byte_miss_ratio");
                json_t *omr = json_object_get(row, "object_miss_ratio");
                ok = ok && json_object_size(row) == 4 && json_is_string(pol) &&
                     json_is_integer(size) && json_integer_value(size) > 0 && json_is_real(bmr) &&
                     json_is_real(omr) && json_real_value(bmr) >= 0 && json_real_value(bmr) <= 1 &&
                     json_real_value(omr) >= 0 && json_real_value(omr) <= 1;
        }
        if (!ok) {
                fprintf(stderr, "  unexpected JSON shape:\n%s\n", text);
                json_decref(root);
                return NULL;
        }
        return root;
}

static double field(json_t *arr, size_t i, const char *key)
{
        return json_real_value(json_object_get(json_array_get(arr, i), key));
}

TEST(json_on_sample_trace)
{
        need_env();
        char *out = NULL;
        char *argv[] = {(char *)bin, "--trace",      (char *)sample,
                        "--json",    "--policy",     "sluice,lru,gdsf,lfuda,s3fifo,sieve,belady",
                        "--size",    "10%,50%,100%", NULL};
        ASSERT_EQ(run(argv, &out), 0);
        ASSERT_TRUE(out);
        json_t *arr = parse_results(out, 21);
        free(out);
        ASSERT_TRUE(arr);
        /* Rows are size-major in the order given; Belady is last in each group of seven. */
        for (size_t s = 0; s < 3; s++) {
                double best = field(arr, s * 7 + 6, "object_miss_ratio");
                ASSERT_STREQ(
                    json_string_value(json_object_get(json_array_get(arr, s * 7 + 6), "policy")),
                    "belady");
                for (size_t p = 0; p < 6; p++)
                        ASSERT_TRUE(field(arr, s * 7 + p, "object_miss_ratio") >= best - 1e-9);
        }
        /* At 100% of the footprint only the 12 first requests (of 26) miss, for every policy:
         * nothing has to be evicted (sluice's watermark is 100% in the simulator). */
        for (size_t p = 0; p < 7; p++)
                ASSERT_TRUE(fabs(field(arr, 14 + p, "object_miss_ratio") - 12.0 / 26) < 1e-6);
        ASSERT_EQ(json_integer_value(json_object_get(json_array_get(arr, 14), "size_bytes")),
                  1000 + 2000 + 500 + 500 + 4000 * 3 + 800 + 3000 + 100 * 3);
        json_decref(arr);
}

TEST(generate_then_simulate)
{
        need_env();
        char path[] = "/tmp/sluice-cachesim-XXXXXX";
        int fd = mkstemp(path);
        ASSERT_TRUE(fd >= 0);
        close(fd);
        char *out = NULL;
        char *gen[] = {(char *)bin, "--generate", "dash",   "--out",  path, "--titles",
                       "30",        "--sessions", "40",     "--days", "1",  "--seed",
                       "7",         "--format",   "oracle", NULL};
        int rc = run(gen, &out);
        free(out);
        ASSERT_EQ(rc, 0);
        char *sim[] = {(char *)bin, "--trace",    path,     "--json", "--dash-ids",
                       "--policy",  "sluice,lru", "--size", "5%,20%", NULL};
        rc = run(sim, &out);
        unlink(path);
        ASSERT_EQ(rc, 0);
        ASSERT_TRUE(out);
        json_t *arr = parse_results(out, 4);
        free(out);
        ASSERT_TRUE(arr);
        json_decref(arr);
}

TEST(help_version_and_usage_errors)
{
        need_env();
        char *out = NULL;
        char *help[] = {(char *)bin, "--help", NULL};
        ASSERT_EQ(run(help, &out), 0);
        ASSERT_TRUE(out && strstr(out, "--trace") && strstr(out, "s3fifo"));
        free(out);
        char *ver[] = {(char *)bin, "--version", NULL};
        ASSERT_EQ(run(ver, &out), 0);
        ASSERT_TRUE(out && strncmp(out, "sluice-cachesim ", 16) == 0);
        free(out);
        char *bad[] = {(char *)bin, "--trace", (char *)sample, "--policy", "nope", NULL};
        ASSERT_EQ(run(bad, &out), 2);
        free(out);
        char *badsize[] = {(char *)bin, "--trace", (char *)sample, "--size", "12Q", NULL};
        ASSERT_EQ(run(badsize, &out), 2);
        free(out);
        char *missing[] = {(char *)bin, "--trace", "/nonexistent/trace.csv", NULL};
        ASSERT_EQ(run(missing, &out), 1);
        free(out);
}

TEST_MAIN()
