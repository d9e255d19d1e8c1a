/* SPDX-License-Identifier: MIT */
/*
 * sluice-cachesim: replays request traces through the edge's eviction policy and the
 * reference policies, and generates synthetic DASH viewing traces.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen-dash.h"
#include "policy.h"
#include "sim.h"
#include "trace.h"

#include "sluice-version.h"

#define DEFAULT_POLICIES "sluice,lru,gdsf,s3fifo,sieve,belady"
#define DEFAULT_SIZES    "1%,5%,10%,20%"
/* Belady cannot take a push: it would need each pushed object's next access. */
#define DEFAULT_PREPUSH_POLICIES "sluice,lru,gdsf,s3fifo,sieve"
#define MAX_LIST         32

struct size_spec {
        bool percent;
        double value; /* percent, or bytes */
};

struct args {
        const char *trace, *out, *generate;
        enum trace_format format;
        const struct policy_ops *policies[MAX_LIST];
        size_t n_policies;
        struct size_spec sizes[MAX_LIST];
        size_t n_sizes;
        bool json;
        bool prepush;
        struct sim_opts sim;
        struct trace_limits lim;
        struct gen_dash_opts gen;
};

static void usage(FILE *f)
{
        fprintf(
            f,
            "Usage: sluice-cachesim --trace FILE [--policy NAME[,NAME...]] [--size "
            "SIZE[,SIZE...]]\n"
            "                       [--format auto|csv|oracle] [--json] [--dash-ids] ...\n"
            "       sluice-cachesim --generate dash --out FILE [--format csv|oracle] [generator "
            "options]\n"
            "\n"
            "Replays a trace through cache policies and prints byte and object miss ratios.\n"
            "\n"
            "Simulation:\n"
            "  --trace FILE          CSV (timestamp,object_id,size) or libCacheSim oracleGeneral;\n"
            "                        '-' or a pipe reads standard input (zstd -dc T.zst | ...)\n"
            "  --format F            auto (default: text means CSV), csv, oracle\n"
            "  --policy LIST         default " DEFAULT_POLICIES "\n"
            "  --size LIST           bytes (suffixes K M G T, powers of 1024) or PERCENT%% of the\n"
            "                        trace's footprint (distinct object bytes); default %s\n"
            "  --json                print "
            "[{\"policy\",\"size_bytes\",\"byte_miss_ratio\",\"object_miss_ratio\"}...]\n"
            "                        (with --prepush, also next_day_{byte,object}_hit_ratio"
            "[_prepush],\n"
            "                        prepush_bytes, prepush_objects, nights) once every row is\n"
            "                        done: a run that fails prints nothing on standard output\n"
            "                        and exits 1 (the table is printed row by row)\n"
            "  --dash-ids            ids use the generator's layout: give the policies the title "
            "and\n"
            "                        derive hints (first segments, lowest rung) as the edge does\n"
            "  --first-segments N    segments per title counted as \"first\" (default 4, as the edge)\n"
            "  --plan-top N          fill-plan hint for the previous day's N busiest titles "
            "(default 0: off)\n"
            "  --high PERMILLE       sluice high watermark (default 1000)\n"
            "  --low PERMILLE        sluice low watermark (default 990)\n"
            "  --max-requests N      refuse traces longer than N requests (default %llu)\n"
            "\n"
            "Nightly pre-push (sluice-fill), needs --dash-ids and a generated trace:\n"
            "  --prepush day         each day from day 1, at --prepush-at, push the control "
            "plane's\n"
            "                        plan (titles by decayed views, plus releases due within the\n"
            "                        horizon; every file of a title, init and early segments "
            "first)\n"
            "                        into the cache, within its size, through the policy's insert\n"
            "                        with the plan hint; report the hit ratio from the first push\n"
            "                        on with and without it (default off; not for belady)\n"
            "  --prepush-at HH:MM    time of the nightly push (default 02:00, sluice-fill's "
            "window)\n"
            "  --prepush-halflife H  hours; decay of views in the plan (default 6, as control)\n"
            "  --prepush-horizon H   hours; releases due this far ahead are pushed (default 48)\n"
            "  --prepush-plan P      titles (default: control's plan, whole titles) or files (an\n"
            "                        experiment: each file by its own decayed requests, and a due\n"
            "                        release's init and first segments) or oracle (the ceiling:\n"
            "                        the files the next 24 hours request, most requested first)\n"
            "  --seed, --titles, --releases, --days as given to --generate: the catalogue (title\n"
            "                        lengths, release schedule) is rebuilt from them\n"
            "\n"
            "Generation (--generate dash --out FILE):\n"
            "  --seed N  --days N  --titles N  --sessions N (per day)  --zipf X\n"
            "  --releases N (new titles per day)  --churn X (daily popularity drift sigma)\n"
            "\n"
            "Policies:\n",
            DEFAULT_SIZES, (unsigned long long)TRACE_DEFAULT_MAX_REQUESTS);
        for (size_t i = 0; policy_ops_all[i]; i++)
                fprintf(f, "  %-8s %s\n", policy_ops_all[i]->name, policy_ops_all[i]->summary);
        fprintf(f, "\nOptions: --help, --version\n");
}

