/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cfg.h"
#include "log.h"
#include "net-addr.h"

#include "cli.h"
#include "holdings.h"
#include "metrics-file.h"
#include "opts.h"
#include "run.h"
#include "status.h"
#include "survey.h"
#include "verify.h"
#include "window.h"

#include "sluice-version.h"

static const char usage_text[] =
    "Usage: sluice-fill COMMAND [OPTIONS]\n"
    "\n"
    "Pre-push the objects control plans for an edge from the origin into the edge, through\n"
    "the edge's admin API, inside an off-peak window and under a rate cap.\n"
    "\n"
    "Commands:\n"
    "  plan     what the edge should hold, what it holds, and the difference: bytes to add\n"
    "           and to evict, and the predicted hit gain (a table; --json for scripts)\n"
    "  run      transfer the difference, most valuable first, within the edge's budget\n"
    "  status   the last run per edge (from the journal) and the edge's coverage now\n"
    "  verify   fetch a sample (or --all) of the edge's planned objects back and check\n"
    "           their SHA-256 against the plan\n"
    "\n"
    "Where:\n"
    "  --control URL            control plane base URL (GET URL/v1/fill/plan?edge=ID)\n"
    "  --control-token-file F   control's admin bearer token (first line of F); control\n"
    "                           answers fill plans only to it or to the edge itself:\n"
    "  --secret-file F          the edge's control secret (first line of F, the one its\n"
    "                           heartbeats are signed with): signs the plan request, so\n"
    "                           an appliance needs no control admin token\n"
    "  --edge ID                an edge to act on; repeat for several. Without it: every\n"
    "                           edge in the config file\n"
    "  --admin-url URL          the edge's admin API (with one --edge not in the config)\n"
    "  --admin-token-file F     the edge's admin bearer token (first line of F)\n"
    "  --edge-url URL           the edge's client URL (verify fetches objects from it)\n"
    "  --config FILE            YAML config (see sluice-fill(1) and docs/fill.md);\n"
    "                           flags override it\n"
    "\n"
    "How (run):\n"
    "  --rate RATE              cap per edge: 2Gbit, 800Mbit, 100MB/s; 0 or unlimited =\n"
    "                           uncapped. Default: uncapped, and run warns about it\n"
    "  --parallel N             transfers at once per edge, 1-256 (default 4)\n"
    "  --window HH:MM-HH:MM     off-peak window in the edge's time zone (end exclusive,\n"
    "                           may wrap midnight; 24:00 only as an end). Default: any\n"
    "                           hour, and run warns about it (00:00-24:00 says any hour\n"
    "                           on purpose, and retries as without a window)\n"
    "  --tz ZONE                the edge's time zone (IANA name); default: the plan's\n"
    "                           \"tz\", else this machine's\n"
    "  --outside-window exit|wait  outside the window: exit with status 4 (default) or\n"
    "                           wait for it to open. A window closing mid-run stops new\n"
    "                           transfers, lets in-flight ones finish, exits 4\n"
    "  --now TIME               pretend the time is TIME (YYYY-MM-DDTHH:MM[:SS]Z or\n"
    "                           @unix-seconds); the clock runs on from there (for tests)\n"
    "  --no-evict               never delete unplanned objects to make room. Default:\n"
    "                           delete them, least-hit first, only as far as needed to\n"
    "                           fit planned objects (evict: in the config)\n"
    "  --limit N                at most N objects per edge in this run\n"
    "  --retries N              retries of an object after transport errors or a stall,\n"
    "                           0-100 (default 8). The plan and the edge's listing are\n"
    "                           retried (backoff 1-60 s, or Retry-After up to 5 min)\n"
    "                           until the window closes; without a window (or with\n"
    "                           00:00-24:00) for 10 minutes\n"
    "  --stall-timeout DURATION a transfer that moves no byte for this long (from the\n"
    "                           origin or into the edge) is cut and retried, then counted\n"
    "                           failed: 30s (default), 2m; whole seconds, 1s to 1h\n"
    "  --list-page N            entries asked per page of an edge's listing, 1-10000\n"
    "                           (default 10000, the most an edge answers at once)\n"
    "  --state-dir DIR          journals and run locks (default /var/lib/sluice-fill)\n"
    "  --metrics-file FILE      run: write the run's figures there for Prometheus (a\n"
    "                           textfile collector), when it starts, every 10 s while\n"
    "                           it transfers and when it ends\n"
    "  --progress auto|bar|json|none  progress output (auto: a bar on a terminal,\n"
    "                           JSON lines otherwise)\n"
    "  --progress-interval MS   progress period, 10-3600000 (default 1000)\n"
    "\n"
    "Output:\n"
    "  --json                   JSON for scripts (plan, status, verify; run: JSON lines)\n"
    "  --verbose                list objects (plan), print every check (verify)\n"
    "  --dry-run                change nothing: run shows what it would send and evict,\n"
    "                           verify lists what it would fetch\n"
    "  --sample N               verify: objects per edge, 1 or more (default 16)\n"
    "  --all                    verify: every held planned object\n"
    "  --token-keys FILE        verify: sign each fetch with the first key of FILE (the\n"
    "                           edge's tokens.keys_file) for edges that require tokens\n"
    "  --log-level LEVEL        error, warn, info (default), debug\n"
    "  -h, --help               this text\n"
    "  --version                the version\n"
    "\n"
    "Exit status:\n"
    "  0  done: everything planned that fits is on the edge (or nothing to do)\n"
    "  1  error: control or an edge unreachable, I/O error, token refused\n"
    "  2  usage: bad flags or config file (file:line:col: message)\n"
    "  3  partial: some objects refused (wrong bytes from the origin, the edge said no)\n"
    "     or failed after retries (errors, stalls); verify: a mismatch\n"
    "  4  outside the window: nothing done, or the window closed before the end\n"
    "  5  interrupted (SIGINT/SIGTERM); a rerun resumes, nothing committed is re-sent\n"
    "With several edges the status is the worst of theirs (2 > 1 > 5 > 3 > 4 > 0): one\n"
    "edge's usage error (its secret or admin token file cannot be read) ranks first.\n";

