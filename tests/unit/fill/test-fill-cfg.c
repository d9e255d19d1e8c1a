/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests.h"

#include "fill-cfg.h"

TEST(rate_units)
{
        uint64_t v;
        ASSERT_EQ(fill_cfg_rate_parse("2Gbit", &v), 0);
        ASSERT_EQ(v, 2000000000ull);
        ASSERT_EQ(fill_cfg_rate_parse("800Mbit", &v), 0);
        ASSERT_EQ(v, 800000000ull);
        ASSERT_EQ(fill_cfg_rate_parse("100MB/s", &v), 0);
        ASSERT_EQ(v, 800000000ull);
        ASSERT_EQ(fill_cfg_rate_parse("1.5G", &v), 0);
        ASSERT_EQ(v, 1500000000ull);
        ASSERT_EQ(fill_cfg_rate_parse("0", &v), 0);
        ASSERT_EQ(v, 0);
        /* A bare number is bits per second, as sluice-fill.yaml(5) says. */
        ASSERT_EQ(fill_cfg_rate_parse("100000000", &v), 0);
        ASSERT_EQ(v, 100000000ull);
        ASSERT_EQ(fill_cfg_rate_parse("8", &v), 0);
        ASSERT_EQ(v, 8);
        ASSERT_EQ(fill_cfg_rate_parse("unlimited", &v), 0);
        ASSERT_EQ(fill_cfg_rate_parse("fast", &v), -EINVAL);
        ASSERT_EQ(fill_cfg_rate_parse("-1G", &v), -EINVAL);
        ASSERT_EQ(fill_cfg_rate_parse("2Gbitz", &v), -EINVAL);
        ASSERT_EQ(fill_cfg_rate_parse("1bit", &v), -EINVAL);
        /* Decimal only. */
        ASSERT_EQ(fill_cfg_rate_parse("0x10G", &v), -EINVAL);
        ASSERT_EQ(fill_cfg_rate_parse("0X1p4M", &v), -EINVAL);
        ASSERT_EQ(fill_cfg_rate_parse("1e3M", &v), 0);
        ASSERT_EQ(v, 1000000000ull);
}

static int load_text(const char *text, struct fill_cfg *c, struct cfg_error *err)
{
        char path[] = "/tmp/sluice-fill-cfg-XXXXXX";
        int fd = mkstemp(path), r;
        if (fd < 0)
                return -errno;
        if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
                close(fd);
                return -EIO;
        }
        close(fd);
        memset(c, 0, sizeof(*c));
        r = fill_cfg_load(path, c, err);
        unlink(path);
        return r;
}

TEST(config_with_edges)
{
        struct fill_cfg c;
        struct cfg_error err;
        const char *y = "control: http://control:7000\n"
                        "rate: 2Gbit\n"
                        "window: \"02:00-14:00\"\n"
                        "outside_window: wait\n"
                        "edges:\n"
                        "  - {id: edge-a, admin_url: \"http://10.0.0.1:8081\", admin_token_file: "
                        "/t, rate: 500Mbit}\n"
                        "  - {id: edge-b, admin_url: \"http://10.0.0.2:8081\", admin_token_file: "
                        "/t, tz: Asia/Tokyo}\n";
        ASSERT_EQ(load_text(y, &c, &err), 0);
        ASSERT_STREQ(c.control, "http://control:7000");
        ASSERT_EQ(c.rate.bps, 2000000000ull);
        ASSERT_TRUE(c.rate.set);
        ASSERT_EQ(c.parallel, 4);
        ASSERT_TRUE(c.evict);
        ASSERT_EQ(c.edges.n, 2);
        struct fill_edge_cfg *e = c.edges.items;
        ASSERT_EQ(e[0].rate.bps, 500000000ull);
        ASSERT_TRUE(e[0].rate.set);
        ASSERT_TRUE(!e[1].rate.set);
        ASSERT_STREQ(e[1].tz, "Asia/Tokyo");
        fill_cfg_free(&c);
}

