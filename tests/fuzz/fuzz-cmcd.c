/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the CMCD parser in both forms. Aborts when a stored field is not NUL-terminated within
 * its size, a string holds bytes the syntax does not allow, or the log rendering overruns,
 * contains a line break, or does not parse back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmcd.h"

#include "fuzz.h"

static void check(const struct cmcd *c)
{
        CHECK(memchr(c->sid, 0, sizeof(c->sid)));
        CHECK(memchr(c->cid, 0, sizeof(c->cid)));
        CHECK(memchr(c->ot, 0, sizeof(c->ot)));
        CHECK(memchr(c->sf, 0, sizeof(c->sf)));
        CHECK(memchr(c->st, 0, sizeof(c->st)));
        CHECK(memchr(c->nor, 0, sizeof(c->nor)));
        CHECK(memchr(c->nrr, 0, sizeof(c->nrr)));
        for (const char *p = c->sid; *p; p++)
                CHECK(*p >= 0x20 && *p <= 0x7e);
        for (const char *p = c->nor; *p; p++)
                CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
        const int64_t *ints[] = {&c->br, &c->bl, &c->d,  &c->dl, &c->mtp,
                                 &c->rtp, &c->tb, &c->pr, &c->v};
        for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
                CHECK(*ints[i] >= -1);

        char out[2048];
        memset(out, 'Z', sizeof(out));
        size_t n = cmcd_format_log(c, out, 300);
        CHECK(n < 300 && out[n] == '\0' && strlen(out) == n);
        for (size_t i = 300; i < sizeof(out); i++)
                CHECK(out[i] == 'Z');
        for (size_t i = 0; i < n; i++)
                CHECK(out[i] >= 0x20 && out[i] <= 0x7e);
        n = cmcd_format_log(c, out, sizeof(out));
        struct cmcd back;
        cmcd_init(&back);
        CHECK(cmcd_parse(&back, out, n, 1) == 0);
        CHECK(back.br == c->br && back.bl == c->bl && back.tb == c->tb && back.su == c->su);
        CHECK(strcmp(back.sid, c->sid) == 0 && strcmp(back.ot, c->ot) == 0);
        CHECK(back.pr == c->pr && back.v == c->v && strcmp(back.nrr, c->nrr) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *buf = malloc(size ? size : 1);
        if (!buf)
                return 0;
        memcpy(buf, data, size);
        struct cmcd c;
        cmcd_init(&c);
        (void)cmcd_parse(&c, buf, size, 1);
        check(&c);
        cmcd_init(&c);
        (void)cmcd_parse(&c, buf, size, 0);
        check(&c);
        free(buf);
        return 0;
}
