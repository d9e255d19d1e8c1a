/* SPDX-License-Identifier: MIT */
/*
 * The sluice-fill YAML file: one cfg_field table per section (docs/fill.md lists the same
 * keys for operators). Rates get a custom setter because "2Gbit" is not a size; URLs are
 * checked as the edge and control check theirs (common/net-addr.h).
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net-addr.h"

#include "holdings.h"
#include "metrics-file.h"
#include "window.h"

#include "fill-cfg.h"

static int rate_setter(const char *scalar, void *dst, char *err, size_t errlen)
{
        struct fill_rate *rate = dst;

        rate->set = true;
        if (fill_cfg_rate_parse(scalar, &rate->bps) < 0) {
                /* The loader adds ", got \"<scalar>\"" itself (common/cfg.c). */
                snprintf(err, errlen, "must be a rate such as 2Gbit, 800Mbit or 100MB/s");
                return -EINVAL;
        }
        return 0;
}

/* clang-format off */
static const struct cfg_field edge_fields[] = {
        {.key = "id", .type = CFG_STRING, .offset = offsetof(struct fill_edge_cfg, id), .required = true},
        {.key = "admin_url", .type = CFG_STRING, .offset = offsetof(struct fill_edge_cfg, admin_url)},
        {.key = "admin_token_file", .type = CFG_STRING, .offset = offsetof(struct fill_edge_cfg, admin_token_file)},
        {.key = "secret_file", .type = CFG_STRING, .offset = offsetof(struct fill_edge_cfg, secret_file)},
        {.key = "url", .type = CFG_STRING, .offset = offsetof(struct fill_edge_cfg, url)},
        {.key = "rate", .type = CFG_CUSTOM, .offset = offsetof(struct fill_edge_cfg, rate), .parse = rate_setter},
        {.key = "window", .type = CFG_STRING, .offset = offsetof(struct fill_edge_cfg, window)},
        {.key = "tz", .type = CFG_STRING, .offset = offsetof(struct fill_edge_cfg, tz)},
        {.key = "parallel", .type = CFG_INT, .offset = offsetof(struct fill_edge_cfg, parallel), .min = 0, .max = 256, .def = "0"},
        {0},
};

const struct cfg_field fill_cfg_fields[] = {
        {.key = "control", .type = CFG_STRING, .offset = offsetof(struct fill_cfg, control)},
        {.key = "control_token_file", .type = CFG_STRING, .offset = offsetof(struct fill_cfg, control_token_file)},
        {.key = "token_keys_file", .type = CFG_STRING, .offset = offsetof(struct fill_cfg, token_keys_file)},
        {.key = "state_dir", .type = CFG_STRING, .offset = offsetof(struct fill_cfg, state_dir), .def = "/var/lib/sluice-fill"},
        {.key = "metrics_file", .type = CFG_STRING, .offset = offsetof(struct fill_cfg, metrics_file)},
        {.key = "parallel", .type = CFG_INT, .offset = offsetof(struct fill_cfg, parallel), .min = 1, .max = 256, .def = "4"},
        {.key = "rate", .type = CFG_CUSTOM, .offset = offsetof(struct fill_cfg, rate), .parse = rate_setter},
        {.key = "window", .type = CFG_STRING, .offset = offsetof(struct fill_cfg, window)},
        {.key = "tz", .type = CFG_STRING, .offset = offsetof(struct fill_cfg, tz)},
        {.key = "outside_window", .type = CFG_STRING, .offset = offsetof(struct fill_cfg, outside), .def = "exit"},
        {.key = "evict", .type = CFG_BOOL, .offset = offsetof(struct fill_cfg, evict), .def = "true"},
        {.key = "retries", .type = CFG_INT, .offset = offsetof(struct fill_cfg, retries), .min = 0, .max = 100, .def = "8"},
        {.key = "timeout", .type = CFG_DURATION, .offset = offsetof(struct fill_cfg, timeout_ms), .min = 100, .max = 3600 * 1000, .def = "30s"},
        {.key = "stall_timeout", .type = CFG_DURATION, .offset = offsetof(struct fill_cfg, stall_timeout_ms), .min = 1000, .max = 3600 * 1000, .def = "30s"},
        {.key = "list_page", .type = CFG_INT, .offset = offsetof(struct fill_cfg, list_page), .min = 1, .max = HOLDINGS_PAGE, .def = "10000"},
        {.key = "edges", .type = CFG_SECTION_LIST, .offset = offsetof(struct fill_cfg, edges), .min = 0, .max = 256, .sub = edge_fields, .elem_size = sizeof(struct fill_edge_cfg)},
        {0},
};
/* clang-format on */

