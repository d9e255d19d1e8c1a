/* SPDX-License-Identifier: MIT */
/*
 * The token keys the first start imports (control/migrate.c, bootstrap) leave no secret on
 * the stack: each is hex-encoded into a local buffer for its INSERT, which must be wiped with
 * a call the compiler keeps (a memset of a buffer never read again may be left out, and gcc
 * -O2 left it out). The file is included; libpq's calls are stand-ins here that answer every
 * statement as done, so no database is needed. An unoptimised build keeps any memset: the
 * test cannot fail there, and passes.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../../../control/migrate.c"
#include "sanitizer.h"
#include "tests.h"

static int done_res; /* the one result every statement answers */

PGresult *PQexec(PGconn *conn, const char *query)
{
        (void)conn;
        (void)query;
        return (PGresult *)&done_res;
}

PGresult *PQexecParams(PGconn *conn, const char *command, int n, const Oid *types,
                       const char *const *values, const int *lengths, const int *formats,
                       int result_format)
{
        (void)conn;
        (void)command;
        (void)n;
        (void)types;
        (void)values;
        (void)lengths;
        (void)formats;
        (void)result_format;
        return (PGresult *)&done_res;
}

ExecStatusType PQresultStatus(const PGresult *res)
{
        (void)res;
        return PGRES_COMMAND_OK;
}

void PQclear(PGresult *res)
{
        (void)res;
}

char *PQerrorMessage(const PGconn *conn)
{
        (void)conn;
        return (char *)"";
}

static const unsigned char secret[32] = {
    0x4b, 0x1d, 0x0c, 0x2e, 0x3f, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0,
    0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0,
};

struct run {
        int r;
        char err[256];
};

/* The bootstrap of one key, on a stack of the test's own. */
static void *import_one(void *arg)
{
        static const char *const kids[] = {"k1"};
        static const unsigned char *const secrets[] = {secret};
        static const size_t lens[] = {sizeof(secret)};
        const struct migrate_bootstrap b = {.kids = kids, .secrets = secrets,
                                            .secret_lens = lens, .n_keys = 1};
        struct run *run = arg;

        run->r = bootstrap((PGconn *)&done_res, &b, run->err, sizeof(run->err));
        return NULL;
}

TEST(imported_key_not_left_on_the_stack)
{
        const size_t size = 1u << 20;
        unsigned char *stack;
        struct run run = {.r = -1};
        char hex[2 * sizeof(secret) + 1];
        pthread_attr_t attr;
        pthread_t t;
        size_t found = 0;

        if (SLUICE_ASAN)
                TEST_SKIP_CASE("ASan keeps locals on a stack of its own");
        stack = calloc(1, size);
        ASSERT_TRUE(stack != NULL);
        hex_encode(secret, sizeof(secret), hex);
        ASSERT_EQ(pthread_attr_init(&attr), 0);
        ASSERT_EQ(pthread_attr_setstack(&attr, stack, size), 0);
        ASSERT_EQ(pthread_create(&t, &attr, import_one, &run), 0);
        ASSERT_EQ(pthread_join(t, NULL), 0);
        (void)pthread_attr_destroy(&attr);
        ASSERT_EQ(run.r, 0);
        /* Half of the hex at a time: a part of it counts too. */
        for (size_t i = 0; i + sizeof(secret) <= size; i++)
                found += memcmp(stack + i, hex, sizeof(secret)) == 0 ||
                         memcmp(stack + i, hex + sizeof(secret), sizeof(secret)) == 0;
        free(stack);
        ASSERT_EQ(found, 0);
}

TEST_MAIN()
