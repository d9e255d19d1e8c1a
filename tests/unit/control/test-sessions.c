/* SPDX-License-Identifier: MIT */
/*
 * Warm starts (control/cache.c): licence windows judged against the clock as
 * sluice_session_start judges them, warm entries by TTL and by title; and signed session ids
 * (control/sessid.c) across a key rotation, with the table of ids seen verified.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cache.h"
#include "sessid.h"
#include "tests.h"

#define T0 1700000000.0

/* A warm entry with windows given as {from, until} pairs (until 0: open-ended). */
static struct ctl_warm windows(const double (*w)[2], size_t n)
{
        struct ctl_warm r;

        memset(&r, 0, sizeof(r));
        for (size_t i = 0; i < n; i++) {
                r.from[i] = w[i][0];
                r.until[i] = w[i][1];
        }
        r.n_windows = n;
        return r;
}

TEST(licence_edges_to_the_second)
{
        const double w[][2] = {{T0 + 10, T0 + 20}};
        struct ctl_warm e = windows(w, 1);
        double change, end;
        bool lic;

        ctl_licence_eval(&e, T0 + 9, &lic, &change, &end);
        ASSERT_TRUE(!lic);
        ASSERT_TRUE(change == T0 + 10);
        /* available_from <= now < available_until */
        ctl_licence_eval(&e, T0 + 10, &lic, &change, &end);
        ASSERT_TRUE(lic && change == T0 + 20 && end == T0 + 20);
        ctl_licence_eval(&e, T0 + 19, &lic, &change, &end);
        ASSERT_TRUE(lic && change == T0 + 20 && end == T0 + 20);
        ctl_licence_eval(&e, T0 + 20, &lic, &change, &end);
        ASSERT_TRUE(!lic && change == 0);
        ctl_licence_eval(&e, T0 + 21, &lic, &change, &end);
        ASSERT_TRUE(!lic);
}

TEST(licence_coverage)
{
        /* Overlapping, then touching, then a gap, then open-ended. */
        const double w[][2] = {
            {T0, T0 + 100}, {T0 + 50, T0 + 200}, {T0 + 200, T0 + 300}, {T0 + 400, 0}};
        const double open[][2] = {{T0, 0}, {T0 + 10, T0 + 20}};
        struct ctl_warm e = windows(w, 4), o = windows(open, 2);
        double change, end;
        bool lic;

        ctl_licence_eval(&e, T0 + 60, &lic, &change, &end);
        ASSERT_TRUE(lic);
        ASSERT_TRUE(change == T0 + 100); /* the first window's end is the next boundary */
        ASSERT_TRUE(end == T0 + 300);    /* covered without a gap until then */
        ctl_licence_eval(&e, T0 + 350, &lic, &change, &end);
        ASSERT_TRUE(!lic && change == T0 + 400);
        ctl_licence_eval(&e, T0 + 400, &lic, &change, &end);
        ASSERT_TRUE(lic && change == 0 && end == 0);
        ctl_licence_eval(&o, T0 + 5, &lic, &change, &end);
        ASSERT_TRUE(lic && change == T0 + 10 && end == 0);
}