/*
 * A window and a zone where they are written (node: "window", "edges[2].tz"): found only at
 * run time, a typo would cost a night, and a zone the machine lacks would read as UTC.
 */
static int check_window(const char *window, const char *tz, const char *prefix, const char *name,
                        const char *buf, size_t len, struct cfg_error *err)
{
        struct window w;
        char node[64];

        if (window && window_parse(window, &w) < 0) {
                snprintf(node, sizeof(node), "%swindow", prefix);
                return cfg_error_at(err, name, buf, len, node,
                                    "'%s' must be HH:MM-HH:MM (00:00-24:00 for any hour), got "
                                    "\"%s\"",
                                    node, window);
        }
        if (tz && !window_tz_ok(tz)) {
                snprintf(node, sizeof(node), "%stz", prefix);
                return cfg_error_at(err, name, buf, len, node,
                                    "'%s': unknown time zone \"%s\" (no such zone file under "
                                    "/usr/share/zoneinfo)",
                                    node, tz);
        }
        return 0;
}

static int check(void *obj, const char *name, const char *buf, size_t len,
                 struct cfg_error *err)
{
        struct fill_cfg *c = obj;
        int r;

        /* An explicit null (~, or no value) clears a default; these two cannot go without. */
        if (!c->outside || (strcmp(c->outside, "exit") != 0 && strcmp(c->outside, "wait") != 0))
                return cfg_error_at(err, name, buf, len, "outside_window",
                                    "'outside_window' must be exit or wait, got %s%s%s",
                                    c->outside ? "\"" : "", c->outside ? c->outside : "null",
                                    c->outside ? "\"" : "");
        if (!c->state_dir || !c->state_dir[0])
                return cfg_error_at(err, name, buf, len, "state_dir",
                                    "'state_dir' must name a directory (default "
                                    "/var/lib/sluice-fill)");
        if (c->metrics_file && (!c->metrics_file[0] || strlen(c->metrics_file) > METRICS_PATH_MAX))
                return cfg_error_at(err, name, buf, len, "metrics_file",
                                    "'metrics_file' must name a file (at most %d bytes)",
                                    METRICS_PATH_MAX);
        if (c->control && !net_url_ok(c->control))
                return cfg_error_at(err, name, buf, len, "control",
                                    "'control': \"%s\" is not an http:// or https:// URL",
                                    c->control);
        r = check_window(c->window, c->tz, "", name, buf, len, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->edges.n; i++) {
                struct fill_edge_cfg *e = (struct fill_edge_cfg *)c->edges.items + i;
                const char *urls[] = {e->admin_url, e->url};
                char prefix[32];

                snprintf(prefix, sizeof(prefix), "edges[%zu].", i);
                if (!e->id[0] || strlen(e->id) > FILL_EDGE_ID_MAX) {
                        char node[64];
                        snprintf(node, sizeof(node), "edges[%zu].id", i);
                        return cfg_error_at(err, name, buf, len, node,
                                            "'%s' must be 1 to %d bytes (as control registers "
                                            "edges)",
                                            node, FILL_EDGE_ID_MAX);
                }
                r = check_window(e->window, e->tz, prefix, name, buf, len, err);
                if (r < 0)
                        return r;
                const char *keys[] = {"admin_url", "url"};
                for (size_t k = 0; k < 2; k++) {
                        if (!urls[k] || net_url_ok(urls[k]))
                                continue;
                        char node[64];
                        snprintf(node, sizeof(node), "edges[%zu].%s", i, keys[k]);
                        return cfg_error_at(err, name, buf, len, node,
                                            "'%s': \"%s\" is not an http:// or https:// URL", node,
                                            urls[k]);
                }
                for (size_t j = 0; j < i; j++) {
                        struct fill_edge_cfg *o = (struct fill_edge_cfg *)c->edges.items + j;
                        if (strcmp(o->id, e->id) == 0) {
                                char node[64];
                                snprintf(node, sizeof(node), "edges[%zu].id", i);
                                return cfg_error_at(err, name, buf, len, node,
                                                    "edge id \"%s\" listed twice", e->id);
                        }
                }
        }
        return 0;
}

