/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <math.h>

#include <jansson.h>

#include "diff.h"
#include "holdings.h"
#include "mono-time.h"
#include "progress.h"

#define RATE_SPAN_NS 3000000000ll
/* The longest ETA told, in seconds (31.7 million years): a few bytes moved of a large queue
 * say more, beyond what the bar's and the JSON's integers hold. */
#define ETA_MAX_S 1e15

void progress_init(struct progress *p, enum progress_mode mode, int64_t interval_ms,
                   struct progress_edge *edges, size_t n, int64_t now_ns)
{
        memset(p, 0, sizeof(*p));
        p->mode = mode;
        p->start_ns = now_ns;
        p->last_ns = now_ns;
        p->interval_ns = (interval_ms > 0 ? interval_ms : 1000) * 1000000ll;
        p->edges = edges;
        p->n = n;
}

static void emit(json_t *o)
{
        char *s = json_dumps(o, JSON_COMPACT);
        if (s) {
                fputs(s, stdout);
                fputc('\n', stdout);
                fflush(stdout);
        }
        free(s);
        json_decref(o);
}

void progress_clear(struct progress *p)
{
        if (p->bar_drawn) {
                fputs("\r\033[K", stderr);
                p->bar_drawn = false;
        }
}

void progress_event(struct progress *p, const char *event, const char *edge, const char *key,
                    uint64_t size, const char *reason, const char *detail)
{
        if (p->mode == PROGRESS_JSON) {
                json_t *o = json_object();
                json_object_set_new(o, "event", json_string(event));
                json_object_set_new(o, "t", json_real((double)(mono_ns() - p->start_ns) / 1e9));
                if (edge)
                        json_object_set_new(o, "edge", json_string(edge));
                if (key)
                        (void)holdings_key_json(o, key, strlen(key));
                if (key) /* an object's event: its size, 0 included */
                        json_object_set_new(o, "size", json_integer((json_int_t)size));
                if (reason)
                        json_object_set_new(o, "reason", json_string(reason));
                if (detail)
                        json_object_set_new(o, "detail", json_string(detail));
                emit(o);
        } else if (p->mode == PROGRESS_BAR && strcmp(event, "committed") != 0) {
                progress_clear(p);
                fprintf(stderr, "%s: %s %s%s%s%s%s%s\n", edge ? edge : "-", event, key ? key : "",
                        reason ? " (" : "", reason ? reason : "", reason ? ")" : "",
                        detail ? ": " : "", detail ? detail : "");
        }
}

double progress_rate_bps(const struct progress_edge *e, int64_t now_ns)
{
        /* The oldest sample within the span, against now. */
        int64_t t0 = 0;
        uint64_t b0 = 0;
        bool have = false;

        for (unsigned i = 0; i < e->n_samples; i++) {
                unsigned k =
                    (e->next_sample + PROGRESS_SAMPLES - e->n_samples + i) % PROGRESS_SAMPLES;
                if (now_ns - e->sample_ns[k] <= RATE_SPAN_NS) {
                        t0 = e->sample_ns[k];
                        b0 = e->sample_bytes[k];
                        have = true;
                        break;
                }
        }
        /* A retry takes back the bytes of the attempt it ends, so the count can be below
         * an older sample's: no bytes moved over the span, not a wrapped difference. */
        if (!have || now_ns <= t0 || e->bytes_moved <= b0)
                return 0;
        return (double)(e->bytes_moved - b0) * 8e9 / (double)(now_ns - t0);
}

/* Seconds to move left bytes at rate bits per second, rounded to the nearest (cut, 2 s
 * computed as 1.99999 said 1), at most ETA_MAX_S; 0 without a rate. */
static int64_t eta_s(uint64_t total, uint64_t moved, double rate)
{
        double eta;

        if (rate <= 0 || total <= moved)
                return 0;
        eta = round((double)(total - moved) * 8 / rate);
        return (int64_t)(eta < ETA_MAX_S ? eta : ETA_MAX_S);
}

