/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>

#include <jansson.h>

#include "steering.h"
#include "tests.h"

#define NOW    1000000
#define PERIOD 5

static struct steering_edge fleet[] = {
    {.id = "eu-1",
     .region = "eu-west",
     .base_url = "http://eu1.example:8080",
     .last_heartbeat = NOW - 1,
     .load = 0.2,
     .capacity = 10,
     .holds_title = true},
    {.id = "eu-2",
     .region = "eu-west",
     .base_url = "http://eu2.example:8080",
     .last_heartbeat = NOW - 3,
     .load = 0.2,
     .capacity = 20,
     .holds_title = true},
    {.id = "us-1",
     .region = "us-east",
     .base_url = "https://us1.example",
     .last_heartbeat = NOW,
     .load = 0.0,
     .capacity = 40,
     .holds_title = true},
    {.id = "eu-3",
     .region = "eu-west",
     .base_url = "http://eu3.example/",
     .last_heartbeat = NOW - 2,
     .load = 0.1,
     .capacity = 10,
     .holds_title = false},
};
#define N_FLEET (sizeof(fleet) / sizeof(fleet[0]))

/* Rank and write the ids in order, comma-separated, into out. */
static int order(const struct steering_edge *e, size_t n, const struct steering_client *c,
                 char *out, size_t cap)
{
        struct steering_rank r[STEERING_EDGES_MAX];
        int m = steering_edges_rank(e, n, c, r, STEERING_EDGES_MAX);
        out[0] = '\0';
        for (int i = 0; i < m; i++) {
                size_t l = strlen(out);
                snprintf(out + l, cap - l, "%s%s", i ? "," : "", e[r[i].idx].id);
        }
        return m;
}

static struct steering_client client(const char *region)
{
        return (struct steering_client){.region = region, .now = NOW, .heartbeat_period_s = PERIOD};
}

TEST(region_then_capacity)
{
        struct steering_edge e[N_FLEET];
        memcpy(e, fleet, sizeof(e));
        struct steering_client c = client("eu-west");
        char o[256];
        /* eu-1 and eu-2 tie on score (1000+400-120); capacity breaks it. eu-3 lacks the title. */
        ASSERT_EQ(order(e, N_FLEET, &c, o, sizeof(o)), 4);
        ASSERT_STREQ(o, "eu-2,eu-1,eu-3,us-1");
        c = client("us-east");
        order(e, N_FLEET, &c, o, sizeof(o));
        ASSERT_STREQ(o, "us-1,eu-2,eu-1,eu-3");
        /* Unknown region: content and load decide. */
        c = client(NULL);
        order(e, N_FLEET, &c, o, sizeof(o));
        ASSERT_STREQ(o, "us-1,eu-2,eu-1,eu-3");
}

TEST(scores_are_documented_values)
{
        struct steering_client c = client("eu-west");
        struct steering_rank r[8];
        ASSERT_EQ(steering_edges_rank(fleet, N_FLEET, &c, r, 8), 4);
        ASSERT_EQ(r[0].idx, 1);
        ASSERT_EQ(r[0].score, 1000 + 400 - 120);
        ASSERT_EQ(r[2].score, 1000 - 60);
        ASSERT_EQ(r[3].score, 400);
}