static int parse_u64(const char *s, uint64_t *ret)
{
        char *end;
        if (!*s || *s == '-')
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_double(const char *s, double *ret)
{
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || *end || !(v >= 0) || !isfinite(v))
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_size(const char *s, struct size_spec *ret)
{
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || !(v > 0) || !isfinite(v))
                return -EINVAL;
        double mul = 1;
        bool percent = false;
        switch (*end) {
        case '%':
                percent = true;
                break;
        case 'k':
        case 'K':
                mul = 1024.0;
                break;
        case 'm':
        case 'M':
                mul = 1024.0 * 1024;
                break;
        case 'g':
        case 'G':
                mul = 1024.0 * 1024 * 1024;
                break;
        case 't':
        case 'T':
                mul = 1024.0 * 1024 * 1024 * 1024;
                break;
        case '\0':
                break;
        default:
                return -EINVAL;
        }
        if (*end && end[1] && !((end[1] == 'B' || end[1] == 'b') && !end[2]))
                return -EINVAL;
        if (percent && v > 100)
                return -EINVAL;
        *ret = (struct size_spec){.percent = percent, .value = v * mul};
        return 0;
}

/* Calls fn on each item of a comma list (s is a writable copy). */
static int each_item(char *s, int (*fn)(struct args *a, const char *item), struct args *a)
{
        while (s) {
                char *comma = strchr(s, ',');
                if (comma)
                        *comma = '\0';
                if (*s) {
                        int r = fn(a, s);
                        if (r < 0)
                                return r;
                }
                s = comma ? comma + 1 : NULL;
        }
        return 0;
}

/* A refusal whose reason is already printed: parse_args adds no message of its own. */
#define SAID (-EBADMSG)

static int add_policy(struct args *a, const char *name)
{
        const struct policy_ops *ops = policy_ops_find(name);
        if (!ops) {
                fprintf(stderr, "sluice-cachesim: unknown policy '%s'\n", name);
                return SAID;
        }
        if (a->n_policies == MAX_LIST)
                return -E2BIG;
        a->policies[a->n_policies++] = ops;
        return 0;
}

static int add_size(struct args *a, const char *item)
{
        if (a->n_sizes == MAX_LIST)
                return -E2BIG;
        if (parse_size(item, &a->sizes[a->n_sizes]) < 0) {
                fprintf(stderr, "sluice-cachesim: bad size '%s'\n", item);
                return SAID;
        }
        a->n_sizes++;
        return 0;
}

static int set_list(struct args *a, const char *list, int (*fn)(struct args *, const char *),
                    size_t *count)
{
        char *copy = strdup(list);
        if (!copy)
                return -ENOMEM;
        *count = 0;
        int r = each_item(copy, fn, a);
        free(copy);
        if (r == 0 && *count == 0)
                r = -EINVAL;
        return r;
}

enum {
        OPT_TRACE = 256,
        OPT_FORMAT,
        OPT_POLICY,
        OPT_SIZE,
        OPT_JSON,
        OPT_DASH_IDS,
        OPT_FIRST,
        OPT_PLAN,
        OPT_HIGH,
        OPT_LOW,
        OPT_MAXREQ,
        OPT_GENERATE,
        OPT_OUT,
        OPT_SEED,
        OPT_DAYS,
        OPT_TITLES,
        OPT_SESSIONS,
        OPT_ZIPF,
        OPT_RELEASES,
        OPT_CHURN,
        OPT_PREPUSH,
        OPT_PREPUSH_AT,
        OPT_HALFLIFE,
        OPT_HORIZON,
        OPT_PLAN_BY,
        OPT_HELP,
        OPT_VERSION,
};

