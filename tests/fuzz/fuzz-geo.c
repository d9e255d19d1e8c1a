/* SPDX-License-Identifier: MIT */
/*
 * Control's country table (control/geo.c), built from the config's country_prefixes and
 * looked up with every player's address. The input is lines: "CIDR CC" is an entry, any other
 * line an address to look up; each entry's first and last address are looked up too. A build
 * must succeed exactly when every entry parses, has two letters and names a prefix no other
 * entry names (an IPv4-mapped IPv6 prefix naming its IPv4 one), and a lookup must give the
 * country of the longest prefix that covers the address, found here by scanning them all with
 * every prefix and address in the IPv6 form (where the table keeps IPv4 ones apart).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "geo.h"

#define MAX_LINES    64
#define LINE_MAX_LEN 96

static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Every prefix and address here is IPv6: an IPv4 one as the IPv4-mapped form that names it
 * (a.b.c.d/n is ::ffff:a.b.c.d/96+n), so that the two forms of one prefix are one value. */
struct ref {
        uint8_t addr[16];
        unsigned len;
        char cc[3];
};

static void as_v6(int family, const uint8_t *a, uint8_t out[16])
{
        if (family == AF_INET6) {
                memcpy(out, a, 16);
        } else {
                memcpy(out, mapped, 12);
                memcpy(out + 12, a, 4);
        }
}

static bool covers(const struct ref *r, const uint8_t *a)
{
        for (unsigned bit = 0; bit < r->len; bit++) {
                uint8_t m = (uint8_t)(0x80 >> (bit % 8));
                if ((r->addr[bit / 8] & m) != (a[bit / 8] & m))
                        return false;
        }
        return true;
}

/* Within ::ffff:0:0/96: an IPv4 prefix. */
static bool names_v4(const struct ref *r)
{
        return r->len >= 96 && memcmp(r->addr, mapped, 12) == 0;
}

/* The longest covering prefix's country, or "" for none. An IPv4 client (or a mapped one) is
 * looked up among IPv4 prefixes only: ::/0 covers no IPv4 client (geo.h). */
static void ref_lookup(const struct ref *r, size_t n, const uint8_t a[16], char out[3])
{
        bool v4 = memcmp(a, mapped, 12) == 0;
        int best = -1;

        out[0] = '\0';
        for (size_t i = 0; i < n; i++)
                if ((!v4 || names_v4(&r[i])) && covers(&r[i], a) && (int)r[i].len > best) {
                        best = (int)r[i].len;
                        memcpy(out, r[i].cc, 3);
                }
}

static void check_lookup(const struct geo_table *t, const struct ref *r, size_t n, int family,
                         const uint8_t *addr)
{
        char want[3], got[3] = "", text[INET6_ADDRSTRLEN];
        struct sockaddr_in in = {.sin_family = AF_INET};
        struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
        const struct sockaddr *sa = (const struct sockaddr *)&in;
        uint8_t a6[16];
        int rc;

        as_v6(family, addr, a6);
        ref_lookup(r, n, a6, want);
        if (family == AF_INET) {
                memcpy(&in.sin_addr, addr, 4);
        } else {
                memcpy(&in6.sin6_addr, addr, 16);
                sa = (const struct sockaddr *)&in6;
        }
        rc = geo_table_lookup(t, sa, got);
        CHECK(want[0] ? rc == 0 && strcmp(got, want) == 0 : rc == -ENOENT);
        CHECK(inet_ntop(family, addr, text, sizeof(text)));
        rc = geo_table_lookup_str(t, text, got);
        CHECK(want[0] ? rc == 0 && strcmp(got, want) == 0 : rc == -ENOENT);
}

static bool letters(const char *cc)
{
        if (strlen(cc) != 2)
                return false;
        for (size_t k = 0; k < 2; k++)
                if (!((cc[k] >= 'A' && cc[k] <= 'Z') || (cc[k] >= 'a' && cc[k] <= 'z')))
                        return false;
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static char lines[MAX_LINES][LINE_MAX_LEN];
        struct geo_entry ent[MAX_LINES] = {{0}};
        const char *look[MAX_LINES];
        struct ref ref[MAX_LINES];
        size_t n_ent = 0, n_look = 0, n_ref = 0, bad = SIZE_MAX;
        bool want_ok = true;
        struct geo_table *t = NULL;

        for (size_t off = 0, i = 0; off < size && i < MAX_LINES; i++) {
                const uint8_t *nl = memchr(data + off, '\n', size - off);
                size_t len = (nl ? (size_t)(nl - data) : size) - off;
                char *l = lines[i], *sp;

                if (len >= LINE_MAX_LEN)
                        len = LINE_MAX_LEN - 1;
                memcpy(l, data + off, len);
                l[len] = '\0';
                off = nl ? (size_t)(nl - data) + 1 : size;
                if ((sp = strchr(l, ' '))) {
                        *sp = '\0';
                        ent[n_ent++] = (struct geo_entry){.cidr = l, .country = sp + 1};
                } else {
                        look[n_look++] = l;
                }
        }
        for (size_t i = 0; i < n_ent && want_ok; i++) {
                struct ref *r = &ref[n_ref];
                struct geo_prefix pf;

                if (geo_cidr_parse(ent[i].cidr, &pf) < 0 || !letters(ent[i].country)) {
                        want_ok = false;
                        break;
                }
                as_v6(pf.family, pf.addr, r->addr);
                r->len = pf.len + (pf.family == AF_INET ? 96 : 0);
                for (size_t j = 0; j < n_ref; j++)
                        if (ref[j].len == r->len && !memcmp(ref[j].addr, r->addr, 16))
                                want_ok = false;
                for (size_t k = 0; k < 3; k++)
                        r->cc[k] = (char)(ent[i].country[k] >= 'a' ? ent[i].country[k] - 32
                                                                   : ent[i].country[k]);
                n_ref++;
        }

        int rc = geo_table_build(ent, n_ent, &t, &bad);
        if (!want_ok) {
                CHECK((rc == -EINVAL || rc == -EEXIST) && !t && bad < n_ent);
                return 0;
        }
        CHECK(rc == 0 && t && geo_table_size(t) == n_ent);
        /* Each prefix's first and last address, as IPv6 and, for an IPv4 prefix, as IPv4. */
        for (size_t i = 0; i < n_ref; i++) {
                uint8_t last[16];

                memcpy(last, ref[i].addr, 16);
                for (unsigned bit = ref[i].len; bit < 128; bit++)
                        last[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
                check_lookup(t, ref, n_ref, AF_INET6, ref[i].addr);
                check_lookup(t, ref, n_ref, AF_INET6, last);
                if (names_v4(&ref[i])) {
                        check_lookup(t, ref, n_ref, AF_INET, ref[i].addr + 12);
                        check_lookup(t, ref, n_ref, AF_INET, last + 12);
                }
        }
        for (size_t i = 0; i < n_look; i++) {
                uint8_t a[16];
                char cc[3];

                if (inet_pton(AF_INET, look[i], a) == 1)
                        check_lookup(t, ref, n_ref, AF_INET, a);
                else if (inet_pton(AF_INET6, look[i], a) == 1)
                        check_lookup(t, ref, n_ref, AF_INET6, a);
                else
                        CHECK(geo_table_lookup_str(t, look[i], cc) == -EINVAL);
        }
        geo_table_free(t);
        return 0;
}
