/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "cfg.h"
#include "tests.h"

/* A table that exercises every type. */
struct t_peer {
        char *name;
        int64_t weight;
};

struct t_net {
        char *bind;
        int64_t backlog;
        int64_t timeout_ms;
};

struct t_cfg {
        bool debug;
        int64_t count;
        uint64_t size;
        int64_t delay_ms;
        char *name;
        char *optional;
        struct cfg_strlist tags;
        struct t_net net;
        struct cfg_list peers;
        int mode; /* CFG_CUSTOM */
};

static int parse_mode(const char *s, void *dst, char *err, size_t errlen)
{
        if (!strcmp(s, "fast") || !strcmp(s, "safe")) {
                *(int *)dst = s[0] == 'f' ? 1 : 2;
                return 0;
        }
        snprintf(err, errlen, "must be fast or safe");
        return -EINVAL;
}

/* Tables keep one row per key; clang-format would put every member on its own line. */
/* clang-format off */
static const struct cfg_field net_fields[] = {
        {.key = "bind", .type = CFG_STRING, .offset = offsetof(struct t_net, bind),
         .def = "127.0.0.1:1"},
        {.key = "backlog", .type = CFG_INT, .offset = offsetof(struct t_net, backlog), .min = 1,
         .max = 4096, .def = "128"},
        {.key = "timeout", .type = CFG_DURATION, .offset = offsetof(struct t_net, timeout_ms),
         .min = 1, .def = "5s"},
        {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_field peer_fields[] = {
        {.key = "name", .type = CFG_STRING, .offset = offsetof(struct t_peer, name),
         .required = true},
        {.key = "weight", .type = CFG_INT, .offset = offsetof(struct t_peer, weight), .min = 0,
         .max = 100, .def = "10"},
        {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_field t_fields[] = {
        {.key = "debug", .type = CFG_BOOL, .offset = offsetof(struct t_cfg, debug)},
        {.key = "count", .type = CFG_INT, .offset = offsetof(struct t_cfg, count), .min = -5,
         .max = 1000, .def = "7"},
        {.key = "size", .type = CFG_SIZE, .offset = offsetof(struct t_cfg, size), .min = 1024,
         .def = "1M"},
        {.key = "delay", .type = CFG_DURATION, .offset = offsetof(struct t_cfg, delay_ms),
         .def = "250ms", .min = 100, .max = 7 * 86400000ll},
        {.key = "name", .type = CFG_STRING, .offset = offsetof(struct t_cfg, name),
         .required = true},
        {.key = "optional", .type = CFG_STRING, .offset = offsetof(struct t_cfg, optional),
         .def = "dflt"},
        {.key = "tags", .type = CFG_STRLIST, .offset = offsetof(struct t_cfg, tags), .min = 0,
         .max = 3, .def = "x"},
        {.key = "net", .type = CFG_SECTION, .offset = offsetof(struct t_cfg, net),
         .sub = net_fields},
        {.key = "peers", .type = CFG_SECTION_LIST, .offset = offsetof(struct t_cfg, peers),
         .min = 0, .max = 4, .sub = peer_fields, .elem_size = sizeof(struct t_peer)},
        {.key = "mode", .type = CFG_CUSTOM, .offset = offsetof(struct t_cfg, mode),
         .parse = parse_mode},
        {0},
};
/* clang-format on */

static int load(const char *doc, struct t_cfg *c, struct cfg_error *err)
{
        memset(c, 0, sizeof(*c));
        return cfg_load_buf("t.yaml", doc, strlen(doc), t_fields, c, err);
}

/* The loader must leave nothing behind on error: every pointer cleared. */
static bool all_clear(const struct t_cfg *c)
{
        return !c->name && !c->optional && !c->tags.items && !c->tags.n && !c->net.bind &&
               !c->peers.items && !c->peers.n;
}

#define ASSERT_FAILS(doc, want)                                                                    \
        do {                                                                                       \
                struct t_cfg _c;                                                                   \
                struct cfg_error _e;                                                               \
                ASSERT_EQ(load((doc), &_c, &_e), -EINVAL);                                         \
                ASSERT_STREQ(_e.msg, (want));                                                      \
                ASSERT_TRUE(all_clear(&_c));                                                       \
        } while (0)

TEST(defaults_applied)
{
        struct t_cfg c;
        struct cfg_error err;
        ASSERT_EQ(load("name: n\n", &c, &err), 0);
        ASSERT_TRUE(!c.debug);
        ASSERT_EQ(c.count, 7);
        ASSERT_EQ(c.size, 1 << 20);
        ASSERT_EQ(c.delay_ms, 250);
        ASSERT_STREQ(c.name, "n");
        ASSERT_STREQ(c.optional, "dflt");
        ASSERT_EQ(c.tags.n, 1);
        ASSERT_STREQ(c.tags.items[0], "x");
        /* An absent section still gets its defaults. */
        ASSERT_STREQ(c.net.bind, "127.0.0.1:1");
        ASSERT_EQ(c.net.backlog, 128);
        ASSERT_EQ(c.net.timeout_ms, 5000);
        ASSERT_EQ(c.peers.n, 0);
        ASSERT_EQ(c.mode, 0);
        cfg_free(t_fields, &c);
        ASSERT_TRUE(all_clear(&c));
}

TEST(all_types_block_style)
{
        static const char doc[] = "# comment\n"
                                  "debug: yes\n"
                                  "count: -5\n"
                                  "size: 2GiB\n"
                                  "delay: 3m\n"
                                  "name: \"quoted: value\"\n"
                                  "optional: ~\n"
                                  "tags:\n"
                                  "  - a\n"
                                  "  - 'b c'\n"
                                  "net:\n"
                                  "  bind: 0.0.0.0:1\n"
                                  "  timeout: 1h\n"
                                  "peers:\n"
                                  "  - name: p1\n"
                                  "    weight: 0\n"
                                  "  - name: p2\n"
                                  "mode: safe\n";
        struct t_cfg c;
        struct cfg_error err;
        ASSERT_EQ(load(doc, &c, &err), 0);
        ASSERT_TRUE(c.debug);
        ASSERT_EQ(c.count, -5);
        ASSERT_EQ(c.size, 2ull << 30);
        ASSERT_EQ(c.delay_ms, 180000);
        ASSERT_STREQ(c.name, "quoted: value");
        ASSERT_TRUE(c.optional == NULL); /* explicit null clears the default */
        ASSERT_EQ(c.tags.n, 2);
        ASSERT_STREQ(c.tags.items[1], "b c");
        ASSERT_STREQ(c.net.bind, "0.0.0.0:1");
        ASSERT_EQ(c.net.backlog, 128);
        ASSERT_EQ(c.net.timeout_ms, 3600000);
        ASSERT_EQ(c.peers.n, 2);
        struct t_peer *p = c.peers.items;
        ASSERT_STREQ(p[0].name, "p1");
        ASSERT_EQ(p[0].weight, 0);
        ASSERT_STREQ(p[1].name, "p2");
        ASSERT_EQ(p[1].weight, 10); /* list elements get their defaults too */
        ASSERT_EQ(c.mode, 2);
        cfg_free(t_fields, &c);
        ASSERT_TRUE(all_clear(&c));
        cfg_free(t_fields, NULL);
}

TEST(flow_style_and_scalar_list)
{
        struct t_cfg c;
        struct cfg_error err;
        ASSERT_EQ(
            load("{name: n, tags: solo, net: {bind: b}, peers: [{name: q}], debug: OFF}", &c, &err),
            0);
        ASSERT_EQ(c.tags.n, 1);
        ASSERT_STREQ(c.tags.items[0], "solo");
        ASSERT_STREQ(c.net.bind, "b");
        ASSERT_EQ(c.peers.n, 1);
        ASSERT_TRUE(!c.debug);
        cfg_free(t_fields, &c);

        ASSERT_EQ(load("name: n\ntags: []\nnet:\npeers:\n", &c, &err), 0);
        ASSERT_EQ(c.tags.n, 0);
        ASSERT_EQ(c.peers.n, 0);
        cfg_free(t_fields, &c);

        /* Anchors without aliases are harmless and accepted. */
        ASSERT_EQ(load("name: &a n\n", &c, &err), 0);
        ASSERT_STREQ(c.name, "n");
        cfg_free(t_fields, &c);
}

TEST(bool_spellings)
{
        static const char *const t[] = {"true", "True", "TRUE", "yes", "on", "On"};
        static const char *const f[] = {"false", "no", "off", "NO"};
        char doc[64];
        struct t_cfg c;
        struct cfg_error err;
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                snprintf(doc, sizeof(doc), "name: n\ndebug: %s\n", t[i]);
                ASSERT_EQ(load(doc, &c, &err), 0);
                ASSERT_TRUE(c.debug);
                cfg_free(t_fields, &c);
        }
        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
                snprintf(doc, sizeof(doc), "name: n\ndebug: %s\n", f[i]);
                ASSERT_EQ(load(doc, &c, &err), 0);
                ASSERT_TRUE(!c.debug);
                cfg_free(t_fields, &c);
        }
        ASSERT_FAILS("name: n\ndebug: 1\n",
                     "t.yaml:2:8: 'debug' must be a boolean (true/false), got \"1\"");
}

TEST(empty_and_null_documents)
{
        ASSERT_FAILS("", "t.yaml:1:1: missing required key 'name'");
        ASSERT_FAILS("# only a comment\n", "t.yaml:1:1: missing required key 'name'");
        ASSERT_FAILS("---\n", "t.yaml:2:1: missing required key 'name'");
        ASSERT_FAILS("\n\ncount: 1\n", "t.yaml:3:1: missing required key 'name'");
}

TEST(unknown_and_duplicate_keys)
{
        ASSERT_FAILS("name: n\nnmae: m\n", "t.yaml:2:1: unknown key 'nmae'");
        ASSERT_FAILS("name: n\nnet:\n  bind: b\n  bnid: c\n", "t.yaml:4:3: unknown key 'net.bnid'");
        ASSERT_FAILS("name: n\npeers:\n  - name: a\n  - name: b\n    wieght: 1\n",
                     "t.yaml:5:5: unknown key 'peers[1].wieght'");
        ASSERT_FAILS("name: n\ncount: 1\nname: m\n", "t.yaml:3:1: duplicate key 'name'");
        ASSERT_FAILS("name: n\nnet: {bind: a, bind: b}\n", "t.yaml:2:16: duplicate key 'net.bind'");
        /* Keys are case-sensitive. */
        ASSERT_FAILS("Name: n\n", "t.yaml:1:1: unknown key 'Name'");
}

TEST(required_keys)
{
        ASSERT_FAILS("count: 1\n", "t.yaml:1:1: missing required key 'name'");
        ASSERT_FAILS("name: n\npeers:\n  - {}\n",
                     "t.yaml:3:5: missing required key 'peers[0].name'");
        ASSERT_FAILS("name: n\npeers:\n  - weight: 1\n",
                     "t.yaml:3:5: missing required key 'peers[0].name'");
        /* A required string cannot be null. */
        ASSERT_FAILS("name:\n", "t.yaml:1:6: 'name' needs a value (a string)");
        ASSERT_FAILS("name: ~\n", "t.yaml:1:7: 'name' needs a value (a string)");
}

/* A section whose keys are required must itself be present. */
TEST(required_in_absent_section)
{
        struct inner {
                char *must;
        };
        /* clang-format off */
        static const struct cfg_field in_fields[] = {
                {.key = "must", .type = CFG_STRING, .offset = 0, .required = true},
                {0},
        };
        /* clang-format on */
        /* clang-format off */
        static const struct cfg_field out_fields[] = {
                {.key = "other", .type = CFG_INT, .offset = sizeof(struct inner)},
                {.key = "sec", .type = CFG_SECTION, .offset = 0, .sub = in_fields},
                {0},
        };
        /* clang-format on */
        struct {
                struct inner in;
                int64_t other;
        } o = {{0}, 0};
        struct cfg_error err;
        ASSERT_EQ(cfg_load_buf("t.yaml", "\nother: 1\n", 10, out_fields, &o, &err), -EINVAL);
        ASSERT_STREQ(err.msg, "t.yaml:2:1: missing required key 'sec.must'");
        /* Present but empty or null ("sec:", "sec: ~") is no better than absent. */
        ASSERT_EQ(cfg_load_buf("t.yaml", "other: 1\nsec:\n", 14, out_fields, &o, &err), -EINVAL);
        ASSERT_STREQ(err.msg, "t.yaml:2:5: missing required key 'sec.must'");
        ASSERT_EQ(cfg_load_buf("t.yaml", "sec: ~\n", 7, out_fields, &o, &err), -EINVAL);
        ASSERT_STREQ(err.msg, "t.yaml:1:6: missing required key 'sec.must'");
        ASSERT_EQ(cfg_load_buf("t.yaml", "sec: {must: x}", 14, out_fields, &o, &err), 0);
        ASSERT_STREQ(o.in.must, "x");
        cfg_free(out_fields, &o);
        ASSERT_TRUE(o.in.must == NULL);
}

TEST(wrong_types)
{
        ASSERT_FAILS("name: [a]\n", "t.yaml:1:7: 'name' must be a string");
        ASSERT_FAILS("name: {a: b}\n", "t.yaml:1:7: 'name' must be a string");
        ASSERT_FAILS("name: n\nnet: x\n", "t.yaml:2:6: 'net' must be a mapping");
        ASSERT_FAILS("name: n\nnet: [x]\n", "t.yaml:2:6: 'net' must be a mapping");
        ASSERT_FAILS("name: n\npeers: {name: x}\n",
                     "t.yaml:2:8: 'peers' must be a list of mappings");
        ASSERT_FAILS("name: n\npeers: [x]\n", "t.yaml:2:9: 'peers[0]' must be a mapping");
        ASSERT_FAILS("name: n\ntags: {a: b}\n",
                     "t.yaml:2:7: 'tags' must be a string or a list of strings");
        ASSERT_FAILS("name: n\ntags: [a, [b]]\n", "t.yaml:2:11: 'tags[1]' must be a string");
        ASSERT_FAILS("name: n\ncount: 1.5\n",
                     "t.yaml:2:8: 'count' must be an integer, got \"1.5\"");
        ASSERT_FAILS("name: n\ncount: 0x10\n",
                     "t.yaml:2:8: 'count' must be an integer, got \"0x10\"");
        ASSERT_FAILS("name: n\ncount:\n", "t.yaml:2:7: 'count' needs a value (an integer)");
        ASSERT_FAILS("name: n\nsize: 10X\n",
                     "t.yaml:2:7: 'size' must be a size (e.g. 512M, 800G), got \"10X\"");
        ASSERT_FAILS("name: n\nsize: 100Mb\n",
                     "t.yaml:2:7: 'size' must be a size in bytes: write B, not b (bits), got "
                     "\"100Mb\"");
        ASSERT_FAILS("name: n\nsize: 10Xb\n",
                     "t.yaml:2:7: 'size' must be a size (e.g. 512M, 800G), got \"10Xb\"");
        ASSERT_FAILS("name: n\ndelay: 5w\n",
                     "t.yaml:2:8: 'delay' must be a duration (e.g. 500ms, 10s, 5m, 1h, 7d), got "
                     "\"5w\"");
        ASSERT_FAILS("name: n\nmode: slow\n",
                     "t.yaml:2:7: 'mode' must be fast or safe, got \"slow\"");
        ASSERT_FAILS("[a, b]\n", "t.yaml:1:1: the top level must be a mapping");
        ASSERT_FAILS("just text\n", "t.yaml:1:1: the top level must be a mapping");
        ASSERT_FAILS("? [a]\n: b\n", "t.yaml:1:3: keys in '(top level)' must be plain strings");
}

TEST(bounds)
{
        ASSERT_FAILS("name: n\ncount: 1001\n",
                     "t.yaml:2:8: 'count' must be between -5 and 1000, got \"1001\"");
        ASSERT_FAILS("name: n\ncount: -6\n",
                     "t.yaml:2:8: 'count' must be between -5 and 1000, got \"-6\"");
        ASSERT_FAILS("name: n\ncount: 99999999999999999999\n",
                     "t.yaml:2:8: 'count' must be an integer, got \"99999999999999999999\"");
        ASSERT_FAILS("name: n\nsize: 1023\n",
                     "t.yaml:2:7: 'size' must be at least 1024 bytes, got \"1023\"");
        ASSERT_FAILS("name: n\nsize: 99999999999T\n",
                     "t.yaml:2:7: 'size' must be a size (e.g. 512M, 800G), got \"99999999999T\"");
        ASSERT_FAILS("name: n\nnet: {bind: b, backlog: 0}\n",
                     "t.yaml:2:25: 'net.backlog' must be between 1 and 4096, got \"0\"");
        ASSERT_FAILS("name: n\nnet: {bind: b, timeout: 0s}\n",
                     "t.yaml:2:25: 'net.timeout' must be at least 1ms, got \"0s\"");
        /* Duration bounds written as the file would write them, not in milliseconds. */
        ASSERT_FAILS("name: n\ndelay: 50ms\n",
                     "t.yaml:2:8: 'delay' must be between 100ms and 7d, got \"50ms\"");
        ASSERT_FAILS("name: n\ndelay: 8d\n",
                     "t.yaml:2:8: 'delay' must be between 100ms and 7d, got \"8d\"");
        ASSERT_FAILS("name: n\npeers: [{name: a, weight: 101}]\n",
                     "t.yaml:2:27: 'peers[0].weight' must be between 0 and 100, got \"101\"");

        struct t_cfg c;
        struct cfg_error err;
        ASSERT_EQ(load("name: n\ncount: +1000\nsize: 18446744073709551615\n", &c, &err), 0);
        ASSERT_EQ(c.count, 1000);
        ASSERT_EQ(c.size, UINT64_MAX); /* no upper bound on this field */
        cfg_free(t_fields, &c);
}

TEST(list_limits)
{
        ASSERT_FAILS("name: n\ntags: [a, b, c, d]\n",
                     "t.yaml:2:17: 'tags' has more than 3 entries");
        ASSERT_FAILS("name: n\npeers:\n  - name: a\n  - name: b\n  - name: c\n  - name: d\n"
                     "  - name: e\n",
                     "t.yaml:7:5: 'peers' has more than 4 entries");

        /* Without a field maximum, CFG_MAX_LIST applies. */
        /* clang-format off */
        static const struct cfg_field big[] = {
                {.key = "l", .type = CFG_STRLIST, .offset = 0},
                {0},
        };
        /* clang-format on */
        size_t cap = 8 + 3 * (CFG_MAX_LIST + 1);
        char *doc = malloc(cap);
        ASSERT_TRUE(doc != NULL);
        size_t o = (size_t)snprintf(doc, cap, "l: [");
        for (int i = 0; i <= CFG_MAX_LIST; i++)
                o += (size_t)snprintf(doc + o, cap - o, "a, ");
        snprintf(doc + o, cap - o, "]");
        struct cfg_strlist sl = {0};
        struct cfg_error err;
        ASSERT_EQ(cfg_load_buf("t.yaml", doc, strlen(doc), big, &sl, &err), -EINVAL);
        char want[128];
        snprintf(want, sizeof(want), "t.yaml:1:%d: 'l' has more than %d entries",
                 5 + 3 * CFG_MAX_LIST, CFG_MAX_LIST);
        ASSERT_STREQ(err.msg, want);
        ASSERT_TRUE(sl.items == NULL && sl.n == 0);

        /* A field's own maximum above CFG_MAX_LIST is the one that holds (control's
         * country_prefixes), for a list of strings and a list of sections alike. */
        struct two_lists {
                struct cfg_strlist l;
                struct cfg_list s;
        } both = {0};
        /* clang-format off */
        static const struct cfg_field one[] = {
                {.key = "v", .type = CFG_STRING, .offset = 0},
                {0},
        };
        static const struct cfg_field bigger[] = {
                {.key = "l", .type = CFG_STRLIST, .offset = 0, .max = 2 * CFG_MAX_LIST},
                {.key = "s", .type = CFG_SECTION_LIST, .offset = offsetof(struct two_lists, s),
                 .max = 2 * CFG_MAX_LIST, .sub = one, .elem_size = sizeof(char *)},
                {0},
        };
        /* clang-format on */
        ASSERT_EQ(cfg_load_buf("t.yaml", doc, strlen(doc), bigger, &both, &err), 0);
        ASSERT_EQ(both.l.n, CFG_MAX_LIST + 1);
        cfg_free(bigger, &both);
        free(doc);
        cap = 8 + 9 * (CFG_MAX_LIST + 1);
        doc = malloc(cap);
        ASSERT_TRUE(doc != NULL);
        o = (size_t)snprintf(doc, cap, "s: [");
        for (int i = 0; i <= CFG_MAX_LIST; i++)
                o += (size_t)snprintf(doc + o, cap - o, "{v: a}, ");
        snprintf(doc + o, cap - o, "]");
        memset(&both, 0, sizeof(both));
        ASSERT_EQ(cfg_load_buf("t.yaml", doc, strlen(doc), bigger, &both, &err), 0);
        ASSERT_EQ(both.s.n, CFG_MAX_LIST + 1);
        cfg_free(bigger, &both);
        free(doc);

        /* clang-format off */
        static const struct cfg_field atleast[] = {
                {.key = "l", .type = CFG_STRLIST, .offset = 0, .min = 2},
                {0},
        };
        /* clang-format on */
        ASSERT_EQ(cfg_load_buf("t.yaml", "l: [a]", 6, atleast, &sl, &err), -EINVAL);
        ASSERT_STREQ(err.msg, "t.yaml:1:4: 'l' needs at least 2 entries");
        ASSERT_EQ(cfg_load_buf("t.yaml", "l: a", 4, atleast, &sl, &err), -EINVAL);
        ASSERT_STREQ(err.msg, "t.yaml:1:4: 'l' needs at least 2 entries");
        ASSERT_EQ(cfg_load_buf("t.yaml", "l: [a, b]", 9, atleast, &sl, &err), 0);
        ASSERT_EQ(sl.n, 2);
        cfg_free(atleast, &sl);
}

TEST(aliases_refused)
{
        ASSERT_FAILS("name: &n x\noptional: *n\n",
                     "t.yaml:2:11: 'optional': aliases (*n) are not supported");
        /* The classic expansion bomb stops at its first alias, whatever the keys. */
        ASSERT_FAILS("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                     "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                     "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n",
                     "t.yaml:1:1: unknown key 'a'");
        ASSERT_FAILS("name: n\ntags: &a [x]\npeers: *a\n",
                     "t.yaml:3:8: 'peers': aliases (*a) are not supported");
        ASSERT_FAILS("name: n\ntags: &a x\nnet: {bind: *a}\n",
                     "t.yaml:3:13: 'net.bind': aliases (*a) are not supported");
        ASSERT_FAILS("name: n\n*a : b\n", "t.yaml:2:1: '(top level)': aliases (*a) are not supported");
}

TEST(yaml_syntax_errors)
{
        /* A quote or bracket left open is placed where it opens, not at the end of the file
         * it runs into; an error on another line than its construct says where that starts. */
        ASSERT_FAILS("name: n\nnet: {bind: b\n",
                     "t.yaml:2:6: did not find expected ',' or '}' while parsing a flow mapping "
                     "that starts here");
        ASSERT_FAILS("name: n\n  count: 1\n",
                     "t.yaml:2:8: mapping values are not allowed in this context");
        ASSERT_FAILS("name: \"unterminated\n",
                     "t.yaml:1:7: found unexpected end of stream while scanning a quoted scalar "
                     "that starts here");
        ASSERT_FAILS("name: \"n\ncount: 1\ntags: [a]\nnet: {bind: b}\n",
                     "t.yaml:1:7: found unexpected end of stream while scanning a quoted scalar "
                     "that starts here");
        ASSERT_FAILS("name: n\ntags: [a,\n  b\ncount: 1\n",
                     "t.yaml:4:6: did not find expected ',' or ']' while parsing a flow sequence "
                     "that starts at 2:7");
        ASSERT_FAILS("name: n\n\tcount: 1\n",
                     "t.yaml:2:1: found a tab character that violates indentation while "
                     "scanning a plain scalar that starts at 1:7");
        ASSERT_FAILS("name: n\n---\nname: m\n",
                     "t.yaml:2:1: only one YAML document is allowed per file");
        /* Bad UTF-8: the reader knows only a byte offset; the column counts characters. */
        ASSERT_FAILS("name: n\ncount: \xc3\xa9\xff\n", "t.yaml:2:9: invalid leading UTF-8 octet");
        /* NUL escapes would silently truncate a C string. */
        ASSERT_FAILS("name: \"a\\0b\"\n", "t.yaml:1:7: 'name': value contains a NUL byte");
}

TEST(scalar_and_file_limits)
{
        size_t n = CFG_MAX_SCALAR + 1;
        char *doc = malloc(n + 16);
        ASSERT_TRUE(doc != NULL);
        memcpy(doc, "name: ", 6);
        memset(doc + 6, 'a', n);
        doc[6 + n] = '\0';
        struct t_cfg c;
        struct cfg_error err;
        ASSERT_EQ(load(doc, &c, &err), -EINVAL);
        char want[128];
        snprintf(want, sizeof(want), "t.yaml:1:7: 'name': value longer than %d bytes",
                 CFG_MAX_SCALAR);
        ASSERT_STREQ(err.msg, want);
        doc[6 + n - 1] = '\0'; /* exactly the limit is fine */
        ASSERT_EQ(load(doc, &c, &err), 0);
        ASSERT_EQ(strlen(c.name), CFG_MAX_SCALAR);
        cfg_free(t_fields, &c);
        free(doc);

        char *big = calloc(1, CFG_MAX_FILE + 2);
        ASSERT_TRUE(big != NULL);
        memset(big, '#', CFG_MAX_FILE + 1);
        memset(&c, 0, sizeof(c));
        ASSERT_EQ(cfg_load_buf("t.yaml", big, CFG_MAX_FILE + 1, t_fields, &c, &err), -EINVAL);
        snprintf(want, sizeof(want), "t.yaml: larger than %u bytes", CFG_MAX_FILE);
        ASSERT_STREQ(err.msg, want);
        free(big);
}

/* A table that nests into itself, so only the depth limit stops it. */
/* clang-format off */
static const struct cfg_field nest_fields[] = {
        {.key = "n", .type = CFG_SECTION, .offset = 0, .sub = nest_fields},
        {.key = "v", .type = CFG_INT, .offset = 0},
        {0},
};
/* clang-format on */

TEST(depth_limit)
{
        char doc[512];
        size_t o = 0;
        int64_t v = 0;
        struct cfg_error err;
        /* CFG_MAX_DEPTH mappings, the outermost being the top level: accepted. */
        for (int i = 0; i < CFG_MAX_DEPTH - 1; i++)
                o += (size_t)snprintf(doc + o, sizeof(doc) - o, "{n: ");
        o += (size_t)snprintf(doc + o, sizeof(doc) - o, "{v: 3}");
        for (int i = 0; i < CFG_MAX_DEPTH - 1; i++)
                doc[o++] = '}';
        doc[o] = '\0';
        ASSERT_EQ(cfg_load_buf("t.yaml", doc, o, nest_fields, &v, &err), 0);
        ASSERT_EQ(v, 3);

        o = 0;
        for (int i = 0; i < CFG_MAX_DEPTH; i++)
                o += (size_t)snprintf(doc + o, sizeof(doc) - o, "{n: ");
        o += (size_t)snprintf(doc + o, sizeof(doc) - o, "{v: 3}");
        for (int i = 0; i < CFG_MAX_DEPTH; i++)
                doc[o++] = '}';
        doc[o] = '\0';
        ASSERT_EQ(cfg_load_buf("t.yaml", doc, o, nest_fields, &v, &err), -EINVAL);
        char want[128];
        snprintf(want, sizeof(want), "t.yaml:1:%d: nesting deeper than %d levels",
                 4 * CFG_MAX_DEPTH + 1, CFG_MAX_DEPTH);
        ASSERT_STREQ(err.msg, want);
}

TEST(parse_size)
{
        uint64_t v;
        ASSERT_EQ(cfg_parse_size("0", &v), 0);
        ASSERT_EQ(v, 0);
        ASSERT_EQ(cfg_parse_size("512", &v), 0);
        ASSERT_EQ(v, 512);
        ASSERT_EQ(cfg_parse_size("512B", &v), 0);
        ASSERT_EQ(v, 512);
        ASSERT_EQ(cfg_parse_size("4k", &v), 0);
        ASSERT_EQ(v, 4096);
        ASSERT_EQ(cfg_parse_size("64M", &v), 0);
        ASSERT_EQ(v, 64ull << 20);
        ASSERT_EQ(cfg_parse_size("800G", &v), 0);
        ASSERT_EQ(v, 800ull << 30);
        ASSERT_EQ(cfg_parse_size("800GB", &v), 0);
        ASSERT_EQ(v, 800ull << 30);
        ASSERT_EQ(cfg_parse_size("3TiB", &v), 0);
        ASSERT_EQ(v, 3ull << 40);
        ASSERT_EQ(cfg_parse_size("16777215T", &v), 0);
        ASSERT_EQ(v, 16777215ull << 40);
        ASSERT_EQ(cfg_parse_size("16777216T", &v), -EINVAL); /* 2^64 */
        static const char *const bad[] = {"",   "G",   "-1",  "+1", "1.5G", "1 G", "1GG",
                                          "1P", "1Bi", "1iB", " 1", "1 ",   "0x10",
                                          "1b", "100Mb", "8Gib", "1kb"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (cfg_parse_size(bad[i], &v) != -EINVAL)
                        TEST_FAIL_AT("accepted \"%s\"", bad[i]);
        ASSERT_EQ(cfg_parse_size(NULL, &v), -EINVAL);
}

TEST(parse_duration)
{
        int64_t v;
        ASSERT_EQ(cfg_parse_duration_ms("0", &v), 0);
        ASSERT_EQ(v, 0);
        ASSERT_EQ(cfg_parse_duration_ms("10", &v), 0);
        ASSERT_EQ(v, 10000);
        ASSERT_EQ(cfg_parse_duration_ms("10s", &v), 0);
        ASSERT_EQ(v, 10000);
        ASSERT_EQ(cfg_parse_duration_ms("1500ms", &v), 0);
        ASSERT_EQ(v, 1500);
        ASSERT_EQ(cfg_parse_duration_ms("5m", &v), 0);
        ASSERT_EQ(v, 300000);
        ASSERT_EQ(cfg_parse_duration_ms("2h", &v), 0);
        ASSERT_EQ(v, 7200000);
        ASSERT_EQ(cfg_parse_duration_ms("9223372036854775807ms", &v), 0);
        ASSERT_EQ(v, INT64_MAX);
        ASSERT_EQ(cfg_parse_duration_ms("9223372036854775808ms", &v), -EINVAL);
        ASSERT_EQ(cfg_parse_duration_ms("9223372036854776s", &v), -EINVAL);
        ASSERT_EQ(cfg_parse_duration_ms("7d", &v), 0);
        ASSERT_EQ(v, 7 * 86400000ll);
        static const char *const bad[] = {"",     "s",  "-1s", "1.5s", "1 s",  "1S",
                                          "1sec", "1D", "ms",  "1mss", "1hm", "1dd"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (cfg_parse_duration_ms(bad[i], &v) != -EINVAL)
                        TEST_FAIL_AT("accepted \"%s\"", bad[i]);
        ASSERT_EQ(cfg_parse_duration_ms(NULL, &v), -EINVAL);
}

TEST(load_file_and_errors)
{
        char path[] = "/tmp/sluice-test-cfg-XXXXXX";
        int fd = mkstemp(path);
        ASSERT_TRUE(fd >= 0);
        static const char doc[] = "name: from-file\ncount: x\n";
        ASSERT_EQ(write(fd, doc, sizeof(doc) - 1), (long long)sizeof(doc) - 1);
        close(fd);

        struct t_cfg c = {0};
        struct cfg_error err;
        ASSERT_EQ(cfg_load_file(path, t_fields, &c, &err), -EINVAL);
        char want[256];
        snprintf(want, sizeof(want), "%s:2:8: 'count' must be an integer, got \"x\"", path);
        ASSERT_STREQ(err.msg, want);
        ASSERT_TRUE(all_clear(&c));

        fd = open(path, O_WRONLY | O_TRUNC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, "name: ok\n", 9), 9);
        close(fd);
        ASSERT_EQ(cfg_load_file(path, t_fields, &c, &err), 0);
        ASSERT_STREQ(c.name, "ok");
        cfg_free(t_fields, &c);
        unlink(path);

        ASSERT_EQ(cfg_load_file("/nonexistent/x.yaml", t_fields, &c, &err), -ENOENT);
        ASSERT_STREQ(err.msg, "/nonexistent/x.yaml: No such file or directory");
        ASSERT_EQ(cfg_load_file("/", t_fields, &c, &err), -EISDIR);
        ASSERT_STREQ(err.msg, "/: Is a directory");
}

/* A program's rule across keys: count and name may not both be given. */
static int t_check(void *obj, const char *name, const char *buf, size_t len, struct cfg_error *err)
{
        const struct t_cfg *c = obj;

        if (c->count && c->name && strcmp(c->name, "n") != 0)
                return cfg_error_at(err, name, buf, len, "count", "'count' goes only with name n");
        return 0;
}

TEST(load_checked_and_new)
{
        static const char bad[] = "name: x\ncount: 2\n";
        struct t_cfg c = {0};
        struct cfg_error err;
        void *obj = NULL;

        /* The check's error is positioned, and what was loaded (name) is freed. */
        ASSERT_EQ(cfg_load_buf_checked("t.yaml", bad, strlen(bad), t_fields, &c, t_check, &err),
                  -EINVAL);
        ASSERT_STREQ(err.msg, "t.yaml:2:8: 'count' goes only with name n");
        ASSERT_TRUE(all_clear(&c));
        ASSERT_EQ(cfg_load_buf_checked("t.yaml", "name: n\ncount: 2\n", 16, t_fields, &c, t_check,
                                       &err),
                  0);
        ASSERT_EQ(c.count, 2);
        cfg_free(t_fields, &c);

        /* A new object from memory, and from a file when buf is NULL. */
        ASSERT_EQ(cfg_load_new("t.yaml", bad, strlen(bad), t_fields, sizeof(c), t_check, &obj,
                               &err),
                  -EINVAL);
        ASSERT_TRUE(obj == NULL);
        ASSERT_STREQ(err.msg, "t.yaml:2:8: 'count' goes only with name n");
        char path[] = "/tmp/sluice-test-cfg-XXXXXX";
        int fd = mkstemp(path);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, "name: n\ncount: 3\n", 16), 16);
        close(fd);
        ASSERT_EQ(cfg_load_new(path, NULL, 0, t_fields, sizeof(c), t_check, &obj, &err), 0);
        ASSERT_TRUE(obj != NULL);
        ASSERT_EQ(((struct t_cfg *)obj)->count, 3);
        cfg_free(t_fields, obj);
        free(obj);
        obj = NULL;
        unlink(path);
        ASSERT_EQ(cfg_load_new(path, NULL, 0, t_fields, sizeof(c), t_check, &obj, &err), -ENOENT);
        ASSERT_TRUE(obj == NULL);
}

TEST(error_at_positions)
{
        static const char doc[] = "name: n\n"
                                  "tags:\n"
                                  "  - a\n"
                                  "  - bb\n"
                                  "net: {bind: \"x\", backlog: 3}\n"
                                  "peers:\n"
                                  "  - name: p\n"
                                  "  - {name: q, weight: 2}\n"
                                  "optional: one\n";
        struct cfg_error err;
        size_t len = strlen(doc);
        ASSERT_EQ(cfg_error_at(&err, "f", doc, len, "tags[1]", "bad %s", "tag"), -EINVAL);
        ASSERT_STREQ(err.msg, "f:4:5: bad tag");
        ASSERT_EQ(cfg_error_at(&err, "f", doc, len, "net.backlog", "m"), -EINVAL);
        ASSERT_STREQ(err.msg, "f:5:27: m");
        cfg_error_at(&err, "f", doc, len, "peers[1].weight", "m");
        ASSERT_STREQ(err.msg, "f:8:23: m");
        cfg_error_at(&err, "f", doc, len, "peers[0].name", "m");
        ASSERT_STREQ(err.msg, "f:7:11: m");
        cfg_error_at(&err, "f", doc, len, "optional", "m");
        ASSERT_STREQ(err.msg, "f:9:11: m");
        cfg_error_at(&err, "f", doc, len, "name[0]", "m"); /* scalar form of a list */
        ASSERT_STREQ(err.msg, "f:1:7: m");
        /* Absent nodes: the nearest present ancestor. */
        cfg_error_at(&err, "f", doc, len, "net.timeout", "m");
        ASSERT_STREQ(err.msg, "f:5:6: m");
        cfg_error_at(&err, "f", doc, len, "peers[5].name", "m");
        ASSERT_STREQ(err.msg, "f:7:3: m");
        cfg_error_at(&err, "f", doc, len, "nothing", "m");
        ASSERT_STREQ(err.msg, "f:1:1: m");
        cfg_error_at(&err, "f", "", 0, "a.b", "m");
        ASSERT_STREQ(err.msg, "f:1:1: m");
}

TEST(bad_default_is_reported)
{
        /* clang-format off */
        static const struct cfg_field broken[] = {
                {.key = "n", .type = CFG_INT, .offset = 0, .min = 1, .max = 5, .def = "9"},
                {0},
        };
        /* clang-format on */
        int64_t v = 0;
        struct cfg_error err;
        ASSERT_EQ(cfg_load_buf("t.yaml", "", 0, broken, &v, &err), -EINVAL);
        ASSERT_STREQ(err.msg, "t.yaml: invalid default \"9\" for 'n'");
}

TEST(bad_default_in_section_is_reported)
{
        /* clang-format off */
        static const struct cfg_field inner[] = {
                {.key = "n", .type = CFG_INT, .offset = 0, .min = 1, .max = 5, .def = "9"},
                {0},
        };
        static const struct cfg_field outer[] = {
                {.key = "sec", .type = CFG_SECTION, .offset = 0, .sub = inner},
                {0},
        };
        /* clang-format on */
        int64_t v = 0;
        struct cfg_error err;
        ASSERT_EQ(cfg_load_buf("t.yaml", "", 0, outer, &v, &err), -EINVAL);
        ASSERT_STREQ(err.msg, "t.yaml: invalid default \"9\" for 'n'");
}

TEST_MAIN()
