/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* Built into the test: the edge executable is not a library. */
#include "edge-cfg.c"
#include "tests.h"

/* The sample from DESIGN.md, verbatim. */
static const char sample[] =
    "listen: [\"0.0.0.0:8080\"]          # client listeners (TLS and h2 settings per "
    "listener later)\n"
    "admin: {listen: \"127.0.0.1:8081\", token_file: /etc/sluice/admin.token}\n"
    "cache: {dir: /var/cache/sluice, max_size: 800G}\n"
    "upstreams: [{url: \"http://origin.example:9000\"}]   # parents first, origin last\n"
    "tokens: {required: true, keys_file: /etc/sluice/keys.yaml}\n"
    "control: {url: \"http://control.example:7000\", edge_id: edge-a, region: eu-west}\n";

/* The least an operator must write: where the cache is and the two secrets. */
static const char minimal[] = "cache: {dir: /srv/cache}\n"
                              "admin: {token_file: /etc/sluice/admin.token}\n"
                              "tokens: {keys_file: /etc/sluice/keys.yaml}\n";

static int load(const char *doc, struct edge_cfg **c, struct cfg_error *err)
{
        *c = NULL;
        return edge_cfg_load_buf("edge.yaml", doc, strlen(doc), c, err);
}

/* Loads doc, expects failure with exactly the message want. */
#define ASSERT_LOAD_FAILS(doc, want)                                                               \
        do {                                                                                       \
                struct edge_cfg *_c;                                                               \
                struct cfg_error _e;                                                               \
                ASSERT_EQ(load((doc), &_c, &_e), -EINVAL);                                         \
                ASSERT_TRUE(_c == NULL);                                                           \
                ASSERT_STREQ(_e.msg, (want));                                                      \
        } while (0)

TEST(design_sample_loads)
{
        struct edge_cfg *c;
        struct cfg_error err;
        ASSERT_EQ(load(sample, &c, &err), 0);
        ASSERT_EQ(c->listen.n, 1);
        ASSERT_STREQ(c->listen.items[0], "0.0.0.0:8080");
        ASSERT_STREQ(c->admin.listen, "127.0.0.1:8081");
        ASSERT_STREQ(c->admin.token_file, "/etc/sluice/admin.token");
        ASSERT_STREQ(c->cache.dir, "/var/cache/sluice");
        ASSERT_EQ(c->cache.max_size, 800ull << 30);
        ASSERT_EQ(c->upstreams.n, 1);
        ASSERT_STREQ(((struct edge_cfg_upstream *)c->upstreams.items)[0].url,
                     "http://origin.example:9000");
        ASSERT_TRUE(c->tokens.required);
        ASSERT_STREQ(c->tokens.keys_file, "/etc/sluice/keys.yaml");
        ASSERT_STREQ(c->control.url, "http://control.example:7000");
        ASSERT_STREQ(c->control.edge_id, "edge-a");
        ASSERT_STREQ(c->control.region, "eu-west");
        edge_cfg_free(c);
}

TEST(defaults)
{
        struct edge_cfg *c;
        struct cfg_error err;
        ASSERT_EQ(load(minimal, &c, &err), 0);
        ASSERT_EQ(c->listen.n, 1);
        ASSERT_STREQ(c->listen.items[0], "0.0.0.0:8080");
        ASSERT_EQ(c->workers, 0);
        ASSERT_EQ(c->worker_slice_us, 100);
        ASSERT_TRUE(c->worker_yield);
        ASSERT_STREQ(c->admin.listen, "127.0.0.1:8081");
        ASSERT_EQ(c->cache.max_size, 10ull << 30);
        ASSERT_EQ(c->cache.fd_cache, 1024);
        ASSERT_EQ(c->upstreams.n, 0);
        ASSERT_TRUE(c->tokens.required);
        ASSERT_TRUE(c->control.url == NULL);
        ASSERT_EQ(c->limits.max_connections, 20000);
        ASSERT_EQ(c->limits.max_header_bytes, 8192);
        ASSERT_EQ(c->limits.max_headers, 64);
        ASSERT_EQ(c->limits.header_timeout_ms, 10000);
        ASSERT_EQ(c->limits.idle_timeout_ms, 60000);
        ASSERT_EQ(c->limits.send_timeout_ms, 30000);
        ASSERT_EQ(c->limits.commit_timeout_ms, 60000);
        ASSERT_EQ(c->limits.max_pipeline, 16);
        ASSERT_STREQ(c->log.level, "info");
        ASSERT_STREQ(c->log.target, "stderr");
        ASSERT_TRUE(c->log.access_log == NULL);
        ASSERT_EQ(c->cors_origins.n, 1);
        ASSERT_STREQ(c->cors_origins.items[0], "*");
        edge_cfg_free(c);
}

