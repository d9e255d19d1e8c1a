/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "fnv.h"

#include "evict-key.h"
#include "policy.h"

uint64_t evict_key_id(const char *k, size_t len)
{
        return key_hash64(k, len);
}

uint64_t evict_key_group(const char *k, size_t len)
{
        const char *slash = len > 1 ? memchr(k + 1, '/', len - 1) : NULL;

        return evict_key_id(k, slash ? (size_t)(slash - k) : len);
}

/* The key's last path component (its name), and the one before it in *dir (NULL if none). */
static const char *name_of(const char *k, size_t len, size_t *name_len, const char **dir,
                           size_t *dir_len)
{
        const char *name = k;

        *dir = NULL;
        for (size_t i = 0; i < len; i++)
                if (k[i] == '/') {
                        *dir = name;
                        name = k + i + 1;
                }
        *name_len = len - (size_t)(name - k);
        *dir_len = *dir ? (size_t)(name - 1 - *dir) : 0;
        return name;
}

/* Whether name is seg-<n>.<anything>, n of 1 to EVICT_SEG_DIGITS digits; *n its number. */
static bool seg_number(const char *name, size_t len, uint32_t *n)
{
        size_t i = 4;

        *n = 0;
        if (len < 6 || memcmp(name, "seg-", 4) != 0)
                return false;
        while (i < len && i < 4 + EVICT_SEG_DIGITS && name[i] >= '0' && name[i] <= '9')
                *n = *n * 10 + (uint32_t)(name[i++] - '0');
        return i > 4 && i < len && name[i] == '.';
}

uint32_t evict_hints(const char *k, size_t len, bool plan)
{
        uint32_t h = plan ? POLICY_HINT_PLAN_HIGH : 0, n;
        size_t name_len, dir_len;
        const char *dir, *name = name_of(k, len, &name_len, &dir, &dir_len);

        if (dir && dir_len == sizeof(POLICY_LOW_RUNG_DIR) - 1 &&
            memcmp(dir, POLICY_LOW_RUNG_DIR, dir_len) == 0)
                h |= POLICY_HINT_LOW_RUNG;
        if (name_len == 8 && memcmp(name, "init.mp4", 8) == 0)
                return h | POLICY_HINT_FIRST_SEGMENTS;
        /* Numbered from 1 (ingest's startNumber) or from 0: either way the first
         * POLICY_FIRST_SEGMENTS segments have n <= POLICY_FIRST_SEGMENTS. */
        if (seg_number(name, name_len, &n) && n <= POLICY_FIRST_SEGMENTS)
                h |= POLICY_HINT_FIRST_SEGMENTS;
        return h;
}

uint32_t evict_position(const char *k, size_t len)
{
        size_t name_len, dir_len;
        const char *dir, *name = name_of(k, len, &name_len, &dir, &dir_len);
        uint32_t n;

        if (!seg_number(name, name_len, &n))
                return 0;
        return n ? n : 1;
}
