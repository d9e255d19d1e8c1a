/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge-cfg.h"
#include "metrics.h"
#include "tls-metrics.h"
#include "tls.h"
#include "worker.h"

#define HS    "TLS handshakes by result, by listener"
#define OCSP                                                                                       \
        "TLS handshakes whose client asked for certificate status, by whether a checked, "         \
        "unexpired OCSP response was stapled, by listener"
#define CONNS "TLS connections by send path (kernel or userspace encryption), by listener"

/* Entries of one name are adjacent: HELP and TYPE go out once per name. */
static const struct {
        const char *name, *help, *label;
        size_t off;
} series[] = {
    {"sluice_tls_handshakes_total", HS, "result=\"ok\"", offsetof(struct tls_stats, handshakes)},
    {"sluice_tls_handshakes_total", HS, "result=\"failed\"", offsetof(struct tls_stats, failed)},
    {"sluice_tls_resumed_total", "TLS handshakes that resumed a session, by listener", NULL,
     offsetof(struct tls_stats, resumed)},
    {"sluice_tls_connections_total", CONNS, "send_path=\"ktls\"", offsetof(struct tls_stats, ktls)},
    {"sluice_tls_connections_total", CONNS, "send_path=\"user\"",
     offsetof(struct tls_stats, userspace)},
    {"sluice_tls_edge_sealed_total",
     "userspace TLS connections whose records the edge sealed itself, not OpenSSL's record "
     "layer, by listener",
     NULL, offsetof(struct tls_stats, edge_sealed)},
    {"sluice_tls_alpn_h2_total", "TLS connections that negotiated h2, by listener", NULL,
     offsetof(struct tls_stats, alpn_h2)},
    {"sluice_tls_ocsp_requests_total", OCSP, "result=\"stapled\"",
     offsetof(struct tls_stats, ocsp_stapled)},
    {"sluice_tls_ocsp_requests_total", OCSP, "result=\"none\"",
     offsetof(struct tls_stats, ocsp_none)},
    {"sluice_tls_sni_unknown_total",
     "TLS handshakes answered with the default certificate for an unknown name, by listener", NULL,
     offsetof(struct tls_stats, sni_unknown)},
};

/* A label value, escaped (metrics_label_escape): a file name is shown as it is, and two that
 * differ only there stay two series. False when out of memory. */
static bool put_label(FILE *f, const char *s)
{
        char *e = metrics_label_escape(s);

        if (!e)
                return false;
        (void)fputs(e, f);
        free(e);
        return true;
}

int tls_metrics_append(const struct edge_runtime *rt, char **buf, size_t *len)
{
        const struct edge_cfg_tls *lst = (const struct edge_cfg_tls *)rt->cfg->tls.items;
        size_t n = rt->cfg->tls.n, out_len = 0;
        char *out = NULL;
        bool ok = true;
        FILE *f;

        if (n > sizeof(rt->tls) / sizeof(rt->tls[0]))
                n = sizeof(rt->tls) / sizeof(rt->tls[0]);
        if (!n)
                return 0;
        f = open_memstream(&out, &out_len);
        if (!f)
                return -ENOMEM;
        (void)fwrite(*buf, 1, *len, f);
        for (size_t k = 0; k < sizeof(series) / sizeof(series[0]); k++) {
                if (k == 0 || strcmp(series[k].name, series[k - 1].name) != 0)
                        fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", series[k].name,
                                series[k].help, series[k].name);
                for (size_t i = 0; i < n; i++) {
                        const atomic_uint_fast64_t *v;
                        if (!rt->tls[i])
                                continue;
                        v = (const atomic_uint_fast64_t *)((const char *)tls_ctx_stats(rt->tls[i]) +
                                                           series[k].off);
                        fprintf(f, "%s{listener=\"", series[k].name);
                        ok = put_label(f, lst[i].listen) && ok;
                        fprintf(f, "\"%s%s} %llu\n", series[k].label ? "," : "",
                                series[k].label ? series[k].label : "",
                                (unsigned long long)atomic_load(v));
                }
        }
        fprintf(f, "# HELP sluice_tls_certificate_expiry_timestamp_seconds When each configured "
                   "certificate chain expires (the earliest notAfter of the leaf and the "
                   "intermediates in its file, Unix seconds), by listener and file\n"
                   "# TYPE sluice_tls_certificate_expiry_timestamp_seconds gauge\n");
        for (size_t i = 0; i < n; i++) {
                const struct edge_cfg_tls_cert *cc =
                    (const struct edge_cfg_tls_cert *)lst[i].certs.items;
                for (size_t j = 0; rt->tls[i] && j < lst[i].certs.n; j++) {
                        fprintf(f, "sluice_tls_certificate_expiry_timestamp_seconds{listener=\"");
                        ok = put_label(f, lst[i].listen) && ok;
                        fprintf(f, "\",cert=\"");
                        ok = put_label(f, cc[j].cert) && ok;
                        fprintf(f, "\"} %lld\n", (long long)tls_ctx_cert_not_after(rt->tls[i], j));
                }
        }
        if (ferror(f) || !ok) {
                (void)fclose(f);
                free(out);
                return -ENOMEM;
        }
        if (fclose(f) != 0) {
                free(out);
                return -ENOMEM;
        }
        free(*buf);
        *buf = out;
        *len = out_len;
        return 0;
}