int fill_cfg_load_buf(const char *name, const char *buf, size_t len, struct fill_cfg *ret,
                      struct cfg_error *err)
{
        return cfg_load_buf_checked(name, buf, len, fill_cfg_fields, ret, check, err);
}

int fill_cfg_load(const char *path, struct fill_cfg *ret, struct cfg_error *err)
{
        return cfg_load_file_checked(path, fill_cfg_fields, ret, check, err);
}

int fill_cfg_edge_error(const char *path, size_t idx, const char *key, const char *msg,
                        struct cfg_error *err)
{
        char *buf = NULL, node[64];
        size_t len = 0;

        /* Read again for the position only: one that cannot be had still names the edge. */
        if (cfg_read_file(path, &buf, &len, err) < 0) {
                snprintf(err->msg, sizeof(err->msg), "%s: 'edges[%zu]' %s", path, idx, msg);
                return -EINVAL;
        }
        snprintf(node, sizeof(node), "edges[%zu].%s", idx, key);
        cfg_error_at(err, path, buf, len, node, "'edges[%zu]' %s", idx, msg);
        cfg_file_free(buf, len);
        return -EINVAL;
}

int fill_cfg_defaults(struct fill_cfg *ret)
{
        struct cfg_error err;
        int r;

        memset(ret, 0, sizeof(*ret)); /* the loader frees what a field held */
        r = cfg_load_buf("(defaults)", "{}\n", 3, fill_cfg_fields, ret, &err);
        return r < 0 ? -ENOMEM : 0;
}

void fill_cfg_free(struct fill_cfg *cfg)
{
        cfg_free(fill_cfg_fields, cfg);
}

int fill_cfg_rate_parse(const char *s, uint64_t *ret)
{
        char *end;
        double v, mult = 1;

        if (!s || !*s)
                return -EINVAL;
        if (strcasecmp(s, "unlimited") == 0 || strcasecmp(s, "off") == 0) {
                *ret = 0;
                return 0;
        }
        /* Decimal only: strtod would also take hexadecimal ("0x1p4" is 16) and "infinity". */
        if (*s < '0' || *s > '9' || strpbrk(s, "xX"))
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || !isfinite(v) || v < 0)
                return -EINVAL;
        while (*end == ' ')
                end++;
        switch (*end) {
        case 'k':
        case 'K':
                mult = 1e3;
                end++;
                break;
        case 'M':
                mult = 1e6;
                end++;
                break;
        case 'G':
                mult = 1e9;
                end++;
                break;
        case 'T':
                mult = 1e12;
                end++;
                break;
        default:
                break;
        }
        if (*end == '\0' || strcmp(end, "bit") == 0 || strcmp(end, "bit/s") == 0 ||
            strcmp(end, "bps") == 0 || strcmp(end, "b") == 0) {
                /* bits per second */
        } else if (strcmp(end, "B") == 0 || strcmp(end, "B/s") == 0 || strcmp(end, "Bps") == 0) {
                mult *= 8;
        } else {
                return -EINVAL;
        }
        v *= mult;
        if (v > 1e15 || (v > 0 && v < 8))
                return -EINVAL; /* beyond any link, or below one byte per second */
        *ret = (uint64_t)llround(v);
        return 0;
}

const char *fill_cfg_rate_format(uint64_t bps, char *buf, size_t cap)
{
        static const char *const unit[] = {"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"};
        double v = (double)bps;
        unsigned i = 0;

        while (v >= 1000 && i < 4) {
                v /= 1000;
                i++;
        }
        snprintf(buf, cap, "%.*f %s", v < 10 && i ? 2 : v < 100 && i ? 1 : 0, v, unit[i]);
        return buf;
}
