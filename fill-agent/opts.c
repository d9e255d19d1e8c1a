/* SPDX-License-Identifier: MIT */
/* Per-edge settings resolved against the run's (opts.h). */
#include <stdio.h>

#include "opts.h"

int fill_exit_worse(int a, int b)
{
        static const int order[] = {FILL_EXIT_OK,          FILL_EXIT_WINDOW, FILL_EXIT_PARTIAL,
                                    FILL_EXIT_INTERRUPTED, FILL_EXIT_ERROR,  FILL_EXIT_USAGE};
        int ia = 0, ib = 0;
        for (int i = 0; i < 6; i++) {
                if (order[i] == a)
                        ia = i;
                if (order[i] == b)
                        ib = i;
        }
        return ia >= ib ? a : b;
}

uint64_t opts_edge_rate(const struct fill_opts *o, const struct fill_edge_cfg *e)
{
        return e->rate.set && !o->flag_rate ? e->rate.bps : o->cfg.rate.bps;
}

bool opts_edge_rate_set(const struct fill_opts *o, const struct fill_edge_cfg *e)
{
        return e->rate.set || o->cfg.rate.set;
}

const char *opts_edge_window(const struct fill_opts *o, const struct fill_edge_cfg *e)
{
        return e->window && !o->flag_window ? e->window : o->cfg.window;
}

const char *opts_edge_tz(const struct fill_opts *o, const struct fill_edge_cfg *e)
{
        return e->tz && !o->flag_tz ? e->tz : o->cfg.tz;
}

unsigned opts_edge_parallel(const struct fill_opts *o, const struct fill_edge_cfg *e)
{
        return (unsigned)(e->parallel > 0 && !o->flag_parallel ? e->parallel : o->cfg.parallel);
}

const char *opts_state_path(const struct fill_opts *o, const char *id, const char *suffix,
                            char *buf, size_t cap)
{
        static const char hex[] = "0123456789ABCDEF";
        int w = snprintf(buf, cap, "%s/", o->cfg.state_dir);
        size_t n = w < 0 ? 0 : (size_t)w;

        /* The command line refuses a state_dir this long (OPTS_STATE_DIR_MAX) and an id longer
         * than FILL_EDGE_ID_MAX; never write past buf all the same. Room is kept for the
         * longest suffix, ".journal". */
        if (cap < 10)
                return buf;
        if (n + 9 >= cap)
                n = cap - 10;
        /* Every byte outside [A-Za-z0-9._-], '%' and a leading '.' included, is written %XX:
         * two ids never share a journal or a lock (mapping them all to '_' gave "eu/a" and
         * "eu_a" one of each), and an id of safe bytes keeps the name it always had. */
        for (size_t i = 0; id[i]; i++) {
                unsigned char c = (unsigned char)id[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '_' || (c == '.' && i > 0);
                if (n + (ok ? 1 : 3) + 9 > cap)
                        break;
                if (ok) {
                        buf[n++] = (char)c;
                } else {
                        buf[n++] = '%';
                        buf[n++] = hex[c >> 4];
                        buf[n++] = hex[c & 15];
                }
        }
        snprintf(buf + n, cap - n, "%s", suffix);
        return buf;
}

const char *opts_journal_path(const struct fill_opts *o, const char *id, char *buf, size_t cap)
{
        return opts_state_path(o, id, ".journal", buf, cap);
}