TEST(edges_going_unhealthy)
{
        struct steering_edge e[N_FLEET];
        memcpy(e, fleet, sizeof(e));
        struct steering_client c = client("eu-west");
        char o[256];
        /* Exactly two periods old: still alive; one second more: gone. */
        e[1].last_heartbeat = NOW - 2 * PERIOD;
        order(e, N_FLEET, &c, o, sizeof(o));
        ASSERT_STREQ(o, "eu-2,eu-1,eu-3,us-1");
        e[1].last_heartbeat = NOW - 2 * PERIOD - 1;
        ASSERT_EQ(order(e, N_FLEET, &c, o, sizeof(o)), 3);
        ASSERT_STREQ(o, "eu-1,eu-3,us-1");
        e[0].last_heartbeat = 0; /* never heard from */
        e[3].disabled = true;
        ASSERT_EQ(order(e, N_FLEET, &c, o, sizeof(o)), 1);
        ASSERT_STREQ(o, "us-1");
        e[2].last_heartbeat = NOW - 60;
        ASSERT_EQ(order(e, N_FLEET, &c, o, sizeof(o)), 0);
        ASSERT_STREQ(o, "");
        /* A heartbeat from a clock slightly ahead still counts. */
        e[2].last_heartbeat = NOW + 3;
        ASSERT_EQ(order(e, N_FLEET, &c, o, sizeof(o)), 1);
        ASSERT_TRUE(steering_edge_alive(&e[2], NOW, PERIOD));
        ASSERT_TRUE(!steering_edge_alive(&e[0], NOW, PERIOD));
        /* A period of 1.5 s: a heartbeat stamped 98 (98.6 s) read at 101.0 is on time. */
        e[2].last_heartbeat = NOW - 3;
        ASSERT_TRUE(steering_edge_alive(&e[2], NOW, steering_period_s(1500)));
        ASSERT_EQ(steering_period_s(5000), 5u);
        ASSERT_EQ(steering_period_s(1001), 2u);
}

TEST(load)
{
        struct steering_edge e[N_FLEET];
        memcpy(e, fleet, sizeof(e));
        struct steering_client c = client("eu-west");
        char o[256];
        /* A busier local edge drops below its idle sibling... */
        e[1].load = 0.7;
        order(e, N_FLEET, &c, o, sizeof(o));
        ASSERT_STREQ(o, "eu-1,eu-2,eu-3,us-1");
        /* ...and a full one loses its region bonus, so the far edge comes first. */
        e[0].load = 0.97;
        e[1].load = 0.99;
        e[3].load = 0.96;
        order(e, N_FLEET, &c, o, sizeof(o));
        ASSERT_STREQ(o, "us-1,eu-1,eu-2,eu-3");
        /* Garbage loads: NaN is full, negative is idle, above 1 is 1. */
        e[0].load = NAN;
        e[1].load = -4;
        e[3].load = 7;
        struct steering_rank r[8];
        ASSERT_EQ(steering_edges_rank(e, N_FLEET, &c, r, 8), 4);
        ASSERT_EQ(r[0].idx, 1);
        ASSERT_EQ(r[0].score, 1400);
}

TEST(pathway_and_throughput)
{
        struct steering_edge e[N_FLEET];
        memcpy(e, fleet, sizeof(e));
        struct steering_query q;
        struct steering_client c = client("eu-west");
        char o[256];
        const char *qs = "_DASH_pathway=%22eu-1%22&_DASH_throughput=5000000";
        ASSERT_EQ(steering_query_parse(qs, strlen(qs), &q), 0);
        ASSERT_EQ(q.n, 1);
        ASSERT_STREQ(q.pathway[0], "eu-1");
        ASSERT_EQ(q.throughput[0], 5000000);
        ASSERT_EQ(q.current, 0);
        /* An edge id may be 128 bytes (control's ids): such a pathway is read, not dropped. */
        {
                char longq[256], id[129];
                memset(id, 'e', 128);
                id[128] = '\0';
                snprintf(longq, sizeof(longq), "_DASH_pathway=%%22%s%%22", id);
                struct steering_query lq;
                ASSERT_EQ(steering_query_parse(longq, strlen(longq), &lq), 0);
                ASSERT_EQ(lq.n, 1);
                ASSERT_STREQ(lq.pathway[0], id);
        }
        c.query = &q;
        c.poor_throughput_bps = 1000000;
        /* The client stays on eu-1 although eu-2 has more capacity. */
        order(e, N_FLEET, &c, o, sizeof(o));
        ASSERT_STREQ(o, "eu-1,eu-2,eu-3,us-1");
        /* Struggling on eu-1 (1280 - 300): it goes below its equal eu-2, and below eu-3
         * (940) once a little busier. */
        qs = "_DASH_pathway=\"eu-1\"&_DASH_throughput=400000";
        steering_query_parse(qs, strlen(qs), &q);
        order(e, N_FLEET, &c, o, sizeof(o));
        ASSERT_STREQ(o, "eu-2,eu-1,eu-3,us-1");
        e[0].load = 0.3;
        order(e, N_FLEET, &c, o, sizeof(o));
        ASSERT_STREQ(o, "eu-2,eu-3,eu-1,us-1");
        e[0].load = 0.2;
        /* Unknown throughput: no penalty, stickiness kept. */
        qs = "_DASH_pathway=%22eu-1%22&_DASH_throughput=";
        steering_query_parse(qs, strlen(qs), &q);
        ASSERT_EQ(q.throughput[0], -1);
        order(e, N_FLEET, &c, o, sizeof(o));
        ASSERT_STREQ(o, "eu-1,eu-2,eu-3,us-1");
}

