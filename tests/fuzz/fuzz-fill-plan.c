/* SPDX-License-Identifier: MIT */
/* The fill plan parser (fill-agent/plan.c): any bytes from control. */
#include <stddef.h>
#include <stdint.h>

#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct plan p;
        char err[256];

        if (plan_parse((const char *)data, size, &p, err, sizeof(err)) == 0) {
                for (size_t i = 0; i < p.n; i++)
                        (void)plan_find(&p, p.objs[i].key, p.objs[i].key_len);
                plan_done(&p);
        }
        return 0;
}
