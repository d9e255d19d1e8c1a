/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hex.h"
#include "json-depth.h"

#include "plan-sums.h"
#include "store.h"

struct sum {
        const char *key; /* into pool, with the leading '/' */
        size_t len;
        char hex[65];
};

struct plan_sums {
        struct sum *v; /* sorted by key */
        size_t n;
        char *pool;
};

static int cmp_key(const char *a, size_t alen, const char *b, size_t blen)
{
        int c = memcmp(a, b, alen < blen ? alen : blen);

        return c ? c : (alen > blen) - (alen < blen);
}

static int cmp_sum(const void *a, const void *b)
{
        const struct sum *x = a, *y = b;

        return cmp_key(x->key, x->len, y->key, y->len);
}

static bool sha_ok(const char *s)
{
        uint8_t raw[32];

        return s && strlen(s) == 64 && hex_decode(s, 64, raw, sizeof(raw)) == 0;
}

/* In the sorted table, keep one of several entries for a key when they agree, none when they
 * do not (which sum would be the catalog's?). Returns the entries dropped. */
static size_t drop_conflicts(struct plan_sums *t)
{
        size_t out = 0, dropped = 0;

        for (size_t i = 0; i < t->n;) {
                size_t j = i + 1;
                bool agree = true;
                while (j < t->n && cmp_sum(&t->v[i], &t->v[j]) == 0) {
                        agree = agree && strcmp(t->v[i].hex, t->v[j].hex) == 0;
                        j++;
                }
                if (agree)
                        t->v[out++] = t->v[i];
                dropped += agree ? j - i - 1 : j - i;
                i = j;
        }
        t->n = out;
        return dropped;
}

/*
 * jansson builds the whole tree before objects[] can be counted, and spends far more on it
 * than the text takes: about 200 bytes on an empty object, 40 on a number, so 64 MB of "{},"
 * would be 5 GB. So the text's containers and values are counted first (json_shape_within,
 * common/json-depth.h). A plan of PLAN_SUMS_MAX objects as control writes them (one object of
 * six members each) has about one container and 13 separators per object; twice that much is
 * let through, a few hundred MB at most, and more is not a plan.
 */
#define PLAN_CONTAINERS_MAX (2 * PLAN_SUMS_MAX + 64)
#define PLAN_VALUES_MAX     (32 * PLAN_SUMS_MAX)

int plan_sums_parse(const char *json, size_t len, struct plan_sums **ret, size_t *ret_skipped)
{
        struct plan_sums *t = NULL;
        json_t *root, *objs, *o;
        size_t i, pool = 0, skipped = 0, off = 0;
        int r = -EINVAL;

        *ret = NULL;
        if (!json_shape_within(json, len, PLAN_CONTAINERS_MAX, PLAN_VALUES_MAX))
                return r;
        root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
        objs = json_object_get(root, "objects");
        if (!json_is_array(objs) || json_array_size(objs) > PLAN_SUMS_MAX)
                goto out;
        json_array_foreach(objs, i, o) {
                const char *p = json_string_value(json_object_get(o, "path"));
                if (p)
                        pool += strlen(p) + 2;
        }
        r = -ENOMEM;
        t = calloc(1, sizeof(*t));
        if (!t || !(t->v = calloc(json_array_size(objs) + 1, sizeof(*t->v))) ||
            !(t->pool = malloc(pool + 1)))
                goto out;
        json_array_foreach(objs, i, o) {
                const char *p = json_string_value(json_object_get(o, "path"));
                const char *h = json_string_value(json_object_get(o, "sha256"));
                size_t pl = p ? strlen(p) : 0;
                if (!pl || p[0] == '/' || pl >= STORE_KEY_MAX || memchr(p, '\0', pl) ||
                    !sha_ok(h)) {
                        skipped++;
                        continue;
                }
                struct sum *s = &t->v[t->n++];
                t->pool[off] = '/';
                memcpy(t->pool + off + 1, p, pl);
                s->key = t->pool + off;
                s->len = pl + 1;
                off += pl + 2;
                for (int k = 0; k < 65; k++)
                        s->hex[k] = (char)(h[k] >= 'A' && h[k] <= 'F' ? h[k] + 32 : h[k]);
        }
        qsort(t->v, t->n, sizeof(*t->v), cmp_sum);
        skipped += drop_conflicts(t);
        *ret = t;
        t = NULL;
        r = 0;
        if (ret_skipped)
                *ret_skipped = skipped;
out:
        plan_sums_free(t);
        json_decref(root);
        return r;
}

void plan_sums_free(struct plan_sums *t)
{
        if (!t)
                return;
        free(t->v);
        free(t->pool);
        free(t);
}

size_t plan_sums_count(const struct plan_sums *t)
{
        return t ? t->n : 0;
}

bool plan_sums_find(const struct plan_sums *t, const char *key, size_t key_len, char hex[65])
{
        size_t lo = 0, hi = t ? t->n : 0;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = cmp_key(key, key_len, t->v[mid].key, t->v[mid].len);
                if (c == 0) {
                        memcpy(hex, t->v[mid].hex, 65);
                        return true;
                }
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return false;
}

void plan_sums_foreach(const struct plan_sums *t,
                       void (*cb)(const char *key, size_t key_len, const char *hex, void *userdata),
                       void *userdata)
{
        for (size_t i = 0; t && i < t->n; i++)
                cb(t->v[i].key, t->v[i].len, t->v[i].hex, userdata);
}
