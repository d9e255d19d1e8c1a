/* SPDX-License-Identifier: MIT */
/*
 * A listed key round trip (fill-agent/holdings.c): any key bytes, written into an entry as the
 * edge lists them (holdings_key_json(): the key, or its reading plus "key_pct" when it is not
 * UTF-8), must parse back (holdings_parse()) to exactly those bytes. Then the input as a
 * "key_pct" value of its own: whatever the decoder takes is a key starting with '/', without a
 * control byte, within HOLDINGS_MAX_KEY.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "holdings.h"

/* The bytes the edge's path normaliser refuses in a key, raw or percent-encoded, and the agent
 * then refuses in a listing: the control bytes (NUL included) and DEL. */
static bool is_ctl(uint8_t c)
{
        return c < 0x20 || c == 0x7f;
}

/* Parse a listing of entry alone (given a size). Returns holdings_parse()'s result. */
static int parse_one(json_t *entry, struct holdings *h)
{
        json_t *arr = json_array();
        char err[256], *text;
        int r = -1;

        if (!arr || json_object_set_new(entry, "size", json_integer(1)) < 0 ||
            json_array_append(arr, entry) < 0)
                goto out;
        text = json_dumps(arr, JSON_COMPACT);
        if (!text)
                goto out;
        r = holdings_parse(text, strlen(text), h, err, sizeof(err));
        free(text);
out:
        json_decref(arr);
        return r;
}

static void round_trip(const uint8_t *data, size_t size)
{
        char key[HOLDINGS_MAX_KEY / 2];
        size_t n = 1;
        struct holdings h;
        json_t *o = json_object();

        /* A key as the edge stores it: '/' first, no control byte, and short enough that its
         * reading (two bytes for each stray one) stays within the agent's limit. */
        key[0] = '/';
        for (size_t i = 0; i < size && n < sizeof(key); i++)
                if (!is_ctl(data[i]))
                        key[n++] = (char)data[i];
        CHECK(o != NULL);
        CHECK(holdings_key_json(o, key, n) == 0);
        CHECK(parse_one(o, &h) == 0);
        CHECK(h.n == 1 && h.objs[0].key_len == n && memcmp(h.objs[0].key, key, n) == 0);
        holdings_done(&h);
        json_decref(o);
}

static void key_pct_alone(const uint8_t *data, size_t size)
{
        json_t *o = json_pack("{s:s,s:s%}", "key", "/k", "key_pct", (const char *)data, size);
        struct holdings h;

        if (!o)
                return; /* not UTF-8: not a JSON string an edge could send */
        if (parse_one(o, &h) == 0) {
                CHECK(h.n == 1 && h.objs[0].key_len >= 1 && h.objs[0].key[0] == '/');
                CHECK(h.objs[0].key_len <= HOLDINGS_MAX_KEY);
                for (size_t i = 0; i < h.objs[0].key_len; i++)
                        CHECK(!is_ctl((uint8_t)h.objs[0].key[i]));
                CHECK(h.objs[0].key_len <= size);
                holdings_done(&h);
        }
        json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        round_trip(data, size);
        key_pct_alone(data, size);
        return 0;
}
