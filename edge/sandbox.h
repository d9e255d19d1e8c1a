/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The edge restricts itself once it has what it needs from the system (docs/appliance.md).
 *
 * Start-up order in main():
 *   1. listeners bound, store opened, access log opened;
 *   2. sandbox_privileges_drop(): switch to 'user:' when started as root (the cache directory
 *      is handed over to that user first), drop every capability (effective, permitted,
 *      inheritable, ambient, and the bounding set when allowed), set no_new_privs;
 *   3. worker threads start; each creates its ring disabled, registers the io_uring
 *      allow-list from sandbox_uring_restrict() and enables it;
 *   4. sandbox_filter_apply(): a seccomp filter over every thread for the system calls the
 *      edge still makes directly (io_uring operations are invisible to seccomp, hence 3).
 *
 * With 'sandbox: {enabled: false}' every step is skipped except the user switch, which a
 * root-started edge with 'user:' always makes.
 */

struct edge_cfg;
struct edge_server;
struct uring_loop_params;

/*
 * Step 2 (main thread, before any other thread exists, so every later thread inherits it).
 * Returns 0, or -errno after logging why (an unknown user, a refused setuid): the caller
 * exits. Start-up only.
 */
int sandbox_privileges_drop(const struct edge_cfg *cfg);

/*
 * Step 3: fill p's io_uring allow-list (the opcodes and SQE flags the edge's loops use) when
 * the sandbox is enabled; leaves p unrestricted otherwise. The list is static storage.
 */
void sandbox_uring_restrict(const struct edge_cfg *cfg, struct uring_loop_params *p);

/*
 * Step 4 (main thread, after every worker reported its ring ready). Logs one line that sums
 * up the sandbox (uid, capabilities, rings restricted, seccomp mode and rule count). Returns
 * 0, or -errno after logging (the caller stops the workers and exits).
 */
int sandbox_filter_apply(const struct edge_cfg *cfg, const struct edge_server *srv);
