/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bug.h"
#include "cfg.h"
#include "log.h"
#include "metrics.h"
#include "mono-time.h"
#include "net-addr.h"
#include "notify.h"
#include "req-sign.h"
#include "token.h"

#include "conn-tls.h"
#include "edge-cfg.h"
#include "evict.h"
#include "fill.h"
#include "heartbeat.h"
#include "listener.h"
#include "nofile.h"
#include "plan-sums.h"
#include "runtime.h"
#include "sandbox.h"
#include "scrub.h"
#include "start-check.h"
#include "store.h"
#include "tls.h"
#include "worker.h"

#include "sluice-version.h"

#define MAX_WORKERS   (METRICS_MAX_WORKERS - 2) /* slot 0 is main, one is the admin worker */
#define MAX_LISTENERS 16

static void usage(FILE *f)
{
        fprintf(f, "Usage: sluice-edge --config FILE [options]\n"
                   "\n"
                   "The Sluice edge cache: serves video segments and manifests to players over\n"
                   "HTTP/1.1 and HTTP/2 (h2c, and h2 over TLS listeners), checking signed URLs.\n"
                   "Hits come from the disk cache; a miss is filled once from parent edges or the\n"
                   "origin and streamed to every waiting client as it arrives. The admin API\n"
                   "(loopback) takes pushed objects and serves /metrics and /healthz.\n"
                   "\n"
                   "  -c, --config FILE    configuration file (YAML)\n"
                   "      --check-config   validate the configuration and the files it names\n"
                   "                       (tokens, keys, certificates), exit (2 if bad)\n"
                   "  -w, --workers N      client worker threads, 0 one per CPU (overrides 'workers')\n"
                   "  -h, --help           show this help\n"
                   "  -V, --version        show the version\n"
                   "\n"
                   "Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the configuration.\n"
                   "\n"
                   "See sluice-edge(8) and sluice-edge.yaml(5) (man sluice-edge), or docs/edge.md\n"
                   "and docs/edge-config.md in the source.\n");
}

/*
 * Read a token or secret file: its first line, surrounding blanks trimmed, into out (cap - 1
 * bytes at most). Returns 0 (out empty when path is NULL), -EINVAL when the file is read but
 * holds no usable token: a first line longer than cap - 1 bytes (a token cut short would be
 * refused in full and accepted as its prefix), an empty one, one holding a NUL byte (read as
 * a string it would end there, and the token's prefix would pass), or a directory; fix the
 * configuration, exit 2. Other failures to read are -errno (exit 1: the file may be
 * provisioned a moment later). Either is logged naming key and path. What was read is wiped.
 */
static int read_token_file(const char *key, const char *path, char *out, size_t cap,
                           size_t *ret_len)
{
        char line[1024];
        const char *eol;
        FILE *f;
        size_t got, n, b = 0;
        bool whole;
        int e = 0, r = -EINVAL;

        *ret_len = 0;
        out[0] = '\0';
        if (!path || !*path)
                return 0;
        f = fopen(path, "re");
        if (!f) {
                e = errno;
                goto unreadable;
        }
        /* Unbuffered: read straight into line, not into a buffer fclose frees unwiped. */
        (void)setvbuf(f, NULL, _IONBF, 0);
        errno = 0;
        got = fread(line, 1, sizeof(line), f);
        if (ferror(f))
                e = errno ? errno : EIO;
        (void)fclose(f);
        if (e) {
                /* A read that failed part way may have put some of the token in line. */
                explicit_bzero(line, sizeof(line));
                goto unreadable;
        }
        eol = memchr(line, '\n', got);
        n = eol ? (size_t)(eol - line) : got;
        whole = eol || got < sizeof(line);
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
                n--;
        while (b < n && (line[b] == ' ' || line[b] == '\t'))
                b++;
        if (!whole || n - b > cap - 1) {
                log_error("%s %s: its first line is longer than %zu bytes", key, path, cap - 1);
                goto out;
        }
        if (n == b) {
                log_error("%s %s holds no token (its first line is empty)", key, path);
                goto out;
        }
        if (memchr(line + b, '\0', n - b)) {
                log_error("%s %s: its first line holds a NUL byte", key, path);
                goto out;
        }
        memcpy(out, line + b, n - b);
        out[n - b] = '\0';
        *ret_len = n - b;
        r = 0;
out:
        explicit_bzero(line, sizeof(line));
        return r;
unreadable:
        log_error("cannot read %s %s: %s", key, path, strerror(e));
        return e == EISDIR ? -EINVAL : -e; /* a directory is the configuration's mistake */
}

