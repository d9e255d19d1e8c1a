/* SPDX-License-Identifier: MIT */
/*
 * The edge's reading of control's answer to a heartbeat (edge/heartbeat-answer.c): whatever
 * control (or something in its place) answers, the period taken is 0 (not told) or within
 * 0.1 s to a day, is the one the answer gives, and an answer over the bound is not read.
 */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "heartbeat.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        int64_t ms = heartbeat_answer_period_ms((const char *)data, size);
        json_t *o, *v;

        CHECK(ms == 0 || (ms >= 100 && ms <= 86400000));
        if (size > HEARTBEAT_ANSWER_MAX)
                CHECK(ms == 0);
        if (ms == 0)
                return 0;
        /* Said so: an object whose member is that number of seconds. */
        o = json_loadb((const char *)data, size, 0, NULL);
        v = json_object_get(o, "heartbeat_period_s");
        CHECK(json_is_number(v) && (int64_t)(json_number_value(v) * 1000.0) == ms);
        json_decref(o);
        return 0;
}
