/* SPDX-License-Identifier: MIT */
/*
 * The resume journal reader (fill-agent/journal.c): any file contents. Whatever it loads, the
 * run that follows must be recorded on top of it as journal.h says, checked in every build:
 * the run's start and plan, a commit counted and found again, and the run's end.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz.h"
#include "journal.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct journal *j;
        struct journal_summary s, t;

        if (journal_new_memory(&j) < 0)
                return 0;
        if (journal_load_buf(j, (const char *)data, size) == 0) {
                journal_get_summary(j, &s);
                (void)journal_committed(j, "/a", 2, SHA_A);
                CHECK(journal_run_begin(j, 1, 2) == 0);
                journal_get_summary(j, &t);
                CHECK(t.started == 1 && t.plan_generated == 2 && t.ended == 0);
                CHECK(t.exit_code == -1);
                CHECK(journal_commit(j, "/b c", 4, SHA_B, 9) == 0);
                CHECK(journal_committed(j, "/b c", 4, SHA_B));
                CHECK(!journal_committed(j, "/b c", 4, SHA_A));
                journal_get_summary(j, &s);
                CHECK(s.committed == t.committed + 1 && s.committed_bytes == t.committed_bytes + 9);
                CHECK(journal_run_end(j, 3, 0) == 0);
                journal_get_summary(j, &s);
                CHECK(s.ended == 3 && s.exit_code == 0);
        }
        journal_free(j);
        return 0;
}
