/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "tls-sni.h"

#define SNI_HOST_NAME 0 /* NameType host_name */

int tls_sni_host_name(const unsigned char *p, size_t len, char *name, size_t cap)
{
        size_t list, n;

        if (len < 2)
                return -1;
        list = (size_t)p[0] << 8 | p[1];
        if (list != len - 2 || list < 3)
                return -1;
        n = (size_t)p[3] << 8 | p[4];
        if (p[2] != SNI_HOST_NAME)
                return 0;
        if (n == 0 || n > list - 3)
                return -1;
        if (n >= cap || memchr(p + 5, '\0', n))
                return 0;
        memcpy(name, p + 5, n);
        name[n] = '\0';
        return 1;
}