static const struct option options[] = {
    {"trace", required_argument, NULL, OPT_TRACE},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"policy", required_argument, NULL, OPT_POLICY},
    {"size", required_argument, NULL, OPT_SIZE},
    {"json", no_argument, NULL, OPT_JSON},
    {"dash-ids", no_argument, NULL, OPT_DASH_IDS},
    {"first-segments", required_argument, NULL, OPT_FIRST},
    {"plan-top", required_argument, NULL, OPT_PLAN},
    {"high", required_argument, NULL, OPT_HIGH},
    {"low", required_argument, NULL, OPT_LOW},
    {"max-requests", required_argument, NULL, OPT_MAXREQ},
    {"generate", required_argument, NULL, OPT_GENERATE},
    {"out", required_argument, NULL, OPT_OUT},
    {"seed", required_argument, NULL, OPT_SEED},
    {"days", required_argument, NULL, OPT_DAYS},
    {"titles", required_argument, NULL, OPT_TITLES},
    {"sessions", required_argument, NULL, OPT_SESSIONS},
    {"zipf", required_argument, NULL, OPT_ZIPF},
    {"releases", required_argument, NULL, OPT_RELEASES},
    {"churn", required_argument, NULL, OPT_CHURN},
    {"prepush", required_argument, NULL, OPT_PREPUSH},
    {"prepush-at", required_argument, NULL, OPT_PREPUSH_AT},
    {"prepush-halflife", required_argument, NULL, OPT_HALFLIFE},
    {"prepush-horizon", required_argument, NULL, OPT_HORIZON},
    {"prepush-plan", required_argument, NULL, OPT_PLAN_BY},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {0},
};

/* Reads an unsigned option value bounded by max. */
static int opt_uint(const char *name, const char *s, uint64_t max, uint64_t *ret)
{
        if (parse_u64(s, ret) < 0 || *ret > max) {
                fprintf(stderr, "sluice-cachesim: bad value for --%s: '%s'\n", name, s);
                return SAID;
        }
        return 0;
}

/* Parses HH:MM (00:00 to 23:59) into seconds after midnight. */
static int parse_hhmm(const char *s, uint32_t *ret)
{
        if (strlen(s) != 5 || s[2] != ':')
                return -EINVAL;
        for (int i = 0; i < 5; i++)
                if (i != 2 && (s[i] < '0' || s[i] > '9'))
                        return -EINVAL;
        unsigned h = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
        unsigned m = (unsigned)(s[3] - '0') * 10 + (unsigned)(s[4] - '0');
        if (h > 23 || m > 59)
                return -EINVAL;
        *ret = h * 3600 + m * 60;
        return 0;
}

/* Hours, > 0 and at most a year, into seconds. */
static int parse_hours(const char *s, double *ret)
{
        double h;
        if (parse_double(s, &h) < 0 || !(h > 0) || h > 24 * 366)
                return -EINVAL;
        *ret = h * 3600;
        return 0;
}

