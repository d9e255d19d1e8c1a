/* SPDX-License-Identifier: MIT */
/*
 * The edge's reading of a fill plan (edge/plan-sums.c) on arbitrary text: it never crashes,
 * every kept sum is 64 lowercase hex digits under a key that starts with '/', keys are sorted
 * and unique, and every kept key is found again with its sum.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Built in rather than linked, so the fuzzer's instrumentation sees the parser's branches. */
#include "../../edge/plan-sums.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
        if (!cond) {
                fprintf(stderr, "plan-sums invariant violated: %s\n", what);
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct plan_sums *t = NULL;
        size_t skipped = 0;
        char hex[65];

        if (plan_sums_parse((const char *)data, size, &t, &skipped) < 0) {
                check(t == NULL, "a refused plan left a table");
                return 0;
        }
        for (size_t i = 0; i < t->n; i++) {
                const struct sum *s = &t->v[i];
                check(s->len >= 2 && s->key[0] == '/', "key without its leading '/'");
                check(s->len <= STORE_KEY_MAX, "key over the store's limit");
                check(strlen(s->hex) == 64, "sum not 64 digits");
                for (int k = 0; k < 64; k++)
                        check((s->hex[k] >= '0' && s->hex[k] <= '9') ||
                                  (s->hex[k] >= 'a' && s->hex[k] <= 'f'),
                              "sum not lowercase hex");
                check(i == 0 || cmp_sum(&t->v[i - 1], s) < 0, "keys not sorted and unique");
                check(plan_sums_find(t, s->key, s->len, hex) && strcmp(hex, s->hex) == 0,
                      "a kept key is not found with its sum");
        }
        plan_sums_free(t);
        return 0;
}
