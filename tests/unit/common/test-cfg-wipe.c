/* SPDX-License-Identifier: MIT */
/*
 * What the configuration loader frees holds no secret it read: the file's bytes, its strings,
 * libyaml's events and input buffers are wiped first. This program's free() looks through
 * every block the process frees for a marker secret before handing it to the C library.
 *
 * Its own free() cannot stand beside a sanitizer's or valgrind's allocator: under ASan or
 * valgrind the file skips.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sanitizer.h"
#include "scratch.h"
#include "tests.h"

#include "cfg.h"
#include "token.h"

/* 64 hex digits: a secret the key file may hold, and a marker found nowhere else. */
#define SECRET "5ec7e75ec7e75ec7e7d00dfeed0123456789abcdef0123456789abcdefc0ffee"

/* Volatile: the compiler takes free() for the C library's, which reads and writes no global,
 * and would drop the stores before a call and reuse the loads after it. */
static const char *volatile watch;
static volatile size_t watch_len;
static volatile unsigned freed_with_secret;

#if !SLUICE_ASAN
extern void __libc_free(void *p);

/* The blocks of this process are freed here: one still holding the secret is counted. */
void free(void *p)
{
        const char *w = watch;

        if (p && w && memmem(p, malloc_usable_size(p), w, watch_len))
                freed_with_secret++;
        __libc_free(p);
}
#endif

static char *write_file(const char *dir, const char *name, const char *text)
{
        static char path[256];
        FILE *f;

        (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "w");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
                perror(path);
                exit(1);
        }
        return path;
}

static void watch_start(void)
{
        watch = SECRET;
        watch_len = strlen(SECRET);
        freed_with_secret = 0;
}

static unsigned watch_stop(void)
{
        watch = NULL;
        return freed_with_secret;
}

/* The check itself: a block freed with the secret in it is seen. */
TEST(a_block_freed_with_the_secret_is_seen)
{
        char *volatile copy; /* volatile: a strdup freed unread may be left out too */

        const char *preload = getenv("LD_PRELOAD");

        if (SLUICE_ASAN)
                TEST_SKIP("free() is the sanitizer's here");
        if (preload && strstr(preload, "vgpreload"))
                TEST_SKIP("free() is valgrind's here");
        copy = strdup("before " SECRET " after");
        ASSERT_TRUE(copy != NULL);
        watch_start();
        free(copy);
        ASSERT_EQ(watch_stop(), 1);
}

struct one_string {
        char *database;
        struct cfg_strlist hosts;
};

static const struct cfg_field one_string_fields[] = {
        {.key = "database", .type = CFG_STRING, .offset = offsetof(struct one_string, database)},
        {.key = "hosts", .type = CFG_STRLIST, .offset = offsetof(struct one_string, hosts)},
        {0},
};

/* A conninfo with a password, as control's database key holds: loaded, compared, freed. */
TEST(config_strings_are_wiped)
{
        char *dir = tests_scratch("sluice-cfg-wipe");
        const char *path = write_file(dir, "c.yaml",
                                      "database: \"dbname=x password=" SECRET "\"\n"
                                      "hosts: [a, " SECRET "]\n");
        struct one_string c = {0};
        struct cfg_error err;

        watch_start();
        ASSERT_EQ(cfg_load_file(path, one_string_fields, &c, &err), 0);
        ASSERT_TRUE(strstr(c.database, SECRET) != NULL);
        ASSERT_STREQ(c.hosts.items[1], SECRET);
        cfg_free(one_string_fields, &c);
        ASSERT_EQ(watch_stop(), 0);
        tests_rm_rf(dir);
}

/* A token key file, read whole, and again for the position of an error in a later key. */
TEST(token_key_secrets_are_wiped)
{
        char *dir = tests_scratch("sluice-cfg-wipe");
        const char *ok = write_file(dir, "ok.yaml",
                                    "keys:\n"
                                    "  - {kid: k1, secret: " SECRET "}\n"
                                    "  - {kid: k2, secret: '" SECRET "'}\n");
        struct token_keyset ks;
        char err[512];

        watch_start();
        ASSERT_EQ(token_keyset_load(ok, TOKEN_SECRET_MIN, &ks, err, sizeof(err)), 0);
        ASSERT_EQ(ks.n, 2);
        ASSERT_EQ(watch_stop(), 0);
        const char *bad = write_file(dir, "bad.yaml",
                                     "keys:\n"
                                     "  - {kid: k1, secret: \"" SECRET "\"}\n"
                                     "  - {kid: k2, secret: 00}\n");
        watch_start();
        ASSERT_EQ(token_keyset_load(bad, TOKEN_SECRET_MIN, &ks, err, sizeof(err)), -EINVAL);
        ASSERT_TRUE(strstr(err, "bad.yaml:3:") != NULL);
        ASSERT_EQ(watch_stop(), 0);
        tests_rm_rf(dir);
}

TEST_MAIN()
