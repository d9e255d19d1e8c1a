/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The runtime snapshot's lifetime (struct edge_runtime, worker.h). A snapshot is freed when its
 * last holder lets go: the server (until a reload publishes the next one), each worker (until
 * it moves to the next), each fill started under it, and the control-plane threads for one
 * round each. A reload therefore costs nothing once the old snapshot's fills have ended.
 */

struct edge_runtime;
struct edge_server;

/* A new reference to the snapshot in force, for a thread that holds none. */
struct edge_runtime *edge_runtime_get(struct edge_server *srv);
/* Another reference to rt, for a holder of one (a fill started by a worker). */
const struct edge_runtime *edge_runtime_ref(const struct edge_runtime *rt);
/* Let go of rt (NULL: nothing); the last holder frees it. */
void edge_runtime_put(const struct edge_runtime *rt);
/* Put rt in force (taking the caller's reference), let go of the one before, and tell the
 * workers. */
void edge_runtime_publish(struct edge_server *srv, struct edge_runtime *rt);
