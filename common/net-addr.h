/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>

/*
 * The address and URL forms the daemons' configurations accept, parsed one way everywhere.
 *
 * Listen addresses: "host:port" with a dotted IPv4 host or "localhost", "[v6]:port", or
 * ":port" (every IPv4 address). The port is 0..65535 in at most five digits (0: the kernel
 * picks one). A bare IPv6 address without brackets is refused: its port would be ambiguous.
 * Host names other than "localhost" are refused: a listener binds to an address, and a name
 * resolved at start-up would silently move.
 *
 * URLs: "http://" or "https://" (any case), then an authority (it ends at the first '/', '?'
 * or '#'): an optional "userinfo@", a host and an optional ":port" of 1..5 digits, 1..65535.
 * The host is a bracketed IPv6 address, a dotted-decimal IPv4 address, or a name of RFC 3986
 * reg-name bytes without percent-escapes; a name whose last label is a number ("1.2.3.999",
 * "h.0x1f") must be an IPv4 address, as a browser's URL parser reads it. Nowhere a byte a URL
 * never carries unescaped (controls, space, '"', '<', '>', '\'). Nothing is resolved. What
 * these accept, every URL parser (a player's included) reads with the same host and port.
 */

#define NET_ADDR_TEXT_MAX 64   /* longest listen address accepted ("[v6]:port" fits) */
#define NET_URL_MAX       2048 /* longest URL accepted */

/*
 * Parse a listen address s into *ret (zeroed first) and its length into *ret_len.
 * Returns 0; -EINVAL when s is NULL or not one of the forms above; -E2BIG when longer than
 * NET_ADDR_TEXT_MAX. Nothing is allocated.
 */
int net_addr_parse(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len);

/* Whether u is an http:// or https:// URL as above, at most NET_URL_MAX bytes. NULL: false. */
bool net_url_ok(const char *u);

/* NULL when u is such a URL (with base, one net_url_base_ok accepts); otherwise a short
 * phrase saying why not, for an error message ("the port is not a number in 1..65535"). */
const char *net_url_why(const char *u, bool base);

/* Whether u is such a URL that paths can be appended to: no userinfo, query or fragment
 * (a path appended to "http://a/b?c#d" lands in its fragment). NULL: false. */
bool net_url_base_ok(const char *u);

/* Whether o can match a browser's Origin (RFC 6454 serialisation): "*" (any), or
 * http[s]://host[:port] with nothing after it, no path, not even a "/", the host as for URLs.
 * NULL: false. */
bool net_origin_ok(const char *o);
/* The Origin a browser sends for o, as an operator may have written it otherwise: scheme or
 * host in upper case, the scheme's default port, a "/" after the authority. Returns 1 with out
 * (cap bytes) holding it when it differs from o, 0 when o is one already (net_origin_ok), and
 * -1 when no Origin can match o (a path, a query, %-escapes, a port out of range, ...). */
int net_origin_canon(const char *o, char *out, size_t cap);
