/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD shim for tests/ingest/test-cli.py: renameat2 refuses every flag with EINVAL, as
 * on NFS and FUSE filesystems, whose rename takes none (RENAME_NOREPLACE, RENAME_EXCHANGE).
 * Ingest must still publish, replace and put its key file in place there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* Ingest alone gets the shim, as with syncfs-shim.c. */
__attribute__((constructor)) static void keep_to_ingest(void)
{
        (void)unsetenv("LD_PRELOAD");
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
              unsigned int flags)
{
        if (flags) {
                errno = EINVAL;
                return -1;
        }
        return renameat(olddirfd, oldpath, newdirfd, newpath);
}
