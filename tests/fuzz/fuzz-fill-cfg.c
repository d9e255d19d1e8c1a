/* SPDX-License-Identifier: MIT */
/*
 * sluice-fill's settings from outside: the YAML file (fill-agent/fill-cfg.c: the loader with
 * the agent's table and its checks), and the same input read as the strings flags carry — a
 * rate (--rate), an off-peak window (--window) and a fake clock (--now). A load either
 * succeeds within the table's bounds or leaves the struct empty with a NUL-terminated
 * message; a parsed rate or window is within its range.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#include "fill-cfg.h"
#include "holdings.h"
#include "window.h"

static void check_strings(const uint8_t *data, size_t size)
{
        char s[256];
        struct window w;
        uint64_t bps;
        time_t t;

        if (size >= sizeof(s))
                return;
        memcpy(s, data, size);
        s[size] = '\0';
        if (fill_cfg_rate_parse(s, &bps) == 0) {
                char out[64];
                CHECK(strlen(fill_cfg_rate_format(bps, out, sizeof(out))) < sizeof(out));
        }
        if (window_parse(s, &w) == 0)
                CHECK(w.start_min >= 0 && w.start_min <= 24 * 60 && w.end_min >= 0 &&
                      w.end_min <= 24 * 60 && w.start_min != w.end_min);
        (void)window_now_parse(s, &t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct fill_cfg c;
        struct cfg_error err;

        check_strings(data, size);
        if (size > CFG_MAX_FILE)
                return 0;
        memset(&c, 0, sizeof(c));
        if (fill_cfg_load_buf("fuzz.yaml", (const char *)data, size, &c, &err) == 0) {
                CHECK(c.parallel >= 1 && c.parallel <= 256 && c.edges.n <= 256);
                CHECK(c.list_page >= 1 && c.list_page <= HOLDINGS_PAGE);
                CHECK(c.outside && (!strcmp(c.outside, "exit") || !strcmp(c.outside, "wait")));
                for (size_t i = 0; i < c.edges.n; i++)
                        CHECK(((struct fill_edge_cfg *)c.edges.items)[i].id != NULL);
                fill_cfg_free(&c);
        } else {
                CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
                CHECK(!c.edges.items && !c.outside && !c.control);
        }
        return 0;
}
