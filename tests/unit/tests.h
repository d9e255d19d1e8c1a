/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A minimal unit-test harness. Each test file is one executable:
 *
 *     TEST(range_single) { ASSERT_EQ(f(1), 2); }
 *
 * and ends with TEST_MAIN(). Tests run in file order; the first failed assertion in a test
 * prints file:line and marks it failed; the executable exits 1 if any test failed.
 *
 * TEST_SKIP ends the file with a reason: exit 77 (skipped) when every test before it passed,
 * but exit 1 when one failed, so a skip never hides a failure. The tests after it do not run:
 * call it from the first test (a missing fixture) or from the last.
 *
 * TEST_SKIP_CASE ends only the running test, with a reason; the others still run. The file
 * then exits 77 (not 0) when no test failed, so a case this machine could not run is never
 * reported as passed, and 1 when one failed.
 */

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct test_case {
        const char *name;
        void (*fn)(void);
};

/* At most this many TEST()s a file: one more fails the file at start (it would never run). */
#define TESTS_MAX 512
extern struct test_case tests_registry[TESTS_MAX];
extern unsigned tests_count;
extern bool test_failed;
extern unsigned tests_failed; /* tests failed so far */
extern bool test_skipped;
extern unsigned tests_skipped; /* tests ended by TEST_SKIP_CASE so far */

#define TEST(name)                                                                                 \
        static void test_##name(void);                                                             \
        __attribute__((constructor)) static void register_##name(void)                            \
        {                                                                                          \
                if (tests_count == TESTS_MAX) {                                                    \
                        fprintf(stderr, "more than %d tests: %s would not run\n", TESTS_MAX,       \
                                #name);                                                            \
                        exit(1);                                                                   \
                }                                                                                  \
                tests_registry[tests_count++] = (struct test_case){#name, test_##name};            \
        }                                                                                          \
        static void test_##name(void)

#define TEST_FAIL_AT(...)                                                                          \
        do {                                                                                       \
                fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                  \
                fprintf(stderr, __VA_ARGS__);                                                      \
                fputc('\n', stderr);                                                               \
                test_failed = true;                                                                \
                return;                                                                            \
        } while (0)

#define ASSERT_TRUE(c)                                                                             \
        do {                                                                                       \
                if (!(c))                                                                          \
                        TEST_FAIL_AT("assertion failed: %s", #c);                                  \
        } while (0)

#define ASSERT_EQ(a, b)                                                                            \
        do {                                                                                       \
                long long _a = (long long)(a), _b = (long long)(b);                                \
                if (_a != _b)                                                                      \
                        TEST_FAIL_AT("%s == %s: %lld != %lld", #a, #b, _a, _b);                    \
        } while (0)

#define ASSERT_STREQ(a, b)                                                                         \
        do {                                                                                       \
                const char *_a = (a), *_b = (b);                                                   \
                if (!_a || !_b || strcmp(_a, _b) != 0)                                             \
                        TEST_FAIL_AT("%s == %s: \"%s\" != \"%s\"", #a, #b, _a ? _a : "(null)",     \
                                     _b ? _b : "(null)");                                          \
        } while (0)

/* Prints n bytes at p quoted, printable ASCII as is and the rest as \xNN, at most 256 of them:
 * a failed ASSERT_MEMEQ shows binary data readably (and never reads past n). */
static inline void tests_mem_print(const void *p, size_t n)
{
        const unsigned char *b = p;
        size_t show = n < 256 ? n : 256;

        fputc('"', stderr);
        for (size_t i = 0; i < show; i++) {
                if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '"' && b[i] != '\\')
                        fputc(b[i], stderr);
                else
                        fprintf(stderr, "\\x%02x", b[i]);
        }
        fputc('"', stderr);
        if (show < n)
                fprintf(stderr, "... (%zu bytes)", n);
}

#define ASSERT_MEMEQ(a, alen, b, blen)                                                             \
        do {                                                                                       \
                size_t _al = (alen), _bl = (blen);                                                 \
                if (_al != _bl || memcmp((a), (b), _al) != 0) {                                    \
                        fprintf(stderr, "  %s:%d: %s == %s: ", __FILE__, __LINE__, #a, #b);        \
                        tests_mem_print((a), _al);                                                 \
                        fputs(" != ", stderr);                                                     \
                        tests_mem_print((b), _bl);                                                 \
                        fputc('\n', stderr);                                                       \
                        test_failed = true;                                                        \
                        return;                                                                    \
                }                                                                                  \
        } while (0)

#define TEST_SKIP(...)                                                                             \
        do {                                                                                       \
                printf("SKIP: ");                                                                  \
                printf(__VA_ARGS__);                                                               \
                putchar('\n');                                                                     \
                if (tests_failed) {                                                                \
                        printf("%u test(s) failed before the skip\n", tests_failed);               \
                        exit(1);                                                                   \
                }                                                                                  \
                exit(77);                                                                          \
        } while (0)

#define TEST_SKIP_CASE(...)                                                                        \
        do {                                                                                       \
                printf("SKIP: ");                                                                  \
                printf(__VA_ARGS__);                                                               \
                putchar('\n');                                                                     \
                test_skipped = true;                                                               \
                return;                                                                            \
        } while (0)

/* Whether the test runs under valgrind (meson test --setup valgrind): its preload is in the
 * environment. For the cases valgrind cannot run faithfully, which then TEST_SKIP_CASE. */
static inline bool tests_under_valgrind(void)
{
        const char *preload = getenv("LD_PRELOAD");

        return preload && strstr(preload, "vgpreload");
}

#define TEST_MAIN()                                                                                \
        struct test_case tests_registry[TESTS_MAX];                                                \
        unsigned tests_count;                                                                      \
        bool test_failed;                                                                          \
        unsigned tests_failed;                                                                     \
        bool test_skipped;                                                                         \
        unsigned tests_skipped;                                                                    \
        int main(int argc, char **argv)                                                            \
        {                                                                                          \
                unsigned ran = 0;                                                                  \
                                                                                                   \
                for (unsigned i = 0; i < tests_count; i++) {                                       \
                        if (argc > 1 && strcmp(argv[1], tests_registry[i].name) != 0)              \
                                continue;                                                          \
                        test_failed = test_skipped = false;                                        \
                        tests_registry[i].fn();                                                    \
                        printf("%s %s\n",                                                          \
                               test_failed ? "FAIL" : test_skipped ? "skip" : "ok  ",              \
                               tests_registry[i].name);                                            \
                        ran++;                                                                     \
                        tests_failed += test_failed;                                               \
                        tests_skipped += !test_failed && test_skipped;                             \
                }                                                                                  \
                if (ran == 0) {                                                                    \
                        /* a name that matches no test checks nothing: never a pass */             \
                        printf("no test named %s\n", argc > 1 ? argv[1] : "(none registered)");    \
                        return 1;                                                                  \
                }                                                                                  \
                printf("%u/%u passed, %u skipped\n", ran - tests_failed - tests_skipped, ran,      \
                       tests_skipped);                                                             \
                return tests_failed ? 1 : tests_skipped ? 77 : 0;                                  \
        }