/* Build a runtime snapshot from cfg (taking ownership of cfg). Returns 0 or -errno. */
static int runtime_new(struct edge_cfg *cfg, struct edge_runtime **ret)
{
        struct edge_runtime *rt = calloc(1, sizeof(*rt));
        int r;

        if (!rt) {
                edge_cfg_free(cfg);
                return -ENOMEM;
        }
        atomic_init(&rt->refs, 1);
        rt->cfg = cfg;
        /* admin.token_file is required with admin.listen (edge-cfg.c), and a file naming no
         * token is refused: the admin API would answer 401 to everyone, sluice-fill included.
         * An empty peer token would switch the peer check off, every child's fill a 403. */
        r = read_token_file("admin.token_file", cfg->admin.token_file, rt->admin_token,
                            sizeof(rt->admin_token), &rt->admin_token_len);
        if (r < 0)
                goto fail;
        r = read_token_file("tokens.peer_token_file", cfg->tokens.peer_token_file,
                            rt->peer_token, sizeof(rt->peer_token), &rt->peer_token_len);
        if (r < 0)
                goto fail;
        for (size_t i = 0; i < cfg->upstreams.n && i < 16; i++) {
                const struct edge_cfg_upstream *u =
                    (const struct edge_cfg_upstream *)cfg->upstreams.items + i;
                char key[48];
                size_t len;

                (void)snprintf(key, sizeof(key), "upstreams[%zu].token_file", i);
                r = read_token_file(key, u->token_file, rt->upstream_bearer[i],
                                    sizeof(rt->upstream_bearer[i]), &len);
                if (r < 0)
                        goto fail;
        }
        r = read_token_file("control.secret_file", cfg->control.secret_file,
                            rt->heartbeat_secret, sizeof(rt->heartbeat_secret),
                            &rt->heartbeat_secret_len);
        if (r < 0)
                goto fail;
        /* Without a secret the edge still serves (the design's minimal config has none);
         * control refuses unsigned heartbeats and plan requests, so none are sent. */
        if (cfg->control.url && !cfg->control.secret_file)
                log_warn("control.url without control.secret_file: no heartbeats are sent and "
                         "no fill plan is fetched (control accepts only signed ones; the "
                         "secret comes from the edge's registration)");
        if (cfg->control.url && cfg->control.secret_file &&
            !req_sign_secret_ok(rt->heartbeat_secret, rt->heartbeat_secret_len)) {
                log_error("control.secret_file %s: the heartbeat secret must be %d to %d "
                          "visible ASCII characters on its first line",
                          cfg->control.secret_file, REQ_SIGN_SECRET_MIN, REQ_SIGN_SECRET_MAX);
                r = -EINVAL;
                goto fail;
        }
        if (cfg->tokens.required) {
                char err[256];
                rt->keys = calloc(1, sizeof(*rt->keys));
                if (!rt->keys) {
                        r = -ENOMEM;
                        goto fail;
                }
                r = token_keyset_load(cfg->tokens.keys_file, TOKEN_SECRET_MIN, rt->keys, err,
                                      sizeof(err));
                if (r < 0) {
                        log_error("cannot load token keys: %s", err);
                        goto fail;
                }
        }
        for (size_t i = 0; i < cfg->tls.n && i < ARRAY_SIZE(rt->tls); i++) {
                char terr[512];
                r = tls_ctx_new((const struct edge_cfg_tls *)cfg->tls.items + i, NULL, &rt->tls[i],
                                terr, sizeof(terr));
                if (r < 0) {
                        log_error("tls[%zu]: %s", i, terr);
                        goto fail;
                }
        }
        *ret = rt;
        return 0;
fail:
        edge_runtime_put(rt);
        return r;
}

