/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "uring-loop.h"

/*
 * h2c output in batches: frames are gathered in order (frame headers and control frames
 * copied into a small per-connection buffer, DATA payloads as iovecs into the object's
 * read-only mapping) and each batch leaves in one sendmsg through the ring: many frames in a
 * few large TCP sends instead of a send and a sendfile(2) per frame.
 *
 * A batch is sent one of two ways. Zero copy (IORING_OP_SENDMSG_ZC): the payload goes from
 * the page cache by reference, as sendfile(2) sends it; for bodies up to H2_ZC_BODY_MAX to a
 * peer that is not on a loopback address. Copying (IORING_OP_SENDMSG): the kernel copies the
 * payload from the mapping into the socket, once, as a writev(2) of the frames would; for
 * larger bodies, for loopback peers (where the kernel copies zero-copy pages at the receiving
 * socket anyway), for batches of copied bytes only, and for frames over the locked-memory
 * share (below). One frame that must be copied makes its whole batch a copying one. HTTP/1.1
 * is unaffected (sendfile(2), zero copy).
 *
 * A zero-copy send completes twice: its result, then a notification once the kernel let go
 * of the pages. The batch (its buffer, iovecs and the pins that keep each object's mapping
 * alive) is reused only after both (after the result alone for a copying send); the
 * connection is freed only after the last of them (the loop counts the send in flight until
 * the notification). Two batches per connection: one fills while the other waits for its
 * notification. At most H2_ZC_FRAMES DATA frames and H2_ZC_BYTES copied bytes per batch. A
 * batch with no payload in it (a response's HEADERS, control frames) that a directly sent
 * frame must follow is written at once with sendmsg(2).
 *
 * The kernel pins a zero-copy send's pages against RLIMIT_MEMLOCK until the notification:
 * the client workers share three quarters of that limit equally, each keeping the bytes it
 * has in flight under its share, and a DATA frame that would go over it makes its batch a
 * copying one. A send refused anyway (ENOMEM: others of the same user pin memory too) halves
 * the thread's budget; one refused outright (EINVAL, EOPNOTSUPP; EACCES: not on the ring's
 * allow-list) turns batching off for the thread, whose frames then go by the direct path
 * (header, then sendfile(2)).
 * Either way that one batch goes again by plain IORING_OP_SENDMSG. A short send is
 * continued; one that fails with EFAULT (an object truncated under its mapping: the kernel's
 * copy or its page lookup faults, userspace never touches the mapping, so no SIGBUS)
 * distrusts the batch's objects and closes the connection, as a short sendfile does, so no
 * short body looks complete. Inside the page holding a file's new end the mapping reads
 * zeros without a fault, so each send goes behind a one-byte read of each file's last
 * payload byte in the batch: one that comes back short cancels the send (ECANCELED), with
 * the same outcome.
 */

#define H2_ZC_FRAMES 64
#define H2_ZC_BYTES  4096
/*
 * Largest response body sent zero-copy; larger ones go in copying batches. On loopback a
 * zero-copy send's pages are copied when they reach the receiving socket, so per byte it
 * costs more than a copying send; over a NIC the pages go to the device uncopied, where it
 * pays for smaller bodies (per-frame pinning and notifications weigh on larger ones; not
 * measured here). docs/tls.md has the figures.
 */
#define H2_ZC_BODY_MAX (256u << 10)

struct conn;

/* Whether this worker thread sends h2c batches zero-copy (false once the kernel refused). */
bool h2_zc_enabled(void);

/* struct h2_io's queue, queue_map and flush for a plain socket; ctx is the conn. queue_map's
 * map_obj is the struct store_obj the payload's mapping belongs to. */
int h2_zc_queue(void *ctx, const void *a, size_t alen, const void *b, size_t blen);
int h2_zc_queue_map(void *ctx, const void *hdr, const char *payload, size_t len,
                    const void *map_obj, bool copy);
int h2_zc_flush(void *ctx);

/* Whether a completion that resumes c's output is to come (no POLLOUT wait needed). */
bool h2_zc_waiting(const struct conn *c);
/* Whether a batch of c's is still in the kernel's hands: sent or sending, or zero-copy pages
 * not yet let go of (their notification is still to come). */
bool h2_zc_pending(const struct conn *c);

/* struct h2_io's unsent: bytes of c's batches no completion said were sent (a batch the ring
 * still sends counts whole: what the kernel has of it is told only after the close). */
uint64_t h2_zc_unsent(void *ctx);

/* Loop handler for EDGE_OP_H2ZC (both batches: the CQE's op says which). */
void h2_zc_on_cqe(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe);

/* Release c's batches and pins (from the connection's free, after its last completion).
 * Accepts c without batches. */
void h2_zc_free(struct conn *c);
