/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "tests.h"
#include "utf8.h"

static int side_effects;

static int bump(void)
{
        side_effects++;
        return 42;
}

/* A fresh temporary file path; the file itself is removed so log_init creates it. */
static void tmp_path(char *buf, size_t len)
{
        snprintf(buf, len, "/tmp/sluice-test-log-XXXXXX");
        int fd = mkstemp(buf);
        if (fd >= 0) {
                close(fd);
                unlink(buf);
        }
}

static size_t slurp(const char *path, char *buf, size_t cap)
{
        int fd = open(path, O_RDONLY);
        if (fd < 0)
                return 0;
        ssize_t n = read(fd, buf, cap - 1);
        close(fd);
        if (n < 0)
                n = 0;
        buf[n] = '\0';
        return (size_t)n;
}

static int count_lines(const char *s)
{
        int n = 0;
        for (; *s; s++)
                n += *s == '\n';
        return n;
}

TEST(level_parse)
{
        ASSERT_EQ(log_level_parse("error"), LOG_LVL_ERROR);
        ASSERT_EQ(log_level_parse("warn"), LOG_LVL_WARN);
        ASSERT_EQ(log_level_parse("warning"), LOG_LVL_WARN);
        ASSERT_EQ(log_level_parse("INFO"), LOG_LVL_INFO);
        ASSERT_EQ(log_level_parse("debug"), LOG_LVL_DEBUG);
        ASSERT_EQ(log_level_parse("trace"), -EINVAL);
        ASSERT_EQ(log_level_parse(""), -EINVAL);
        ASSERT_EQ(log_level_parse(NULL), -EINVAL);
}

TEST(threshold_skips_formatting)
{
        char path[64];
        tmp_path(path, sizeof(path));
        ASSERT_EQ(log_init(LOG_LVL_INFO, path), 0);

        side_effects = 0;
        log_debug("never %d", bump());
        ASSERT_EQ(side_effects, 0);
        log_info("shown %d", bump());
        ASSERT_EQ(side_effects, 1);
        log_warn("also %d", bump());
        log_error("and %d", bump());
        ASSERT_EQ(side_effects, 3);

        char buf[4096];
        slurp(path, buf, sizeof(buf));
        unlink(path);
        ASSERT_EQ(count_lines(buf), 3);
        ASSERT_TRUE(strstr(buf, "never") == NULL);
        ASSERT_TRUE(strstr(buf, " info test-log: shown 42\n") != NULL);
        ASSERT_TRUE(strstr(buf, " warn test-log: also 42\n") != NULL);
        ASSERT_TRUE(strstr(buf, " error test-log: and 42\n") != NULL);
}

TEST(file_line_format)
{
        char path[64];
        tmp_path(path, sizeof(path));
        ASSERT_EQ(log_init(LOG_LVL_DEBUG, path), 0);
        errno = EBADF;
        log_debug("value=%s", "x");
        ASSERT_EQ(errno, EBADF); /* logging does not clobber errno */
        log_conn(LOG_LVL_INFO, 7, "closed after %d requests", 3);

        char buf[4096];
        slurp(path, buf, sizeof(buf));
        /* "YYYY-MM-DDTHH:MM:SS.mmmZ debug test-log: value=x\n" */
        ASSERT_TRUE(strlen(buf) > 24);
        const char *tmpl = "dddd-dd-ddTdd:dd:dd.dddZ ";
        for (size_t i = 0; tmpl[i]; i++) {
                if (tmpl[i] == 'd')
                        ASSERT_TRUE(buf[i] >= '0' && buf[i] <= '9');
                else
                        ASSERT_EQ(buf[i], tmpl[i]);
        }
        ASSERT_TRUE(strncmp(buf + 25, "debug test-log: value=x\n", 24) == 0);
        const char *second = strchr(buf, '\n') + 1;
        ASSERT_STREQ(second + 25, "info test-log: conn=7 closed after 3 requests\n");

        /* A second init on a path appends (reopen for rotation) rather than truncating. */
        ASSERT_EQ(log_init(LOG_LVL_INFO, path), 0);
        log_info("third");
        slurp(path, buf, sizeof(buf));
        unlink(path);
        ASSERT_EQ(count_lines(buf), 3);
}

TEST(control_bytes_escaped)
{
        char path[64];
        tmp_path(path, sizeof(path));
        ASSERT_EQ(log_init(LOG_LVL_INFO, path), 0);
        log_info("path=%s", "/a\n2024-01-01T00:00:00.000Z error forged\r");

        char buf[4096];
        slurp(path, buf, sizeof(buf));
        unlink(path);
        ASSERT_EQ(count_lines(buf), 1);
        ASSERT_TRUE(strstr(buf, "path=/a\\x0a2024") != NULL);
        ASSERT_TRUE(strstr(buf, "forged\\x0d\n") != NULL);
}