static int open_access_log(const char *path)
{
        if (!path || !*path)
                return -1;
        if (strcmp(path, "-") == 0)
                return fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
        return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/*
 * Log rotation (renamed, then SIGHUP): reopen the log file at the path it was opened at start
 * (its target needs a restart: the path of whichever configuration loaded last would move the
 * log at the second reload after a change), and the access log at the path of cfg, the
 * configuration now in force (was: the one before). Done whether the reload took or not, since
 * a configuration that does not load must not leave the edge writing on into a file rotated
 * away and soon deleted. access_new, when not -1, is cfg's access log opened already, taken
 * over.
 */
static void reopen_logs(struct edge_server *srv, const struct edge_cfg *cfg,
                        const struct edge_cfg *was, int access_new)
{
        int lvl = log_level_parse(cfg->log.level ? cfg->log.level : "info");
        const char *target = (srv->start_cfg ? srv->start_cfg : was)->log.target;
        int r;

        if (lvl >= 0 && target && target[0] == '/') {
                r = log_init((enum log_level)lvl, target);
                if (r < 0)
                        log_warn("reload: cannot reopen the log %s: %s; writing on to the one "
                                 "open",
                                 target, strerror(-r));
        }
        /* Onto the same descriptor number, which the workers write to: the file at cfg's
         * path, or the one in use when cfg turns the log off (that needs a restart). */
        if (srv->access_fd >= 0) {
                const char *path = cfg->log.access_log && cfg->log.access_log[0]
                                       ? cfg->log.access_log
                                       : srv->access_path;
                int fd = access_new >= 0 ? access_new : open_access_log(path);

                access_new = -1;
                if (fd >= 0) {
                        (void)dup3(fd, srv->access_fd, O_CLOEXEC);
                        (void)close(fd);
                        if (!cfg_str_eq(path, srv->access_path)) {
                                char *copy = strdup(path);
                                if (copy) {
                                        free(srv->access_path);
                                        srv->access_path = copy;
                                }
                        }
                } else {
                        log_warn("reload: cannot reopen the access log %s: %s; writing on to "
                                 "the one open",
                                 path, strerror(errno));
                }
        }
        if (access_new >= 0)
                (void)close(access_new);
}

/*
 * Name, in one warning, every key of next that differs from cur but is read only at start:
 * the reload applies the rest and these keep their running values until a restart. The
 * access log is reopened by a reload, so only turning it on (access_open false) needs one;
 * likewise control.url, only when the start had none.
 */
static void restart_only_changes(const struct edge_cfg *cur, const struct edge_cfg *next,
                                 bool access_open)
{
        const struct edge_cfg_cache *a = &cur->cache, *b = &next->cache;
        char keys[512] = "";

        if (!cfg_strlist_eq(&next->listen, &cur->listen))
                cfg_names_add(keys, sizeof(keys), "listen");
        if (!cfg_str_eq(next->admin.listen, cur->admin.listen))
                cfg_names_add(keys, sizeof(keys), "admin.listen");
        if (next->workers != cur->workers)
                cfg_names_add(keys, sizeof(keys), "workers");
        if (!cfg_str_eq(b->dir, a->dir))
                cfg_names_add(keys, sizeof(keys), "cache.dir");
        if (b->max_size != a->max_size)
                cfg_names_add(keys, sizeof(keys), "cache.max_size");
        if (b->fd_cache != a->fd_cache)
                cfg_names_add(keys, sizeof(keys), "cache.fd_cache");
        if (b->index_map_size != a->index_map_size)
                cfg_names_add(keys, sizeof(keys), "cache.index_map_size");
        if (b->scrub_rate != a->scrub_rate)
                cfg_names_add(keys, sizeof(keys), "cache.scrub_rate");
        if (b->scrub_pause_ms != a->scrub_pause_ms)
                cfg_names_add(keys, sizeof(keys), "cache.scrub_pause");
        if (!cfg_str_eq(next->user, cur->user))
                cfg_names_add(keys, sizeof(keys), "user");
        if (next->sandbox.enabled != cur->sandbox.enabled)
                cfg_names_add(keys, sizeof(keys), "sandbox.enabled");
        if (next->sandbox.seccomp != cur->sandbox.seccomp)
                cfg_names_add(keys, sizeof(keys), "sandbox.seccomp");
        if (!cfg_str_eq(next->log.target, cur->log.target))
                cfg_names_add(keys, sizeof(keys), "log.target");
        if (access_open != (next->log.access_log && next->log.access_log[0]))
                cfg_names_add(keys, sizeof(keys), "log.access_log");
        /* The heartbeat and fill plan threads are started only when the start's configuration
         * has a control.url (heartbeat_start); once they run they read the url, edge_id,
         * periods and secret of each snapshot, so changing or removing those applies. One
         * added by a reload would send nothing until a restart. */
        if (next->control.url && !cur->control.url)
                cfg_names_add(keys, sizeof(keys), "control.url");
        if (keys[0])
                log_warn("reload: %s changed; read at start only, they keep their running "
                         "values until a restart",
                         keys);
}

struct store_watch_state {
        struct notify *notify;
        uint64_t start_ms, logged_ms;
};

/*
 * The store's start-up check as it goes: the service manager's start timeout extended by
 * 30 s and its status set at every report (once a second; the check of millions of entries on
 * a cold disk can take many minutes, past the default 90 s), and a log line when a phase
 * starts with work to do, every 10 s, and when a phase that took a second or more ends.
 */
static void store_watch(void *arg, const char *phase, uint64_t done, uint64_t total)
{
        struct store_watch_state *ws = arg;
        const char *what = strcmp(phase, "index") == 0 ? "index entries checked against their files"
                                                         : "directories read for files no entry names";
        uint64_t now = (uint64_t)mono_ms();
        char msg[256];

        snprintf(msg, sizeof(msg),
                 "EXTEND_TIMEOUT_USEC=30000000\nSTATUS=opening the store: %llu of %llu %s",
                 (unsigned long long)done, (unsigned long long)total, what);
        (void)notify_send(ws->notify, msg);
        if (done == 0) {
                ws->start_ms = ws->logged_ms = now;
                if (total > 0 && strcmp(phase, "index") == 0)
                        log_info("store: checking %llu index entries against their files",
                                 (unsigned long long)total);
        } else if (done >= total) {
                if (now - ws->start_ms >= 1000)
                        log_info("store: %llu of %llu %s in %.1f s", (unsigned long long)done,
                                 (unsigned long long)total, what,
                                 (double)(now - ws->start_ms) / 1000);
        } else if (now - ws->logged_ms >= 10000) {
                ws->logged_ms = now;
                log_info("store: %llu of %llu %s", (unsigned long long)done,
                         (unsigned long long)total, what);
        }
}

static bool reload_apply(struct edge_server *srv, const char *path)
{
        struct edge_runtime *old = atomic_load(&srv->rt), *rt;
        struct edge_cfg *cfg = NULL;
        struct cfg_error err;
        int r, lvl;

        r = edge_cfg_load(path, &cfg, &err);
        if (r < 0) {
                reopen_logs(srv, old->cfg, old->cfg, -1);
                log_error("reload: %s; keeping the running configuration", err.msg);
                return false;
        }
        /* TLS listeners are bound at start: their number cannot change under the workers. */
        if (cfg->tls.n != old->cfg->tls.n) {
                reopen_logs(srv, old->cfg, old->cfg, -1);
                log_error("reload: tls listeners added or removed; they need a restart, keeping "
                          "the running configuration");
                edge_cfg_free(cfg);
                return false;
        }
        /* Nor their addresses: the sockets stay where they are, and the metrics' labels
         * would name addresses nothing listens on. */
        for (size_t i = 0; i < cfg->tls.n; i++) {
                const char *now = ((struct edge_cfg_tls *)cfg->tls.items)[i].listen;
                const char *was = ((struct edge_cfg_tls *)old->cfg->tls.items)[i].listen;
                if (!cfg_str_eq(now, was)) {
                        reopen_logs(srv, old->cfg, old->cfg, -1);
                        log_error("reload: tls listener %s moved to %s; that needs a restart, "
                                  "keeping the running configuration",
                                  was, now);
                        edge_cfg_free(cfg);
                        return false;
                }
        }
        r = runtime_new(cfg, &rt);
        if (r < 0) {
                reopen_logs(srv, old->cfg, old->cfg, -1);
                log_error("reload failed; keeping the running configuration");
                return false;
        }
        /* An access log moved where it cannot be written refuses the reload, as it stops a
         * start: kept, the gauge would say the file's configuration runs. */
        int access_new = -1;
        if (srv->access_fd >= 0 && cfg->log.access_log && cfg->log.access_log[0] &&
            !cfg_str_eq(cfg->log.access_log, srv->access_path)) {
                access_new = open_access_log(cfg->log.access_log);
                if (access_new < 0) {
                        int e = errno;
                        reopen_logs(srv, old->cfg, old->cfg, -1);
                        log_error("reload: cannot open the access log %s: %s; keeping the "
                                  "running configuration",
                                  cfg->log.access_log, strerror(e));
                        edge_runtime_put(rt);
                        return false;
                }
        }
        /* Said only of a reload that applies: a refused one keeps every key as it runs. The
         * running values of the keys read at start only are the start's, whatever reloads
         * came since. */
        restart_only_changes(srv->start_cfg ? srv->start_cfg : old->cfg, rt->cfg,
                             srv->access_fd >= 0);
        /* New certificates, same ticket keys: sessions resume across the reload. */
        for (size_t i = 0; i < cfg->tls.n; i++)
                tls_ctx_share_tickets(rt->tls[i], old->tls[i]);

        lvl = log_level_parse(cfg->log.level ? cfg->log.level : "info");
        if (lvl >= 0)
                log_set_level((enum log_level)lvl);
        reopen_logs(srv, cfg, old->cfg, access_new);

        edge_runtime_publish(srv, rt);
        log_info("configuration reloaded from %s", path);
        return true;
}

/* A reload, counted: a refused one leaves the running configuration other than the file's,
 * which only the log said before (an alert can watch the gauge). */
static void reload(struct edge_server *srv, const char *path)
{
        bool ok = reload_apply(srv, path);

        metrics_add(ok ? srv->m.reloads_ok : srv->m.reloads_failed, 1);
        metrics_gauge_set(srv->m.reload_ok, ok);
}

/*
 * Before each watchdog ping: every loop (client workers and admin) must have answered the
 * probe sent with the previous ping, through its wake hook. A loop stuck in a blocking call
 * or a spin misses it and the ping is left out, so the service manager's watchdog restarts
 * the edge instead of the main thread vouching for it.
 */
static bool loops_alive(void *arg)
{
        struct edge_server *srv = arg;
        static unsigned stuck_reported = UINT_MAX; /* the worker last reported, UINT_MAX: none */
        uint64_t probe = atomic_load(&srv->probe);
        unsigned stuck = UINT_MAX;

        for (unsigned i = 0; i <= srv->n_workers && stuck == UINT_MAX; i++)
                if (atomic_load(&srv->workers[i].probe_seen) != probe)
                        stuck = i;
        if (stuck != UINT_MAX && stuck != stuck_reported)
                log_warn("watchdog: %s loop %u has not turned for half a watchdog period; "
                         "no ping until it does",
                         stuck == srv->n_workers ? "admin" : "worker", stuck);
        else if (stuck == UINT_MAX && stuck_reported != UINT_MAX)
                log_info("watchdog: every loop answers again");
        stuck_reported = stuck;
        atomic_store(&srv->probe, probe + 1);
        for (unsigned i = 0; i <= srv->n_workers; i++)
                worker_notify(&srv->workers[i]);
        return stuck == UINT_MAX;
}

/*
 * Once capabilities are dropped (CAP_IPC_LOCK with them), each loop's io_uring rings count
 * against the locked-memory limit: about 150 KiB a worker, so a hand-run edge under a
 * shell's 8 MiB stops near 50 workers with only "Cannot allocate memory" to go on.
 */
static void worker_start_failed(unsigned i, bool admin, int r)
{
        char what[32];
        struct rlimit rl;

        if (admin)
                (void)snprintf(what, sizeof(what), "the admin worker");
        else
                (void)snprintf(what, sizeof(what), "worker %u", i);

        if (r == -ENOMEM && getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
                log_error("cannot start %s: %s: each loop's io_uring rings count against the "
                          "locked-memory limit, %llu KiB here; raise it (ulimit -l, or "
                          "LimitMEMLOCK= as the unit's 64M) or lower workers",
                          what, strerror(-r), (unsigned long long)rl.rlim_cur / 1024);
        else
                log_error("cannot start %s: %s", what, strerror(-r));
}

/* CPUs this process may run on (taskset, systemd's CPUAffinity=, a container's cpuset):
 * more workers than that would only take turns on them. */
static unsigned usable_cpus(void)
{
        cpu_set_t set;

        if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
                return (unsigned)CPU_COUNT(&set);
        return (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
}

/* Open one socket per worker for each address; a port of 0 is resolved by the first. */
/* what[a]: what listens on addrs->items[a], for the log ("clients", "admin API", ...). */
static int open_listeners(const struct cfg_strlist *addrs, const char *const *what,
                          unsigned n_workers, int **ret_fds)
{
        int *fds = malloc(sizeof(int) * addrs->n * n_workers);
        char text[96];
        int r;

        if (!fds)
                return -ENOMEM;
        for (size_t i = 0; i < addrs->n * n_workers; i++)
                fds[i] = -1;
        for (size_t a = 0; a < addrs->n; a++) {
                struct sockaddr_storage ss;
                socklen_t len;
                r = net_addr_parse(addrs->items[a], &ss, &len);
                if (r < 0) {
                        log_error("bad listen address %s", addrs->items[a]);
                        goto fail;
                }
                /*
                 * SO_REUSEPORT would let a second edge (or anything else) silently share the
                 * port: bind once without it first so that an address in use is an error.
                 */
                r = listener_socket(&ss, len, false);
                /*
                 * A ring torn down after a crash releases its listeners asynchronously, so a
                 * prompt restart can briefly see its own old socket: give that a moment.
                 */
                for (int tries = 0; r == -EADDRINUSE && tries < 60; tries++) {
                        if (tries == 0)
                                log_info("%s in use, waiting up to 3 s for it to be released",
                                         addrs->items[a]);
                        (void)nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
                        r = listener_socket(&ss, len, false);
                }
                if (r < 0) {
                        log_error("cannot listen on %s: %s", addrs->items[a], strerror(-r));
                        goto fail;
                }
                (void)close(r);
                for (unsigned w = 0; w < n_workers; w++) {
                        r = listener_socket(&ss, len, true);
                        if (r < 0) {
                                log_error("cannot listen on %s: %s", addrs->items[a], strerror(-r));
                                goto fail;
                        }
                        fds[w * addrs->n + a] = r;
                        if (w == 0) {
                                socklen_t sl = sizeof(ss);
                                (void)getsockname(r, (struct sockaddr *)&ss, &sl);
                                log_info("listening on %s (%s)",
                                         listener_addr_str(&ss, text, sizeof(text)), what[a]);
                        }
                }
        }
        *ret_fds = fds;
        return 0;
fail:
        for (size_t i = 0; i < addrs->n * n_workers; i++)
                if (fds[i] >= 0)
                        (void)close(fds[i]);
        free(fds);
        return r;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
            {"config", required_argument, NULL, 'c'},  {"check-config", no_argument, NULL, 'C'},
            {"workers", required_argument, NULL, 'w'}, {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},       {0},
        };
        struct edge_server srv;
        struct notify *notify = NULL;
        struct heartbeat *heartbeat = NULL;
        struct scrub *scrub = NULL;
        struct edge_runtime *rt = NULL;
        struct edge_cfg *cfg = NULL;
        struct cfg_error err;
        const char *config = NULL;
        bool check_only = false;
        long workers_flag = -1; /* -1: not given; 0, as the key: one per CPU */
        int *client_fds = NULL, *admin_fds = NULL;
        unsigned n_workers, n_addrs;
        sigset_t sigs;
        int opt, r, lvl, exit_code = 1;

        while ((opt = getopt_long(argc, argv, "c:w:hV", opts, NULL)) != -1) {
                switch (opt) {
                case 'c':
                        config = optarg;
                        break;
                case 'C':
                        check_only = true;
                        break;
                case 'w': {
                        char *end;
                        errno = 0;
                        workers_flag = strtol(optarg, &end, 10);
                        if (errno || *end || end == optarg || workers_flag < 0 ||
                            workers_flag > MAX_WORKERS) {
                                fprintf(stderr,
                                        "sluice-edge: --workers must be 0..%d (0: one per CPU, "
                                        "as the workers key)\n",
                                        MAX_WORKERS);
                                return 2;
                        }
                        break;
                }
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        printf("sluice-edge %s\n", SLUICE_VERSION);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (!config || optind != argc) {
                usage(stderr);
                return 2;
        }

        r = edge_cfg_load(config, &cfg, &err);
        if (r < 0) {
                fprintf(stderr, "%s\n", err.msg);
                return 2;
        }
        if (check_only) {
                /* Build what a start or a reload builds from the files the configuration
                 * names (tokens, keys, certificates), and look at the paths a start opens
                 * (logs, cache directory) and its user: a file that would make the start
                 * exit or the reload keep the old configuration fails the check too. The
                 * reasons went to stderr through the log. */
                int paths = start_check(cfg);

                r = runtime_new(cfg, &rt); /* takes cfg */
                cfg = NULL;
                if (r == 0)
                        edge_runtime_put(rt);
                if (r < 0 || paths < 0) {
                        fprintf(stderr, "%s: a file it names cannot be used (above)\n", config);
                        return 2;
                }
                printf("%s: ok\n", config);
                return 0;
        }

        lvl = log_level_parse(cfg->log.level ? cfg->log.level : "info");
        r = log_init(lvl < 0 ? LOG_LVL_INFO : (enum log_level)lvl, cfg->log.target);
        if (r < 0) {
                fprintf(stderr, "sluice-edge: cannot open log %s: %s\n", cfg->log.target,
                        strerror(-r));
                edge_cfg_free(cfg);
                return 1;
        }

        /* Signals are taken synchronously by this thread; workers never see them. */
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGHUP);
        (void)pthread_sigmask(SIG_BLOCK, &sigs, NULL);
        (void)signal(SIGPIPE, SIG_IGN); /* sendfile(2) to a reset peer */

        memset(&srv, 0, sizeof(srv));
        srv.access_fd = -1;
        pthread_mutex_init(&srv.sums_lock, NULL);
        pthread_mutex_init(&srv.rt_lock, NULL);
        r = runtime_new(cfg, &rt); /* takes cfg */
        cfg = NULL;
        if (r < 0) /* unusable contents of a file it names: fix the configuration, as for 2 */
                return r == -EINVAL ? 2 : 1;
        edge_runtime_publish(&srv, rt);
        /* A copy for reloads to compare with (restart_only_changes), freed at out:; without
         * it (the file changed or went this very moment) they compare with the last one
         * loaded. */
        if (edge_cfg_load(config, &srv.start_cfg, &err) < 0)
                srv.start_cfg = NULL;

        n_workers = workers_flag > 0                          ? (unsigned)workers_flag
                    : workers_flag < 0 && rt->cfg->workers > 0 ? (unsigned)rt->cfg->workers
                                                               : usable_cpus();
        if (n_workers < 1)
                n_workers = 1;
        if (n_workers > MAX_WORKERS)
                n_workers = MAX_WORKERS;
        srv.n_workers = n_workers;
        nofile_raise(worker_fds_cached_most(rt->cfg, n_workers), worker_conns_most(rt->cfg));

        /* Open before the store: its start-up check may outlast the service manager's start
         * timeout on a large cache, and extends it while it goes (store_watch). */
        r = notify_open(&notify);
        if (r < 0) {
                log_error("cannot open $NOTIFY_SOCKET: %s", strerror(-r));
                goto out;
        }
        {
                struct store_watch_state ws = {.notify = notify};
                struct store_open_watch w = {.fn = store_watch, .arg = &ws, .interval_ms = 1000};
                r = store_open_watched(rt->cfg->cache.dir, rt->cfg->cache.max_size,
                                       rt->cfg->cache.index_map_size, &w, &srv.store);
        }
        if (r == -EUCLEAN) {
                /* "Structure needs cleaning" alone names neither the file nor what to do, and a
                 * service manager restarting the edge would only repeat it. */
                const char *dir = rt->cfg->cache.dir;
                log_error("cannot open the store at %s: its index %s/index/data.mdb is damaged "
                          "(shorter than the pages it names: cut short); move %s/index away and "
                          "start again: the edge starts with an empty index, removes the object "
                          "files no entry names and fills objects again as they are asked for",
                          dir, dir, dir);
                goto out;
        }
        if (r == -EBUSY) {
                log_error("cannot open the store at %s: another process holds its lock (%s/lock): "
                          "another sluice-edge on the same cache.dir; "
                          "stop it first, or give this edge a cache.dir of its own",
                          rt->cfg->cache.dir, rt->cfg->cache.dir);
                goto out;
        }
        if (r < 0) {
                log_error("cannot open the store at %s: %s", rt->cfg->cache.dir, strerror(-r));
                goto out;
        }
        srv.reg = metrics_reg_new();
        if (!srv.reg || edge_metrics_init(&srv.m, srv.reg, n_workers) < 0) {
                log_error("out of memory creating metrics");
                goto out;
        }
        r = evict_open(&srv, rt->cfg->cache.dir, rt->cfg->cache.max_size);
        if (r < 0) {
                log_error("cannot set up the cache policy: %s", strerror(-r));
                goto out;
        }
        srv.access_fd = open_access_log(rt->cfg->log.access_log);
        if (rt->cfg->log.access_log && *rt->cfg->log.access_log && srv.access_fd < 0) {
                log_error("cannot open access log %s: %s", rt->cfg->log.access_log,
                          strerror(errno));
                goto out;
        }
        if (srv.access_fd >= 0 && !(srv.access_path = strdup(rt->cfg->log.access_log))) {
                log_error("cannot start: out of memory");
                goto out;
        }

        {
                /* Plain addresses first, then one per tls[] listener (worker.c relies on it). */
                char *all[64 + ARRAY_SIZE(rt->tls)];
                const char *what[64 + ARRAY_SIZE(rt->tls)];
                struct cfg_strlist lst = {.items = all, .n = 0};
                for (size_t i = 0; i < rt->cfg->listen.n && lst.n < 64; i++) {
                        what[lst.n] = "clients: HTTP/1.1 and h2c";
                        all[lst.n++] = rt->cfg->listen.items[i];
                }
                for (size_t i = 0; i < rt->cfg->tls.n && i < ARRAY_SIZE(rt->tls); i++) {
                        what[lst.n] = "clients: TLS";
                        all[lst.n++] = ((struct edge_cfg_tls *)rt->cfg->tls.items)[i].listen;
                }
                n_addrs = (unsigned)lst.n;
                if (open_listeners(&lst, what, n_workers, &client_fds) < 0)
                        goto out;
        }
        /* admin.listen: ~ turns the admin API off: the admin worker still runs (it flushes
         * the store's counters) but listens on nothing. */
        if (rt->cfg->admin.listen) {
                char *one[1] = {rt->cfg->admin.listen};
                const char *what[1] = {"admin API"};
                struct cfg_strlist admin_list = {.items = one, .n = 1};
                if (open_listeners(&admin_list, what, 1, &admin_fds) < 0)
                        goto out;
        } else {
                log_info("admin API off (admin.listen: ~)");
        }

        /* Everything privileged is done: listeners bound, store and logs open. */
        if (sandbox_privileges_drop(rt->cfg) < 0)
                goto out;

        srv.workers = calloc(n_workers + 1, sizeof(*srv.workers));
        if (!srv.workers)
                goto out;
        for (unsigned i = 0; i < n_workers; i++) {
                r = worker_start(&srv, &srv.workers[i], i, false, client_fds + i * n_addrs,
                                 n_addrs);
                if (r < 0) {
                        worker_start_failed(i, false, r);
                        goto stop;
                }
        }
        r = worker_start(&srv, &srv.workers[n_workers], n_workers, true, admin_fds,
                         admin_fds ? 1 : 0);
        if (r < 0) {
                worker_start_failed(n_workers, true, r);
                goto stop;
        }
        r = heartbeat_start(&srv, &heartbeat);
        if (r < 0) {
                log_error("cannot start heartbeats: %s", strerror(-r));
                goto stop;
        }
        r = scrub_start(&srv, rt->cfg->cache.scrub_rate, rt->cfg->cache.scrub_pause_ms, &scrub);
        if (r < 0) {
                log_error("cannot start the background scrub: %s", strerror(-r));
                goto stop;
        }
        if (sandbox_filter_apply(rt->cfg, &srv) < 0)
                goto stop;
        /* Only now, every thread filtered, do the workers read their first request. */
        for (unsigned i = 0; i <= n_workers; i++)
                worker_release(&srv.workers[i]);
        log_info("sluice-edge %s ready: %u worker(s), cache %s", SLUICE_VERSION, n_workers,
                 rt->cfg->cache.dir);
        (void)notify_send(notify, "READY=1\nSTATUS=serving");
        notify_set_alive(notify, loops_alive, &srv);

        for (;;) {
                int sig = notify_sigwait(notify, &sigs);
                if (sig < 0)
                        continue;
                if (sig == SIGHUP) {
                        (void)notify_send(notify, "RELOADING=1");
                        reload(&srv, config);
                        (void)notify_send(notify, "READY=1\nSTATUS=serving");
                        continue;
                }
                (void)notify_send(notify, "STOPPING=1\nSTATUS=draining");
                log_info("signal %d: draining", sig);
                break;
        }
        exit_code = 0;
stop:
        /* The listeners close first: stopping the helper threads may wait for a transfer of
         * theirs to give up (heartbeat_stop aborts it, but curl notices only between reads). */
        atomic_store(&srv.draining, true);
        for (unsigned i = 0; i <= n_workers; i++)
                worker_notify(&srv.workers[i]);
        scrub_stop(scrub);
        heartbeat_stop(heartbeat);
        /* Every thread ends before any loop is freed: a fill on one worker may still wake
         * another's loop while it stops. */
        for (unsigned i = 0; i <= n_workers; i++)
                worker_wait(&srv.workers[i]);
        fill_commits_drain(); /* a commit finishing wakes its waiters' loops */
        for (unsigned i = 0; i <= n_workers; i++)
                worker_join(&srv.workers[i]);
        r = store_flush_counters(srv.store);
        if (r < 0)
                log_warn("final counter flush failed: %s, ignoring", strerror(-r));
        log_info("stopped");
out:
        notify_free(notify);
        free(srv.workers);
        free(client_fds);
        free(admin_fds);
        if (srv.access_fd >= 0)
                (void)close(srv.access_fd);
        free(srv.access_path);
        evict_close(&srv);
        plan_sums_install(&srv, NULL);
        pthread_mutex_destroy(&srv.sums_lock);
        metrics_reg_free(srv.reg);
        if (srv.store)
                store_close(srv.store);
        edge_runtime_put(atomic_load(&srv.rt));
        edge_cfg_free(srv.start_cfg);
        pthread_mutex_destroy(&srv.rt_lock);
        return exit_code;
}
