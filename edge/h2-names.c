/* SPDX-License-Identifier: MIT */
/*
 * Response field names by length, each as the plans spell it (serve-plan.c, cors.c) and in
 * lowercase. A name spelt as a plan spells it matches by its address or with one memcmp; any
 * other spelling is compared without regard to case.
 */
#include <stdbool.h>
#include <string.h>

#include "h2-names.h"

struct name {
        const char *canon, *lower;
};

static const struct name len3[] = {{"Age", "age"}};
static const struct name len4[] = {{"ETag", "etag"}, {"Vary", "vary"}};
static const struct name len5[] = {{"Allow", "allow"}};
static const struct name len11[] = {{"Retry-After", "retry-after"}};
static const struct name len12[] = {{"Content-Type", "content-type"},
                                    {"Cache-Status", "cache-status"},
                                    {"CMSD-Dynamic", "cmsd-dynamic"}};
static const struct name len13[] = {{"Cache-Control", "cache-control"},
                                    {"Last-Modified", "last-modified"},
                                    {"Accept-Ranges", "accept-ranges"},
                                    {"Content-Range", "content-range"}};
static const struct name len14[] = {{"Content-Length", "content-length"}};
static const struct name len19[] = {{"Timing-Allow-Origin", "timing-allow-origin"}};
static const struct name len22[] = {{"Access-Control-Max-Age", "access-control-max-age"}};
static const struct name len27[] = {{"Access-Control-Allow-Origin", "access-control-allow-origin"}};
static const struct name len28[] = {
    {"Access-Control-Allow-Headers", "access-control-allow-headers"},
    {"Access-Control-Allow-Methods", "access-control-allow-methods"}};
static const struct name len29[] = {
    {"Access-Control-Expose-Headers", "access-control-expose-headers"}};

#define COUNT(a) (sizeof(a) / sizeof(a[0]))
static const struct {
        const struct name *v;
        unsigned n;
} by_len[] = {
    [3] = {len3, COUNT(len3)},    [4] = {len4, COUNT(len4)},    [5] = {len5, COUNT(len5)},
    [11] = {len11, COUNT(len11)}, [12] = {len12, COUNT(len12)}, [13] = {len13, COUNT(len13)},
    [14] = {len14, COUNT(len14)}, [19] = {len19, COUNT(len19)}, [22] = {len22, COUNT(len22)},
    [27] = {len27, COUNT(len27)}, [28] = {len28, COUNT(len28)}, [29] = {len29, COUNT(len29)},
};
#undef COUNT

static bool same_ignoring_case(const char *a, const char *lower, size_t len)
{
        for (size_t i = 0; i < len; i++)
                if (h2_ascii_lower(a[i]) != lower[i])
                        return false;
        return true;
}

const char *h2_static_name(const char *name, size_t len)
{
        if (len >= sizeof(by_len) / sizeof(by_len[0]))
                return NULL;
        /* The plans pass string literals, which the linker merges with these: most names are
         * found by their address, without a call to memcmp. */
        for (unsigned i = 0; i < by_len[len].n; i++)
                if (name == by_len[len].v[i].canon)
                        return by_len[len].v[i].lower;
        for (unsigned i = 0; i < by_len[len].n; i++)
                if (memcmp(name, by_len[len].v[i].canon, len) == 0)
                        return by_len[len].v[i].lower;
        for (unsigned i = 0; i < by_len[len].n; i++)
                if (same_ignoring_case(name, by_len[len].v[i].lower, len))
                        return by_len[len].v[i].lower;
        return NULL;
}
