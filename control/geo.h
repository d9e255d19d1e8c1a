/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * CIDR → country table (config `country_prefixes: {"10.1.0.0/16": SE, "2001:db8::/32": NO}`),
 * IPv4 and IPv6, longest-prefix match. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a
 * dual-stack socket reports) is looked up in the IPv4 entries, and a prefix written in that
 * form (::ffff:10.1.0.0/112) is kept as the IPv4 prefix it names (10.1.0.0/16).
 *
 * Built once from the config (start-up or reload: parse into a new table, swap the pointer),
 * then read-only: lookups need no lock. Lookup is a binary search per prefix length present,
 * longest first. At most GEO_ENTRIES_MAX entries.
 *
 * Countries are ISO 3166-1 alpha-2, stored upper-case ("se" is accepted as "SE").
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define GEO_ENTRIES_MAX 65536

struct geo_table;

/* One config entry; strings borrowed. */
struct geo_entry {
        const char *cidr;    /* "10.1.0.0/16", "2001:db8::/32"; a bare address means /32 or /128 */
        const char *country; /* "SE" */
};

/* A parsed prefix (network byte order, host bits zero). */
struct geo_prefix {
        int family;       /* AF_INET or AF_INET6 */
        uint8_t addr[16]; /* first 4 bytes for AF_INET */
        unsigned len;     /* prefix length */
};

/*
 * geo_cidr_parse: parse "addr/len" (or a bare address). Host bits set under the mask are
 * refused ("10.1.2.3/16" is a typo for something). Returns 0 or -EINVAL.
 */
int geo_cidr_parse(const char *s, struct geo_prefix *ret);

/*
 * geo_table_build: a new table from entries[0..n). Returns 0 with *ret owned by the caller
 * (free with geo_table_free); -EINVAL a bad CIDR or country, -EEXIST the same prefix twice,
 * -E2BIG over GEO_ENTRIES_MAX, -ENOMEM. On -EINVAL/-EEXIST *ret_bad (if not NULL) is the
 * index of the offending entry, so the config loader can report its file:line:col.
 */
int geo_table_build(const struct geo_entry *entries, size_t n, struct geo_table **ret,
                    size_t *ret_bad);

/* geo_table_free: free a table. Accepts NULL. */
void geo_table_free(struct geo_table *t);

/*
 * geo_table_lookup: country of sa (AF_INET or AF_INET6). Writes two letters and a NUL to
 * ret_cc. Returns 0, -ENOENT no prefix covers it, -EAFNOSUPPORT other families.
 */
int geo_table_lookup(const struct geo_table *t, const struct sockaddr *sa, char ret_cc[3]);

/* geo_table_lookup_str: the same for a textual address ("192.0.2.1", "2001:db8::1"). -EINVAL if
 * it does not parse. */
int geo_table_lookup_str(const struct geo_table *t, const char *addr, char ret_cc[3]);

/* geo_table_size: number of entries. */
size_t geo_table_size(const struct geo_table *t);
