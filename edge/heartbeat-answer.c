/* SPDX-License-Identifier: MIT */
#include <jansson.h>

#include "heartbeat.h"

int64_t heartbeat_answer_period_ms(const char *buf, size_t len)
{
        json_t *o, *v;
        double s;

        if (len == 0 || len > HEARTBEAT_ANSWER_MAX)
                return 0;
        o = json_loadb(buf, len, 0, NULL);
        v = json_object_get(o, "heartbeat_period_s");
        s = json_is_number(v) ? json_number_value(v) : 0;
        json_decref(o);
        /* Tested before the conversion: a double past int64_t's range must not be cast. */
        if (!(s >= 0.1 && s <= 86400))
                return 0;
        return (int64_t)(s * 1000.0);
}