/* Returns 0 to go on, 1 when --help/--version was handled, -EINVAL on bad usage. */
static int parse_args(int argc, char **argv, struct args *a)
{
        uint64_t v;
        double d;
        int c, r = 0;
        a->sim = (struct sim_opts){.first_segments = POLICY_FIRST_SEGMENTS,
                                   .high_permille = 1000,
                                   .low_permille = 990,
                                   .prepush_at = 2 * 3600,
                                   .halflife_s = 6 * 3600,
                                   .horizon_s = 48 * 3600};
        a->lim = trace_limits_default();
        a->gen = gen_dash_opts_default();
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                switch (c) {
                case OPT_TRACE:
                        a->trace = optarg;
                        break;
                case OPT_OUT:
                        a->out = optarg;
                        break;
                case OPT_GENERATE:
                        a->generate = optarg;
                        break;
                case OPT_JSON:
                        a->json = true;
                        break;
                case OPT_DASH_IDS:
                        a->sim.dash_ids = true;
                        break;
                case OPT_FORMAT:
                        if (strcmp(optarg, "auto") == 0)
                                a->format = TRACE_FORMAT_AUTO;
                        else if (strcmp(optarg, "csv") == 0)
                                a->format = TRACE_FORMAT_CSV;
                        else if (strcmp(optarg, "oracle") == 0 ||
                                 strcmp(optarg, "oracleGeneral") == 0)
                                a->format = TRACE_FORMAT_ORACLE;
                        else
                                r = -EINVAL;
                        break;
                case OPT_POLICY:
                        r = set_list(a, optarg, add_policy, &a->n_policies);
                        break;
                case OPT_SIZE:
                        r = set_list(a, optarg, add_size, &a->n_sizes);
                        break;
                case OPT_FIRST:
                        r = opt_uint("first-segments", optarg, 1u << 24, &v);
                        a->sim.first_segments = (unsigned)v;
                        break;
                case OPT_PLAN:
                        r = opt_uint("plan-top", optarg, 1u << 24, &v);
                        a->sim.plan_top = (unsigned)v;
                        break;
                case OPT_HIGH:
                        r = opt_uint("high", optarg, 1000, &v);
                        a->sim.high_permille = (unsigned)(v ? v : 1);
                        break;
                case OPT_LOW:
                        r = opt_uint("low", optarg, 1000, &v);
                        a->sim.low_permille = (unsigned)(v ? v : 1);
                        break;
                case OPT_MAXREQ:
                        r = opt_uint("max-requests", optarg, UINT64_MAX, &a->lim.max_requests);
                        if (r == 0 && a->lim.max_requests == 0)
                                r = -EINVAL;
                        break;
                case OPT_SEED:
                        r = opt_uint("seed", optarg, UINT64_MAX, &a->gen.seed);
                        break;
                /* The generator and the catalogue need at least one of each. */
                case OPT_DAYS:
                        r = opt_uint("days", optarg, 365, &v);
                        a->gen.days = (unsigned)v;
                        r = r == 0 && v == 0 ? -EINVAL : r;
                        break;
                case OPT_TITLES:
                        r = opt_uint("titles", optarg, 1u << 24, &v);
                        a->gen.titles = (unsigned)v;
                        r = r == 0 && v == 0 ? -EINVAL : r;
                        break;
                case OPT_SESSIONS:
                        r = opt_uint("sessions", optarg, 100000000, &v);
                        a->gen.sessions_per_day = (unsigned)v;
                        r = r == 0 && v == 0 ? -EINVAL : r;
                        break;
                case OPT_RELEASES:
                        r = opt_uint("releases", optarg, 10000, &v);
                        a->gen.releases_per_day = (unsigned)v;
                        break;
                case OPT_ZIPF:
                        r = parse_double(optarg, &d);
                        a->gen.zipf = d;
                        break;
                case OPT_CHURN:
                        r = parse_double(optarg, &d);
                        a->gen.churn = d;
                        break;
                case OPT_PREPUSH:
                        if (strcmp(optarg, "day") == 0)
                                a->prepush = true;
                        else if (strcmp(optarg, "off") == 0)
                                a->prepush = false;
                        else
                                r = -EINVAL;
                        break;
                case OPT_PREPUSH_AT:
                        r = parse_hhmm(optarg, &a->sim.prepush_at);
                        break;
                case OPT_HALFLIFE:
                        r = parse_hours(optarg, &a->sim.halflife_s);
                        break;
                case OPT_HORIZON:
                        r = parse_hours(optarg, &a->sim.horizon_s);
                        break;
                case OPT_PLAN_BY:
                        a->sim.plan_files = strcmp(optarg, "files") == 0;
                        a->sim.plan_oracle = strcmp(optarg, "oracle") == 0;
                        if (!a->sim.plan_files && !a->sim.plan_oracle &&
                            strcmp(optarg, "titles") != 0)
                                r = -EINVAL;
                        break;
                case OPT_HELP:
                        usage(stdout);
                        return 1;
                case OPT_VERSION:
                        printf("sluice-cachesim %s\n", SLUICE_VERSION);
                        return 1;
                default:
                        return -EINVAL;
                }
                if (r < 0) {
                        for (const struct option *o = options; o->name && r != SAID; o++)
                                if (o->val == c)
                                        fprintf(stderr,
                                                "sluice-cachesim: bad value for --%s: '%s'\n",
                                                o->name, optarg ? optarg : "");
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "sluice-cachesim: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        if (a->sim.low_permille > a->sim.high_permille) {
                fprintf(stderr, "sluice-cachesim: --low must not exceed --high\n");
                return -EINVAL;
        }
        if (a->n_policies == 0 &&
            set_list(a, a->prepush ? DEFAULT_PREPUSH_POLICIES : DEFAULT_POLICIES, add_policy,
                     &a->n_policies) < 0)
                return -EINVAL;
        if (a->prepush && !a->sim.dash_ids) {
                fprintf(stderr, "sluice-cachesim: --prepush needs --dash-ids\n");
                return -EINVAL;
        }
        for (size_t i = 0; a->prepush && i < a->n_policies; i++) {
                if (a->policies[i]->needs_future) {
                        fprintf(stderr,
                                "sluice-cachesim: --prepush: %s is offline (it would need the "
                                "next access of every pushed object)\n",
                                a->policies[i]->name);
                        return -EINVAL;
                }
        }
        if (a->n_sizes == 0 && set_list(a, DEFAULT_SIZES, add_size, &a->n_sizes) < 0)
                return -EINVAL;
        return 0;
}