enum {
        OPT_CONTROL = 256,
        OPT_CONTROL_TOKEN,
        OPT_EDGE,
        OPT_ADMIN_URL,
        OPT_ADMIN_TOKEN,
        OPT_SECRET,
        OPT_EDGE_URL,
        OPT_CONFIG,
        OPT_RATE,
        OPT_PARALLEL,
        OPT_WINDOW,
        OPT_TZ,
        OPT_OUTSIDE,
        OPT_NOW,
        OPT_NO_EVICT,
        OPT_LIMIT,
        OPT_RETRIES,
        OPT_STALL_TIMEOUT,
        OPT_LIST_PAGE,
        OPT_STATE_DIR,
        OPT_METRICS_FILE,
        OPT_PROGRESS,
        OPT_PROGRESS_INTERVAL,
        OPT_JSON,
        OPT_VERBOSE,
        OPT_DRY_RUN,
        OPT_SAMPLE,
        OPT_ALL,
        OPT_LOG_LEVEL,
        OPT_TOKEN_KEYS,
        OPT_VERSION,
};

static const struct option long_opts[] = {
    {"control", required_argument, NULL, OPT_CONTROL},
    {"control-token-file", required_argument, NULL, OPT_CONTROL_TOKEN},
    {"edge", required_argument, NULL, OPT_EDGE},
    {"admin-url", required_argument, NULL, OPT_ADMIN_URL},
    {"admin-token-file", required_argument, NULL, OPT_ADMIN_TOKEN},
    {"secret-file", required_argument, NULL, OPT_SECRET},
    {"edge-url", required_argument, NULL, OPT_EDGE_URL},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"rate", required_argument, NULL, OPT_RATE},
    {"parallel", required_argument, NULL, OPT_PARALLEL},
    {"window", required_argument, NULL, OPT_WINDOW},
    {"tz", required_argument, NULL, OPT_TZ},
    {"outside-window", required_argument, NULL, OPT_OUTSIDE},
    {"now", required_argument, NULL, OPT_NOW},
    {"no-evict", no_argument, NULL, OPT_NO_EVICT},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"stall-timeout", required_argument, NULL, OPT_STALL_TIMEOUT},
    {"list-page", required_argument, NULL, OPT_LIST_PAGE},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"metrics-file", required_argument, NULL, OPT_METRICS_FILE},
    {"progress", required_argument, NULL, OPT_PROGRESS},
    {"progress-interval", required_argument, NULL, OPT_PROGRESS_INTERVAL},
    {"json", no_argument, NULL, OPT_JSON},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"sample", required_argument, NULL, OPT_SAMPLE},
    {"all", no_argument, NULL, OPT_ALL},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"token-keys", required_argument, NULL, OPT_TOKEN_KEYS},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {0},
};

