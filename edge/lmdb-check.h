/* SPDX-License-Identifier: MIT */
#pragma once

#include <lmdb.h>

/*
 * Whether the data file of env (opened on dir, before any transaction) holds every page its
 * meta page names that is in use: 0, -EUCLEAN for a file cut short (its first read past the
 * end would be a SIGBUS), or -errno. A file shorter than the last page only by pages listed
 * free is whole; that list is read in a child process, since in a damaged file it may be past
 * the end too.
 */
int lmdb_check_length(MDB_env *env, const char *dir);