static uint64_t budget_of(const struct size_spec *sz, uint64_t footprint)
{
        double b = sz->percent ? (double)footprint * sz->value / 100.0 : sz->value;
        if (b < 1)
                return 1;
        if (b >= 18446744073709551615.0)
                return UINT64_MAX;
        return (uint64_t)b;
}

static double ratio(uint64_t part, uint64_t whole)
{
        return whole ? (double)part / (double)whole : 0.0;
}

static int generate(const struct args *a)
{
        struct trace t = {0};
        int r;
        if (strcmp(a->generate, "dash") != 0) {
                fprintf(stderr, "sluice-cachesim: unknown generator '%s' (have: dash)\n",
                        a->generate);
                return 2;
        }
        if (!a->out) {
                fprintf(stderr, "sluice-cachesim: --generate needs --out FILE\n");
                return 2;
        }
        r = gen_dash_run(&a->gen, &a->lim, &t);
        if (r == 0 && a->format == TRACE_FORMAT_ORACLE)
                r = trace_analyse(&t);
        if (r == 0)
                r = trace_write(&t, a->out,
                                a->format == TRACE_FORMAT_ORACLE ? TRACE_FORMAT_ORACLE
                                                                 : TRACE_FORMAT_CSV);
        if (r == -E2BIG)
                fprintf(stderr,
                        "sluice-cachesim: generating %s: more than --max-requests %llu requests "
                        "(raise it, or ask for fewer --days or --sessions)\n",
                        a->out, (unsigned long long)a->lim.max_requests);
        else if (r < 0)
                fprintf(stderr, "sluice-cachesim: generating %s: %s\n", a->out, strerror(-r));
        if (r < 0) {
                trace_done(&t);
                return 1;
        }
        fprintf(stderr, "sluice-cachesim: wrote %zu requests to %s\n", t.len, a->out);
        trace_done(&t);
        return 0;
}

/*
 * Rebuilds the generator's catalogue from the generator options (not from the trace's last
 * timestamp: sessions run past the last midnight, and a day more would invent releases) and
 * checks the trace against it. Returns 0, or -EINVAL after printing why.
 */
static int load_catalog(const struct args *a, const struct trace *t, struct gen_dash_catalog *ret)
{
        const struct gen_dash_opts *g = &a->gen;
        uint64_t mismatched = 0;
        int r = gen_dash_catalog_new(g, ret);
        if (r < 0) {
                fprintf(stderr, "sluice-cachesim: catalogue: %s\n", strerror(-r));
                return r;
        }
        for (size_t i = 0; i < t->len; i++) {
                uint64_t id = t->reqs[i].id;
                uint32_t title = gen_dash_id_title(id), seg = gen_dash_id_segment(id);
                if (title == 0 || title > ret->n || gen_dash_id_rung(id) >= GEN_DASH_RUNGS ||
                    (seg != GEN_DASH_INIT_SEGMENT && seg >= ret->segs[title - 1])) {
                        fprintf(stderr,
                                "sluice-cachesim: %s: request %zu (id %llu) is not in the "
                                "catalogue of --seed %llu --titles %u --releases %u --days %u\n",
                                a->trace, i + 1, (unsigned long long)id,
                                (unsigned long long)g->seed, g->titles, g->releases_per_day,
                                g->days);
                        gen_dash_catalog_done(ret);
                        return -EINVAL;
                }
                mismatched += t->reqs[i].size != gen_dash_object_size(id);
        }
        if (mismatched)
                fprintf(stderr,
                        "sluice-cachesim: %llu requests differ in size from the catalogue (another "
                        "--seed?); pushed objects take the catalogue's sizes, ignoring\n",
                        (unsigned long long)mismatched);
        return 0;
}

