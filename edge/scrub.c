/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"

#include "edge-metrics.h"
#include "evict.h"
#include "scrub.h"
#include "store.h"
#include "worker.h"

struct scrub {
        struct edge_server *srv;
        uint64_t rate;    /* bytes/s */
        int64_t pause_ms; /* between passes */
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond; /* CLOCK_MONOTONIC */
        bool stop;
        struct timespec pass_start;
        uint64_t pass_bytes;
        char pos[STORE_KEY_MAX]; /* the last key checked in the pass under way */
        size_t pos_len;          /* 0: none */
        struct timespec pos_saved;
};

static struct timespec ts_after(const struct timespec *t, uint64_t ns)
{
        struct timespec r = *t;

        r.tv_sec += (time_t)(ns / 1000000000u);
        r.tv_nsec += (long)(ns % 1000000000u);
        if (r.tv_nsec >= 1000000000L) {
                r.tv_sec++;
                r.tv_nsec -= 1000000000L;
        }
        return r;
}

/* Sleep until the monotonic time at, or until asked to stop. False: stop. */
static bool wait_until(struct scrub *sc, const struct timespec *at)
{
        bool go;

        pthread_mutex_lock(&sc->lock);
        while (!sc->stop && pthread_cond_timedwait(&sc->cond, &sc->lock, at) != ETIMEDOUT)
                ;
        go = !sc->stop;
        pthread_mutex_unlock(&sc->lock);
        return go;
}

/* Hold the pass to rate: the bytes read so far may not come sooner than bytes / rate. */
static bool pace(uint64_t bytes, void *userdata)
{
        struct scrub *sc = userdata;
        struct timespec at;

        sc->pass_bytes += bytes;
        metrics_add(sc->srv->m.scrub_bytes, bytes);
        at = ts_after(&sc->pass_start,
                      (uint64_t)((double)sc->pass_bytes * 1e9 / (double)sc->rate));
        return wait_until(sc, &at);
}

static void damaged(const char *key, size_t key_len, const char *why, void *userdata)
{
        struct scrub *sc = userdata;

        log_warn("%.*s: %s; dropped, the next request refills it", (int)key_len, key, why);
        metrics_add(sc->srv->m.damaged_scrub, 1);
        evict_forget(sc->srv, key, key_len);
}

static void pos_save(struct scrub *sc)
{
        int r = store_scrub_pos_save(sc->srv->store, sc->pos, sc->pos_len);

        if (r < 0)
                log_warn("cannot keep the pass's position: %s; a restart starts it over",
                         strerror(-r));
        (void)clock_gettime(CLOCK_MONOTONIC, &sc->pos_saved);
}

/* Counted as it goes, not at the end of a pass: a pass over a large cache takes days, and an
 * edge restarted meanwhile goes on from the position kept here (at most SCRUB_POS_SAVE_S old)
 * rather than from the first key again, which would leave the last keys never checked. */
static void checked(const char *key, size_t key_len, void *userdata)
{
        struct scrub *sc = userdata;
        struct timespec now;

        metrics_add(sc->srv->m.scrub_objects, 1);
        if (key_len > sizeof(sc->pos))
                return;
        memcpy(sc->pos, key, key_len);
        sc->pos_len = key_len;
        (void)clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - sc->pos_saved.tv_sec >= SCRUB_POS_SAVE_S)
                pos_save(sc);
}

static void *scrub_main(void *arg)
{
        struct scrub *sc = arg;
        const struct store_scrub_ops ops = {
            .pace = pace, .damaged = damaged, .userdata = sc, .checked = checked};

        metrics_set_worker(0); /* the main thread's slot: it only waits for signals */
        (void)clock_gettime(CLOCK_MONOTONIC, &sc->pos_saved);
        sc->pos_len = store_scrub_pos_load(sc->srv->store, sc->pos);
        if (sc->pos_len)
                log_info("going on with the pass a restart interrupted, after %.*s",
                         (int)sc->pos_len, sc->pos);
        for (;;) {
                struct store_scrub_stats st;
                struct timespec next;
                int r;

                (void)clock_gettime(CLOCK_MONOTONIC, &sc->pass_start);
                sc->pass_bytes = 0;
                r = store_scrub(sc->srv->store, sc->pos_len ? sc->pos : NULL, sc->pos_len, &ops,
                                &st);
                if (r == 1) {
                        pos_save(sc); /* stopping: the next start goes on from here */
                        break;
                }
                if (r < 0) {
                        log_warn("pass failed after %llu object(s): %s, ignoring",
                                 (unsigned long long)st.objects, strerror(-r));
                } else {
                        sc->pos_len = 0; /* the next pass starts at the first key */
                        pos_save(sc);
                        metrics_add(sc->srv->m.scrub_passes, 1);
                        log_info("pass done: %llu object(s), %llu bytes, %llu damaged "
                                 "and dropped, %llu not checked (errors)",
                                 (unsigned long long)st.objects, (unsigned long long)st.bytes,
                                 (unsigned long long)st.damaged, (unsigned long long)st.errors);
                }
                /* At least SCRUB_PAUSE_MIN_MS: with a pause of 0, an empty cache (or a pass that
                 * fails at once) would start pass after pass, a core's worth, each logged. */
                (void)clock_gettime(CLOCK_MONOTONIC, &next);
                next = ts_after(&next, (uint64_t)(sc->pause_ms > SCRUB_PAUSE_MIN_MS
                                                      ? sc->pause_ms
                                                      : SCRUB_PAUSE_MIN_MS) *
                                           1000000u);
                if (!wait_until(sc, &next))
                        break;
        }
        return NULL;
}

int scrub_start(struct edge_server *srv, uint64_t rate, int64_t pause_ms, struct scrub **ret)
{
        pthread_condattr_t ca;
        struct scrub *sc;
        int r;

        *ret = NULL;
        if (rate == 0)
                return 0;
        sc = calloc(1, sizeof(*sc));
        if (!sc)
                return -ENOMEM;
        sc->srv = srv;
        sc->rate = rate;
        sc->pause_ms = pause_ms;
        pthread_mutex_init(&sc->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&sc->cond, &ca);
        pthread_condattr_destroy(&ca);
        r = pthread_create(&sc->thread, NULL, scrub_main, sc);
        if (r != 0) {
                pthread_cond_destroy(&sc->cond);
                pthread_mutex_destroy(&sc->lock);
                free(sc);
                return -r;
        }
        *ret = sc;
        return 0;
}

void scrub_stop(struct scrub *sc)
{
        if (!sc)
                return;
        pthread_mutex_lock(&sc->lock);
        sc->stop = true;
        pthread_cond_signal(&sc->cond);
        pthread_mutex_unlock(&sc->lock);
        (void)pthread_join(sc->thread, NULL);
        pthread_cond_destroy(&sc->cond);
        pthread_mutex_destroy(&sc->lock);
        free(sc);
}
