/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clearkey.h"
#include "json-depth.h"
#include "token.h"

const char *clearkey_type_name(enum clearkey_type type)
{
        return type == CLEARKEY_PERSISTENT_LICENSE ? "persistent-license" : "temporary";
}

int clearkey_request_parse(const char *buf, size_t len, struct clearkey_request *ret)
{
        json_t *root = NULL;
        int r = -EBADMSG;

        memset(ret, 0, sizeof(*ret));
        if (len > CLEARKEY_REQUEST_MAX)
                return -E2BIG;
        if (json_depth_exceeds(buf, len, CLEARKEY_DEPTH_MAX))
                return -EBADMSG;
        root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
        if (!root || !json_is_object(root))
                goto out;

        const json_t *type = json_object_get(root, "type");
        if (type) {
                if (!json_is_string(type))
                        goto out;
                if (strcmp(json_string_value(type), "temporary") == 0)
                        ret->type = CLEARKEY_TEMPORARY;
                else if (strcmp(json_string_value(type), "persistent-license") == 0)
                        ret->type = CLEARKEY_PERSISTENT_LICENSE;
                else
                        goto out;
        }

        const json_t *kids = json_object_get(root, "kids");
        if (!json_is_array(kids) || json_array_size(kids) == 0)
                goto out;
        if (json_array_size(kids) > CLEARKEY_KIDS_MAX) {
                r = -E2BIG;
                goto out;
        }
        for (size_t i = 0; i < json_array_size(kids); i++) {
                const json_t *k = json_array_get(kids, i);
                uint8_t kid[17];
                if (!json_is_string(k))
                        goto out;
                /* 16 bytes is 22 chars unpadded, 24 with "=="; anything else is not a kid. */
                size_t n = json_string_length(k);
                if (n != 22 && n != 24)
                        goto out;
                if (b64url_decode(json_string_value(k), n, kid, sizeof(kid)) != 16)
                        goto out;
                int dup = 0;
                for (size_t j = 0; j < ret->n_kids && !dup; j++)
                        dup = memcmp(ret->kids[j], kid, 16) == 0;
                if (!dup)
                        memcpy(ret->kids[ret->n_kids++], kid, 16);
        }
        r = 0;
out:
        json_decref(root);
        if (r < 0)
                memset(ret, 0, sizeof(*ret));
        return r;
}

size_t clearkey_keys_select(const struct clearkey_request *req, const struct clearkey_key *avail,
                            size_t n_avail, struct clearkey_key *ret, size_t cap)
{
        size_t n = 0;
        for (size_t i = 0; i < req->n_kids && n < cap; i++)
                for (size_t j = 0; j < n_avail; j++)
                        if (memcmp(req->kids[i], avail[j].kid, 16) == 0) {
                                ret[n++] = avail[j];
                                break;
                        }
        return n;
}

char *clearkey_kid_b64url(const uint8_t kid[16], char out[23])
{
        (void)b64url_encode(kid, 16, out, 23);
        out[22] = '\0';
        return out;
}

/* {"kty":"oct","kid":"<22>","k":"<22>"} plus a comma */
#define KEY_ENTRY_LEN (sizeof("{\"kty\":\"oct\",\"kid\":\"\",\"k\":\"\"},") - 1 + 44)

int clearkey_response_build(const struct clearkey_key *keys, size_t n, enum clearkey_type type,
                            char **ret, size_t *ret_len)
{
        if (n > CLEARKEY_KIDS_MAX || (n && !keys))
                return -EINVAL;
        size_t cap = 64 + n * KEY_ENTRY_LEN;
        char *out = malloc(cap);
        char kid[23], k[23];
        size_t o = 0;
        if (!out)
                return -ENOMEM;
        o += (size_t)snprintf(out + o, cap - o, "{\"keys\":[");
        for (size_t i = 0; i < n; i++) {
                clearkey_kid_b64url(keys[i].kid, kid);
                (void)b64url_encode(keys[i].key, 16, k, sizeof(k));
                k[22] = '\0';
                o += (size_t)snprintf(out + o, cap - o,
                                      "%s{\"kty\":\"oct\",\"kid\":\"%s\",\"k\":\"%s\"}",
                                      i ? "," : "", kid, k);
        }
        o += (size_t)snprintf(out + o, cap - o, "],\"type\":\"%s\"}", clearkey_type_name(type));
        explicit_bzero(k, sizeof(k));
        *ret = out;
        *ret_len = o;
        return 0;
}

void clearkey_response_free(char *resp)
{
        if (!resp)
                return;
        explicit_bzero(resp, strlen(resp));
        free(resp);
}
