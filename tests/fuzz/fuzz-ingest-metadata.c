/* SPDX-License-Identifier: MIT */
/*
 * Fuzz sluice-ingest's --metadata reader: the YAML loader with ingest's tables, the checks
 * after loading and the JSON it sends to control. Whatever the input, a parse either fails
 * with a NUL-terminated "name:line:col: message" or gives JSON that keeps the promises
 * metadata.h makes (only the three members, bounded strings, numbers in range, a series with
 * its id, season and episode, markers that end after they start), and nothing leaks.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Built in rather than linked, so libFuzzer's coverage instrumentation sees both. */
#include "../../common/cfg.c"
#include "../../tools/ingest/metadata.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void need(int cond)
{
        if (!cond)
                abort();
}

static void want_str(json_t *o, const char *key, size_t lo, size_t hi)
{
        json_t *v = json_object_get(o, key);
        if (!v)
                return;
        need(json_is_string(v) && json_string_length(v) >= lo && json_string_length(v) <= hi);
        need(strlen(json_string_value(v)) == json_string_length(v));
}

static void want_span(json_t *m, const char *key)
{
        json_t *s = json_object_get(m, key);
        if (!s)
                return;
        double a = json_real_value(json_object_get(s, "start"));
        double b = json_real_value(json_object_get(s, "end"));
        need(json_object_size(s) == 2 && json_is_real(json_object_get(s, "start")) &&
             json_is_real(json_object_get(s, "end")));
        need(isfinite(a) && isfinite(b) && a >= 0 && b > a && b <= METADATA_MARKER_MAX);
}

static void check_out(json_t *out)
{
        json_t *m = json_object_get(out, "metadata"), *s = json_object_get(out, "series"), *v;
        json_t *k = json_object_get(out, "markers");
        size_t i;

        need(json_is_object(out));
        need(json_object_size(out) == (size_t)(m != NULL) + (s != NULL) + (k != NULL));
        if (m) {
                need(json_is_object(m) && json_object_size(m) > 0);
                want_str(m, "name", 1, METADATA_NAME_MAX);
                want_str(m, "synopsis", 0, CFG_MAX_SCALAR);
                want_str(m, "maturity_rating", 1, METADATA_RATING_MAX);
                v = json_object_get(m, "year");
                need(!v || (json_integer_value(v) >= 1870 && json_integer_value(v) <= 3000));
                v = json_object_get(m, "genres");
                need(!v || (json_array_size(v) > 0 && json_array_size(v) <= METADATA_GENRES_MAX));
                json_t *g;
                json_array_foreach(v, i, g)
                {
                        need(json_is_string(g) && json_string_length(g) >= 1 &&
                             json_string_length(g) <= METADATA_GENRE_MAX);
                }
                v = json_object_get(m, "cast");
                need(!v || (json_array_size(v) > 0 && json_array_size(v) <= METADATA_CAST_MAX));
                json_t *p;
                json_array_foreach(v, i, p)
                {
                        want_str(p, "name", 1, METADATA_PERSON_MAX);
                        need(json_object_get(p, "name") && json_object_get(p, "role"));
                        want_str(p, "character", 0, METADATA_NAME_MAX);
                }
        }
        if (s) {
                want_str(s, "id", 1, 128);
                need(json_object_get(s, "id") &&
                     id_valid(json_string_value(json_object_get(s, "id"))));
                static const char *const numbers[] = {"season", "episode"};
                for (i = 0; i < 2; i++) {
                        v = json_object_get(s, numbers[i]);
                        need(json_is_integer(v) && json_integer_value(v) >= 0 &&
                             json_integer_value(v) <= METADATA_NUMBER_MAX);
                }
                want_str(s, "name", 1, METADATA_NAME_MAX);
                want_str(s, "episode_name", 0, METADATA_NAME_MAX);
        }
        if (k) {
                need(json_object_size(k) > 0);
                want_span(k, "intro");
                want_span(k, "credits");
        }
        char *text = json_dumps(out, JSON_COMPACT);
        need(text != NULL);
        free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_t *out = NULL;
        char err[1024];

        if (size > CFG_MAX_FILE)
                return 0;
        memset(err, 'x', sizeof(err));
        int r = metadata_buf_parse("fuzz.yaml", (const char *)data, size, &out, err, sizeof(err));
        if (r < 0) {
                need(out == NULL);
                need(memchr(err, '\0', sizeof(err)) != NULL);
                need(r == -EINVAL || r == -ENOMEM);
                need(r == -ENOMEM || !strncmp(err, "fuzz.yaml", 9));
                return 0;
        }
        need(r == 0);
        check_out(out);
        json_decref(out);
        return 0;
}
