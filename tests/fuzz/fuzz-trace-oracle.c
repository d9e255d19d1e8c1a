/* SPDX-License-Identifier: MIT */
/* Fuzzes the oracleGeneral reader, and the format detector that picks between the two. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct trace t = {0};
        struct trace_error err = {0};
        struct trace_limits lim = {.max_requests = 64, .max_object_size = 1u << 20};
        (void)trace_format_detect(data, size);
        int r = trace_oracle_parse(data, size, &lim, &t, &err);
        assert(t.len <= lim.max_requests);
        if (r < 0)
                assert(err.msg != NULL);
        else
                assert(t.len == size / TRACE_ORACLE_RECORD);
        if (r == 0 && trace_analyse(&t) == 0)
                assert(t.objects <= t.len);
        trace_done(&t);
        return 0;
}