/* Nothing said: no window and no cap (run warns), eviction on. */
TEST(defaults)
{
        struct fill_cfg c;
        ASSERT_EQ(fill_cfg_defaults(&c), 0);
        ASSERT_TRUE(c.window == NULL);
        ASSERT_TRUE(!c.rate.set);
        ASSERT_EQ(c.rate.bps, 0);
        ASSERT_TRUE(c.evict);
        ASSERT_STREQ(c.outside, "exit");
        fill_cfg_free(&c);
}

TEST(unlimited_is_said)
{
        struct fill_cfg c;
        struct cfg_error err;
        ASSERT_EQ(load_text("rate: unlimited\n", &c, &err), 0);
        ASSERT_TRUE(c.rate.set);
        ASSERT_EQ(c.rate.bps, 0);
        fill_cfg_free(&c);
}

/* The shipped example must always load: derive its path from this file's (meson runs tests
 * from the build root, so a relative __FILE__ resolves from the working directory). */
TEST(example_file_loads)
{
        char path[4096];
        const char *slash = strstr(__FILE__, "tests/unit/fill/");
        struct fill_cfg c;
        struct cfg_error err;

        ASSERT_TRUE(slash != NULL);
        snprintf(path, sizeof(path), "%.*sfill-agent/sluice-fill.example.yaml",
                 (int)(slash - __FILE__), __FILE__);
        memset(&c, 0, sizeof(c));
        if (fill_cfg_load(path, &c, &err) < 0)
                TEST_FAIL_AT("%s", err.msg);
        ASSERT_STREQ(c.window, "02:00-14:00");
        ASSERT_TRUE(c.rate.set);
        ASSERT_EQ(c.rate.bps, 2000000000ull);
        ASSERT_STREQ(c.outside, "wait");
        ASSERT_STREQ(c.state_dir, "/var/lib/sluice-fill");
        ASSERT_EQ(c.edges.n, 1);
        struct fill_edge_cfg *e = c.edges.items;
        ASSERT_STREQ(e[0].id, "edge-a");
        ASSERT_STREQ(e[0].secret_file, "/etc/sluice/heartbeat.key");
        fill_cfg_free(&c);
}

TEST(config_errors_have_positions)
{
        struct fill_cfg c;
        struct cfg_error err;
        ASSERT_EQ(load_text("rate: 2Gbitz\n", &c, &err), -EINVAL);
        ASSERT_TRUE(strstr(err.msg, ":1:7:") != NULL);
        /* The value once, at the end (the setter and the loader each added it). */
        ASSERT_STREQ(strchr(err.msg, ':') + strlen(":1:7: "),
                     "'rate' must be a rate such as 2Gbit, 800Mbit or 100MB/s, got \"2Gbitz\"");
        ASSERT_EQ(load_text("edges:\n  - {id: a, rate: 2Gbits}\n", &c, &err), -EINVAL);
        ASSERT_STREQ(strchr(err.msg, ':') + strlen(":2:22: "),
                     "'edges[0].rate' must be a rate such as 2Gbit, 800Mbit or 100MB/s, got "
                     "\"2Gbits\"");
        ASSERT_EQ(load_text("control: x\nparalel: 3\n", &c, &err), -EINVAL);
        ASSERT_TRUE(strstr(err.msg, ":2:1:") != NULL);
        ASSERT_EQ(load_text("outside_window: later\n", &c, &err), -EINVAL);
        ASSERT_TRUE(strstr(err.msg, "outside_window") != NULL);
        ASSERT_EQ(load_text("edges:\n  - {id: a}\n  - {id: a}\n", &c, &err), -EINVAL);
        ASSERT_TRUE(strstr(err.msg, ":3:") != NULL);
        /* An explicit null clears a default: refused where nothing can stand in for it. */
        ASSERT_EQ(load_text("outside_window:\n", &c, &err), -EINVAL);
        ASSERT_TRUE(strstr(err.msg, ":1:16: 'outside_window' must be exit or wait, got null"));
        ASSERT_EQ(load_text("state_dir: ~\n", &c, &err), -EINVAL);
        ASSERT_TRUE(strstr(err.msg, ":1:12: 'state_dir' must name a directory") != NULL);
        ASSERT_EQ(load_text("list_page: 10001\n", &c, &err), -EINVAL);
        ASSERT_TRUE(strstr(err.msg, "list_page") != NULL);
        /* Ids as long as control registers (128 bytes); a longer one could not keep a journal
         * name of its own. */
        char y[300];
        snprintf(y, sizeof(y), "edges:\n  - {id: %0128d}\n", 0);
        ASSERT_EQ(load_text(y, &c, &err), 0);
        fill_cfg_free(&c);
        snprintf(y, sizeof(y), "edges:\n  - {id: %0129d}\n", 0);
        ASSERT_EQ(load_text(y, &c, &err), -EINVAL);
        ASSERT_TRUE(strstr(err.msg, ":2:10: 'edges[0].id' must be 1 to 128 bytes") != NULL);
}

