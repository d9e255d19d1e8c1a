/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * An incremental decoder of a chunked request body (RFC 9112 §7.1), in place and I/O-free:
 * what a browser's fetch() with a stream body, and some HTTP clients, send without a
 * Content-Length. Strict where the grammar is: sizes of hex digits only (at most 16), CRLF
 * line ends (a bare LF is refused: a reader that takes one and a proxy that does not would
 * frame the body differently), extensions that are tokens or quoted strings and at most
 * REQ_CHUNK_EXT_MAX bytes a line, trailer lines that are field lines, at most
 * REQ_CHUNK_TRAILER_MAX bytes in all (read and dropped). A body that spends more than
 * REQ_CHUNK_FRAMING_MAX bytes on framing is refused too, so a client cannot make control
 * read an unbounded stream of one-byte chunks for a small body. Fuzzed by
 * tests/fuzz/fuzz-ctl-chunked.c.
 */

#define REQ_CHUNK_EXT_MAX     256
#define REQ_CHUNK_TRAILER_MAX 4096
#define REQ_CHUNK_FRAMING_MAX (64u << 10)

struct req_chunked {
        int state;
        int ext;         /* where in a chunk extension (req-chunked.c) */
        unsigned digits; /* of the chunk size being read */
        uint64_t left;   /* data bytes of the current chunk still to come */
        size_t out;      /* bytes of the body decoded so far */
        size_t line;     /* bytes of the extension or trailer section read so far */
        size_t framing;  /* bytes of framing read so far */
        const char *why; /* after -EINVAL: what was wrong, for the 400's detail */
};

/* Ready for a body's first byte. */
void req_chunked_init(struct req_chunked *ch);

/*
 * Decode more of a body: buf[0..ch->out) is what was decoded before and buf[ch->out..*len)
 * the bytes received since. The new data is moved down to follow what was decoded, framing
 * dropped, so that on return buf[0..ch->out) is the body decoded so far and *len is ch->out,
 * or, the body whole, past it the bytes that followed it (the next request's). Returns 1 when
 * the body is whole (last chunk, trailer section and its final CRLF read), -EAGAIN when more
 * is needed, -EMSGSIZE when the data would pass max bytes, -EINVAL when the framing is
 * malformed or over its bounds (ch->why says which). After an error the state is undefined.
 */
int req_chunked_decode(struct req_chunked *ch, char *buf, size_t *len, uint64_t max);
