/* SPDX-License-Identifier: MIT */
#include <netinet/in.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_delivery_rate (glibc's lacks it) */
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>

#include "uring-loop.h"

#include "cmsd.h"
#include "conn.h"
#include "edge-cfg.h"
#include "serve-plan.h"
#include "worker.h"

#define SAMPLE_MS   1000
#define EDGE_ID_MAX 128 /* the longest control.edge_id (edge_cfg_control_id_ok) */

/* An sf-string body (RFC 8941 3.3.3) needing no escapes: printable ASCII without " and \. */
static bool plain_sf_string(const char *s)
{
        for (; *s; s++)
                if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
                        return false;
        return true;
}

static char *put_u32(char *d, uint32_t v)
{
        char t[10];
        size_t n = 0;

        do
                t[n++] = (char)('0' + v % 10);
        while ((v /= 10) > 0);
        while (n)
                *d++ = t[--n];
        return d;
}

/* On every media answer: built by hand, without printf's formatting machinery. */
size_t cmsd_format(char *out, size_t cap, const char *name, uint32_t etp_kbps, uint32_t rtt_ms,
                   bool duress)
{
        size_t nl;
        char *d = out;

        if (!name || !*name || !plain_sf_string(name))
                name = "sluice";
        nl = strlen(name);
        if (cap < nl + sizeof("\"\";etp=;rtt=;du") + 2 * 10)
                return 0;
        *d++ = '"';
        memcpy(d, name, nl);
        d += nl;
        memcpy(d, "\";etp=", 6);
        d = put_u32(d + 6, etp_kbps);
        memcpy(d, ";rtt=", 5);
        d = put_u32(d + 5, rtt_ms);
        if (duress) {
                memcpy(d, ";du", 3);
                d += 3;
        }
        *d = '\0';
        return (size_t)(d - out);
}

static void sample(struct conn *c, uint64_t now)
{
        struct tcp_info ti;
        socklen_t len = sizeof(ti);
        uint64_t kbps = 0;

        c->cmsd_at_ms = now;
        memset(&ti, 0, sizeof(ti));
        if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
                return;
        if (len >= offsetof(struct tcp_info, tcpi_delivery_rate) + sizeof(ti.tcpi_delivery_rate) &&
            ti.tcpi_delivery_rate > 0)
                kbps = ti.tcpi_delivery_rate * 8 / 1000; /* bytes/s */
        else if (ti.tcpi_rtt > 0)                        /* µs */
                kbps = (uint64_t)ti.tcpi_snd_cwnd * ti.tcpi_snd_mss * 8 * 1000 / ti.tcpi_rtt;
        c->cmsd_etp_kbps = kbps > UINT32_MAX ? UINT32_MAX : (uint32_t)kbps;
        c->cmsd_rtt_ms = (ti.tcpi_rtt + 500) / 1000;
}

static bool duress(const struct conn *c)
{
        const struct edge_server *srv = c->w->srv;
        uint64_t open = (uint64_t)atomic_load(&srv->conns_open);

        uint64_t max = c->w->limits.max_connections;

        return atomic_load(&srv->draining) || c->w->draining || (max && open * 10 >= max * 9);
}

void cmsd_plan(struct serve_plan *p, struct conn *c)
{
        uint64_t now = uring_loop_clock_us() / 1000;
        char v[EDGE_ID_MAX + sizeof("\"\";etp=;rtt=;du") + 2 * 10]; /* what cmsd_format asks */
        size_t n;

        if (c->cmsd_at_ms == 0 || now - c->cmsd_at_ms >= SAMPLE_MS)
                sample(c, now ? now : 1);
        n = cmsd_format(v, sizeof(v), serve_cache_name(c), c->cmsd_etp_kbps, c->cmsd_rtt_ms,
                        duress(c));
        if (n)
                serve_plan_header_copy(p, "CMSD-Dynamic", v, n);
}