/* The ranking for query qs (poor throughput at 1 Mbit/s), ids comma-separated into out. */
static void ranked_for(const char *qs, char *out, size_t cap)
{
        struct steering_edge e[N_FLEET];
        struct steering_client c = client("eu-west");
        struct steering_query q;

        memcpy(e, fleet, sizeof(e));
        c.query = &q;
        c.poor_throughput_bps = 1000000;
        (void)steering_query_parse(qs, strlen(qs), &q);
        order(e, N_FLEET, &c, out, cap);
}

/* dash.js lists the pathways used since the last request in the order first used: "A,B"
 * after A, B and A again as after A then B. The ranking must not depend on that order: no
 * stay bonus when several are named, and the one it measured too little on is penalised
 * wherever it stands in the list. */
TEST(several_pathways_ranked_alike_in_any_order)
{
        char a[256], b[256];

        ranked_for("_DASH_pathway=%22eu-1%2Ceu-2%22&_DASH_throughput=8000000%2C", a, sizeof(a));
        ranked_for("_DASH_pathway=%22eu-2%2Ceu-1%22&_DASH_throughput=%2C8000000", b, sizeof(b));
        ASSERT_STREQ(a, b);
        ASSERT_STREQ(a, "eu-2,eu-1,eu-3,us-1"); /* as with no query: capacity decides */
        /* Too little measured on eu-1, listed first or last: it goes down either way. */
        ranked_for("_DASH_pathway=%22eu-1%2Ceu-2%22&_DASH_throughput=400000%2C", a, sizeof(a));
        ranked_for("_DASH_pathway=%22eu-2%2Ceu-1%22&_DASH_throughput=%2C400000", b, sizeof(b));
        ASSERT_STREQ(a, b);
        ASSERT_TRUE(strncmp(a, "eu-1", 4) != 0);
}

TEST(query_parse)
{
        struct steering_query q;
        const char *qs = "x=1&_DASH_pathway=%22eu-1%2Cus-1%22&_DASH_throughput=,7000000&y";
        ASSERT_EQ(steering_query_parse(qs, strlen(qs), &q), 0);
        ASSERT_EQ(q.n, 2);
        ASSERT_STREQ(q.pathway[0], "eu-1");
        ASSERT_STREQ(q.pathway[1], "us-1");
        ASSERT_EQ(q.throughput[0], -1);
        ASSERT_EQ(q.throughput[1], 7000000);
        ASSERT_EQ(q.current, -1); /* several: none is known to be in use */
        /* Unusable ids keep their slot but match nothing; junk throughput is unknown. */
        qs = "_DASH_pathway=a<b,ok&_DASH_throughput=1e6,99999999999999999999999";
        steering_query_parse(qs, strlen(qs), &q);
        ASSERT_EQ(q.n, 2);
        ASSERT_STREQ(q.pathway[0], "");
        ASSERT_STREQ(q.pathway[1], "ok");
        ASSERT_EQ(q.throughput[0], -1);
        ASSERT_EQ(q.throughput[1], -1);
        /* Absent, empty, bad escapes, too many entries. */
        ASSERT_EQ(steering_query_parse("", 0, &q), 0);
        ASSERT_EQ(q.n, 0);
        ASSERT_EQ(q.current, -1);
        qs = "_DASH_pathway=%zz%2";
        steering_query_parse(qs, strlen(qs), &q);
        ASSERT_EQ(q.n, 1);
        ASSERT_EQ(q.current, -1);
        char many[512] = "_DASH_pathway=";
        for (int i = 0; i < 40; i++)
                strncat(many, "p,", sizeof(many) - strlen(many) - 1);
        steering_query_parse(many, strlen(many), &q);
        ASSERT_EQ(q.n, STEERING_PATHWAYS_MAX);
        char huge[8200];
        memset(huge, 'a', sizeof(huge));
        ASSERT_EQ(steering_query_parse(huge, sizeof(huge), &q), -EINVAL);
        ASSERT_EQ(q.n, 0);
        ASSERT_TRUE(!q.has_manifest);
}

