/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "tests.h"
#include "bearer.h"

static bool ok(const char *v, const char *want)
{
        return bearer_ok(v, v ? strlen(v) : 0, want, strlen(want));
}

TEST(forms)
{
        ASSERT_TRUE(ok("Bearer s3cret", "s3cret"));
        ASSERT_TRUE(ok("bearer s3cret", "s3cret"));
        ASSERT_TRUE(ok("BEARER s3cret", "s3cret"));
        /* RFC 6750 §2.1: 1*SP between the scheme and the token. */
        ASSERT_TRUE(ok("Bearer   s3cret", "s3cret"));
}

TEST(refusals)
{
        ASSERT_TRUE(!ok(NULL, "s3cret"));
        ASSERT_TRUE(!ok("", "s3cret"));
        ASSERT_TRUE(!ok("Bearer", "s3cret"));
        ASSERT_TRUE(!ok("Bearer ", "s3cret"));
        ASSERT_TRUE(!ok("Bearer    ", "s3cret"));
        ASSERT_TRUE(!ok("Bearers3cret", "s3cret"));
        ASSERT_TRUE(!ok("Basic s3cret", "s3cret"));
        ASSERT_TRUE(!ok("Bearer s3cre", "s3cret"));
        ASSERT_TRUE(!ok("Bearer s3cret ", "s3cret"));
        ASSERT_TRUE(!ok("Bearer s3cret2", "s3cret"));
        ASSERT_TRUE(!ok("Bearer S3CRET", "s3cret"));
        ASSERT_TRUE(!ok("Bearer\ts3cret", "s3cret"));
        /* No token configured: nothing matches, an empty credential least of all. */
        ASSERT_TRUE(!ok("Bearer ", ""));
        ASSERT_TRUE(!ok("Bearer x", ""));
}

/* The value's length is its own: bytes past n are never read as the token's. */
TEST(bounded_by_n)
{
        const char *v = "Bearer s3cretXYZ";
        ASSERT_TRUE(bearer_ok(v, 13, "s3cret", 6));
        ASSERT_TRUE(!bearer_ok(v, 12, "s3cret", 6));
        ASSERT_TRUE(!bearer_ok(v, 14, "s3cret", 6));
}

TEST_MAIN()
