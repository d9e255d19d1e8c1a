/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* The first allocation: small answers (an error body, /healthz) fit without growing. */
#define BUF_FIRST_CAP 256

void buf_init(struct buf *b, size_t max)
{
        *b = (struct buf){.max = max};
}

void buf_done(struct buf *b)
{
        bool wipe = b->wipe;

        if (wipe && b->p)
                explicit_bzero(b->p, b->cap);
        free(b->p);
        buf_init(b, b->max);
        b->wipe = wipe;
}

void buf_reset(struct buf *b)
{
        if (b->wipe && b->p)
                explicit_bzero(b->p, b->len);
        b->len = 0;
        b->err = 0;
        if (b->p)
                b->p[0] = '\0';
}

static int fail(struct buf *b, int err)
{
        b->err = err;
        return err;
}

int buf_fail(struct buf *b, int err)
{
        return b->err ? b->err : fail(b, err);
}

void buf_truncate(struct buf *b, size_t len)
{
        if (len >= b->len)
                return;
        if (b->wipe)
                explicit_bzero(b->p + len, b->len - len);
        b->len = len;
        b->p[len] = '\0';
}

void buf_consume(struct buf *b, size_t n)
{
        if (n == 0 || b->len == 0)
                return;
        if (n > b->len)
                n = b->len;
        memmove(b->p, b->p + n, b->len - n);
        /* What moved left its old copy behind the new end. */
        if (b->wipe)
                explicit_bzero(b->p + b->len - n, n);
        b->len -= n;
        b->p[b->len] = '\0';
}

/* realloc() for a buffer that wipes: the old block is cleared before it is freed. */
static char *grow_wiped(struct buf *b, size_t cap)
{
        char *p = malloc(cap);

        if (!p || !b->p)
                return p;
        memcpy(p, b->p, b->len + 1);
        explicit_bzero(b->p, b->cap);
        free(b->p);
        return p;
}

int buf_reserve(struct buf *b, size_t n)
{
        size_t need, cap;
        char *p;

        if (b->err)
                return b->err;
        if (n > b->max - b->len)
                return fail(b, -ENOBUFS);
        if (b->len + n == SIZE_MAX) /* no room for the NUL: never allocatable anyway */
                return fail(b, -ENOMEM);
        need = b->len + n + 1;
        if (need <= b->cap)
                return 0;
        cap = b->cap ? b->cap : BUF_FIRST_CAP;
        while (cap < need)
                cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        /* Never more than the limit can use. */
        if (b->max < SIZE_MAX && cap > b->max + 1)
                cap = b->max + 1;
        p = b->wipe ? grow_wiped(b, cap) : realloc(b->p, cap);
        if (!p)
                return fail(b, -ENOMEM);
        if (!b->p)
                p[0] = '\0';
        b->p = p;
        b->cap = cap;
        return 0;
}

int buf_append(struct buf *b, const void *s, size_t n)
{
        int r = buf_reserve(b, n);

        if (r < 0)
                return r;
        if (n)
                memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
        return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
        return buf_append(b, s, strlen(s));
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
        size_t room = b->p ? b->cap - b->len : 0;
        va_list aq;
        int n, r;

        if (b->err)
                return b->err;
        va_copy(aq, ap);
        n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, aq);
        va_end(aq);
        if (n >= 0 && (size_t)n >= room) {
                /* Cut short: room for the whole of it, then write it again. */
                r = buf_reserve(b, (size_t)n);
                if (r < 0) {
                        if (b->p)
                                b->p[b->len] = '\0';
                        return r;
                }
                va_copy(aq, ap);
                n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, aq);
                va_end(aq);
        }
        if (n < 0) {
                if (b->p)
                        b->p[b->len] = '\0';
                return fail(b, -EINVAL);
        }
        b->len += (size_t)n;
        return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = buf_vprintf(b, fmt, ap);
        va_end(ap);
        return r;
}

char *buf_steal(struct buf *b, size_t *ret_len)
{
        char *p;

        if (b->err || buf_reserve(b, 0) < 0)
                return NULL;
        bool wipe = b->wipe;

        p = b->p;
        if (ret_len)
                *ret_len = b->len;
        buf_init(b, b->max);
        b->wipe = wipe;
        return p;
}
