/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "uring-loop.h"

/*
 * Listening sockets. Every client worker opens its own SO_REUSEPORT socket per address, so
 * the kernel spreads connections across workers with no shared accept queue or lock; each
 * socket is served by one multishot accept on its worker's ring.
 */

struct edge_worker;

struct listener {
        struct edge_worker *w;
        int fd;
        uint32_t slot;
        bool admin;
        bool open;
        int tls_idx; /* this listener's TLS context in the runtime (tls[]), -1: plain */
        struct uring_timer retry; /* re-arm after EMFILE/ENFILE */
        uint64_t full_logged_ms;  /* when an accept error was last logged, 0: never */
};

/*
 * Open, bind and listen on addr (SO_REUSEPORT when reuseport). Start-up only. Returns the fd,
 * or -errno.
 */
int listener_socket(const struct sockaddr_storage *addr, socklen_t len, bool reuseport);

/* Register l (fd already open) on w's loop and arm its multishot accept. Returns 0/-errno. */
int listener_start(struct edge_worker *w, struct listener *l, int fd, bool admin);

/* Stop accepting: cancel the accept and close the socket once the ring lets go of it. */
void listener_stop(struct listener *l);

void listener_on_accept(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe);

/* "host:port" text for logs. */
const char *listener_addr_str(const struct sockaddr_storage *addr, char *buf, size_t cap);
