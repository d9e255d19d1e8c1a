/* SPDX-License-Identifier: MIT */
#include "ratecap.h"

/* The bucket's depth as a share of one second of the rate: small so that a 1 s window sees
 * at most 1% over the cap (where 10 ms of the rate is at least RATECAP_CHUNK_MIN), large
 * enough that a paused transfer wakes for 10 ms worth of data rather than for every network
 * chunk. */
#define RATECAP_BURST_S 0.01
/* A chunk is half the bucket: a transfer that wakes a little late (its wait is rounded up to
 * the next millisecond, and the loop has other work) finds the next chunk's worth already
 * there, where a bucket of one chunk would lose the lateness every time (a tenth of the rate
 * for chunks of 10 ms). */
#define RATECAP_CHUNK_S 0.005

uint64_t ratecap_chunk(uint64_t bits_per_s)
{
        double c = (double)bits_per_s / 8.0 * RATECAP_CHUNK_S;

        if (bits_per_s == 0 || c >= RATECAP_CHUNK_MAX)
                return RATECAP_CHUNK_MAX;
        return c > RATECAP_CHUNK_MIN ? (uint64_t)c : RATECAP_CHUNK_MIN;
}

static void refill(struct ratecap *rc, int64_t now_ns)
{
        if (now_ns > rc->last_ns) {
                rc->tokens += rc->rate * (double)(now_ns - rc->last_ns) / 1e9;
                if (rc->tokens > rc->burst)
                        rc->tokens = rc->burst;
        }
        rc->last_ns = now_ns > rc->last_ns ? now_ns : rc->last_ns;
}

void ratecap_init(struct ratecap *rc, uint64_t bits_per_s, int64_t now_ns)
{
        rc->rate = (double)bits_per_s / 8.0;
        rc->burst = rc->rate * RATECAP_BURST_S;
        if (rc->burst < 2.0 * (double)ratecap_chunk(bits_per_s))
                rc->burst = 2.0 * (double)ratecap_chunk(bits_per_s);
        rc->tokens = 0;
        rc->need = 0;
        rc->last_ns = now_ns;
}

bool ratecap_may_pass(struct ratecap *rc, uint64_t n, int64_t now_ns)
{
        double need = (double)n < rc->burst ? (double)n : rc->burst;

        if (rc->rate <= 0)
                return true;
        refill(rc, now_ns);
        /* A debt is repaid first, whatever the chunk. */
        if (rc->tokens >= need && rc->tokens > 0) {
                rc->need = 0;
                return true;
        }
        rc->need = need;
        return false;
}

void ratecap_take(struct ratecap *rc, uint64_t n, int64_t now_ns)
{
        if (rc->rate <= 0)
                return;
        refill(rc, now_ns);
        rc->tokens -= (double)n;
}

int64_t ratecap_wait_ms(struct ratecap *rc, int64_t now_ns)
{
        double s;

        if (rc->rate <= 0)
                return 0;
        refill(rc, now_ns);
        if (rc->tokens >= rc->need && rc->tokens > 0)
                return 0;
        s = ((rc->need > 1.0 ? rc->need : 1.0) - rc->tokens) / rc->rate;
        return (int64_t)(s * 1000.0) + 1;
}
