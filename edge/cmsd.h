/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * CMSD-Dynamic (CTA-5006, Common Media Server Data): one entry for this edge on every media
 * response, which players may use beside their own estimates:
 *
 *     CMSD-Dynamic: "<edge id>";etp=<kbit/s>;rtt=<ms>[;du]
 *
 * etp is the throughput the edge estimates to this client over this connection, from the
 * kernel's TCP_INFO: its delivery rate, or 8 × cwnd × mss / rtt before one is measured; rtt the
 * smoothed round trip. The connection is sampled at most once a second (a system call per
 * second per busy connection, not one per response). du (duress) is present only while the
 * edge is at 90 % or more of limits.max_connections, or draining: the player should move to
 * another edge if it can.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct serve_plan;

/* Add c's CMSD-Dynamic entry to p. */
void cmsd_plan(struct serve_plan *p, struct conn *c);

/* The header value for name, estimates and duress into out (cap bytes, NUL-terminated); its
 * length, 0 when the longest value for name might not fit. name must be a valid sf-string
 * body, else "sluice" is used. */
size_t cmsd_format(char *out, size_t cap, const char *name, uint32_t etp_kbps, uint32_t rtt_ms,
                   bool duress);