TEST(everything_set)
{
        static const char doc[] = "listen:\n"
                                  "  - \":8080\"\n"
                                  "  - \"[::1]:8443\"\n"
                                  "workers: 4\n"
                                  "worker_slice_us: 0\n"
                                  "worker_yield: off\n"
                                  "admin:\n"
                                  "  listen: localhost:9091\n"
                                  "  token_file: /t\n"
                                  "cache:\n"
                                  "  dir: /c\n"
                                  "  max_size: 2T\n"
                                  "  fd_cache: 0\n"
                                  "upstreams:\n"
                                  "  - url: https://parent.example\n"
                                  "  - url: http://origin.example:9000/base\n"
                                  "tokens: {required: no}\n"
                                  "limits:\n"
                                  "  max_connections: 100\n"
                                  "  max_header_bytes: 16K\n"
                                  "  max_headers: 100\n"
                                  "  header_timeout: 2500ms\n"
                                  "  idle_timeout: 2m\n"
                                  "  send_timeout: 45\n"
                                  "  commit_timeout: 90s\n"
                                  "  max_pipeline: 1\n"
                                  "log: {level: debug, target: journal, access_log: \"-\"}\n"
                                  "cors_origins: [https://a.example, https://b.example]\n";
        struct edge_cfg *c;
        struct cfg_error err;
        ASSERT_EQ(load(doc, &c, &err), 0);
        ASSERT_EQ(c->listen.n, 2);
        ASSERT_STREQ(c->listen.items[1], "[::1]:8443");
        ASSERT_EQ(c->workers, 4);
        ASSERT_EQ(c->worker_slice_us, 0);
        ASSERT_TRUE(!c->worker_yield);
        ASSERT_EQ(c->cache.max_size, 2ull << 40);
        ASSERT_EQ(c->cache.fd_cache, 0);
        ASSERT_EQ(c->upstreams.n, 2);
        ASSERT_STREQ(((struct edge_cfg_upstream *)c->upstreams.items)[1].url,
                     "http://origin.example:9000/base");
        ASSERT_TRUE(!c->tokens.required);
        ASSERT_TRUE(c->tokens.keys_file == NULL);
        ASSERT_EQ(c->limits.max_header_bytes, 16384);
        ASSERT_EQ(c->limits.header_timeout_ms, 2500);
        ASSERT_EQ(c->limits.idle_timeout_ms, 120000);
        ASSERT_EQ(c->limits.send_timeout_ms, 45000);
        ASSERT_EQ(c->limits.commit_timeout_ms, 90000);
        ASSERT_STREQ(c->log.access_log, "-");
        ASSERT_EQ(c->cors_origins.n, 2);
        ASSERT_STREQ(c->cors_origins.items[1], "https://b.example");
        edge_cfg_free(c);
}

TEST(ephemeral_ports_do_not_overlap)
{
        struct edge_cfg *c;
        struct cfg_error err;
        ASSERT_EQ(load("cache: {dir: /c}\nadmin: {listen: \"127.0.0.1:0\", token_file: /t}\n"
                       "tokens: {keys_file: /k}\nlisten: [\"127.0.0.1:0\", \"127.0.0.1:0\"]\n",
                       &c, &err),
                  0);
        edge_cfg_free(c);
}

TEST(admin_off_and_empty_cors)
{
        struct edge_cfg *c;
        struct cfg_error err;
        ASSERT_EQ(load("cache: {dir: /c}\nadmin: {listen: ~}\ntokens: {required: false}\n"
                       "cors_origins: []\n",
                       &c, &err),
                  0);
        ASSERT_TRUE(c->admin.listen == NULL);
        ASSERT_EQ(c->cors_origins.n, 0);
        edge_cfg_free(c);
}

