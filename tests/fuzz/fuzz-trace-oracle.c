/* SPDX-License-Identifier: MIT */
/* Fuzzes the oracleGeneral reader, and the format detector that picks between the two. */
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
        struct trace_limits lim = {.max_requests = 64, .max_object_size = 1u << 20};
        (void)trace_format_detect(data, size);
        int r = trace_oracle_parse(data, size, &lim, &t, &err);
        CHECK(t.len <= lim.max_requests);
        if (r < 0)
                CHECK(err.msg != NULL);
        else
                CHECK(t.len == size / TRACE_ORACLE_RECORD);
        if (r == 0 && trace_analyse(&t) == 0)
                CHECK(t.objects <= t.len);
        trace_done(&t);
        return 0;
}
