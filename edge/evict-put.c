/* SPDX-License-Identifier: MIT */
/* A store put begun with room made by the eviction policy: one loop for fills and pushes. */
#include <errno.h>

#include "evict.h"

int evict_put_begin(struct edge_server *srv, uint64_t size, struct edge_worker *self,
                    int (*begin)(void *ud), void *ud)
{
        /* While other puts wait for room, this one waits with them rather than take theirs. */
        bool queued = evict_room_queue(srv, size, false);
        int r = queued ? -ENOSPC : begin(ud);

        if (r == -ENOSPC && !queued)
                queued = evict_room_queue(srv, size, true);
        /* A put that does not wait here can still take the room made: a few tries, as many
         * for fills as for pushes. */
        for (int tries = 0; r == -ENOSPC && tries < EVICT_ROOM_TRIES; tries++) {
                r = evict_make_room(srv, size, self);
                if (r == 0)
                        r = begin(ud);
        }
        if (queued)
                evict_room_leave(srv, size);
        return r;
}
