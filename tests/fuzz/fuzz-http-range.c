/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the Range parser. The first 8 bytes pick the object size; the rest is the header
 * value. Aborts when a resolved range falls outside the object or contradicts the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http-range.h"

#include "fuzz.h"

static void one(const char *v, size_t n, uint64_t size)
{
        struct http_range r = {UINT64_MAX, 0};
        enum http_range_result res = http_range_parse(v, n, size, &r);
        CHECK(res == HTTP_RANGE_NONE || res == HTTP_RANGE_SINGLE || res == HTTP_RANGE_MULTI ||
              res == HTTP_RANGE_UNSATISFIABLE);
        if (res == HTTP_RANGE_SINGLE) {
                CHECK(size > 0);
                CHECK(r.first <= r.last);
                CHECK(r.last < size);
        }
        if (n > 1024)
                CHECK(res == HTTP_RANGE_NONE);
        if (res != HTTP_RANGE_NONE)
                CHECK(n >= 6);
        /* the same value against an empty object can never be satisfied */
        if (res != HTTP_RANGE_NONE)
                CHECK(http_range_parse(v, n, 0, &r) == HTTP_RANGE_UNSATISFIABLE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint64_t objsize = 0;
        if (size < 8)
                return 0;
        memcpy(&objsize, data, 8);
        /* Mostly small sizes so ranges land inside; sometimes the full 64-bit space. */
        if (!(objsize & 1))
                objsize = (objsize >> 1) % 100000;
        char *v = malloc(size - 8 + 1);
        if (!v)
                return 0;
        memcpy(v, data + 8, size - 8);
        one(v, size - 8, objsize);
        one(v, size - 8, UINT64_MAX);
        free(v);
        return 0;
}
