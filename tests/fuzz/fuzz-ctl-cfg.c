/* SPDX-License-Identifier: MIT */
/*
 * sluice-control's YAML config (control/ctl-cfg.c: the loader with control's table and its
 * checks): any file contents. A load either gives a config within its bounds — URLs set and
 * without a trailing slash, a log level, a log target that is not empty, at least one listener,
 * cache_ttl below twice heartbeat_period, and country_prefixes and trusted_proxies that each
 * build the table control builds from them at start — or no config and a NUL-terminated
 * message.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"

#include "ctl-cfg.h"
#include "geo.h"
#include "net-addr.h"

/* As control's start builds its tables: the config's checks must have refused what fails. */
static void tables_build(const struct ctl_cfg *c)
{
        size_t n = c->country_prefixes.n > c->trusted_proxies.n ? c->country_prefixes.n
                                                                : c->trusted_proxies.n;
        struct geo_entry *e = calloc(n + 1, sizeof(*e));
        struct geo_table *t = NULL;

        CHECK(e);
        for (size_t i = 0; i < c->country_prefixes.n; i++) {
                const struct ctl_cfg_prefix *p =
                    (const struct ctl_cfg_prefix *)c->country_prefixes.items + i;
                e[i] = (struct geo_entry){.cidr = p->cidr, .country = p->country};
        }
        CHECK(geo_table_build(e, c->country_prefixes.n, &t, NULL) == 0);
        geo_table_free(t);
        for (size_t i = 0; i < c->trusted_proxies.n; i++)
                e[i] = (struct geo_entry){.cidr = c->trusted_proxies.items[i], .country = "ZZ"};
        CHECK(geo_table_build(e, c->trusted_proxies.n, &t, NULL) == 0);
        geo_table_free(t);
        free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ctl_cfg *c = NULL;
        struct cfg_error err;
        size_t n;

        if (size > CFG_MAX_FILE)
                return 0;
        if (ctl_cfg_load_buf("fuzz.yaml", (const char *)data, size, &c, &err) == 0) {
                CHECK(c && c->public_url && c->origin_url && c->log.level && c->database);
                CHECK(c->listen.n >= 1);
                CHECK(!c->log.target || c->log.target[0]);
                CHECK(c->cache_ttl_ms < 2 * c->heartbeat_period_ms);
                CHECK(c->steering_ttl_ms % 1000 == 0);
                CHECK(net_url_base_ok(c->public_url) && net_url_base_ok(c->origin_url));
                n = strlen(c->public_url);
                CHECK(n > 0 && c->public_url[n - 1] != '/');
                tables_build(c);
                ctl_cfg_free(c);
        } else {
                CHECK(!c);
                CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        }
        return 0;
}
