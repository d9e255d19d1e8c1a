/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "diff.h"

static int cmp_victim(const void *a, const void *b)
{
        const struct held_obj *x = *(const struct held_obj *const *)a;
        const struct held_obj *y = *(const struct held_obj *const *)b;

        if (x->hits != y->hits)
                return x->hits < y->hits ? -1 : 1;
        if (x->last_access != y->last_access)
                return x->last_access < y->last_access ? -1 : 1;
        return strcmp(x->key, y->key);
}

static bool same_content(const struct held_obj *h, const struct plan_obj *o)
{
        if (h->size != o->size)
                return false;
        /* A client-driven fill may have stored it without a hash: the size must do, and
         * `verify` re-hashes it. */
        return !h->has_sha256 || memcmp(h->sha256, o->sha256, 64) == 0;
}

int diff_compute(const struct plan *plan, const struct holdings *h, bool evict, uint64_t limit,
                 struct diff *ret)
{
        const struct held_obj **victims = NULL;
        size_t n_victims = 0, next_victim = 0;
        double total_w = 0, before_w = 0, after_w = 0;
        uint64_t free_b;
        int r = 0;

        memset(ret, 0, sizeof(*ret));
        ret->items = calloc(plan->n + 1, sizeof(*ret->items));
        victims = calloc(h->n + 1, sizeof(*victims));
        ret->evict = calloc(h->n + 1, sizeof(*ret->evict));
        if (!ret->items || !victims || !ret->evict) {
                r = -ENOMEM;
                goto out;
        }
        ret->n = plan->n;
        ret->max_bytes = h->max_bytes;
        free_b = h->max_bytes > h->bytes ? h->max_bytes - h->bytes : 0;
        ret->free_bytes = free_b;
        for (size_t i = 0; i < h->n; i++) {
                if (!plan_find(plan, h->objs[i].key, h->objs[i].key_len)) {
                        victims[n_victims++] = &h->objs[i];
                        ret->unplanned_objects++;
                        ret->unplanned_bytes += h->objs[i].size;
                }
        }
        qsort(victims, n_victims, sizeof(*victims), cmp_victim);

        uint64_t victim_bytes_left = ret->unplanned_bytes;
        for (size_t i = 0; i < plan->n; i++) {
                const struct plan_obj *o = &plan->objs[i];
                const struct held_obj *held = holdings_find(h, o->key, o->key_len);
                double w = o->score * (double)o->size;
                uint64_t need, old = 0;

                total_w += w;
                ret->items[i].obj = o;
                if (held && same_content(held, o)) {
                        ret->items[i].state = DIFF_HELD;
                        ret->held_objects++;
                        ret->held_bytes += o->size;
                        before_w += w;
                        after_w += w;
                        continue;
                }
                if (limit && ret->add_objects >= limit) {
                        ret->items[i].state = DIFF_OVER_LIMIT; /* no room made for it */
                        ret->over_limit_objects++;
                        ret->over_limit_bytes += o->size;
                        continue;
                }
                if (held)
                        old = held->size; /* replaced in place: its bytes come back */
                need = o->size > old ? o->size - old : 0;
                ret->items[i].evict_first = ret->n_evict;
                if (need > free_b && evict && need <= free_b + victim_bytes_left) {
                        while (need > free_b && next_victim < n_victims) {
                                const struct held_obj *v = victims[next_victim++];
                                ret->evict[ret->n_evict++] = v;
                                ret->evict_bytes += v->size;
                                free_b += v->size;
                                victim_bytes_left -= v->size;
                        }
                        ret->items[i].n_evict = ret->n_evict - ret->items[i].evict_first;
                }
                if (need > free_b) {
                        ret->items[i].state = DIFF_NO_ROOM;
                        ret->no_room_objects++;
                        ret->no_room_bytes += o->size;
                        continue;
                }
                free_b -= need;
                if (o->size < old)
                        free_b += old - o->size;
                ret->items[i].state = held ? DIFF_REPLACE : DIFF_ADD;
                ret->add_objects++;
                ret->add_bytes += o->size;
                after_w += w;
        }
        if (total_w > 0) {
                ret->coverage_before = before_w / total_w;
                ret->coverage_after = after_w / total_w;
                ret->gain = ret->coverage_after - ret->coverage_before;
        }
out:
        free(victims);
        if (r < 0)
                diff_done(ret);
        return r;
}

void diff_done(struct diff *d)
{
        if (!d)
                return;
        free(d->items);
        free(d->evict);
        memset(d, 0, sizeof(*d));
}

const char *diff_state_name(enum diff_state s)
{
        switch (s) {
        case DIFF_HELD:
                return "held";
        case DIFF_ADD:
                return "add";
        case DIFF_REPLACE:
                return "replace";
        case DIFF_NO_ROOM:
                return "no-room";
        case DIFF_OVER_LIMIT:
                return "over-limit";
        }
        return "?";
}

const char *diff_bytes_format(uint64_t n, char *buf, size_t cap)
{
        static const char *const unit[] = {"B", "kB", "MB", "GB", "TB", "PB"};
        double v = (double)n;
        unsigned i = 0;

        while (v >= 1000 && i < 5) {
                v /= 1000;
                i++;
        }
        if (i == 0)
                snprintf(buf, cap, "%llu B", (unsigned long long)n);
        else
                snprintf(buf, cap, "%.2f %s", v, unit[i]);
        return buf;
}

