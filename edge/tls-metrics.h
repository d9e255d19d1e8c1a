/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/*
 * The TLS listeners' counters (struct tls_stats: handshakes by result, resumptions, kernel vs
 * userspace TLS, h2 by ALPN, unknown SNI, OCSP status requests stapled or not) as Prometheus
 * text, labelled by listener address (docs/tls.md). They live in the TLS contexts, where they carry
 * over a reload, not in the metrics registry, so they are appended to the rendered page.
 */

struct edge_runtime;

/* Append rt's TLS counters to the page *buf[0..*len) (malloc'd, replaced). Returns 0, or
 * -ENOMEM with *buf unchanged. */
int tls_metrics_append(const struct edge_runtime *rt, char **buf, size_t *len);