TEST(bad_address_has_position)
{
        ASSERT_LOAD_FAILS("listen: [\"0.0.0.0:8080\", \"1.2.3.4:99999\"]\n"
                          "cache: {dir: /c}\n",
                          "edge.yaml:1:26: 'listen[1]': \"1.2.3.4:99999\" is not host:port, "
                          "[v6]:port or :port");
        ASSERT_LOAD_FAILS("cache: {dir: /c}\n"
                          "listen:\n"
                          "  - \":80\"\n"
                          "  - example.com:80\n",
                          "edge.yaml:4:5: 'listen[1]': \"example.com:80\" is not host:port, "
                          "[v6]:port or :port");
        ASSERT_LOAD_FAILS("listen: 8080\ncache: {dir: /c}\n",
                          "edge.yaml:1:9: 'listen[0]': \"8080\" is not host:port, [v6]:port or "
                          ":port");
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin:\n  token_file: /t\n  listen: \"::1:80\"\n",
                          "edge.yaml:4:11: 'admin.listen': \"::1:80\" is not host:port, "
                          "[v6]:port or :port");
}

TEST(unknown_key_has_position)
{
        ASSERT_LOAD_FAILS("cache:\n  dir: /c\n  max_sise: 1G\n",
                          "edge.yaml:3:3: unknown key 'cache.max_sise'");
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nlimits: {max_conns: 5}\n",
                          "edge.yaml:2:10: unknown key 'limits.max_conns'");
        ASSERT_LOAD_FAILS("upstreams:\n  - url: http://a\n  - uri: http://b\n",
                          "edge.yaml:3:5: unknown key 'upstreams[1].uri'");
}

TEST(cross_field_rules)
{
        ASSERT_LOAD_FAILS("cache: {dir: /c}\ntokens: {keys_file: /k}\nadmin:\n  listen: :9000\n",
                          "edge.yaml:4:3: 'admin.token_file' is required while the admin API "
                          "listens (admin.listen: ~ turns it off)");
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {required: yes}\n",
                          "edge.yaml:3:9: 'tokens.keys_file' is required while tokens.required "
                          "is true");
        ASSERT_LOAD_FAILS("admin: {token_file: /t}\ntokens: {keys_file: /k}\n",
                          "edge.yaml:1:1: missing required key 'cache.dir'");
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {keys_file: /k}\n"
                          "control: {url: \"http://ctl:7000\"}\n",
                          "edge.yaml:4:10: 'control.edge_id' is required with control.url");
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {keys_file: /k}\n"
                          "control: {url: \"http://ctl:7000\", edge_id: \"a/b?c\"}\n",
                          "edge.yaml:4:44: 'control.edge_id': \"a/b?c\" is not a control id (1 to "
                          "128 letters, digits, '.', '_' or '-', the first a letter or digit)");
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {keys_file: /k}\n"
                          "upstreams: [{url: \"ftp://x\"}]\n",
                          "edge.yaml:4:19: 'upstreams[0].url': \"ftp://x\" is not an http:// or "
                          "https:// URL");
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {keys_file: /k}\n"
                          "log: {level: verbose}\n",
                          "edge.yaml:4:14: 'log.level' must be error, warn, info or debug");
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t, listen: \"127.0.0.1:8080\"}\n"
                          "tokens: {keys_file: /k}\n",
                          "edge.yaml:2:33: 'admin.listen' overlaps client listener "
                          "\"0.0.0.0:8080\"");
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {listen: ~}\ntokens: {keys_file: /k}\n"
                          "listen: [\"[::1]:80\", \"127.0.0.1:80\", \"[::]:80\"]\n",
                          "edge.yaml:4:38: 'listen[2]': \"[::]:80\" overlaps listen[0] "
                          "\"[::1]:80\"");
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {listen: ~}\ntokens: {keys_file: /k}\n"
                          "listen: [\":80\", \"0.0.0.0:80\"]\n",
                          "edge.yaml:4:17: 'listen[1]': \"0.0.0.0:80\" overlaps listen[0] \":80\"");
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {keys_file: /k}\n"
                          "workers: 65\n",
                          "edge.yaml:4:10: 'workers' must be between 0 and 62, got \"65\"");
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {keys_file: /k}\n"
                          "worker_slice_us: 100001\n",
                          "edge.yaml:4:18: 'worker_slice_us' must be between 0 and 100000, got "
                          "\"100001\"");
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {keys_file: /k}\n"
                          "cors_origins: [\"*\", example.com]\n",
                          "edge.yaml:4:21: 'cors_origins[1]': \"example.com\" is not an origin: "
                          "\"*\", or http(s)://host[:port] as a browser sends it (no path, "
                          "no query)");
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {keys_file: /k}\n"
                          "cors_origins: [\"https://player.example/app\"]\n",
                          "edge.yaml:4:16: 'cors_origins[0]': \"https://player.example/app\" is "
                          "not an origin: \"*\", or http(s)://host[:port] as a browser sends it "
                          "(no path, no query)");
        ASSERT_LOAD_FAILS("cache: {dir: /c, index_map_size: 16K}\nadmin: {token_file: /t}\n"
                          "tokens: {keys_file: /k}\n",
                          "edge.yaml:1:34: 'cache.index_map_size' must be 0 (derived from "
                          "max_size) or at least 65536 bytes, got 16384");
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {keys_file: /k}\n"
                          "limits: {header_timeout: 10ms}\n",
                          "edge.yaml:4:26: 'limits.header_timeout' must be between 100ms and 1h, "
                          "got \"10ms\"");
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {keys_file: /k}\n"
                          "limits: {max_headers: 101}\n",
                          "edge.yaml:4:23: 'limits.max_headers' must be between 8 and 100, got "
                          "\"101\"");
}

