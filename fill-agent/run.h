/* SPDX-License-Identifier: MIT */
#pragma once

#include "opts.h"

/*
 * `sluice-fill run`: for each edge, fetch the plan, wait for (or skip outside) the window,
 * list the edge, evict what must make room, and transfer the difference (transfer.c), with a
 * journal per edge. Returns an exit status (FILL_EXIT_*). SIGINT/SIGTERM stop it cleanly.
 */
int run_cmd(const struct fill_opts *o);
