/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

/*
 * sluice-fill settings: the YAML file (--config) read through common/cfg tables, then flags
 * on top (cli.c). One struct fill_cfg per run; edges[] holds every edge the run covers.
 */

/* How a run behaves outside its off-peak window. */
enum fill_outside { FILL_OUTSIDE_EXIT = 0, FILL_OUTSIDE_WAIT };

/* A rate cap as written: bits/s, 0 for none; set when the key (or --rate) was given, so an
 * explicit "unlimited" can be told from nothing said (run warns about the latter). */
struct fill_rate {
        uint64_t bps;
        bool set;
};

/* The longest edge id taken (control registers none longer): its journal's name, each byte
 * written %XX at worst (opts.h), always fits the path buffers, never cut short. */
#define FILL_EDGE_ID_MAX 128

struct fill_edge_cfg {
        char *id;               /* the edge's id in control's registry and plans */
        char *admin_url;        /* e.g. http://127.0.0.1:8081 */
        char *admin_token_file; /* first line: the admin bearer token */
        char *secret_file;      /* first line: the edge's control secret; signs its plan */
        char *url;              /* client URL, for verify (GET objects back) */
        struct fill_rate rate;  /* cap for this edge; not set: the run's */
        char *window;           /* "HH:MM-HH:MM"; NULL: the run's window */
        char *tz;               /* the edge's time zone; NULL: the run's */
        int64_t parallel;       /* transfers at once; 0: the run's */
};

struct fill_cfg {
        char *control;            /* control base URL */
        char *control_token_file; /* control's admin token: plans need it */
        char *token_keys_file;    /* verify: sign URLs for edges that require tokens */
        char *state_dir;          /* journals, one per edge */
        char *metrics_file;       /* run: the figures for Prometheus (metrics-file.h); NULL: none */
        int64_t parallel;
        struct fill_rate rate; /* bps 0: uncapped */
        char *window;          /* NULL: any time */
        char *tz;              /* NULL: the local zone */
        char *outside;         /* "exit" | "wait" */
        bool evict;            /* delete unplanned objects to make room */
        int64_t retries;
        int64_t timeout_ms;       /* control/edge requests (not transfers) */
        int64_t stall_timeout_ms; /* a transfer with no byte moving this long fails */
        int64_t list_page;        /* entries asked per page of an edge's listing */
        struct cfg_list edges;    /* struct fill_edge_cfg */
};

/* The root table, for cfg_load_file / cfg_free. */
extern const struct cfg_field fill_cfg_fields[];

/*
 * Load path into *ret (zeroed). Returns 0, or -errno with err->msg "file:line:col: message".
 * Free with fill_cfg_free().
 */
int fill_cfg_load(const char *path, struct fill_cfg *ret, struct cfg_error *err);

/* The same from memory (at most CFG_MAX_FILE bytes); name is used in messages. */
int fill_cfg_load_buf(const char *name, const char *buf, size_t len, struct fill_cfg *ret,
                      struct cfg_error *err);

/*
 * For what only the flags merged over the file decide: write "path:line:col: 'edges[idx]' msg"
 * into err, positioned at edges[idx].key (at the edge's entry when the key is absent).
 * Always returns -EINVAL.
 */
int fill_cfg_edge_error(const char *path, size_t idx, const char *key, const char *msg,
                        struct cfg_error *err);

/* Defaults, as if an empty file had been loaded. Returns 0 or -ENOMEM. */
int fill_cfg_defaults(struct fill_cfg *ret);

void fill_cfg_free(struct fill_cfg *cfg);

/*
 * Parse a rate: a number (fractions allowed) with an optional SI prefix k/M/G/T and a unit,
 * "bit" / "bps" (bits per second, the default) or "B" / "B/s" (bytes per second): "2Gbit",
 * "800Mbit", "100MB/s", "1.5G". "0" or "unlimited" means no cap. Writes bits/s to *ret.
 * Returns 0 or -EINVAL. (The config's rate keys are read into a struct fill_rate, marked set.)
 */
int fill_cfg_rate_parse(const char *s, uint64_t *ret);

/* Format bits/s for people ("800 Mbit/s"). Returns buf. */
const char *fill_cfg_rate_format(uint64_t bps, char *buf, size_t cap);
