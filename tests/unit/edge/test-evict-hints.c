/* SPDX-License-Identifier: MIT */
/*
 * The hints the edge derives from a cache key (edge/evict-key.c) use the same count of first
 * segments as sluice-cachesim's default, so the simulator replays what the edge decides.
 */
#include <string.h>

#include "evict-key.h"
#include "policy.h"
#include "tests.h"

static uint32_t hints(const char *key, bool plan)
{
        return evict_hints(key, strlen(key), plan);
}

TEST(init_is_a_first_segment)
{
        ASSERT_EQ(hints("/t1/v1/init.mp4", false), POLICY_HINT_FIRST_SEGMENTS);
}

TEST(first_segments_numbered_from_one)
{
        char key[64];

        /* Ingest numbers from 1: seg-1 .. seg-POLICY_FIRST_SEGMENTS are the first ones. */
        for (unsigned n = 1; n <= POLICY_FIRST_SEGMENTS; n++) {
                snprintf(key, sizeof(key), "/t1/v1/seg-%u.m4s", n);
                ASSERT_EQ(hints(key, false), POLICY_HINT_FIRST_SEGMENTS);
        }
        snprintf(key, sizeof(key), "/t1/v1/seg-%u.m4s", POLICY_FIRST_SEGMENTS + 1);
        ASSERT_EQ(hints(key, false), 0);
        ASSERT_EQ(hints("/t1/v1/seg-0.m4s", false), POLICY_HINT_FIRST_SEGMENTS);
        /* Zero-padded numbers ($Number%05d$ templates) are the same segments. */
        ASSERT_EQ(hints("/t1/v1/seg-00001.m4s", false), POLICY_HINT_FIRST_SEGMENTS);
        ASSERT_EQ(hints("/t1/v1/seg-00005.m4s", false), 0);
}

TEST(later_and_odd_names_carry_none)
{
        ASSERT_EQ(hints("/t1/v1/seg-10.m4s", false), 0);
        ASSERT_EQ(hints("/t1/v1/seg-40.m4s", false), 0);
        ASSERT_EQ(hints("/t1/v1/seg-1234567890.m4s", false), 0); /* more digits than a count */
        ASSERT_EQ(hints("/t1/v1/seg-.m4s", false), 0);
        ASSERT_EQ(hints("/t1/v1/seg-2", false), 0);
        ASSERT_EQ(hints("/t1/v1/segment-1.m4s", false), 0);
        ASSERT_EQ(hints("/t1/manifest.mpd", false), 0);
        ASSERT_EQ(hints("", false), 0);
}

TEST(lowest_rung_from_its_directory)
{
        ASSERT_EQ(hints("/t1/" POLICY_LOW_RUNG_DIR "/seg-30.m4s", false), POLICY_HINT_LOW_RUNG);
        ASSERT_EQ(hints("/t1/" POLICY_LOW_RUNG_DIR "/init.mp4", false),
                  POLICY_HINT_LOW_RUNG | POLICY_HINT_FIRST_SEGMENTS);
        ASSERT_EQ(hints("/series/ep1/" POLICY_LOW_RUNG_DIR "/seg-9.m4s", false),
                  POLICY_HINT_LOW_RUNG);
        ASSERT_EQ(hints("/t1/video-360p/seg-30.m4s", false), 0);
        ASSERT_EQ(hints("/t1/xvideo-240p/seg-30.m4s", false), 0);
        ASSERT_EQ(hints("/t1/video-240px/seg-30.m4s", false), 0);
        ASSERT_EQ(hints("/" POLICY_LOW_RUNG_DIR, false), 0); /* a file, not a directory */
}

TEST(plan_hint_added)
{
        ASSERT_EQ(hints("/t1/v1/seg-30.m4s", true), POLICY_HINT_PLAN_HIGH);
        ASSERT_EQ(hints("/t1/v1/seg-2.m4s", true),
                  POLICY_HINT_PLAN_HIGH | POLICY_HINT_FIRST_SEGMENTS);
}

static uint32_t position(const char *key)
{
        return evict_position(key, strlen(key));
}

TEST(position_from_the_segment_number)
{
        /* The n of seg-<n>.m4s, as sluice-cachesim numbers its segments (from 1). */
        ASSERT_EQ(position("/t1/v1/seg-1.m4s"), 1);
        ASSERT_EQ(position("/t1/v1/seg-7.m4s"), 7);
        ASSERT_EQ(position("/t1/" POLICY_LOW_RUNG_DIR "/seg-2250.m4s"), 2250);
        ASSERT_EQ(position("/series/ep1/v1/seg-123456789.m4s"), 123456789);
        ASSERT_EQ(position("seg-12.m4s"), 12);
        ASSERT_EQ(position("/t1/v1/seg-0.m4s"), 1); /* numbered from 0: still the first */
        ASSERT_EQ(position("/t1/v1/seg-00003.m4s"), 3);
}

TEST(position_of_other_names_is_none)
{
        ASSERT_EQ(position("/t1/v1/init.mp4"), 0);
        ASSERT_EQ(position("/t1/manifest.mpd"), 0);
        ASSERT_EQ(position("/t1/v1/seg-.m4s"), 0);
        ASSERT_EQ(position("/t1/v1/seg-2"), 0);
        ASSERT_EQ(position("/t1/v1/seg-2x.m4s"), 0);
        ASSERT_EQ(position("/t1/v1/segment-1.m4s"), 0);
        ASSERT_EQ(position("/t1/v1/seg-1234567890.m4s"), 0); /* ten digits: no count */
        ASSERT_EQ(position("/t1/seg-3.m4s/init.mp4"), 0);
        ASSERT_EQ(position(""), 0);
}

TEST_MAIN()