/* A temporary log file at path, the target from now on. */
static bool log_to_tmp(char *path, size_t len)
{
        tmp_path(path, len);
        return log_init(LOG_LVL_INFO, path) == 0;
}

/* The file's lines into buf (NUL-terminated), the file removed. Returns their length. */
static size_t log_read(const char *path, char *buf, size_t cap)
{
        size_t n = slurp(path, buf, cap);

        unlink(path);
        return n;
}

/* What a terminal acts on past ASCII (U+009B is CSI), and what is not UTF-8 at all (a line
 * journald would keep as binary): escaped like control bytes; other characters kept. */
TEST(terminal_controls_and_bad_utf8_escaped)
{
        char path[64], buf[4096];
        size_t n;

        ASSERT_TRUE(log_to_tmp(path, sizeof(path)));
        log_info("key=%s", "/t/\xc2\x9b"
                           "2J-\xff-\xe2\x80\xae"
                           "x-\xe2\x80\xa8-caf\xc3\xa9-\xe2\x82");
        n = log_read(path, buf, sizeof(buf));
        ASSERT_EQ(count_lines(buf), 1);
        ASSERT_TRUE(utf8_valid(buf, n));
        ASSERT_TRUE(strstr(buf, "key=/t/\\xc2\\x9b2J-\\xff-\\xe2\\x80\\xaex-\\xe2\\x80\\xa8-"
                                "caf\xc3\xa9-\\xe2\\x82\n") != NULL);
}

/* A cut line ends in "..." and never in half a character: lines of é cut at either parity,
 * and one that only its escapes made longer than a line (the message itself is shorter). */
TEST(cut_lines_marked_between_characters)
{
        char path[64], buf[16384], esc[2001], *big = malloc(6001), *line;
        size_t n;

        ASSERT_TRUE(big != NULL);
        for (size_t i = 0; i < 6000; i += 2)
                memcpy(big + i, "\xc3\xa9", 2);
        big[6000] = '\0';
        memset(esc, 0x01, 2000);
        esc[2000] = '\0';
        ASSERT_TRUE(log_to_tmp(path, sizeof(path)));
        log_info("%s", big);
        log_info("a%s", big);
        log_info("%s", esc);
        free(big);
        n = log_read(path, buf, sizeof(buf));
        ASSERT_EQ(count_lines(buf), 3);
        ASSERT_TRUE(utf8_valid(buf, n));
        for (line = buf; *line; line = strchr(line, '\n') + 1) {
                size_t len = (size_t)(strchr(line, '\n') - line);
                ASSERT_TRUE(len > 4000);
                ASSERT_MEMEQ(line + len - 3, 3, "...", 3);
        }
}

TEST(long_line_cut)
{
        char path[64];
        tmp_path(path, sizeof(path));
        ASSERT_EQ(log_init(LOG_LVL_INFO, path), 0);
        char *big = malloc(10000);
        ASSERT_TRUE(big != NULL);
        memset(big, 'a', 9999);
        big[9999] = '\0';
        log_info("%s", big);
        free(big);

        char buf[16384];
        size_t n = slurp(path, buf, sizeof(buf));
        unlink(path);
        ASSERT_EQ(count_lines(buf), 1);
        ASSERT_TRUE(n <= 4096);
        ASSERT_TRUE(n > 4000);
        ASSERT_MEMEQ(buf + n - 4, 4, "...\n", 4);
}

TEST(journal_prefix)
{
        char path[64];
        tmp_path(path, sizeof(path));
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ASSERT_TRUE(fd >= 0);
        int saved = dup(STDERR_FILENO);
        ASSERT_TRUE(saved >= 0);
        ASSERT_TRUE(dup2(fd, STDERR_FILENO) >= 0);
        close(fd);

        ASSERT_EQ(log_init(LOG_LVL_DEBUG, "journal"), 0);
        log_error("e");
        log_warn("w");
        log_info("i");
        log_debug("d");
        ASSERT_EQ(log_init(LOG_LVL_INFO, NULL), 0);
        log_info("plain");

        (void)dup2(saved, STDERR_FILENO);
        close(saved);

        char buf[4096];
        slurp(path, buf, sizeof(buf));
        unlink(path);
        const char *want = "<3>error test-log: e\n"
                           "<4>warn test-log: w\n"
                           "<6>info test-log: i\n"
                           "<7>debug test-log: d\n";
        ASSERT_TRUE(strncmp(buf, want, strlen(want)) == 0);
        ASSERT_TRUE(strstr(buf + strlen(want), "Z info test-log: plain\n") != NULL);
}

TEST(bad_target)
{
        ASSERT_EQ(log_init(LOG_LVL_INFO, "/nonexistent-dir/x/y.log"), -ENOENT);
        ASSERT_EQ(log_init(LOG_LVL_INFO, ""), -EINVAL);
        ASSERT_EQ(log_init(LOG_LVL_INFO, "stderr"), 0);
}

TEST_MAIN()
