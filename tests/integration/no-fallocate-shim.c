/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD shim for test_miss_store.py: fallocate(2) fails with EOPNOTSUPP, as on a file
 * system that cannot reserve space (ext2, NFSv3, some FUSE ones): the store cannot claim a
 * body's room before it announces the object. Both of glibc's names are taken; <fcntl.h> is
 * left out, as it may declare one as the other.
 */
#include <errno.h>

int fallocate(int fd, int mode, long offset, long len);
int fallocate64(int fd, int mode, long offset, long len);

int fallocate(int fd, int mode, long offset, long len)
{
        (void)fd;
        (void)mode;
        (void)offset;
        (void)len;
        errno = EOPNOTSUPP;
        return -1;
}

int fallocate64(int fd, int mode, long offset, long len)
{
        return fallocate(fd, mode, offset, len);
}