TEST(warm_entries)
{
        struct ctl_cache *c = NULL;
        struct ctl_warm w;
        uint64_t asked;
        json_t *o = json_loads("{\"asset\":\"m1\",\"windows\":[[1700000000.5,null]]}", 0, NULL);
        json_t *many = json_pack("{s:s, s:[]}", "asset", "m1", "windows");

        ASSERT_TRUE(o && many);
        ASSERT_EQ(ctl_cache_new(1000, &c), 0);
        ASSERT_TRUE(!ctl_cache_warm_get(c, "m1", NULL, "GB", 0, &w));
        ASSERT_EQ(ctl_cache_warm_put(c, "m1", NULL, "GB", o, ctl_cache_warm_epoch(c), 0, &w), 0);
        ASSERT_TRUE(w.n_windows == 1 && w.from[0] == 1700000000.5 && w.until[0] == 0);
        ctl_warm_done(&w);
        ASSERT_TRUE(ctl_cache_warm_get(c, "m1", NULL, "GB", 999, &w));
        ctl_warm_done(&w);
        ASSERT_TRUE(!ctl_cache_warm_get(c, "m1", NULL, "SE", 999, &w));
        ASSERT_TRUE(!ctl_cache_warm_get(c, "m1", "e1", "GB", 999, &w));
        ASSERT_TRUE(!ctl_cache_warm_get(c, "m1", NULL, "GB", 1000, &w)); /* past the TTL */
        /* Forgetting another title keeps it; forgetting it drops it. */
        ASSERT_EQ(ctl_cache_warm_put(c, "m1", NULL, "GB", o, ctl_cache_warm_epoch(c), 2000, &w), 0);
        ctl_warm_done(&w);
        ASSERT_EQ(ctl_cache_warm_put(c, "m10", NULL, "GB", o, ctl_cache_warm_epoch(c), 2000, &w),
                  0);
        ctl_warm_done(&w);
        ctl_cache_warm_forget(c, "m10");
        ASSERT_TRUE(ctl_cache_warm_get(c, "m1", NULL, "GB", 2001, &w));
        ctl_warm_done(&w);
        ASSERT_TRUE(!ctl_cache_warm_get(c, "m10", NULL, "GB", 2001, &w));
        ctl_cache_warm_forget(c, "m1");
        ASSERT_TRUE(!ctl_cache_warm_get(c, "m1", NULL, "GB", 2001, &w));
        /* Asked for before a forget, of whichever title, and answered after: it serves its
         * start, and is not kept (the change forgotten for may have come after the read). */
        asked = ctl_cache_warm_epoch(c);
        ctl_cache_warm_forget(c, "m3");
        ASSERT_EQ(ctl_cache_warm_put(c, "m1", NULL, "GB", o, asked, 3000, &w), 0);
        ASSERT_TRUE(w.n_windows == 1 && w.o == o);
        ctl_warm_done(&w);
        ASSERT_TRUE(!ctl_cache_warm_get(c, "m1", NULL, "GB", 3001, &w));
        ASSERT_EQ(ctl_cache_warm_put(c, "m1", NULL, "GB", o, ctl_cache_warm_epoch(c), 3000, &w),
                  0);
        ctl_warm_done(&w);
        ASSERT_TRUE(ctl_cache_warm_get(c, "m1", NULL, "GB", 3001, &w));
        ctl_warm_done(&w);
        /* More windows than an entry holds: refused, the database judges them. */
        for (int i = 0; i <= CTL_WINDOWS_MAX; i++)
                json_array_append_new(json_object_get(many, "windows"),
                                      json_pack("[f, n]", T0 + i));
        ASSERT_EQ(ctl_cache_warm_put(c, "m2", NULL, "GB", many, ctl_cache_warm_epoch(c), 0, &w),
                  -E2BIG);
        ASSERT_TRUE(!ctl_cache_warm_get(c, "m2", NULL, "GB", 1, &w));
        json_decref(o);
        json_decref(many);
        ctl_cache_free(c);
        /* TTL 0: nothing kept, the entry still parsed for the caller. */
        ASSERT_EQ(ctl_cache_new(0, &c), 0);
        o = json_loads("{\"asset\":\"m1\",\"windows\":[]}", 0, NULL);
        ASSERT_EQ(ctl_cache_warm_put(c, "m1", NULL, "GB", o, ctl_cache_warm_epoch(c), 0, &w), 0);
        ctl_warm_done(&w);
        ASSERT_TRUE(!ctl_cache_warm_get(c, "m1", NULL, "GB", 0, &w));
        json_decref(o);
        ctl_cache_free(c);
}

static void key(struct token_key *k, const char *kid, int fill)
{
        memset(k, 0, sizeof(*k));
        snprintf(k->kid, sizeof(k->kid), "%s", kid);
        memset(k->secret, fill, 32);
        k->secret_len = 32;
}

