/* SPDX-License-Identifier: MIT */
#pragma once

struct edge_server;
struct heartbeat;

/*
 * Heartbeats to the control plane: every control.heartbeat period, POST
 * <control.url>/v1/edges/<edge_id>/heartbeat with load, bytes served, disk use and the titles
 * held (plus a digest of that list), signed with the edge's secret (control.secret_file;
 * common/req-sign.h) so control can tell it from a forgery or a replay. A thread of its own, off the data path: a slow or
 * unreachable control plane never delays a client, and the edge keeps serving what it holds.
 * The config is re-read every period, so SIGHUP applies. Does nothing when control.url is
 * unset.
 *
 * Start-up only: returns 0 and *ret (NULL when disabled), or -errno. heartbeat_stop() wakes
 * and joins the thread and frees it; NULL is fine.
 */
int heartbeat_start(struct edge_server *srv, struct heartbeat **ret);
void heartbeat_stop(struct heartbeat *hb);

/* The JSON body of one heartbeat (malloc'd; caller frees), or NULL on OOM. For tests. */
char *heartbeat_body(struct edge_server *srv);
