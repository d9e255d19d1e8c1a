/* SPDX-License-Identifier: MIT */
/* Whether the kernel offers kTLS (see tls-ulp.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls-ulp.h"

/*
 * Whether TCP_ULP "tls" takes on a TCP connection, when /proc/sys cannot tell (the unit's
 * ProcSubset=pid hides it): a socket connected to itself over loopback (a simultaneous open:
 * no listen or accept, only calls the sandbox allows on every reload) is asked for it. ENOENT:
 * the kernel has no such protocol. Anything else that fails (no loopback) is unknown, and
 * counts as present.
 */
static bool tls_ulp_takes(void)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t alen = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool has = true;

        if (fd < 0)
                return true;
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
            getsockname(fd, (struct sockaddr *)&a, &alen) == 0 &&
            connect(fd, (struct sockaddr *)&a, alen) == 0 &&
            setsockopt(fd, SOL_TCP, TCP_ULP, "tls", 3) < 0 && errno == ENOENT)
                has = false;
        close(fd);
        return has;
}

/*
 * Whether the kernel has the "tls" upper-layer protocol kTLS needs. The kernel loads its
 * module on demand only for a caller with CAP_NET_ADMIN, which the sandboxed edge never has,
 * so without it at boot (modules-load.d) every connection stays in userspace. When the file
 * cannot be read, a connection is asked instead (tls_ulp_takes).
 */
bool tls_kernel_has_ulp(void)
{
        char buf[256];
        size_t n;
        FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "re");

        if (!f)
                return tls_ulp_takes();
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        for (char *save = NULL, *w = strtok_r(buf, " \n", &save); w;
             w = strtok_r(NULL, " \n", &save))
                if (strcmp(w, "tls") == 0)
                        return true;
        return false;
}
