/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fd-write.h"
#include "lock-file.h"
#include "metrics.h"

#include "metrics-file.h"

#define METRICS_FILE_MAX (4u << 20)

/* A label value as the exposition format quotes it (metrics_label_escape). */
static void label(struct buf *b, const char *s)
{
        char *e = metrics_label_escape(s);

        if (!e) {
                (void)buf_fail(b, -ENOMEM);
                return;
        }
        (void)buf_append_str(b, e);
        free(e);
}

static void family(struct buf *b, const char *name, const char *help)
{
        (void)buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static void edge_sample(struct buf *b, const char *name, const char *id, const char *state,
                        uint64_t v)
{
        (void)buf_printf(b, "%s{edge=\"", name);
        label(b, id);
        if (state)
                (void)buf_printf(b, "\",state=\"%s", state);
        (void)buf_printf(b, "\"} %" PRIu64 "\n", v);
}

static void render(struct buf *b, const struct metrics_run *r)
{
        family(b, "sluice_fill_run_running",
               "Whether the last run is under way (1) or ended (0); a crashed run leaves 1");
        (void)buf_printf(b, "sluice_fill_run_running %d\n", r->running ? 1 : 0);
        family(b, "sluice_fill_run_start_time_seconds", "When the last run started (Unix time)");
        (void)buf_printf(b, "sluice_fill_run_start_time_seconds %" PRId64 "\n", r->start_s);
        if (!r->running) {
                family(b, "sluice_fill_run_end_time_seconds",
                       "When the last run ended (Unix time)");
                (void)buf_printf(b, "sluice_fill_run_end_time_seconds %" PRId64 "\n", r->end_s);
                family(b, "sluice_fill_run_exit_status",
                       "The last run's exit status: 0 done, 1 error, 2 usage, 3 partial, 4 window "
                       "closed, 5 interrupted");
                (void)buf_printf(b, "sluice_fill_run_exit_status %d\n", r->exit_status);
        }
        if (!r->n_edges)
                return;
        /* An edge's status is known once the run ends; its counts are written as they go. */
        if (!r->running) {
                family(b, "sluice_fill_edge_exit_status",
                       "The last run's exit status for each edge");
                for (size_t i = 0; i < r->n_edges; i++)
                        edge_sample(b, "sluice_fill_edge_exit_status", r->edges[i].id, NULL,
                                    (uint64_t)r->edges[i].exit_status);
        }
        family(b, "sluice_fill_edge_objects",
               "Objects of the last run for each edge: queued to send, and how those ended");
        for (size_t i = 0; i < r->n_edges; i++) {
                const struct metrics_edge *e = &r->edges[i];
                edge_sample(b, "sluice_fill_edge_objects", e->id, "queued", e->queued);
                edge_sample(b, "sluice_fill_edge_objects", e->id, "committed", e->committed);
                edge_sample(b, "sluice_fill_edge_objects", e->id, "refused", e->refused);
                edge_sample(b, "sluice_fill_edge_objects", e->id, "failed", e->failed);
        }
        family(b, "sluice_fill_edge_committed_bytes",
               "Bytes of the objects the last run committed into each edge");
        for (size_t i = 0; i < r->n_edges; i++)
                edge_sample(b, "sluice_fill_edge_committed_bytes", r->edges[i].id, NULL,
                            r->edges[i].bytes_committed);
        family(b, "sluice_fill_edge_origin_bytes",
               "Bytes the last run read from the origin for each edge (under its rate cap)");
        for (size_t i = 0; i < r->n_edges; i++)
                edge_sample(b, "sluice_fill_edge_origin_bytes", r->edges[i].id, NULL,
                            r->edges[i].bytes_moved);
}

int metrics_file_claim(const char *path, int *ret_fd)
{
        char lock[METRICS_PATH_MAX + 8];

        if (snprintf(lock, sizeof(lock), "%s.lock", path) >= (int)sizeof(lock))
                return -ENAMETOOLONG;
        return lock_file_take(lock, 0644, ret_fd);
}

int metrics_file_write(const char *path, const struct metrics_run *r)
{
        char tmp[METRICS_PATH_MAX + 8];
        struct buf b;
        char *text;
        size_t len;
        int fd, err;

        if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
                return -ENAMETOOLONG;
        buf_init(&b, METRICS_FILE_MAX);
        render(&b, r);
        text = buf_steal(&b, &len);
        buf_done(&b);
        if (!text)
                return -ENOMEM;
        /* One a run that died left, perhaps as another user, is gone first: under the claim
         * (metrics_file_claim) no other run writes it now. */
        (void)unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) {
                err = -errno;
                free(text);
                return err;
        }
        err = fd_write_all(fd, text, len);
        free(text);
        if (!err && fchmod(fd, 0644) < 0) /* past the unit's UMask=0077 */
                err = -errno;
        if (!err && fsync(fd) < 0)
                err = -errno;
        if (close(fd) < 0 && !err)
                err = -errno;
        if (!err && rename(tmp, path) < 0)
                err = -errno;
        if (err)
                (void)unlink(tmp);
        return err;
}