/* One result row, to f: a JSON object (after a comma unless first), or a table line. */
static void print_row(FILE *f, const struct args *a, const struct trace *t, const char *policy,
                      uint64_t budget, const struct sim_result *res, const struct sim_result *pre,
                      bool first)
{
        double bmr = ratio(res->miss_bytes, res->bytes);
        double omr = ratio(res->misses, res->requests);
        if (a->json) {
                fprintf(f,
                        "%s\n  {\"policy\": \"%s\", \"size_bytes\": %llu, "
                        "\"byte_miss_ratio\": %.6f, \"object_miss_ratio\": %.6f",
                        first ? "" : ",", policy, (unsigned long long)budget, bmr, omr);
                if (pre)
                        fprintf(f,
                                ", \"next_day_byte_hit_ratio\": %.6f, "
                                "\"next_day_byte_hit_ratio_prepush\": %.6f, "
                                "\"next_day_object_hit_ratio\": %.6f, "
                                "\"next_day_object_hit_ratio_prepush\": %.6f, "
                                "\"prepush_bytes\": %llu, \"prepush_objects\": %llu, "
                                "\"nights\": %llu",
                                1 - ratio(res->next_miss_bytes, res->next_bytes),
                                1 - ratio(pre->next_miss_bytes, pre->next_bytes),
                                1 - ratio(res->next_misses, res->next_requests),
                                1 - ratio(pre->next_misses, pre->next_requests),
                                (unsigned long long)pre->pushed_bytes,
                                (unsigned long long)pre->pushed_objects,
                                (unsigned long long)pre->pushes);
                fputs("}", f);
                return;
        }
        fprintf(f, "%-8s %16llu %7.2f%% %16.4f %17.4f", policy, (unsigned long long)budget,
                100.0 * ratio(budget, t->footprint), bmr, omr);
        if (pre)
                fprintf(f, " %12.4f %15.4f %16llu",
                        1 - ratio(res->next_miss_bytes, res->next_bytes),
                        1 - ratio(pre->next_miss_bytes, pre->next_bytes),
                        (unsigned long long)pre->pushed_bytes);
        fputc('\n', f);
}

/*
 * Pushes out what standard output holds and says whether everything written to it so far
 * arrived: a full disk or a closed reader must not pass for a finished run. Set errno to 0
 * before the writes it covers. Returns 0 or -errno.
 */
static int stdout_flush(void)
{
        if (fflush(stdout) == 0 && !ferror(stdout))
                return 0;
        return errno ? -errno : -EIO;
}

/* Closes the --json memory stream f; returns 0, or -ENOMEM when a row did not fit. */
static int json_close(FILE *f)
{
        bool bad = ferror(f) != 0;
        return fclose(f) != 0 || bad ? -ENOMEM : 0;
}