TEST(ids_across_a_rotation)
{
        struct token_keyset ks, old_only, new_only;
        struct sessid_claims c, back;
        struct sessid_seen *seen = NULL;
        char id[SESSID_MAX + 1];
        int n;

        memset(&c, 0, sizeof(c));
        snprintf(c.nonce, sizeof(c.nonce), "%s", "0123456789abcdef0123456789abcdef");
        snprintf(c.title, sizeof(c.title), "%s", "show1");
        snprintf(c.episode, sizeof(c.episode), "%s", "show1-s1e2");
        snprintf(c.asset, sizeof(c.asset), "%s", "show1-s1e2");
        snprintf(c.country, sizeof(c.country), "%s", "GB");
        snprintf(c.region, sizeof(c.region), "%s", "eu-west");
        c.asset_version = 1764366000123456;
        c.created = 1764366000;
        c.expires = 1764369600;
        c.profile = 42;
        memset(&ks, 0, sizeof(ks));
        key(&ks.keys[0], "k2", 0x22);
        key(&ks.keys[1], "k1", 0x11);
        ks.n = 2;
        old_only = ks;
        old_only.keys[0] = ks.keys[1];
        old_only.n = 1;
        new_only = ks;
        new_only.n = 1;

        n = sessid_sign(&ks.keys[1], &c, id, sizeof(id)); /* signed before the rotation */
        ASSERT_TRUE(n > 0 && (size_t)n == strlen(id) && !strncmp(id, "S1.", 3));
        ASSERT_EQ(sessid_verify(&ks, id, (size_t)n, &back), 0); /* overlap: both keys */
        ASSERT_STREQ(back.kid, "k1");
        ASSERT_TRUE(back.profile == 42 && back.asset_version == c.asset_version &&
                    !strcmp(back.episode, "show1-s1e2") && !strcmp(back.region, "eu-west"));
        ASSERT_EQ(sessid_verify(&old_only, id, (size_t)n, &back), 0);
        ASSERT_EQ(sessid_verify(&new_only, id, (size_t)n, &back), -ENOKEY); /* k1 retired */
        /* The same kid with another secret: a forgery, not a session. */
        key(&old_only.keys[0], "k1", 0x33);
        ASSERT_EQ(sessid_verify(&old_only, id, (size_t)n, &back), -EPERM);
        /* A cut id, and one a byte too long for the limit. */
        ASSERT_EQ(sessid_verify(&ks, id, (size_t)n - 1, &back), -EINVAL);
        ASSERT_EQ(sessid_verify(&ks, id, SESSID_MAX + 1, &back), -EINVAL);

        /* Seen verified, then its key retired: the table forgets it with the key set. */
        ASSERT_EQ(sessid_seen_new(16, &seen), 0);
        ASSERT_EQ(sessid_verify_seen(seen, &ks, id, (size_t)n, &back), 0);
        ASSERT_EQ(sessid_verify_seen(seen, &ks, id, (size_t)n, &back), 0);
        ASSERT_STREQ(back.title, "show1");
        ASSERT_EQ(sessid_verify_seen(seen, &new_only, id, (size_t)n, &back), -ENOKEY);
        id[n - 1] = id[n - 1] == 'A' ? 'B' : 'A';
        ASSERT_TRUE(sessid_verify_seen(seen, &ks, id, (size_t)n, &back) < 0);
        sessid_seen_free(seen);

        /* Claims the verifier would refuse are never signed. */
        snprintf(c.country, sizeof(c.country), "%s", "gb");
        ASSERT_EQ(sessid_sign(&ks.keys[0], &c, id, sizeof(id)), -EINVAL);
        snprintf(c.country, sizeof(c.country), "%s", "GB");
        snprintf(c.title, sizeof(c.title), "%s", "-x");
        ASSERT_EQ(sessid_sign(&ks.keys[0], &c, id, sizeof(id)), -EINVAL);
}

TEST_MAIN()
