/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/*
 * tls_sni_host_name: the host name in the body of a ClientHello's server_name extension
 * (RFC 6066 §3: a 2-byte list length, then entries of a type byte, a 2-byte length and the
 * name). Returns 1 with it NUL-terminated in name, 0 when there is none to take (the first
 * entry not a host name, or a name of cap bytes or more, or one holding a NUL), -1 when the
 * extension is malformed (OpenSSL refuses it when it parses the ClientHello itself).
 */
int tls_sni_host_name(const unsigned char *p, size_t len, char *name, size_t cap);
