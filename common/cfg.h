/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Table-driven YAML configuration (libyaml). Each section is one table of struct cfg_field,
 * read by generic setters into a caller-defined struct. The result is a new, immutable struct;
 * on reload the caller loads into a fresh struct and swaps pointers.
 *
 * Errors are "file:line:col: message" (1-based line and column of the offending node).
 * Unknown keys, duplicate keys, wrong types and out-of-range values are errors.
 * Limits: the file is at most CFG_MAX_FILE bytes, nesting at most CFG_MAX_DEPTH deep,
 * scalars at most CFG_MAX_SCALAR bytes, lists at most the field's max entries, or
 * CFG_MAX_LIST for a field without one. Aliases (*name) are refused, so a document cannot
 * expand beyond its size.
 */
#define CFG_MAX_FILE   (1u << 20)
#define CFG_MAX_DEPTH  16
#define CFG_MAX_SCALAR 4096
#define CFG_MAX_LIST   1024

enum cfg_type {
        CFG_BOOL,         /* bool; true/false/yes/no/on/off */
        CFG_INT,          /* int64_t within [min,max] */
        CFG_SIZE,         /* uint64_t bytes; suffixes K M G T (powers of 1024), optional B */
        CFG_DURATION,     /* int64_t milliseconds; suffixes ms s m h; bare number = seconds */
        CFG_STRING,       /* char * (malloc'd, NUL-terminated) */
        CFG_STRLIST,      /* struct cfg_strlist; a YAML sequence of scalars, or one scalar */
        CFG_SECTION,      /* nested mapping read with ->sub into the struct at offset */
        CFG_SECTION_LIST, /* struct cfg_list of elem_size elements, each read with ->sub */
        CFG_CUSTOM,       /* scalar handed to ->parse */
};

struct cfg_strlist {
        char **items;
        size_t n;
};

struct cfg_list {
        void *items; /* n elements of the field's elem_size */
        size_t n;
};

struct cfg_field {
        const char *key;
        enum cfg_type type;
        size_t offset;   /* of the destination inside the struct being filled */
        int64_t min;     /* INT/SIZE/DURATION: bounds; STRLIST/SECTION_LIST: min entries */
        int64_t max;     /* max entries for lists (0: CFG_MAX_LIST); 0: no bound for numbers */
        const char *def; /* default, as YAML scalar text; NULL: no default (zero) */
        bool required;
        const struct cfg_field *sub; /* SECTION, SECTION_LIST: NULL-key-terminated table */
        size_t elem_size;            /* SECTION_LIST */
        /* CFG_CUSTOM: parse scalar into dst; on error write a message (no position) and
         * return -EINVAL. */
        int (*parse)(const char *scalar, void *dst, char *err, size_t errlen);
};

struct cfg_error {
        char msg[512];
};

/*
 * Load path into *ret (a zeroed struct described by root, a NULL-key-terminated table).
 * Returns 0, or -EINVAL with err->msg set ("file:line:col: message"), or -errno for I/O
 * (err->msg says which file). On error *ret is left freed (cfg_free already applied).
 */
int cfg_load_file(const char *path, const struct cfg_field *root, void *ret, struct cfg_error *err);

/* Same, from memory; name is used in messages. */
int cfg_load_buf(const char *name, const char *buf, size_t len, const struct cfg_field *root,
                 void *ret, struct cfg_error *err);

/*
 * A program's own rules across keys, run on what was loaded (cfg_error_at gives positions).
 * Returns 0, or -EINVAL with err->msg set.
 */
typedef int cfg_check_fn(void *obj, const char *name, const char *buf, size_t len,
                         struct cfg_error *err);

/*
 * A whole configuration: a zeroed object of size bytes, loaded from buf (or, when buf is NULL,
 * from the file that name names), then checked with check (NULL: no checks). Returns 0 with
 * *ret owned by the caller (cfg_free, then free()); on any error nothing is left allocated.
 */
int cfg_load_new(const char *name, const char *buf, size_t len, const struct cfg_field *root,
                 size_t size, cfg_check_fn *check, void **ret, struct cfg_error *err);

/* cfg_load_buf into the zeroed *ret, then check; when check fails what was loaded is freed. */
int cfg_load_buf_checked(const char *name, const char *buf, size_t len,
                         const struct cfg_field *root, void *ret, cfg_check_fn *check,
                         struct cfg_error *err);

/* The same, from the file at path. */
int cfg_load_file_checked(const char *path, const struct cfg_field *root, void *ret,
                          cfg_check_fn *check, struct cfg_error *err);

/*
 * Read path into a malloc'd buffer (at most CFG_MAX_FILE bytes) for cfg_load_buf and later
 * cfg_error_at. Returns 0 with *ret_buf owned by the caller (cfg_file_free()), or -errno /
 * -EFBIG with err->msg ("path: reason").
 */
int cfg_read_file(const char *path, char **ret_buf, size_t *ret_len, struct cfg_error *err);

/* Wipe the len bytes cfg_read_file read into buf (they may hold secrets), then free it. buf
 * may be NULL. */
void cfg_file_free(char *buf, size_t len);

/*
 * For checks made after loading (cross-field rules, address syntax): write
 * "name:line:col: message" into err, positioned at the node that node_path names in the
 * document buf (e.g. "listen[1]", "admin.token_file"). When that node is absent the position
 * is that of its nearest present ancestor (1:1 for the top level). Always returns -EINVAL so
 * a caller can "return cfg_error_at(...)".
 */
int cfg_error_at(struct cfg_error *err, const char *name, const char *buf, size_t len,
                 const char *node_path, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* A warning about a value taken but written otherwise than it should be: logged as
 * "name:line:col: message" at the node node_path names (as cfg_error_at). */
void cfg_warn_at(const char *name, const char *buf, size_t len, const char *node_path,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * A list of CORS origins (key, e.g. "cors_origins"): each must be "*" or one a browser's
 * Origin can be (net_origin_ok), or become one by net_origin_canon, which rewrites it in l
 * with a warning; each at most max_len bytes (0: any). Returns 0, or cfg_error_at's -EINVAL.
 */
int cfg_origins_canon(struct cfg_strlist *l, const char *key, size_t max_len, const char *name,
                      const char *buf, size_t len, struct cfg_error *err);

/* Free what the loader allocated inside obj (strings, lists), recursively, each string wiped
 * first. obj may be NULL. */
void cfg_free(const struct cfg_field *root, void *obj);

/* For comparing a reloaded configuration with the running one: NULL equals "". */
bool cfg_str_eq(const char *a, const char *b);
bool cfg_strlist_eq(const struct cfg_strlist *a, const struct cfg_strlist *b);
/* Append ", name" ("name" first) to the list in out, which holds cap bytes (cut if longer). */
void cfg_names_add(char *out, size_t cap, const char *name);

/* Helpers shared with CLI flags: parse "800G", "5s" etc. Return 0 or -EINVAL. */
int cfg_parse_size(const char *s, uint64_t *ret);
int cfg_parse_duration_ms(const char *s, int64_t *ret);
