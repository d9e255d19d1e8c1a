/* SPDX-License-Identifier: MIT */
/*
 * The fill plan parser (fill-agent/plan.c): any bytes from control. A refused plan says why
 * in a NUL-terminated message. An accepted one keeps plan.h's promises, checked here in every
 * build (the plain replay has no sanitizer to catch what a promise broken would cost): at most
 * PLAN_MAX_OBJECTS objects, ranked 0, 1, ... in order; each key "/" + a path the edge stores
 * as that very key (path_norm of its encoding gives it back), with no '?', '#', '%', control
 * byte or space; a size within PLAN_MAX_SIZE, 64 lowercase hex digits, an http(s) URL within
 * PLAN_MAX_URL, a score that is a non-negative number; and each key found by plan_find(), once.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "path-norm.h"
#include "plan.h"

static void check_obj(const struct plan *p, size_t i)
{
        const struct plan_obj *o = &p->objs[i];
        char enc[3 * (PLAN_MAX_PATH + 1) + 1];
        struct path_norm pn;
        int r;

        CHECK(o->rank == i);
        CHECK(o->key_len >= 2 && o->key_len <= PLAN_MAX_PATH + 1 && o->key[0] == '/');
        CHECK(strlen(o->key) == o->key_len);
        for (size_t k = 0; k < o->key_len; k++) {
                unsigned char c = (unsigned char)o->key[k];
                CHECK(c >= 0x20 && c != 0x7f && !strchr("?#%\\ ", c));
        }
        r = path_norm_encode(o->key, o->key_len, enc, sizeof(enc));
        CHECK(r >= 0);
        CHECK(path_norm(enc, (size_t)r, &pn) == 0);
        CHECK(pn.key_len == o->key_len && memcmp(pn.key, o->key, o->key_len) == 0);

        CHECK(o->size <= PLAN_MAX_SIZE);
        CHECK(strlen(o->sha256) == 64 && strspn(o->sha256, "0123456789abcdef") == 64);
        CHECK(strlen(o->url) <= PLAN_MAX_URL);
        CHECK(!strncmp(o->url, "http://", 7) || !strncmp(o->url, "https://", 8));
        CHECK(isfinite(o->score) && o->score >= 0);
        CHECK(plan_find(p, o->key, o->key_len) == o);
        for (size_t j = 0; j < i; j++)
                CHECK(p->objs[j].key_len != o->key_len ||
                      memcmp(p->objs[j].key, o->key, o->key_len) != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct plan p;
        char err[256];

        memset(err, 0x55, sizeof(err));
        if (plan_parse((const char *)data, size, &p, err, sizeof(err)) < 0) {
                CHECK(memchr(err, '\0', sizeof(err)) && err[0]);
                return 0;
        }
        CHECK(p.n <= PLAN_MAX_OBJECTS);
        /* Quadratic in the objects for the check of duplicates: fuzz inputs hold few. */
        for (size_t i = 0; i < p.n && i < 512; i++)
                check_obj(&p, i);
        plan_done(&p);
        return 0;
}
