/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the decoder of the eviction policy's on-disk record (policy_record_decode), which the
 * edge runs on what it finds in LMDB at start: the whole input as one value, then each
 * POLICY_RECORD_SIZE slice of it. Aborts when the decoder answers other than policy.h allows,
 * accepts a record that does not encode back to exactly its bytes (a field it ignores, or one
 * it reads wrongly), or accepts a record of size 0.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

#include "fuzz.h"

static void one(const uint8_t *buf, size_t len)
{
        struct policy_record rec;
        uint8_t again[POLICY_RECORD_SIZE];
        uint8_t *copy = calloc(1, len ? len : 1); /* exact size: a read past it is caught */
        int r;

        if (!copy)
                return;
        if (len)
                memcpy(copy, buf, len);
        memset(&rec, 0xa5, sizeof(rec));
        r = policy_record_decode(copy, len, &rec);
        CHECK(r == 0 || r == -EINVAL || r == -EPROTONOSUPPORT);
        if (len != POLICY_RECORD_SIZE)
                CHECK(r == -EINVAL);
        else if (copy[0] != POLICY_RECORD_VERSION)
                CHECK(r == -EPROTONOSUPPORT);
        if (r == 0) {
                CHECK(rec.size != 0);
                CHECK(rec.seq <= UINT32_MAX);
                policy_record_encode(&rec, again);
                CHECK(memcmp(again, copy, POLICY_RECORD_SIZE) == 0);
        }
        free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        one(data, size);
        for (size_t off = 0; size - off >= POLICY_RECORD_SIZE; off += POLICY_RECORD_SIZE)
                one(data + off, POLICY_RECORD_SIZE);
        return 0;
}