TEST(manifest_pathways)
{
        struct steering_query q;
        /* Absent: unknown, which is not the same as an MPD without pathways. */
        const char *qs = "_DASH_pathway=%22eu-1%22";
        ASSERT_EQ(steering_query_parse(qs, strlen(qs), &q), 0);
        ASSERT_TRUE(!q.has_manifest);
        ASSERT_EQ(q.n_manifest, 0);
        qs = "pathways=&_DASH_pathway=%22eu-1%22";
        ASSERT_EQ(steering_query_parse(qs, strlen(qs), &q), 0);
        ASSERT_TRUE(q.has_manifest);
        ASSERT_EQ(q.n_manifest, 0);
        /* In the MPD's order, before or after dash.js's arguments; escaped commas split too;
         * malformed and repeated ids dropped. */
        qs = "pathways=eu-1,us-1%2Ceu-2,a<b,,eu-1&_DASH_pathway=%22eu-1%22&_DASH_throughput=1";
        ASSERT_EQ(steering_query_parse(qs, strlen(qs), &q), 0);
        ASSERT_TRUE(q.has_manifest);
        ASSERT_EQ(q.n_manifest, 3);
        ASSERT_STREQ(q.manifest[0], "eu-1");
        ASSERT_STREQ(q.manifest[1], "us-1");
        ASSERT_STREQ(q.manifest[2], "eu-2");
        ASSERT_STREQ(q.pathway[0], "eu-1");
        /* Ids of 128 bytes (an edge id's most) are kept; longer ones and entries past
         * STEERING_MANIFEST_MAX are dropped. */
        char big[8000] = "pathways=";
        char id[130];
        memset(id, 'x', 129);
        id[129] = '\0';
        strncat(big, id, sizeof(big) - strlen(big) - 1);
        id[128] = '\0';
        for (int i = 0; i < 20; i++) {
                id[0] = (char)('a' + i);
                strncat(big, ",", sizeof(big) - strlen(big) - 1);
                strncat(big, id, sizeof(big) - strlen(big) - 1);
        }
        ASSERT_EQ(steering_query_parse(big, strlen(big), &q), 0);
        ASSERT_EQ(q.n_manifest, STEERING_MANIFEST_MAX);
        ASSERT_EQ(strlen(q.manifest[0]), 128);
        ASSERT_EQ(q.manifest[0][0], 'a');
        ASSERT_EQ(q.manifest[STEERING_MANIFEST_MAX - 1][0], 'a' + STEERING_MANIFEST_MAX - 1);
}

/* A fleet of 256 live edges with 128-byte ids, none in the player's MPD (all clones): the
 * response lists the best STEERING_PRIORITY_MAX and stays within STEERING_OUT_MAX (all of
 * them made 140 KB, refused with -E2BIG: every player's steering request failed). */
