/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "fnv.h"
#include "report-limit.h"

struct slot {
        uint32_t hash;   /* of the session holding the slot; 0: none */
        uint32_t tokens; /* whole reports left at `at` */
        int64_t at;      /* when tokens was last brought up to date (ms) */
};

struct report_limit {
        struct slot *slots;
        size_t mask;
        uint32_t seed;
};

int report_limit_new(size_t slots, uint32_t seed, struct report_limit **ret)
{
        struct report_limit *rl = calloc(1, sizeof(*rl));
        size_t n = 64;

        while (n < slots && n < ((size_t)1 << 30))
                n <<= 1;
        if (!rl || !(rl->slots = calloc(n, sizeof(*rl->slots)))) {
                free(rl);
                return -ENOMEM;
        }
        rl->mask = n - 1;
        rl->seed = seed;
        *ret = rl;
        return 0;
}

void report_limit_free(struct report_limit *rl)
{
        if (!rl)
                return;
        free(rl->slots);
        free(rl);
}

bool report_limit_take(struct report_limit *rl, const char *id, int64_t now_ms, uint32_t burst,
                       int64_t interval_ms, int64_t *retry_ms)
{
        uint32_t h = fnv1a_str(FNV1A_INIT ^ rl->seed, id);
        struct slot *s;

        if (interval_ms <= 0 || burst == 0)
                return true;
        h = h ? h : 1;
        s = &rl->slots[h & rl->mask];
        if (s->hash != h) {
                *s = (struct slot){.hash = h, .tokens = burst, .at = now_ms};
        } else if (s->tokens >= burst) {
                s->tokens = burst; /* burst lowered by a reload */
                s->at = now_ms;
        } else if (now_ms > s->at) {
                int64_t add = (now_ms - s->at) / interval_ms;
                if (add >= (int64_t)(burst - s->tokens)) {
                        s->tokens = burst;
                        s->at = now_ms;
                } else if (add > 0) {
                        s->tokens += (uint32_t)add;
                        s->at += add * interval_ms; /* keep the part of a report earned */
                }
        }
        if (s->tokens == 0) {
                if (retry_ms)
                        *retry_ms = s->at + interval_ms - now_ms;
                return false;
        }
        s->tokens--;
        return true;
}
