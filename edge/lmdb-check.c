/* SPDX-License-Identifier: MIT */
/* Whether an LMDB data file is as long as its meta page says (see lmdb-check.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "lmdb-check.h"

#define FREE_DBI 0 /* LMDB's list of free pages: per freeing txn, a count, then page numbers */

/*
 * In a child process (lmdb_check_length): whether every page from the data file's end to the last
 * page its meta page names is listed free. Exit status 0 when so, 1 when one is not (or the
 * list is malformed), 2 when it could not look; a page of the list past the end kills it.
 */
static int tail_free(const char *dir)
{
        MDB_env *env;
        MDB_txn *txn;
        MDB_cursor *c;
        MDB_val k, v;
        MDB_envinfo info;
        MDB_stat st;
        mdb_filehandle_t fd;
        struct stat fst;
        uint64_t first, n, left;
        uint8_t *seen;
        int rc;

        if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 2) ||
            mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600) ||
            mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) || mdb_env_info(env, &info) ||
            mdb_env_stat(env, &st) || mdb_env_get_fd(env, &fd) || fstat(fd, &fst) < 0 ||
            !st.ms_psize)
                return 2;
        first = (uint64_t)fst.st_size / st.ms_psize; /* the first page not wholly in the file */
        if (first > info.me_last_pgno)
                return 0;
        left = n = info.me_last_pgno + 1 - first;
        seen = calloc(n / 8 + 1, 1);
        if (!seen || mdb_cursor_open(txn, FREE_DBI, &c))
                return 2;
        while (left && (rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
                size_t cnt, pg;

                if (v.mv_size < sizeof(cnt))
                        return 1;
                memcpy(&cnt, v.mv_data, sizeof(cnt));
                if (cnt > v.mv_size / sizeof(pg) - 1)
                        return 1;
                for (size_t i = 1; i <= cnt; i++) {
                        memcpy(&pg, (const char *)v.mv_data + i * sizeof(pg), sizeof(pg));
                        if (pg < first || pg > info.me_last_pgno ||
                            seen[(pg - first) / 8] & (1u << ((pg - first) % 8)))
                                continue;
                        seen[(pg - first) / 8] |= (uint8_t)(1u << ((pg - first) % 8));
                        left--;
                }
        }
        return left ? 1 : 0;
}

/*
 * LMDB maps the data file and trusts it: in a file cut short (a copy or restore that stopped,
 * a file system that lost its tail) the first read of a page past the end is a SIGBUS, at
 * start, with nothing said. The meta page names the last page in use, and a file reaching
 * past it is whole as far as its length tells. A shorter one is not always damaged: pages a
 * commit took and freed again are never written, and may be the last ones (LMDB's own copy
 * stops at the file's end for that reason). Only then are the free pages read, in a child
 * process, since in a damaged file their list may be past the end too: the file is refused
 * unless every page past its end is free. Damage inside the file is not seen here (LMDB keeps
 * no checksums). Returns 0, -EUCLEAN or -errno.
 */
int lmdb_check_length(MDB_env *env, const char *dir)
{
        MDB_envinfo info;
        MDB_stat st;
        mdb_filehandle_t fd;
        struct stat fst;
        int r, status;
        pid_t pid;

        if ((r = mdb_env_info(env, &info)) != 0 || (r = mdb_env_stat(env, &st)) != 0 ||
            (r = mdb_env_get_fd(env, &fd)) != 0)
                return r > 0 ? -r : -EIO;
        if (fstat(fd, &fst) < 0)
                return -errno;
        if ((uint64_t)fst.st_size >= ((uint64_t)info.me_last_pgno + 1) * st.ms_psize)
                return 0;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                /* A fault here is the answer, not a crash to keep a core of. */
                struct rlimit none = {0, 0};
                (void)setrlimit(RLIMIT_CORE, &none);
                _exit(tail_free(dir));
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EUCLEAN;
}
