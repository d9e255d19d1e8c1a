/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"

struct geo_ent {
        uint8_t addr[16];
        unsigned len;
        char cc[3];
        size_t src; /* index in the config, for error reports while building */
};

/* Entries of one prefix length: a sorted slice of the family's array. */
struct geo_group {
        unsigned len;
        size_t off, n;
};

struct geo_fam {
        struct geo_ent *ents; /* sorted by length descending, then address */
        size_t n;
        struct geo_group groups[129];
        size_t n_groups;
        size_t width; /* 4 or 16 */
};

struct geo_table {
        struct geo_fam v4, v6;
};

static void mask(uint8_t *addr, size_t width, unsigned len)
{
        for (size_t i = 0; i < width; i++) {
                unsigned bit = (unsigned)i * 8;
                if (bit >= len)
                        addr[i] = 0;
                else if (len - bit < 8)
                        addr[i] &= (uint8_t)(0xff << (8 - (len - bit)));
        }
}

int geo_cidr_parse(const char *s, struct geo_prefix *ret)
{
        char buf[INET6_ADDRSTRLEN + 8];
        const char *slash = strchr(s, '/');
        size_t alen = slash ? (size_t)(slash - s) : strlen(s);
        unsigned len = 0;

        if (alen == 0 || alen >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, alen);
        buf[alen] = '\0';
        memset(ret, 0, sizeof(*ret));
        if (inet_pton(AF_INET, buf, ret->addr) == 1)
                ret->family = AF_INET;
        else if (inet_pton(AF_INET6, buf, ret->addr) == 1)
                ret->family = AF_INET6;
        else
                return -EINVAL;
        unsigned max = ret->family == AF_INET ? 32 : 128;
        if (slash) {
                const char *p = slash + 1;
                if (!*p || strlen(p) > 3)
                        return -EINVAL;
                for (; *p; p++) {
                        if (*p < '0' || *p > '9')
                                return -EINVAL;
                        len = len * 10 + (unsigned)(*p - '0');
                }
                if (len > max)
                        return -EINVAL;
        } else {
                len = max;
        }
        uint8_t masked[16];
        size_t width = ret->family == AF_INET ? 4 : 16;
        memcpy(masked, ret->addr, width);
        mask(masked, width, len);
        if (memcmp(masked, ret->addr, width) != 0)
                return -EINVAL;
        ret->len = len;
        return 0;
}

static int ent_cmp_v4(const void *x, const void *y)
{
        const struct geo_ent *a = x, *b = y;
        if (a->len != b->len)
                return a->len > b->len ? -1 : 1;
        return memcmp(a->addr, b->addr, 4);
}

static int ent_cmp_v6(const void *x, const void *y)
{
        const struct geo_ent *a = x, *b = y;
        if (a->len != b->len)
                return a->len > b->len ? -1 : 1;
        return memcmp(a->addr, b->addr, 16);
}

/* Sort, find duplicates, and cut into per-length groups. */
static int fam_finish(struct geo_fam *f, size_t *ret_bad)
{
        if (f->n > 1)
                qsort(f->ents, f->n, sizeof(*f->ents), f->width == 4 ? ent_cmp_v4 : ent_cmp_v6);
        for (size_t i = 0; i < f->n; i++) {
                const struct geo_ent *e = &f->ents[i];
                if (i > 0 && e->len == e[-1].len && memcmp(e->addr, e[-1].addr, f->width) == 0) {
                        if (ret_bad)
                                *ret_bad = e->src > e[-1].src ? e->src : e[-1].src;
                        return -EEXIST;
                }
                if (f->n_groups == 0 || f->groups[f->n_groups - 1].len != e->len)
                        f->groups[f->n_groups++] = (struct geo_group){.len = e->len, .off = i};
                f->groups[f->n_groups - 1].n++;
        }
        return 0;
}

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* A prefix within ::ffff:0:0/96 names IPv4 addresses, and mapped clients are looked up in the
 * IPv4 entries (lookup6): it goes there too, as the IPv4 prefix it names, or it would never
 * match anyone. */
static void mapped_to_v4(struct geo_prefix *pf)
{
        if (pf->family != AF_INET6 || pf->len < 96 || memcmp(pf->addr, v4mapped, 12) != 0)
                return;
        memmove(pf->addr, pf->addr + 12, 4);
        memset(pf->addr + 4, 0, 12);
        pf->family = AF_INET;
        pf->len -= 96;
}

