/* SPDX-License-Identifier: MIT */
/*
 * The static lowercase names of response fields (edge/h2-names.c): every name the plans use,
 * spelt as they spell it or in any other case, maps to its lowercase form; other names map to
 * nothing, whatever their length.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "h2-names.h"
#include "tests.h"

static const char *const plan_names[] = {
    "Accept-Ranges",
    "Access-Control-Allow-Headers",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Origin",
    "Access-Control-Expose-Headers",
    "Access-Control-Max-Age",
    "Age",
    "Allow",
    "CMSD-Dynamic",
    "Cache-Control",
    "Cache-Status",
    "Content-Length",
    "Content-Range",
    "Content-Type",
    "ETag",
    "Last-Modified",
    "Retry-After",
    "Timing-Allow-Origin",
    "Vary",
};

static bool is_lower(const char *s)
{
        for (; *s; s++)
                if (*s >= 'A' && *s <= 'Z')
                        return false;
        return true;
}

TEST(every_plan_name_maps_to_its_lowercase)
{
        for (size_t i = 0; i < sizeof(plan_names) / sizeof(plan_names[0]); i++) {
                const char *n = plan_names[i];
                const char *l = h2_static_name(n, strlen(n));
                ASSERT_TRUE(l != NULL);
                ASSERT_EQ(strlen(l), strlen(n));
                ASSERT_TRUE(strcasecmp(l, n) == 0);
                ASSERT_TRUE(is_lower(l));
                /* Spelt the same at another address (found by comparing, not by address). */
                char copy[64];
                memcpy(copy, n, strlen(n) + 1);
                ASSERT_TRUE(h2_static_name(copy, strlen(n)) == l);
                /* The same static string, whatever the case it is asked in. */
                char other[64];
                /* Every second letter in the other case. */
                for (size_t j = 0; n[j]; j++)
                        other[j] =
                            (char)(j % 2 && isalpha((unsigned char)n[j]) ? n[j] ^ 0x20 : n[j]);
                other[strlen(n)] = '\0';
                ASSERT_TRUE(strcmp(other, n) != 0);
                ASSERT_TRUE(h2_static_name(other, strlen(n)) == l);
                ASSERT_TRUE(h2_static_name(l, strlen(l)) == l);
        }
}

TEST(other_names_map_to_nothing)
{
        static const char *const others[] = {"",
                                             "x",
                                             "Agf",
                                             "Date",
                                             "Server",
                                             "Content-Typf",
                                             "Content-Type-Extra",
                                             "Set-Cookie",
                                             "Access-Control-Allow-Headerz",
                                             "Access-Control-Request-Headers-Long"};
        char longer[200];

        for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
                ASSERT_TRUE(h2_static_name(others[i], strlen(others[i])) == NULL);
        memset(longer, 'a', sizeof(longer));
        ASSERT_TRUE(h2_static_name(longer, sizeof(longer)) == NULL);
        /* A prefix of a known name is not the name. */
        ASSERT_TRUE(h2_static_name("Content-Type", 7) == NULL);
}

TEST_MAIN()