TEST(json_of_a_large_fleet_fits)
{
        static struct steering_edge big[STEERING_EDGES_MAX];
        static char ids[STEERING_EDGES_MAX][129], urls[STEERING_EDGES_MAX][200];
        struct steering_rank r[STEERING_EDGES_MAX];
        struct steering_client c = client("eu-west");
        const char *const in_mpd[] = {"base"};
        char *s;
        size_t len;

        for (int i = 0; i < STEERING_EDGES_MAX; i++) {
                snprintf(ids[i], sizeof(ids[i]), "%03d", i);
                memset(ids[i] + 3, 'e', 125);
                ids[i][128] = '\0';
                snprintf(urls[i], sizeof(urls[i]), "http://%.120s.example:8080", ids[i]);
                big[i] = (struct steering_edge){.id = ids[i], .region = "eu-west",
                                                .base_url = urls[i], .last_heartbeat = NOW,
                                                .capacity = 10};
        }
        big[0].id = "base"; /* the MPD's pathway, a clone's base */
        int n = steering_edges_rank(big, STEERING_EDGES_MAX, &c, r, STEERING_EDGES_MAX);
        ASSERT_EQ(n, STEERING_EDGES_MAX);
        ASSERT_EQ(steering_json_build(big, STEERING_EDGES_MAX, r, (size_t)n, in_mpd, 1, 60,
                                      NULL, &s, &len),
                  0);
        ASSERT_TRUE(len <= STEERING_OUT_MAX);
        size_t listed = 0;
        for (const char *p = strstr(s, "\"PATHWAY-PRIORITY\":["); p && *p != ']'; p++)
                listed += *p == ',';
        ASSERT_EQ(listed + 1, STEERING_PRIORITY_MAX);
        free(s);
}