/* An origin written with a "/", upper case or the scheme's default port, as an older release
 * took it (it then matched no player): taken as the Origin a browser sends, with a warning,
 * rather than refused, which stopped an upgraded edge at start. */
TEST(cors_origins_taken_as_browsers_send_them)
{
        struct edge_cfg *c;
        struct cfg_error err;

        ASSERT_EQ(load("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {keys_file: /k}\n"
                       "cors_origins: [\"https://player.example/\", \"https://Player.Example\",\n"
                       "               \"https://p.example:443\", \"http://q.example:8080\"]\n",
                       &c, &err),
                  0);
        ASSERT_EQ(c->cors_origins.n, 4);
        ASSERT_STREQ(c->cors_origins.items[0], "https://player.example");
        ASSERT_STREQ(c->cors_origins.items[1], "https://player.example");
        ASSERT_STREQ(c->cors_origins.items[2], "https://p.example");
        ASSERT_STREQ(c->cors_origins.items[3], "http://q.example:8080");
        edge_cfg_free(c);
}

/* Metrics have a slot per thread: the main thread's and the admin worker's leave 62 client
 * workers, which is what --workers takes; the file may not ask for more than will run. */
TEST(workers_bounded_by_what_runs)
{
        struct edge_cfg *c;
        struct cfg_error err;
        ASSERT_EQ(load("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {keys_file: /k}\n"
                       "workers: 62\n",
                       &c, &err),
                  0);
        ASSERT_EQ(c->workers, 62);
        edge_cfg_free(c);
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {keys_file: /k}\n"
                          "workers: 63\n",
                          "edge.yaml:4:10: 'workers' must be between 0 and 62, got \"63\"");
}

/* listen has a default and needs at least one entry: an empty value is not an address. */
TEST(null_listen_needs_an_entry)
{
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {keys_file: /k}\n"
                          "listen: ~\n",
                          "edge.yaml:4:9: 'listen' needs at least 1 entry");
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {keys_file: /k}\n"
                          "listen:\n",
                          "edge.yaml:4:8: 'listen' needs at least 1 entry");
}

TEST(load_file)
{
        char path[] = "/tmp/sluice-test-edge-cfg-XXXXXX";
        int fd = mkstemp(path);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, sample, strlen(sample)), (long long)strlen(sample));
        close(fd);
        struct edge_cfg *c = NULL;
        struct cfg_error err;
        ASSERT_EQ(edge_cfg_load(path, &c, &err), 0);
        ASSERT_STREQ(c->control.region, "eu-west");
        edge_cfg_free(c);
        unlink(path);

        ASSERT_EQ(edge_cfg_load("/nonexistent/edge.yaml", &c, &err), -ENOENT);
        ASSERT_STREQ(err.msg, "/nonexistent/edge.yaml: No such file or directory");
        edge_cfg_free(NULL);
}

/* The shipped example must always load: derive its path from this file's. Meson compiles and
 * runs tests from the build root, so a relative __FILE__ resolves from the working directory. */
