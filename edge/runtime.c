/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "edge-cfg.h"
#include "runtime.h"
#include "tls.h"
#include "token.h"
#include "worker.h"

struct edge_runtime *edge_runtime_get(struct edge_server *srv)
{
        struct edge_runtime *rt;

        /* Taken under the lock that publish swaps under: the count cannot reach 0 between the
         * load and the increment. */
        pthread_mutex_lock(&srv->rt_lock);
        rt = atomic_load(&srv->rt);
        atomic_fetch_add(&rt->refs, 1);
        pthread_mutex_unlock(&srv->rt_lock);
        return rt;
}

const struct edge_runtime *edge_runtime_ref(const struct edge_runtime *rt)
{
        atomic_fetch_add(&((struct edge_runtime *)rt)->refs, 1);
        return rt;
}

void edge_runtime_put(const struct edge_runtime *crt)
{
        struct edge_runtime *rt = (struct edge_runtime *)crt;

        if (!rt || atomic_fetch_sub(&rt->refs, 1) != 1)
                return;
        for (size_t i = 0; i < sizeof(rt->tls) / sizeof(rt->tls[0]); i++)
                (void)tls_ctx_unref(rt->tls[i]);
        edge_cfg_free(rt->cfg);
        /* The token keys, and the admin, peer and upstream tokens and the heartbeat secret in
         * rt itself: a reload frees the runtime it replaces. */
        token_keyset_free(rt->keys);
        explicit_bzero(rt, sizeof(*rt));
        free(rt);
}

void edge_runtime_publish(struct edge_server *srv, struct edge_runtime *rt)
{
        struct edge_runtime *old;

        pthread_mutex_lock(&srv->rt_lock);
        old = atomic_load(&srv->rt);
        atomic_store(&srv->rt, rt);
        atomic_fetch_add(&srv->rt_gen, 1);
        pthread_mutex_unlock(&srv->rt_lock);
        edge_runtime_put(old);
        for (unsigned i = 0; i <= srv->n_workers && srv->workers; i++)
                worker_notify(&srv->workers[i]);
}
