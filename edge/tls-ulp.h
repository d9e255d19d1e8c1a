/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

/*
 * Whether the kernel has the "tls" upper-layer protocol kTLS needs: from
 * /proc/sys/net/ipv4/tcp_available_ulp, or, where that is hidden, by asking a loopback socket
 * for it.
 */
bool tls_kernel_has_ulp(void);
