/* SPDX-License-Identifier: MIT */
#pragma once

#include "edge-cfg.h"

/*
 * What --check-config checks beyond the files a start or reload reads (token files, keys,
 * certificates): the paths a start opens or creates before it serves, and the user it
 * switches to, so that a file the check passes is one the start takes. Nothing is created;
 * a directory that is not there yet is only warned of (the unit makes its log and cache
 * directories at start). Returns 0, or -EINVAL with each problem logged, naming its key.
 */
int start_check(const struct edge_cfg *cfg);
