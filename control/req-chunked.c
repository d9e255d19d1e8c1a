/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "hex.h"

#include "req-chunked.h"

enum {
        CH_SIZE,    /* chunk-size: 1*HEXDIG */
        CH_EXT,     /* chunk-ext, up to the CR */
        CH_SIZE_LF, /* the LF of the size line */
        CH_DATA,    /* chunk-data */
        CH_DATA_CR, /* the CRLF after the data */
        CH_DATA_LF,
        CH_TRAILER, /* the start of a trailer line, or the final CRLF */
        CH_TRAILER_NAME,
        CH_TRAILER_VALUE,
        CH_TRAILER_LF,
        CH_FINAL_LF,
        CH_DONE,
};

/* Where in chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ). */
enum {
        EXT_BEFORE_SEMI, /* BWS, then ';' */
        EXT_BEFORE_NAME, /* BWS, then a tchar */
        EXT_NAME,        /* tchars, then BWS, '=', ';' or CR */
        EXT_BEFORE_EQ,   /* BWS after the name, then '=' or ';' */
        EXT_BEFORE_VAL,  /* BWS, then a tchar or '"' */
        EXT_TOKEN,       /* tchars, then BWS, ';' or CR */
        EXT_QUOTED,      /* qdtext until '"' */
        EXT_QUOTED_PAIR, /* after a backslash */
        EXT_AFTER_QUOTE, /* the closing '"', then BWS, ';' or CR */
};

/* RFC 9110 §5.6.2 tchar. */
static bool tchar(unsigned char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c && strchr("!#$%&'*+-.^_`|~", c));
}

void req_chunked_init(struct req_chunked *ch)
{
        memset(ch, 0, sizeof(*ch));
        ch->state = CH_SIZE;
}

static int bad(struct req_chunked *ch, const char *why)
{
        ch->why = why;
        return -EINVAL;
}

/* One byte of a chunk extension; the CR that ends the line is the caller's. */
static int ext_byte(struct req_chunked *ch, unsigned char c)
{
        bool ws = c == ' ' || c == '\t';

        if (++ch->line > REQ_CHUNK_EXT_MAX)
                return bad(ch, "chunk extension too long");
        switch (ch->ext) {
        case EXT_BEFORE_SEMI:
        case EXT_AFTER_QUOTE:
        case EXT_BEFORE_EQ:
                if (c == ';')
                        ch->ext = EXT_BEFORE_NAME;
                else if (c == '=' && ch->ext == EXT_BEFORE_EQ)
                        ch->ext = EXT_BEFORE_VAL;
                else if (ws && ch->ext == EXT_AFTER_QUOTE)
                        ch->ext = EXT_BEFORE_SEMI;
                else if (!ws)
                        return bad(ch, "malformed chunk extension");
                return 0;
        case EXT_BEFORE_NAME:
                if (tchar(c))
                        ch->ext = EXT_NAME;
                else if (!ws)
                        return bad(ch, "malformed chunk extension");
                return 0;
        case EXT_NAME:
        case EXT_TOKEN:
                if (tchar(c))
                        return 0;
                if (c == ';')
                        ch->ext = EXT_BEFORE_NAME;
                else if (c == '=' && ch->ext == EXT_NAME)
                        ch->ext = EXT_BEFORE_VAL;
                else if (ws)
                        ch->ext = ch->ext == EXT_NAME ? EXT_BEFORE_EQ : EXT_BEFORE_SEMI;
                else
                        return bad(ch, "malformed chunk extension");
                return 0;
        case EXT_BEFORE_VAL:
                if (tchar(c))
                        ch->ext = EXT_TOKEN;
                else if (c == '"')
                        ch->ext = EXT_QUOTED;
                else if (!ws)
                        return bad(ch, "malformed chunk extension");
                return 0;
        case EXT_QUOTED:
                /* qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text */
                if (c == '"')
                        ch->ext = EXT_AFTER_QUOTE;
                else if (c == '\\')
                        ch->ext = EXT_QUOTED_PAIR;
                else if (!ws && (c < 0x21 || c == 0x7f))
                        return bad(ch, "malformed chunk extension");
                return 0;
        default: /* EXT_QUOTED_PAIR: HTAB / SP / VCHAR / obs-text */
                if (!ws && (c < 0x21 || c == 0x7f))
                        return bad(ch, "malformed chunk extension");
                ch->ext = EXT_QUOTED;
                return 0;
        }
}

/* Whether a chunk extension may end here, at its line's CR: after a name or a value, not
 * after whitespace (BWS comes only before ';' and '=') or a ';'. */