int geo_table_build(const struct geo_entry *entries, size_t n, struct geo_table **ret,
                    size_t *ret_bad)
{
        struct geo_table *t = NULL;
        int r = -ENOMEM;

        if (n > GEO_ENTRIES_MAX)
                return -E2BIG;
        if (n && !entries)
                return -EINVAL;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->v4.width = 4;
        t->v6.width = 16;
        if (n) {
                t->v4.ents = calloc(n, sizeof(struct geo_ent));
                t->v6.ents = calloc(n, sizeof(struct geo_ent));
                if (!t->v4.ents || !t->v6.ents)
                        goto out;
        }
        for (size_t i = 0; i < n; i++) {
                struct geo_prefix pf;
                const char *cc = entries[i].country;
                r = -EINVAL;
                if (!entries[i].cidr || !cc || geo_cidr_parse(entries[i].cidr, &pf) < 0)
                        goto bad;
                int ok = strlen(cc) == 2;
                for (size_t k = 0; k < 2 && ok; k++)
                        ok = (cc[k] >= 'A' && cc[k] <= 'Z') || (cc[k] >= 'a' && cc[k] <= 'z');
                if (!ok)
                        goto bad;
                mapped_to_v4(&pf);
                struct geo_fam *f = pf.family == AF_INET ? &t->v4 : &t->v6;
                struct geo_ent *e = &f->ents[f->n++];
                memcpy(e->addr, pf.addr, sizeof(e->addr));
                e->len = pf.len;
                e->src = i;
                for (size_t k = 0; k < 2; k++)
                        e->cc[k] = (char)(cc[k] >= 'a' ? cc[k] - 'a' + 'A' : cc[k]);
                e->cc[2] = '\0';
                continue;
        bad:
                if (ret_bad)
                        *ret_bad = i;
                goto out;
        }
        if ((r = fam_finish(&t->v4, ret_bad)) < 0 || (r = fam_finish(&t->v6, ret_bad)) < 0)
                goto out;
        *ret = t;
        t = NULL;
        r = 0;
out:
        geo_table_free(t);
        return r;
}

void geo_table_free(struct geo_table *t)
{
        if (!t)
                return;
        free(t->v4.ents);
        free(t->v6.ents);
        free(t);
}

size_t geo_table_size(const struct geo_table *t)
{
        return t->v4.n + t->v6.n;
}

static int fam_lookup(const struct geo_fam *f, const uint8_t *addr, char ret_cc[3])
{
        for (size_t g = 0; g < f->n_groups; g++) {
                const struct geo_group *gr = &f->groups[g];
                uint8_t key[16];
                memcpy(key, addr, f->width);
                mask(key, f->width, gr->len);
                size_t lo = gr->off, hi = gr->off + gr->n;
                while (lo < hi) {
                        size_t mid = lo + (hi - lo) / 2;
                        int cmp = memcmp(key, f->ents[mid].addr, f->width);
                        if (cmp == 0) {
                                memcpy(ret_cc, f->ents[mid].cc, 3);
                                return 0;
                        }
                        if (cmp < 0)
                                hi = mid;
                        else
                                lo = mid + 1;
                }
        }
        return -ENOENT;
}

static int lookup6(const struct geo_table *t, const uint8_t a[16], char ret_cc[3])
{
        if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0)
                return fam_lookup(&t->v4, a + 12, ret_cc);
        return fam_lookup(&t->v6, a, ret_cc);
}

int geo_table_lookup(const struct geo_table *t, const struct sockaddr *sa, char ret_cc[3])
{
        if (sa->sa_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
                return fam_lookup(&t->v4, (const uint8_t *)&in->sin_addr, ret_cc);
        }
        if (sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
                return lookup6(t, in6->sin6_addr.s6_addr, ret_cc);
        }
        return -EAFNOSUPPORT;
}

int geo_table_lookup_str(const struct geo_table *t, const char *addr, char ret_cc[3])
{
        uint8_t a[16];
        if (inet_pton(AF_INET, addr, a) == 1)
                return fam_lookup(&t->v4, a, ret_cc);
        if (inet_pton(AF_INET6, addr, a) == 1)
                return lookup6(t, a, ret_cc);
        return -EINVAL;
}