void diff_print_table(FILE *f, const char *edge_id, const struct diff *d, bool verbose)
{
        char a[32], b[32];

        fprintf(f, "edge %s\n", edge_id);
        fprintf(f, "  %-22s %10s %14s\n", "", "objects", "bytes");
        fprintf(f, "  %-22s %10zu %14s\n", "planned", d->n,
                diff_bytes_format(d->held_bytes + d->add_bytes + d->no_room_bytes +
                                      d->over_limit_bytes,
                                  a, sizeof(a)));
        fprintf(f, "  %-22s %10llu %14s\n", "held already", (unsigned long long)d->held_objects,
                diff_bytes_format(d->held_bytes, a, sizeof(a)));
        fprintf(f, "  %-22s %10llu %14s\n", "to add", (unsigned long long)d->add_objects,
                diff_bytes_format(d->add_bytes, a, sizeof(a)));
        fprintf(f, "  %-22s %10zu %14s\n", "to evict", d->n_evict,
                diff_bytes_format(d->evict_bytes, a, sizeof(a)));
        fprintf(f, "  %-22s %10llu %14s\n", "left out (no room)",
                (unsigned long long)d->no_room_objects,
                diff_bytes_format(d->no_room_bytes, a, sizeof(a)));
        if (d->over_limit_objects)
                fprintf(f, "  %-22s %10llu %14s\n", "left for a later run",
                        (unsigned long long)d->over_limit_objects,
                        diff_bytes_format(d->over_limit_bytes, a, sizeof(a)));
        fprintf(f, "  %-22s %10llu %14s\n", "held, not planned",
                (unsigned long long)d->unplanned_objects,
                diff_bytes_format(d->unplanned_bytes, a, sizeof(a)));
        fprintf(f, "  free budget %s of %s\n", diff_bytes_format(d->free_bytes, a, sizeof(a)),
                diff_bytes_format(d->max_bytes, b, sizeof(b)));
        fprintf(f, "  predicted hit gain %+.1f%% (plan demand covered %.1f%% -> %.1f%%)\n",
                d->gain * 100, d->coverage_before * 100, d->coverage_after * 100);
        if (!verbose)
                return;
        for (size_t i = 0; i < d->n; i++)
                if (d->items[i].state != DIFF_HELD)
                        fprintf(f, "  %-8s %12llu  %s\n", diff_state_name(d->items[i].state),
                                (unsigned long long)d->items[i].obj->size, d->items[i].obj->key);
        for (size_t i = 0; i < d->n_evict; i++)
                fprintf(f, "  %-8s %12llu  %s\n", "evict", (unsigned long long)d->evict[i]->size,
                        d->evict[i]->key);
}

void diff_print_json(FILE *f, const char *edge_id, const struct diff *d, bool verbose)
{
        json_t *o = json_object(), *arr;
        char *s;

        if (!o)
                return;
        json_object_set_new(o, "edge", json_string(edge_id));
        json_object_set_new(o, "planned_objects", json_integer((json_int_t)d->n));
        json_object_set_new(o, "held_objects", json_integer((json_int_t)d->held_objects));
        json_object_set_new(o, "held_bytes", json_integer((json_int_t)d->held_bytes));
        json_object_set_new(o, "add_objects", json_integer((json_int_t)d->add_objects));
        json_object_set_new(o, "add_bytes", json_integer((json_int_t)d->add_bytes));
        json_object_set_new(o, "evict_objects", json_integer((json_int_t)d->n_evict));
        json_object_set_new(o, "evict_bytes", json_integer((json_int_t)d->evict_bytes));
        json_object_set_new(o, "no_room_objects", json_integer((json_int_t)d->no_room_objects));
        json_object_set_new(o, "no_room_bytes", json_integer((json_int_t)d->no_room_bytes));
        json_object_set_new(o, "over_limit_objects",
                            json_integer((json_int_t)d->over_limit_objects));
        json_object_set_new(o, "over_limit_bytes", json_integer((json_int_t)d->over_limit_bytes));
        json_object_set_new(o, "unplanned_objects", json_integer((json_int_t)d->unplanned_objects));
        json_object_set_new(o, "unplanned_bytes", json_integer((json_int_t)d->unplanned_bytes));
        json_object_set_new(o, "free_bytes", json_integer((json_int_t)d->free_bytes));
        json_object_set_new(o, "max_bytes", json_integer((json_int_t)d->max_bytes));
        json_object_set_new(o, "coverage_before", json_real(d->coverage_before));
        json_object_set_new(o, "coverage_after", json_real(d->coverage_after));
        json_object_set_new(o, "predicted_hit_gain", json_real(d->gain));
        if (verbose) {
                arr = json_array();
                for (size_t i = 0; i < d->n; i++) {
                        json_t *x = json_object();
                        json_object_set_new(x, "key", json_string(d->items[i].obj->key));
                        json_object_set_new(x, "size",
                                            json_integer((json_int_t)d->items[i].obj->size));
                        json_object_set_new(x, "state",
                                            json_string(diff_state_name(d->items[i].state)));
                        json_array_append_new(arr, x);
                }
                json_object_set_new(o, "objects", arr);
                arr = json_array();
                for (size_t i = 0; i < d->n_evict; i++) {
                        json_t *x = json_object();
                        (void)holdings_key_json(x, d->evict[i]->key, d->evict[i]->key_len);
                        json_object_set_new(x, "size", json_integer((json_int_t)d->evict[i]->size));
                        json_array_append_new(arr, x);
                }
                json_object_set_new(o, "evict", arr);
        }
        s = json_dumps(o, JSON_COMPACT);
        if (s)
                fprintf(f, "%s\n", s);
        free(s);
        json_decref(o);
}
