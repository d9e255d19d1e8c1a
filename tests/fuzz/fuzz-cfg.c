/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the YAML config loader from memory: each input is loaded against the real edge table
 * (with its post-load checks) and against a small table with the types the edge does not use
 * (CFG_CUSTOM, negative bounds). Whatever the input, a load either succeeds or leaves the
 * struct empty, messages are NUL-terminated, and nothing leaks.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Built in rather than linked: only this translation unit gets libFuzzer's coverage
 * instrumentation, and the edge table is static inside edge-cfg.c (which needs only common).
 * The library's cfg.o is then never pulled in, as every symbol it defines is defined here. */
#include "../../common/cfg.c"
#include "../../edge/edge-cfg.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct f_item {
        char *k;
        int64_t n;
};

struct f_cfg {
        int mode;
        int64_t signed_n;
        struct cfg_strlist l;
        struct cfg_list items;
        char *s;
};

static int parse_mode(const char *s, void *dst, char *err, size_t errlen)
{
        if (strlen(s) == 1 && s[0] >= 'a' && s[0] <= 'z') {
                *(int *)dst = s[0];
                return 0;
        }
        snprintf(err, errlen, "must be one lowercase letter");
        return -EINVAL;
}

/* Tables keep one row per key; clang-format would put every member on its own line. */
/* clang-format off */
static const struct cfg_field f_item_fields[] = {
        {.key = "k", .type = CFG_STRING, .offset = offsetof(struct f_item, k), .required = true},
        {.key = "n", .type = CFG_INT, .offset = offsetof(struct f_item, n), .min = -3, .max = 3},
        {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_field f_fields[] = {
        {.key = "mode", .type = CFG_CUSTOM, .offset = offsetof(struct f_cfg, mode),
         .parse = parse_mode},
        {.key = "signed", .type = CFG_INT, .offset = offsetof(struct f_cfg, signed_n),
         .min = INT64_MIN, .max = INT64_MAX},
        {.key = "l", .type = CFG_STRLIST, .offset = offsetof(struct f_cfg, l), .min = 1,
         .def = "d"},
        {.key = "items", .type = CFG_SECTION_LIST, .offset = offsetof(struct f_cfg, items),
         .max = 8, .sub = f_item_fields, .elem_size = sizeof(struct f_item)},
        {.key = "s", .type = CFG_STRING, .offset = offsetof(struct f_cfg, s), .def = "x"},
        {0},
};
/* clang-format on */

static void check_msg(const struct cfg_error *err)
{
        if (!memchr(err->msg, '\0', sizeof(err->msg)))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct cfg_error err;
        struct edge_cfg *ec = NULL;

        if (size > CFG_MAX_FILE)
                return 0;
        if (edge_cfg_load_buf("fuzz.yaml", (const char *)data, size, &ec, &err) == 0) {
                /* A loaded config honours its own bounds. */
                if (ec->listen.n < 1 || ec->limits.max_headers < 8 || !ec->cache.dir)
                        abort();
                edge_cfg_free(ec);
        } else {
                check_msg(&err);
                if (ec)
                        abort();
        }

        struct f_cfg fc;
        memset(&fc, 0, sizeof(fc));
        if (cfg_load_buf("fuzz.yaml", (const char *)data, size, f_fields, &fc, &err) == 0) {
                if (fc.l.n < 1 || fc.items.n > 8)
                        abort();
                cfg_free(f_fields, &fc);
        } else {
                check_msg(&err);
                if (fc.l.items || fc.items.items || fc.s)
                        abort();
        }

        /* Positions for arbitrary paths over arbitrary documents. */
        (void)cfg_error_at(&err, "fuzz.yaml", (const char *)data, size, "items[1].k", "x");
        check_msg(&err);
        return 0;
}
