/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "policy-map.h"
#include "policy-sketch.h"

int policy_sketch_init(struct policy_sketch *s, uint32_t width, uint64_t window)
{
        uint32_t w = 64;
        while (w < width && w < POLICY_SKETCH_MAX_WIDTH)
                w <<= 1;
        s->cells = calloc((size_t)POLICY_SKETCH_ROWS * w, sizeof(*s->cells));
        if (!s->cells)
                return -ENOMEM;
        s->width = w;
        s->added = 0;
        s->window = window ? window : (uint64_t)w * 10;
        return 0;
}

void policy_sketch_done(struct policy_sketch *s)
{
        free(s->cells);
        s->cells = NULL;
}

/* Row r's cell for key: independent-enough positions from one 64-bit hash and a re-mix. */
static uint16_t *cell(const struct policy_sketch *s, unsigned r, uint64_t key)
{
        uint64_t h = policy_hash64(key + 0x9e3779b97f4a7c15ULL * (r + 1));
        return &s->cells[(size_t)r * s->width + (h & (s->width - 1))];
}

uint32_t policy_sketch_get(const struct policy_sketch *s, uint64_t key)
{
        uint32_t m = UINT16_MAX;
        for (unsigned r = 0; r < POLICY_SKETCH_ROWS; r++) {
                uint16_t v = *cell(s, r, key);
                if (v < m)
                        m = v;
        }
        return m;
}

uint32_t policy_sketch_add(struct policy_sketch *s, uint64_t key)
{
        uint32_t est = policy_sketch_get(s, key);
        if (est < UINT16_MAX) {
                /* Conservative update: only the cells at the minimum move, which keeps
                 * collisions from inflating every key that shares a cell. */
                for (unsigned r = 0; r < POLICY_SKETCH_ROWS; r++) {
                        uint16_t *c = cell(s, r, key);
                        if (*c == est)
                                (*c)++;
                }
                est++;
        }
        if (++s->added >= s->window)
                policy_sketch_age(s);
        return est;
}

void policy_sketch_age(struct policy_sketch *s)
{
        size_t n = (size_t)POLICY_SKETCH_ROWS * s->width;
        for (size_t i = 0; i < n; i++)
                s->cells[i] >>= 1;
        s->added = 0;
}

int policy_sketch_grow(struct policy_sketch *s, uint32_t width)
{
        uint32_t w = s->width;
        while (w < width && w < POLICY_SKETCH_MAX_WIDTH)
                w <<= 1;
        if (w <= s->width)
                return 0;
        uint16_t *cells = malloc((size_t)POLICY_SKETCH_ROWS * w * sizeof(*cells));
        if (!cells)
                return -ENOMEM;
        /* A key's cell in row r is its hash masked to the width, so under the wider mask
         * it lands on a cell whose low bits name its old one: copying every old cell to the
         * cells that share its low bits keeps every estimate exactly as it was. */
        for (unsigned r = 0; r < POLICY_SKETCH_ROWS; r++) {
                const uint16_t *old = s->cells + (size_t)r * s->width;
                uint16_t *row = cells + (size_t)r * w;
                for (uint32_t j = 0; j < w; j++)
                        row[j] = old[j & (s->width - 1)];
        }
        free(s->cells);
        s->cells = cells;
        s->width = w;
        return 0;
}