/* Replace a malloc'd string field with a copy of v. */
static int set_str(char **field, const char *v)
{
        char *d = strdup(v);
        if (!d)
                return -ENOMEM;
        free(*field);
        *field = d;
        return 0;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
        char *end;
        unsigned long long v;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "sluice-fill: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry 'sluice-fill --help'.\n");
        return FILL_EXIT_USAGE;
}

struct flags {
        const char *config, *control, *control_token, *admin_url, *admin_token, *edge_url;
        const char *secret;
        const char *rate, *window, *tz, *outside, *now, *state_dir, *metrics_file, *progress,
            *log_level;
        const char *token_keys;
        const char *ids[256];
        size_t n_ids;
        int64_t parallel, retries, stall_timeout_ms, list_page;
        bool no_evict;
};

/* Build o->edges from the config's edges and the flags. Returns 0 or an exit status. */
static int resolve_edges(struct fill_opts *o, const struct flags *f)
{
        const struct fill_edge_cfg *cfg_edges = o->cfg.edges.items;
        size_t n = f->n_ids ? f->n_ids : o->cfg.edges.n;

        if (n == 0)
                return usage_error("%s", "no edge: give --edge ID or list edges in the config");
        if ((f->admin_url || f->admin_token || f->edge_url || f->secret) && n > 1)
                return usage_error("%s", "--admin-url, --admin-token-file, --secret-file and "
                                         "--edge-url need exactly one edge");
        o->edges = calloc(n, sizeof(*o->edges));
        if (!o->edges)
                return FILL_EXIT_ERROR;
        for (size_t i = 0; i < n; i++) {
                const char *id = f->n_ids ? f->ids[i] : cfg_edges[i].id;
                const struct fill_edge_cfg *from = NULL;
                struct fill_edge_cfg *e = &o->edges[o->n_edges++];

                for (size_t k = 0; k < o->cfg.edges.n; k++)
                        if (strcmp(cfg_edges[k].id, id) == 0)
                                from = &cfg_edges[k];
                if (from) {
                        *e = *from; /* borrowed strings: the config owns them */
                } else {
                        memset(e, 0, sizeof(*e));
                        e->id = (char *)id;
                }
                if (f->admin_url)
                        e->admin_url = (char *)f->admin_url;
                if (f->admin_token)
                        e->admin_token_file = (char *)f->admin_token;
                if (f->secret)
                        e->secret_file = (char *)f->secret;
                if (f->edge_url)
                        e->url = (char *)f->edge_url;
        }
        return 0;
}

/*
 * plan, run (--dry-run too) and verify list the edge through its admin API: an edge without
 * admin_url or admin_token_file is a usage error found here, before control is asked, not
 * after the plan came (or after the plan's retries ran out, a whole window). status reads
 * the journal without it. Returns 0 or an exit status.
 */
static int check_admin(const struct fill_opts *o, const struct flags *f)
{
        const struct fill_edge_cfg *cfg_edges = o->cfg.edges.items;

        for (size_t i = 0; i < o->n_edges; i++) {
                const struct fill_edge_cfg *e = &o->edges[i];
                const char *key = !e->admin_url ? "admin_url" : "admin_token_file";
                const char *missing = e->admin_url          ? "admin_token_file"
                                      : e->admin_token_file ? "admin_url"
                                                            : "admin_url and admin_token_file";
                struct cfg_error cerr;
                char msg[512];
                size_t k;

                if (e->admin_url && e->admin_token_file)
                        continue;
                for (k = 0; k < o->cfg.edges.n; k++)
                        if (strcmp(cfg_edges[k].id, e->id) == 0)
                                break;
                if (!f->config || k == o->cfg.edges.n)
                        return usage_error("edge %s: no %s (--admin-url, --admin-token-file): "
                                           "plan, run and verify list the edge through its "
                                           "admin API",
                                           e->id, missing);
                snprintf(msg, sizeof(msg),
                         "(edge %.200s) has no %s: plan, run and verify list the edge through "
                         "its admin API (or give --admin-url and --admin-token-file with one "
                         "--edge)",
                         e->id, missing);
                fill_cfg_edge_error(f->config, k, key, msg, &cerr);
                fprintf(stderr, "%s\n", cerr.msg);
                return FILL_EXIT_USAGE;
        }
        return 0;
}