TEST(urls_checked_where_written)
{
        struct fill_cfg c;
        struct cfg_error err;

        ASSERT_EQ(load_text("control: control.example:7000\n", &c, &err), -EINVAL);
        ASSERT_TRUE(strstr(err.msg, ":1:10:") != NULL);
        ASSERT_TRUE(strstr(err.msg, "not an http:// or https:// URL") != NULL);
        ASSERT_EQ(load_text("edges:\n  - {id: a, admin_url: \"http://a b\"}\n", &c, &err), -EINVAL);
        ASSERT_TRUE(strstr(err.msg, "edges[0].admin_url") != NULL);
        ASSERT_EQ(load_text("edges:\n  - {id: a, url: \"ftp://a\"}\n", &c, &err), -EINVAL);
        ASSERT_TRUE(strstr(err.msg, "edges[0].url") != NULL);
}

TEST(stall_timeout_bounds)
{
        struct fill_cfg c;
        struct cfg_error err;

        ASSERT_EQ(fill_cfg_defaults(&c), 0);
        ASSERT_EQ(c.stall_timeout_ms, 30000);
        fill_cfg_free(&c);
        ASSERT_EQ(load_text("stall_timeout: 2s\n", &c, &err), 0);
        ASSERT_EQ(c.stall_timeout_ms, 2000);
        fill_cfg_free(&c);
        ASSERT_EQ(load_text("stall_timeout: 5m\n", &c, &err), 0);
        ASSERT_EQ(c.stall_timeout_ms, 300000);
        fill_cfg_free(&c);
        /* libcurl's low-speed check counts whole seconds: less than one is refused. */
        ASSERT_EQ(load_text("stall_timeout: 500ms\n", &c, &err), -EINVAL);
        ASSERT_TRUE(strstr(err.msg, ":1:16:") != NULL);
        ASSERT_EQ(load_text("stall_timeout: 2h\n", &c, &err), -EINVAL);
}

/* Windows and zones are checked where they are written, per edge too, before any run. */
TEST(windows_and_zones_checked_where_written)
{
        struct fill_cfg c;
        struct cfg_error err;

        ASSERT_EQ(load_text("window: \"02:00-14:00\"\ntz: UTC\nedges:\n"
                            "  - {id: a, window: \"22:00-06:00\", tz: Europe/Paris}\n",
                            &c, &err),
                  0);
        fill_cfg_free(&c);
        ASSERT_EQ(load_text("window: \"25:00-02:00\"\n", &c, &err), -EINVAL);
        ASSERT_TRUE(strstr(err.msg, ":1:9: 'window' must be HH:MM-HH:MM") != NULL);
        ASSERT_EQ(load_text("edges:\n  - id: a\n    window: \"2-14\"\n", &c, &err), -EINVAL);
        ASSERT_TRUE(strstr(err.msg, ":3:13: 'edges[0].window' must be HH:MM-HH:MM") != NULL);
        ASSERT_EQ(load_text("tz: Europe/Pari\n", &c, &err), -EINVAL);
        ASSERT_TRUE(strstr(err.msg, ":1:5: 'tz': unknown time zone \"Europe/Pari\"") != NULL);
        ASSERT_EQ(load_text("edges:\n  - {id: a}\n  - {id: b, tz: Mars/Olympus}\n", &c, &err),
                  -EINVAL);
        ASSERT_TRUE(strstr(err.msg, ":3:17: 'edges[1].tz': unknown time zone") != NULL);
}

TEST_MAIN()