static bool ext_complete(const struct req_chunked *ch)
{
        return ch->ext == EXT_NAME || ch->ext == EXT_TOKEN || ch->ext == EXT_AFTER_QUOTE;
}

/* One framing byte in any state but CH_DATA. Returns 0, 1 (done) or an error. */
static int frame_byte(struct req_chunked *ch, unsigned char c, uint64_t room)
{
        int h;

        if (++ch->framing > REQ_CHUNK_FRAMING_MAX)
                return bad(ch, "too many bytes of chunk framing");
        switch (ch->state) {
        case CH_SIZE:
                h = hex_digit((char)c);
                if (h >= 0) {
                        if (++ch->digits > 16)
                                return bad(ch, "chunk size too long");
                        ch->left = ch->left << 4 | (uint64_t)h;
                        return 0;
                }
                if (ch->digits == 0)
                        return bad(ch, "chunk size is not hexadecimal");
                if (ch->left > room)
                        return -EMSGSIZE;
                if (c == '\r') {
                        ch->state = CH_SIZE_LF;
                        return 0;
                }
                if (c != ';' && c != ' ' && c != '\t')
                        return bad(ch, "malformed chunk size line");
                ch->state = CH_EXT;
                ch->ext = EXT_BEFORE_SEMI;
                ch->line = 0;
                return ext_byte(ch, c);
        case CH_EXT:
                if (c != '\r')
                        return ext_byte(ch, c);
                if (!ext_complete(ch))
                        return bad(ch, "malformed chunk extension");
                ch->state = CH_SIZE_LF;
                return 0;
        case CH_SIZE_LF:
                if (c != '\n')
                        return bad(ch, "chunk size line not ended by CRLF");
                ch->digits = 0;
                ch->line = 0;
                ch->state = ch->left ? CH_DATA : CH_TRAILER;
                return 0;
        case CH_DATA_CR:
                if (c != '\r')
                        return bad(ch, "chunk data not followed by CRLF");
                ch->state = CH_DATA_LF;
                return 0;
        case CH_DATA_LF:
                if (c != '\n')
                        return bad(ch, "chunk data not followed by CRLF");
                ch->state = CH_SIZE;
                return 0;
        default:
                break;
        }
        /* The trailer section: field lines, each read and dropped, then CRLF. */
        if (++ch->line > REQ_CHUNK_TRAILER_MAX)
                return bad(ch, "trailer section too long");
        switch (ch->state) {
        case CH_TRAILER:
                if (c == '\r')
                        ch->state = CH_FINAL_LF;
                else if (tchar(c))
                        ch->state = CH_TRAILER_NAME;
                else
                        return bad(ch, "malformed trailer field");
                return 0;
        case CH_TRAILER_NAME:
                if (c == ':')
                        ch->state = CH_TRAILER_VALUE;
                else if (!tchar(c))
                        return bad(ch, "malformed trailer field");
                return 0;
        case CH_TRAILER_VALUE:
                if (c == '\r')
                        ch->state = CH_TRAILER_LF;
                else if (c != '\t' && (c < 0x20 || c == 0x7f))
                        return bad(ch, "malformed trailer field");
                return 0;
        case CH_TRAILER_LF:
                if (c != '\n')
                        return bad(ch, "trailer field not ended by CRLF");
                ch->state = CH_TRAILER;
                return 0;
        default: /* CH_FINAL_LF */
                if (c != '\n')
                        return bad(ch, "chunked body not ended by CRLF");
                ch->state = CH_DONE;
                return 1;
        }
}

int req_chunked_decode(struct req_chunked *ch, char *buf, size_t *len, uint64_t max)
{
        size_t in = ch->out;
        int r = -EAGAIN;

        if (ch->state == CH_DONE)
                return 1;
        while (in < *len) {
                if (ch->state == CH_DATA) {
                        size_t n = *len - in;
                        if (n > ch->left)
                                n = (size_t)ch->left;
                        /* The data moves down over the framing before it: never up. */
                        memmove(buf + ch->out, buf + in, n);
                        ch->out += n;
                        in += n;
                        ch->left -= n;
                        if (ch->left == 0)
                                ch->state = CH_DATA_CR;
                        continue;
                }
                r = frame_byte(ch, (unsigned char)buf[in++], max - ch->out);
                if (r != 0)
                        break;
                r = -EAGAIN;
        }
        if (r == 1) {
                /* What follows the body moves down to it. */
                memmove(buf + ch->out, buf + in, *len - in);
                *len = ch->out + (*len - in);
                return 1;
        }
        *len = ch->out;
        return r;
}