TEST(example_file_loads)
{
        char path[4096];
        const char *slash = strstr(__FILE__, "tests/unit/edge/");
        ASSERT_TRUE(slash != NULL);
        snprintf(path, sizeof(path), "%.*sedge/sluice-edge.example.yaml", (int)(slash - __FILE__),
                 __FILE__);
        struct edge_cfg *c = NULL;
        struct cfg_error err;
        if (edge_cfg_load(path, &c, &err) < 0)
                TEST_FAIL_AT("%s", err.msg);
        ASSERT_STREQ(c->cache.dir, "/var/cache/sluice");
        ASSERT_EQ(c->cache.max_size, 800ull << 30);
        ASSERT_STREQ(c->log.target, "journal");
        edge_cfg_free(c);
}

TEST(tls_listeners)
{
        static const char doc[] = "cache: {dir: /srv/cache}\n"
                                  "admin: {token_file: /t}\n"
                                  "tokens: {required: false}\n"
                                  "listen: [\"0.0.0.0:8080\"]\n"
                                  "tls:\n"
                                  "  - listen: \"0.0.0.0:8443\"\n"
                                  "    certs: [{cert: /a.pem, key: /a.key}, {cert: /b.pem, key: "
                                  "/b.key, ocsp: /b.der}]\n"
                                  "    alpn: [http/1.1]\n"
                                  "    ticket_rotation: 30m\n"
                                  "http2: {cleartext: false, max_concurrent_streams: 50}\n";
        struct edge_cfg *c;
        struct cfg_error err;
        const struct edge_cfg_tls *t;

        ASSERT_EQ(load(doc, &c, &err), 0);
        ASSERT_EQ(c->listen.n, 1);
        ASSERT_EQ(c->tls.n, 1);
        t = c->tls.items;
        ASSERT_STREQ(t->listen, "0.0.0.0:8443");
        ASSERT_EQ(t->certs.n, 2);
        ASSERT_STREQ(((struct edge_cfg_tls_cert *)t->certs.items)[1].ocsp, "/b.der");
        ASSERT_EQ(t->alpn.n, 1);
        ASSERT_EQ(t->ticket_rotation_ms, 30 * 60 * 1000);
        ASSERT_TRUE(t->tickets);
        ASSERT_TRUE(t->ktls);
        ASSERT_TRUE(!c->http2.cleartext);
        ASSERT_EQ(c->http2.max_concurrent_streams, 50);
        ASSERT_EQ(c->http2.max_header_list, 16 << 10);
        edge_cfg_free(c);

        /* Without a tls: key nothing changes, and h2c is on by default. */
        ASSERT_EQ(load(minimal, &c, &err), 0);
        ASSERT_EQ(c->tls.n, 0);
        ASSERT_TRUE(c->http2.cleartext);
        edge_cfg_free(c);

        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {required: false}\n"
                          "listen: [\":8443\"]\ntls: [{listen: \"127.0.0.1:8443\", certs: "
                          "[{cert: /a, key: /b}]}]\n",
                          "edge.yaml:5:16: 'tls[0].listen' overlaps listen[0] \":8443\"");
        /* The admin API on a TLS listener's port: the start would fail to bind it (exit 1,
         * restarted for ever) where --check-config passed. */
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t, listen: \"127.0.0.1:8443\"}\n"
                          "tokens: {required: false}\n"
                          "tls: [{listen: \":8443\", certs: [{cert: /a, key: /b}]}]\n",
                          "edge.yaml:2:33: 'admin.listen' overlaps tls[0].listen \":8443\"");
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {required: false}\n"
                          "tls: [{listen: \":8443\", certs: [{cert: /a, key: /b}], alpn: [spdy]}]\n",
                          "edge.yaml:4:62: 'tls[0].alpn[0]': \"spdy\" is not h2 or http/1.1");
        /* An empty list offered nothing yet served both: refused. */
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {required: false}\n"
                          "tls: [{listen: \":8443\", certs: [{cert: /a, key: /b}], alpn: []}]\n",
                          "edge.yaml:4:61: 'tls[0].alpn' needs at least 1 entry");
        /* One file twice on a listener: never chosen the second time, and one metric series
         * twice in a scrape. */
        ASSERT_LOAD_FAILS("cache: {dir: /c}\nadmin: {token_file: /t}\ntokens: {required: false}\n"
                          "tls: [{listen: \":8443\", certs: [{cert: /a, key: /b}, "
                          "{cert: /a, key: /b}]}]\n",
                          "edge.yaml:4:61: 'tls[0].certs[1].cert': \"/a\" is tls[0].certs[0] "
                          "already");
}

TEST_MAIN()