TEST(json)
{
        struct steering_client c = client("eu-west");
        struct steering_rank r[8];
        int n = steering_edges_rank(fleet, N_FLEET, &c, r, 8);
        const char *const in_mpd[] = {"eu-1", "eu-2", "us-1"};
        char *s;
        size_t len;
        ASSERT_EQ(steering_json_build(fleet, N_FLEET, r, (size_t)n, in_mpd, 3, 300,
                                      "https://control.example/v1/steering/S1", &s, &len),
                  0);
        ASSERT_STREQ(
            s,
            "{\"VERSION\":1,\"TTL\":300,\"RELOAD-URI\":\"https://control.example/v1/steering/S1\","
            "\"PATHWAY-PRIORITY\":[\"eu-2\",\"eu-1\",\"eu-3\",\"us-1\"],"
            "\"PATHWAY-CLONES\":[{\"BASE-ID\":\"eu-2\",\"ID\":\"eu-3\","
            "\"URI-REPLACEMENT\":{\"HOST\":\"eu3.example\"}}]}");
        ASSERT_EQ(strlen(s), len);
        free(s);
        /* A clone names a HOST only, and players keep the base pathway's scheme and path:
         * an edge behind another scheme or path cannot be reached that way, and is left out
         * (it is listed once a manifest names it). */
        struct steering_edge other[N_FLEET];
        memcpy(other, fleet, sizeof(other));
        for (int k = 0; k < 2; k++) {
                other[3].base_url = k ? "http://cdn.example:8080/edge-3" : "https://eu3.example/";
                ASSERT_EQ(steering_json_build(other, N_FLEET, r, (size_t)n, in_mpd, 3, 300, NULL, &s, &len),
                          0);
                ASSERT_TRUE(strstr(s, "PATHWAY-CLONES") == NULL);
                free(s);
        }
        /* Everything in the manifest: no clones; no reload URI. */
        const char *const all[] = {"eu-1", "eu-2", "us-1", "eu-3"};
        ASSERT_EQ(steering_json_build(fleet, N_FLEET, r, (size_t)n, all, 4, 60, NULL, &s, &len), 0);
        ASSERT_STREQ(s, "{\"VERSION\":1,\"TTL\":60,\"PATHWAY-PRIORITY\":[\"eu-2\",\"eu-1\",\"eu-"
                        "3\",\"us-1\"]}");
        free(s);
        /* No edge alive: an empty priority list (the player keeps what it has). */
        ASSERT_EQ(steering_json_build(fleet, N_FLEET, r, 0, all, 4, 60, NULL, &s, &len), 0);
        ASSERT_STREQ(s, "{\"VERSION\":1,\"TTL\":60,\"PATHWAY-PRIORITY\":[]}");
        free(s);
        /* No manifest pathway to clone from: the unknown edge is left out. */
        ASSERT_EQ(steering_json_build(fleet, N_FLEET, r, (size_t)n, NULL, 0, 60, NULL, &s, &len), 0);
        ASSERT_STREQ(s, "{\"VERSION\":1,\"TTL\":60,\"PATHWAY-PRIORITY\":[]}");
        free(s);
        /* Only dead manifest pathways: clones are based on the first one control knows,
         * and only edges that differ from it in their authority are cloned or listed (us-1 is
         * https: a player keeping eu-3's http:// would reach it on the wrong scheme). */
        struct steering_rank us_eu1[] = {{.idx = 2, .score = 0}, {.idx = 0, .score = 0}};
        const char *const dead_known[] = {"eu-9", "eu-3"};
        ASSERT_EQ(steering_json_build(fleet, N_FLEET, us_eu1, 2, dead_known, 2, 60, NULL, &s,
                                      &len),
                  0);
        ASSERT_STREQ(s, "{\"VERSION\":1,\"TTL\":60,\"PATHWAY-PRIORITY\":[\"eu-1\"],"
                        "\"PATHWAY-CLONES\":[{\"BASE-ID\":\"eu-3\",\"ID\":\"eu-1\","
                        "\"URI-REPLACEMENT\":{\"HOST\":\"eu1.example:8080\"}}]}");
        free(s);
        /* A manifest pathway control does not know (disabled or removed since): its URL
         * cannot be checked, so with schemes or paths that differ across the fleet nothing is
         * cloned (nor listed)... */
        struct steering_rank only_us = {.idx = 2, .score = 0};
        const char *const dead[] = {"eu-9"};
        ASSERT_EQ(steering_json_build(fleet, N_FLEET, &only_us, 1, dead, 1, 60, NULL, &s, &len),
                  0);
        ASSERT_STREQ(s, "{\"VERSION\":1,\"TTL\":60,\"PATHWAY-PRIORITY\":[]}");
        free(s);
        /* ...and with a fleet whose URLs differ in their authority alone, it is the base. */
        struct steering_edge same[N_FLEET];
        memcpy(same, fleet, sizeof(same));
        same[2].base_url = "http://us1.example:8080";
        ASSERT_EQ(steering_json_build(same, N_FLEET, &only_us, 1, dead, 1, 60, NULL, &s, &len),
                  0);
        ASSERT_STREQ(s,
                     "{\"VERSION\":1,\"TTL\":60,\"PATHWAY-PRIORITY\":[\"us-1\"],\"PATHWAY-CLONES\":"
                     "[{\"BASE-ID\":\"eu-9\",\"ID\":\"us-1\",\"URI-REPLACEMENT\":{\"HOST\":\"us1."
                     "example:8080\"}}]}");
        free(s);
        ASSERT_EQ(steering_json_build(fleet, N_FLEET, r, (size_t)n, all, 4, 0, NULL, &s, &len), -EINVAL);
        /* The output parses as JSON with VERSION 1. */
        ASSERT_EQ(steering_json_build(fleet, N_FLEET, r, (size_t)n, in_mpd, 3, 10, "x", &s, &len), 0);
        json_t *j = json_loads(s, 0, NULL);
        ASSERT_TRUE(j != NULL);
        ASSERT_EQ(json_integer_value(json_object_get(j, "VERSION")), 1);
        ASSERT_EQ(json_array_size(json_object_get(j, "PATHWAY-PRIORITY")), 4);
        json_decref(j);
        free(s);
}

TEST(bad_input)
{
        struct steering_client c = client("eu-west");
        struct steering_rank r[2];
        struct steering_edge e = fleet[0];
        ASSERT_EQ(steering_edges_rank(fleet, N_FLEET, &c, r, 2), 2); /* capped */
        c.heartbeat_period_s = 0;
        ASSERT_EQ(steering_edges_rank(fleet, N_FLEET, &c, r, 2), -EINVAL);
        c.heartbeat_period_s = PERIOD;
        e.id = NULL;
        ASSERT_EQ(steering_edges_rank(&e, 1, &c, r, 2), -EINVAL);
        ASSERT_EQ(steering_edges_rank(fleet, STEERING_EDGES_MAX + 1, &c, r, 2), -EINVAL);
        ASSERT_EQ(steering_edges_rank(NULL, 0, &c, r, 2), 0);
}

TEST_MAIN()
