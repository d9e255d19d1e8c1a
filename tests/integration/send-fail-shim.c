/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD shim for test_access_log_abort.py. While the file named by SLUICE_SEND_FAIL_FLAG
 * exists, send(2) fails with ECONNRESET, as it does for a client that reset its connection
 * between sending a request and the first bytes of the answer: a window too narrow for a test
 * to hit from outside. The edge sends TLS records with send(2); its handshakes, logs and plain
 * answers go by other calls, so only those records fail.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static ssize_t (*real_send)(int, const void *, size_t, int);
static const char *flag;

__attribute__((constructor)) static void shim_init(void)
{
        real_send = (ssize_t(*)(int, const void *, size_t, int))dlsym(RTLD_NEXT, "send");
        flag = getenv("SLUICE_SEND_FAIL_FLAG");
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
        if (flag && access(flag, F_OK) == 0) {
                errno = ECONNRESET;
                return -1;
        }
        return real_send(fd, buf, len, flags);
}