static int simulate(const struct args *a)
{
        struct trace t = {0};
        struct trace_error err = {0};
        struct gen_dash_catalog cat = {0};
        /* --json rows go to memory and out only once the array is whole: a run that fails
         * half-way prints nothing on standard output, never an array a parser chokes on. */
        char *json = NULL;
        size_t json_len = 0;
        FILE *f = stdout;
        int rc = 1, r = trace_load(a->trace, a->format, &a->lim, &t, &err);
        if (r < 0) {
                if (err.msg)
                        fprintf(stderr, "%s:%llu: %s\n", a->trace, (unsigned long long)err.line,
                                err.msg);
                else
                        fprintf(stderr, "sluice-cachesim: %s: %s\n", a->trace, strerror(-r));
                goto out;
        }
        if (t.len == 0) {
                fprintf(stderr, "sluice-cachesim: %s: no requests\n", a->trace);
                goto out;
        }
        r = trace_analyse(&t);
        if (r < 0) {
                fprintf(stderr, "sluice-cachesim: %s\n", strerror(-r));
                goto out;
        }
        struct sim_opts plain = a->sim, pushed = a->sim;
        if (a->prepush) {
                /* Without a request from the first push on, the next-day ratios would be
                 * 0 / 0, and printed as perfect hit ratios. */
                bool later = false;
                for (size_t i = 0; i < t.len && !later; i++)
                        later = t.reqs[i].time >= 86400u + a->sim.prepush_at;
                if (!later) {
                        fprintf(stderr,
                                "sluice-cachesim: %s: --prepush: no request from day 1 %02u:%02u "
                                "on, so no next day to measure (generate two days or more)\n",
                                a->trace, a->sim.prepush_at / 3600, a->sim.prepush_at / 60 % 60);
                        goto out;
                }
                if (load_catalog(a, &t, &cat) < 0)
                        goto out;
                plain.catalog = pushed.catalog = &cat;
                pushed.prepush = true;
        }
        if (a->json) {
                f = open_memstream(&json, &json_len);
                if (!f) {
                        fprintf(stderr, "sluice-cachesim: %s\n", strerror(errno));
                        goto out;
                }
                fputs("[", f);
        } else {
                printf("# %s: %zu requests, %llu objects, footprint %llu bytes\n", a->trace, t.len,
                       (unsigned long long)t.objects, (unsigned long long)t.footprint);
                if (a->prepush)
                        printf("# next day: requests from day 1 %02u:%02u on; hit ratios are of "
                               "bytes, without and with the nightly pre-push\n",
                               a->sim.prepush_at / 3600, a->sim.prepush_at / 60 % 60);
                printf("%-8s %16s %8s %16s %17s", "policy", "size_bytes", "size%",
                       "byte_miss_ratio", "object_miss_ratio");
                if (a->prepush)
                        printf(" %12s %15s %16s", "next_day_bhr", "with_prepush", "prepush_bytes");
                putchar('\n');
        }
        bool first = true;
        r = 0;
        for (size_t si = 0; si < a->n_sizes && r == 0; si++) {
                uint64_t budget = budget_of(&a->sizes[si], t.footprint);
                for (size_t pi = 0; pi < a->n_policies && r == 0; pi++) {
                        struct sim_result res, pre;
                        r = sim_run(&t, a->policies[pi], budget, &plain, &res);
                        if (r == 0 && a->prepush)
                                r = sim_run(&t, a->policies[pi], budget, &pushed, &pre);
                        if (r < 0) {
                                fprintf(stderr, "sluice-cachesim: %s at %llu bytes: %s\n",
                                        a->policies[pi]->name, (unsigned long long)budget,
                                        strerror(-r));
                                goto out;
                        }
                        errno = 0;
                        print_row(f, a, &t, a->policies[pi]->name, budget, &res,
                                  a->prepush ? &pre : NULL, first);
                        first = false;
                        /* A table goes out row by row: a long run shows its progress, and
                         * stops as soon as no one reads it. */
                        if (!a->json)
                                r = stdout_flush();
                }
        }
        if (r == 0 && a->json) {
                fputs("\n]\n", f);
                r = json_close(f);
                f = stdout;
                if (r < 0) {
                        fprintf(stderr, "sluice-cachesim: results: %s\n", strerror(-r));
                        goto out;
                }
                errno = 0;
                (void)fwrite(json, 1, json_len, stdout);
        }
        if (r == 0)
                r = stdout_flush();
        if (r < 0) {
                fprintf(stderr, "sluice-cachesim: standard output: %s\n", strerror(-r));
                goto out;
        }
        rc = 0;
out:
        if (f != stdout)
                (void)fclose(f);
        free(json);
        gen_dash_catalog_done(&cat);
        trace_done(&t);
        return rc;
}

int main(int argc, char **argv)
{
        struct args a = {0};
        int r = parse_args(argc, argv, &a);
        if (r > 0)
                return 0;
        if (r < 0) {
                fprintf(stderr, "Try 'sluice-cachesim --help'.\n");
                return 2;
        }
        if (a.generate)
                return generate(&a);
        if (!a.trace) {
                fprintf(stderr, "sluice-cachesim: need --trace FILE or --generate dash\n");
                return 2;
        }
        return simulate(&a);
}
