/* SPDX-License-Identifier: MIT */
#pragma once

#include "opts.h"

/*
 * `sluice-fill verify`: fetch a sample (--sample N, default 16) or all (--all) of the planned
 * objects an edge holds back from the edge's client URL, hash them, and compare with the
 * plan's SHA-256. Returns FILL_EXIT_OK, FILL_EXIT_PARTIAL on any mismatch, FILL_EXIT_ERROR when
 * objects could not be fetched.
 */
int verify_cmd(const struct fill_opts *o);
