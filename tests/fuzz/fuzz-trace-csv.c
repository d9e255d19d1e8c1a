/* SPDX-License-Identifier: MIT */
/* Fuzzes the CSV trace reader: any input must parse or fail cleanly within the limits. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "trace.h"

/* Checked in every build: assert() would vanish under NDEBUG, which the release build replays. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct trace t = {0};
        struct trace_error err = {0};
        /* Small limits so the limit paths are reached by short inputs too. */
        struct trace_limits lim = {.max_requests = 64, .max_object_size = 1u << 20};
        int r = trace_csv_parse(data, size, &lim, &t, &err);
        CHECK(t.len <= lim.max_requests);
        if (r < 0)
                CHECK(err.msg != NULL);
        for (size_t i = 0; i < t.len; i++)
                CHECK(t.reqs[i].size <= lim.max_object_size);
        if (r == 0 && trace_analyse(&t) == 0)
                CHECK(t.objects <= t.len);
        trace_done(&t);
        return 0;
}
