/* SPDX-License-Identifier: MIT */
/* The edge listing and health parsers (fill-agent/holdings.c): any bytes from an edge. */
#include <stddef.h>
#include <stdint.h>

#include "holdings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct holdings h;
        char err[256];
        uint64_t a, b;

        if (holdings_parse((const char *)data, size, &h, err, sizeof(err)) == 0) {
                for (size_t i = 0; i < h.n; i++)
                        (void)holdings_find(&h, h.objs[i].key, h.objs[i].key_len);
                holdings_done(&h);
        }
        (void)holdings_parse_health((const char *)data, size, &a, &b);
        return 0;
}
