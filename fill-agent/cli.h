/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The sluice-fill command line: parse flags and the optional YAML file into struct fill_opts,
 * then run the subcommand. Returns the process exit status (FILL_EXIT_* in opts.h).
 */
int cli_main(int argc, char **argv);
