/* SPDX-License-Identifier: MIT */
/*
 * sluice-control's YAML config (control/ctl-cfg.c: the loader with control's table and its
 * checks): any file contents. A load either gives a config within its bounds — URLs set and
 * without a trailing slash, a log level, a log target that is not empty, at least one listener,
 * cache_ttl below twice heartbeat_period — or no config and a NUL-terminated message.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"

#include "ctl-cfg.h"
#include "net-addr.h"

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
                ctl_cfg_free(c);
        } else {
                CHECK(!c);
                CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        }
        return 0;
}
