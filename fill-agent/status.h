/* SPDX-License-Identifier: MIT */
#pragma once

#include "opts.h"

/*
 * `sluice-fill status`: per edge, the journal's last run (started, ended, exit, committed,
 * refused) and, when control and the edge answer, how much of the plan the edge holds now.
 * Returns FILL_EXIT_OK, or FILL_EXIT_ERROR when an edge or control could not be asked.
 */
int status_cmd(const struct fill_opts *o);
