/* SPDX-License-Identifier: MIT */
/*
 * What the eviction policy reads from a cache key (edge/evict-key.c), for any key bytes: the
 * input as one key, copied to a buffer of exactly its size (a read past the key is caught).
 * Aborts unless the hints are the known bits with the plan's exactly when asked for, a
 * segment's position agrees with its first-segment hint, a position has at most
 * EVICT_SEG_DIGITS digits, the group of a key without a second component is its id, and the
 * same key gives the same answers again.
 */
#include <stdlib.h>
#include <string.h>

#include "evict-key.h"
#include "policy.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint32_t known = POLICY_HINT_FIRST_SEGMENTS | POLICY_HINT_LOW_RUNG |
                               POLICY_HINT_PLAN_HIGH;
        char *k = malloc(size ? size : 1);
        uint32_t h, hp, pos;
        uint64_t id;

        if (!k)
                return 0;
        if (size)
                memcpy(k, data, size);
        h = evict_hints(k, size, false);
        hp = evict_hints(k, size, true);
        pos = evict_position(k, size);
        id = evict_key_id(k, size);
        CHECK((h & ~known) == 0 && !(h & POLICY_HINT_PLAN_HIGH));
        CHECK(hp == (h | POLICY_HINT_PLAN_HIGH));
        CHECK(pos <= 999999999u);
        if (pos > 0)
                CHECK(!!(h & POLICY_HINT_FIRST_SEGMENTS) == (pos <= POLICY_FIRST_SEGMENTS));
        CHECK(id != 0);
        if (size <= 1 || !memchr(k + 1, '/', size - 1))
                CHECK(evict_key_group(k, size) == id);
        CHECK(evict_hints(k, size, false) == h && evict_position(k, size) == pos &&
              evict_key_id(k, size) == id);
        free(k);
        return 0;
}
