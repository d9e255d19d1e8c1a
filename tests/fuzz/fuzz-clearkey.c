/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the ClearKey licence request parser; render a response for what it accepted and check
 * that it parses back as JSON with one key per requested kid, in order.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clearkey.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct clearkey_request req;
        if (clearkey_request_parse((const char *)data, size, &req) < 0) {
                CHECK(req.n_kids == 0);
                return 0;
        }
        CHECK(req.n_kids >= 1 && req.n_kids <= CLEARKEY_KIDS_MAX);
        for (size_t i = 0; i < req.n_kids; i++)
                for (size_t j = 0; j < i; j++)
                        CHECK(memcmp(req.kids[i], req.kids[j], 16) != 0);

        struct clearkey_key avail[CLEARKEY_KIDS_MAX], got[CLEARKEY_KIDS_MAX];
        for (size_t i = 0; i < req.n_kids; i++) {
                memcpy(avail[i].kid, req.kids[req.n_kids - 1 - i], 16);
                memset(avail[i].key, (int)i, 16);
        }
        size_t n = clearkey_keys_select(&req, avail, req.n_kids, got, CLEARKEY_KIDS_MAX);
        CHECK(n == req.n_kids);
        char *s = NULL;
        size_t len = 0;
        CHECK(clearkey_response_build(got, n, req.type, &s, &len) == 0);
        CHECK(strlen(s) == len);
        json_t *j = json_loadb(s, len, 0, NULL);
        CHECK(j != NULL);
        json_t *keys = json_object_get(j, "keys");
        CHECK(json_array_size(keys) == n);
        for (size_t i = 0; i < n; i++) {
                char kid[23];
                const char *got_kid =
                    json_string_value(json_object_get(json_array_get(keys, i), "kid"));
                CHECK(got_kid && strcmp(got_kid, clearkey_kid_b64url(req.kids[i], kid)) == 0);
        }
        json_decref(j);
        clearkey_response_free(s);
        return 0;
}