int cli_main(int argc, char **argv)
{
        struct fill_opts o = {.progress_interval_ms = 1000, .sample = 16};
        struct flags f = {.parallel = -1, .retries = -1, .stall_timeout_ms = -1, .list_page = -1};
        const char *cmd = NULL;
        struct cfg_error cerr;
        uint64_t v;
        int c, rc = FILL_EXIT_OK, r;

        while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
                switch (c) {
                case 'h':
                        fputs(usage_text, stdout);
                        return FILL_EXIT_OK;
                case OPT_VERSION:
                        printf("sluice-fill %s (libcurl %s)\n", SLUICE_VERSION,
                               curl_version_info(CURLVERSION_NOW)->version);
                        return FILL_EXIT_OK;
                case OPT_CONTROL:
                        f.control = optarg;
                        break;
                case OPT_CONTROL_TOKEN:
                        f.control_token = optarg;
                        break;
                case OPT_EDGE: {
                        bool again = false;

                        /* The same edge twice is one edge: a second entry would only meet
                         * the first one's lock. */
                        for (size_t i = 0; i < f.n_ids && !again; i++)
                                again = strcmp(f.ids[i], optarg) == 0;
                        if (again)
                                break;
                        if (!optarg[0] || strlen(optarg) > FILL_EDGE_ID_MAX)
                                return usage_error("--edge: want an id of 1 to %d bytes",
                                                   FILL_EDGE_ID_MAX);
                        if (f.n_ids == sizeof(f.ids) / sizeof(f.ids[0]))
                                return usage_error("%s", "too many --edge");
                        f.ids[f.n_ids++] = optarg;
                        break;
                }
                case OPT_ADMIN_URL:
                        f.admin_url = optarg;
                        break;
                case OPT_SECRET:
                        f.secret = optarg;
                        break;
                case OPT_ADMIN_TOKEN:
                        f.admin_token = optarg;
                        break;
                case OPT_EDGE_URL:
                        f.edge_url = optarg;
                        break;
                case OPT_CONFIG:
                        f.config = optarg;
                        break;
                case OPT_RATE:
                        f.rate = optarg;
                        break;
                case OPT_WINDOW:
                        f.window = optarg;
                        break;
                case OPT_TZ:
                        f.tz = optarg;
                        break;
                case OPT_OUTSIDE:
                        f.outside = optarg;
                        break;
                case OPT_NOW:
                        f.now = optarg;
                        break;
                case OPT_STATE_DIR:
                        f.state_dir = optarg;
                        break;
                case OPT_METRICS_FILE:
                        f.metrics_file = optarg;
                        break;
                case OPT_PROGRESS:
                        f.progress = optarg;
                        break;
                case OPT_LOG_LEVEL:
                        f.log_level = optarg;
                        break;
                case OPT_TOKEN_KEYS:
                        f.token_keys = optarg;
                        break;
                case OPT_NO_EVICT:
                        f.no_evict = true;
                        break;
                case OPT_JSON:
                        o.json = true;
                        break;
                case OPT_VERBOSE:
                        o.verbose = true;
                        break;
                case OPT_DRY_RUN:
                        o.dry_run = true;
                        break;
                case OPT_ALL:
                        o.all = true;
                        break;
                case OPT_PARALLEL:
                        if (parse_u64(optarg, 256, &v) < 0 || v == 0)
                                return usage_error("--parallel: want 1-256, got \"%s\"", optarg);
                        f.parallel = (int64_t)v;
                        break;
                case OPT_RETRIES:
                        if (parse_u64(optarg, 100, &v) < 0)
                                return usage_error("--retries: want 0-100, got \"%s\"", optarg);
                        f.retries = (int64_t)v;
                        break;
                case OPT_STALL_TIMEOUT:
                        if (cfg_parse_duration_ms(optarg, &f.stall_timeout_ms) < 0 ||
                            f.stall_timeout_ms < 1000 || f.stall_timeout_ms > 3600 * 1000)
                                return usage_error("--stall-timeout: want 1s-1h, got \"%s\"",
                                                   optarg);
                        break;
                case OPT_LIST_PAGE:
                        if (parse_u64(optarg, HOLDINGS_PAGE, &v) < 0 || v == 0)
                                return usage_error("--list-page: want 1-%u, got \"%s\"",
                                                   HOLDINGS_PAGE, optarg);
                        f.list_page = (int64_t)v;
                        break;
                case OPT_LIMIT:
                        /* 0 would read as "send nothing", and is the internal "no limit". */
                        if (parse_u64(optarg, UINT32_MAX, &o.limit) < 0 || o.limit == 0)
                                return usage_error("--limit: want 1-%u objects, got \"%s\"",
                                                   UINT32_MAX, optarg);
                        break;
                case OPT_SAMPLE:
                        /* 0 would check nothing and still exit 0, as if all were well. */
                        if (parse_u64(optarg, UINT32_MAX, &o.sample) < 0 || o.sample == 0)
                                return usage_error("--sample: want 1-%u objects, got \"%s\"",
                                                   UINT32_MAX, optarg);
                        break;
                case OPT_PROGRESS_INTERVAL:
                        if (parse_u64(optarg, 3600000, &v) < 0 || v < 10)
                                return usage_error(
                                    "--progress-interval: want 10-3600000 ms, got \"%s\"", optarg);
                        o.progress_interval_ms = (int64_t)v;
                        break;
                default:
                        fprintf(stderr, "Try 'sluice-fill --help'.\n");
                        return FILL_EXIT_USAGE;
                }
        }
        if (optind >= argc)
                return usage_error("%s", "no command (plan, run, status or verify)");
        cmd = argv[optind++];
        if (optind < argc)
                return usage_error("unexpected argument \"%s\"", argv[optind]);
        if (strcmp(cmd, "plan") != 0 && strcmp(cmd, "run") != 0 && strcmp(cmd, "status") != 0 &&
            strcmp(cmd, "verify") != 0)
                return usage_error("unknown command \"%s\"", cmd);
        /* As the same keys in the file are checked (fill-cfg.c): a bad URL is a usage error,
         * not a failed request, and no other scheme is ever spoken. */
        {
                const char *const urls[][2] = {{"--control", f.control},
                                               {"--admin-url", f.admin_url},
                                               {"--edge-url", f.edge_url}};
                for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
                        if (urls[i][1] && !net_url_ok(urls[i][1]))
                                return usage_error("%s: \"%s\" is not an http:// or https:// URL",
                                                   urls[i][0], urls[i][1]);
        }

        if (f.log_level) {
                r = log_level_parse(f.log_level);
                if (r < 0)
                        return usage_error(
                            "--log-level: want error, warn, info or debug, got \"%s\"",
                            f.log_level);
                (void)log_init((enum log_level)r, "stderr");
        } else {
                (void)log_init(LOG_LVL_INFO, "stderr");
        }
        r = f.config ? fill_cfg_load(f.config, &o.cfg, &cerr) : fill_cfg_defaults(&o.cfg);
        if (r < 0) {
                fprintf(stderr, "%s\n", f.config ? cerr.msg : "out of memory");
                return FILL_EXIT_USAGE;
        }
        if ((f.control && set_str(&o.cfg.control, f.control) < 0) ||
            (f.control_token && set_str(&o.cfg.control_token_file, f.control_token) < 0) ||
            (f.window && set_str(&o.cfg.window, f.window) < 0) ||
            (f.tz && set_str(&o.cfg.tz, f.tz) < 0) ||
            (f.outside && set_str(&o.cfg.outside, f.outside) < 0) ||
            (f.state_dir && set_str(&o.cfg.state_dir, f.state_dir) < 0) ||
            (f.metrics_file && set_str(&o.cfg.metrics_file, f.metrics_file) < 0) ||
            (f.token_keys && set_str(&o.cfg.token_keys_file, f.token_keys) < 0)) {
                rc = FILL_EXIT_ERROR;
                goto out;
        }
        /* The file's check (fill-cfg.c) refuses an empty one; a flag's would put the journals
         * and locks in "/". */
        if (o.cfg.state_dir[0] == '\0') {
                rc = usage_error("%s", "--state-dir: empty");
                goto out;
        }
        if (o.cfg.metrics_file &&
            (!o.cfg.metrics_file[0] || strlen(o.cfg.metrics_file) > METRICS_PATH_MAX)) {
                rc = usage_error("--metrics-file: want a file of at most %d bytes",
                                 METRICS_PATH_MAX);
                goto out;
        }
        if (strlen(o.cfg.state_dir) > OPTS_STATE_DIR_MAX) {
                rc = usage_error("state_dir: longer than %d bytes", OPTS_STATE_DIR_MAX);
                goto out;
        }
        if (f.rate && fill_cfg_rate_parse(f.rate, &o.cfg.rate.bps) < 0) {
                rc = usage_error("--rate: want e.g. 2Gbit, 800Mbit, 100MB/s, got \"%s\"", f.rate);
                goto out;
        }
        if (f.rate)
                o.cfg.rate.set = true;
        if (f.parallel > 0)
                o.cfg.parallel = f.parallel;
        o.flag_rate = f.rate != NULL;
        o.flag_window = f.window != NULL;
        o.flag_tz = f.tz != NULL;
        o.flag_parallel = f.parallel > 0;
        if (f.retries >= 0)
                o.cfg.retries = f.retries;
        if (f.stall_timeout_ms > 0)
                o.cfg.stall_timeout_ms = f.stall_timeout_ms;
        if (f.list_page > 0)
                o.cfg.list_page = f.list_page;
        if (f.no_evict)
                o.cfg.evict = false;
        if (strcmp(o.cfg.outside, "exit") != 0 && strcmp(o.cfg.outside, "wait") != 0) {
                rc = usage_error("--outside-window: want exit or wait, got \"%s\"", o.cfg.outside);
                goto out;
        }
        {
                struct window w;
                if (o.cfg.window && window_parse(o.cfg.window, &w) < 0) {
                        /* The file's is checked where it is written (fill-cfg.c): a flag's. */
                        rc = usage_error("--window: want HH:MM-HH:MM, got \"%s\"", o.cfg.window);
                        goto out;
                }
        }
        if (f.now) {
                time_t t;
                if (window_now_parse(f.now, &t) < 0) {
                        rc = usage_error(
                            "--now: want YYYY-MM-DDTHH:MM[:SS]Z or @unix-seconds, got \"%s\"",
                            f.now);
                        goto out;
                }
                window_clock_fake(t);
        }
        if (!f.progress || strcmp(f.progress, "auto") == 0)
                o.progress = isatty(STDERR_FILENO) ? PROGRESS_BAR : PROGRESS_JSON;
        else if (strcmp(f.progress, "bar") == 0)
                o.progress = PROGRESS_BAR;
        else if (strcmp(f.progress, "json") == 0)
                o.progress = PROGRESS_JSON;
        else if (strcmp(f.progress, "none") == 0)
                o.progress = PROGRESS_NONE;
        else {
                rc =
                    usage_error("--progress: want auto, bar, json or none, got \"%s\"", f.progress);
                goto out;
        }
        if (o.json && o.progress == PROGRESS_BAR)
                o.progress = PROGRESS_JSON;
        rc = resolve_edges(&o, &f);
        if (rc != 0)
                goto out;
        if (!o.cfg.control) {
                rc = usage_error("%s", "no control URL: give --control or control: in the config");
                goto out;
        }
        if (strcmp(cmd, "status") != 0) {
                rc = check_admin(&o, &f);
                if (rc != 0)
                        goto out;
        }

        curl_global_init(CURL_GLOBAL_DEFAULT);
        if (strcmp(cmd, "plan") == 0)
                rc = survey_cmd_plan(&o);
        else if (strcmp(cmd, "run") == 0)
                rc = run_cmd(&o);
        else if (strcmp(cmd, "status") == 0)
                rc = status_cmd(&o);
        else
                rc = verify_cmd(&o);
        curl_global_cleanup();
out:
        free(o.edges);
        fill_cfg_free(&o.cfg);
        return rc;
}