static void sample(struct progress_edge *e, int64_t now_ns)
{
        e->sample_ns[e->next_sample] = now_ns;
        e->sample_bytes[e->next_sample] = e->bytes_moved;
        e->next_sample = (e->next_sample + 1) % PROGRESS_SAMPLES;
        if (e->n_samples < PROGRESS_SAMPLES)
                e->n_samples++;
}

static void draw_bar(struct progress *p, int64_t now_ns)
{
        uint64_t od = 0, ot = 0, bd = 0, bt = 0, moved = 0;
        double rate = 0;
        int64_t eta;
        char a[32], b[32], line[256];
        int width = 24, fill;

        for (size_t i = 0; i < p->n; i++) {
                od += p->edges[i].objects_done;
                ot += p->edges[i].objects_total;
                bd += p->edges[i].bytes_done;
                bt += p->edges[i].bytes_total;
                moved += p->edges[i].bytes_moved;
                rate += progress_rate_bps(&p->edges[i], now_ns);
        }
        fill = bt ? (int)((double)moved / (double)bt * width) : width;
        if (fill > width)
                fill = width;
        eta = eta_s(bt, moved, rate);
        char bar[64];
        memset(bar, '#', (size_t)fill);
        memset(bar + fill, '.', (size_t)(width - fill));
        bar[width] = '\0';
        snprintf(line, sizeof(line),
                 "[%s] %llu/%llu objects  %s/%s  %.1f Mbit/s  ETA %lld:%02lld", bar,
                 (unsigned long long)od, (unsigned long long)ot,
                 diff_bytes_format(bd, a, sizeof(a)), diff_bytes_format(bt, b, sizeof(b)),
                 rate / 1e6, (long long)(eta / 60), (long long)(eta % 60));
        fprintf(stderr, "\r\033[K%s", line);
        fflush(stderr);
        p->bar_drawn = true;
}

void progress_tick(struct progress *p, int64_t now_ns, bool force)
{
        if (!force && now_ns - p->last_ns < p->interval_ns)
                return;
        p->last_ns = now_ns;
        for (size_t i = 0; i < p->n; i++)
                sample(&p->edges[i], now_ns);
        if (p->mode == PROGRESS_BAR) {
                /* No edge queued yet (all still asked for their plans, or waiting for their
                 * windows): no bar of nothing, but the final line all the same. */
                if (p->n || force)
                        draw_bar(p, now_ns);
                return;
        }
        if (p->mode != PROGRESS_JSON)
                return;
        for (size_t i = 0; i < p->n; i++) {
                struct progress_edge *e = &p->edges[i];
                double rate = progress_rate_bps(e, now_ns);
                int64_t eta = eta_s(e->bytes_total, e->bytes_moved, rate);
                json_t *o = json_object();
                json_object_set_new(o, "event", json_string("progress"));
                json_object_set_new(o, "t", json_real((double)(now_ns - p->start_ns) / 1e9));
                json_object_set_new(o, "edge", json_string(e->id));
                json_object_set_new(o, "objects_done", json_integer((json_int_t)e->objects_done));
                json_object_set_new(o, "objects_total", json_integer((json_int_t)e->objects_total));
                json_object_set_new(o, "bytes_done", json_integer((json_int_t)e->bytes_done));
                json_object_set_new(o, "bytes_total", json_integer((json_int_t)e->bytes_total));
                json_object_set_new(o, "bytes_moved", json_integer((json_int_t)e->bytes_moved));
                json_object_set_new(o, "refused", json_integer((json_int_t)e->refused));
                json_object_set_new(o, "failed", json_integer((json_int_t)e->failed));
                json_object_set_new(o, "rate_bps", json_integer((json_int_t)rate));
                json_object_set_new(o, "eta_s", json_integer((json_int_t)eta));
                emit(o);
        }
}

void progress_finish(struct progress *p, int64_t now_ns)
{
        progress_tick(p, now_ns, true);
        if (p->mode == PROGRESS_BAR && p->bar_drawn) {
                fputc('\n', stderr);
                p->bar_drawn = false;
        }
}
