/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "policy.h"

const struct policy_ops *const policy_ops_all[] = {
    &policy_sluice_ops, &policy_lru_ops,   &policy_gdsf_ops,   &policy_lfuda_ops,
    &policy_s3fifo_ops, &policy_sieve_ops, &policy_belady_ops, NULL,
};

const struct policy_ops *policy_ops_find(const char *name)
{
        for (size_t i = 0; policy_ops_all[i]; i++)
                if (strcmp(policy_ops_all[i]->name, name) == 0)
                        return policy_ops_all[i];
        return NULL;
}

int policy_new(const struct policy_ops *ops, const struct policy_cfg *cfg, struct policy **ret)
{
        if (!ops || !cfg || cfg->budget == 0)
                return -EINVAL;
        if (cfg->high_permille > 1000 || cfg->low_permille > 1000)
                return -EINVAL;
        if (cfg->high_permille && cfg->low_permille && cfg->low_permille > cfg->high_permille)
                return -EINVAL;
        struct policy *p = NULL;
        int r = ops->new (cfg, &p);
        if (r < 0)
                return r;
        p->ops = ops;
        p->cfg = *cfg;
        memset(&p->stats, 0, sizeof(p->stats));
        *ret = p;
        return 0;
}

struct policy *policy_free(struct policy *p)
{
        if (p)
                p->ops->free(p);
        return NULL;
}

bool policy_access(struct policy *p, const struct policy_req *req)
{
        return p->ops->access(p, req);
}

int policy_insert(struct policy *p, const struct policy_req *req)
{
        int r = p->ops->insert(p, req);
        if (r == 0)
                p->stats.rejected++;
        return r;
}

int policy_remove(struct policy *p, uint64_t id)
{
        return p->ops->remove(p, id);
}

void policy_evict_until(struct policy *p, uint64_t target)
{
        p->ops->evict_until(p, target);
}

struct policy_stats policy_stats_get(const struct policy *p)
{
        return p->stats;
}

void policy_note_evict(struct policy *p, uint64_t id, uint64_t size)
{
        p->stats.evictions++;
        if (p->cfg.on_evict)
                p->cfg.on_evict(p->cfg.evict_ctx, id, size);
}

static void put64(uint8_t *b, uint64_t v)
{
        for (unsigned i = 0; i < 8; i++)
                b[i] = (uint8_t)(v >> (8 * i));
}

static void put32(uint8_t *b, uint32_t v)
{
        for (unsigned i = 0; i < 4; i++)
                b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *b)
{
        uint64_t v = 0;
        for (unsigned i = 0; i < 8; i++)
                v |= (uint64_t)b[i] << (8 * i);
        return v;
}

static uint32_t get32(const uint8_t *b)
{
        uint32_t v = 0;
        for (unsigned i = 0; i < 4; i++)
                v |= (uint32_t)b[i] << (8 * i);
        return v;
}

/*
 * Layout, little-endian: version(1) zero(3) hints(4) id(8) size(8) group(8) freq(4)
 * priority(8) seq(4) = 48 bytes. Only the low 32 bits of seq are kept: it only breaks ties
 * between equal priorities, and a restart renumbers entries anyway.
 */
enum {
        OFF_VERSION = 0,
        OFF_HINTS = 4,
        OFF_ID = 8,
        OFF_SIZE = 16,
        OFF_GROUP = 24,
        OFF_FREQ = 32,
        OFF_PRIORITY = 36,
        OFF_SEQ = 44,
};

void policy_record_encode(const struct policy_record *rec, uint8_t buf[POLICY_RECORD_SIZE])
{
        memset(buf, 0, POLICY_RECORD_SIZE);
        buf[OFF_VERSION] = POLICY_RECORD_VERSION;
        put32(buf + OFF_HINTS, rec->hints);
        put64(buf + OFF_ID, rec->id);
        put64(buf + OFF_SIZE, rec->size);
        put64(buf + OFF_GROUP, rec->group);
        put32(buf + OFF_FREQ, rec->freq);
        put64(buf + OFF_PRIORITY, rec->priority);
        put32(buf + OFF_SEQ, (uint32_t)rec->seq);
}

int policy_record_decode(const uint8_t *buf, size_t len, struct policy_record *ret)
{
        if (len != POLICY_RECORD_SIZE)
                return -EINVAL;
        if (buf[OFF_VERSION] != POLICY_RECORD_VERSION)
                return -EPROTONOSUPPORT;
        if (buf[1] || buf[2] || buf[3])
                return -EINVAL;
        struct policy_record rec = {
            .hints = get32(buf + OFF_HINTS),
            .id = get64(buf + OFF_ID),
            .size = get64(buf + OFF_SIZE),
            .group = get64(buf + OFF_GROUP),
            .freq = get32(buf + OFF_FREQ),
            .priority = get64(buf + OFF_PRIORITY),
            .seq = get32(buf + OFF_SEQ),
        };
        if (rec.size == 0)
                return -EINVAL;
        *ret = rec;
        return 0;
}
