/* SPDX-License-Identifier: MIT */
/* The resume journal reader (fill-agent/journal.c): any file contents. */
#include <stddef.h>
#include <stdint.h>

#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct journal *j;
        struct journal_summary s;

        if (journal_new_memory(&j) < 0)
                return 0;
        if (journal_load_buf(j, (const char *)data, size) == 0) {
                journal_get_summary(j, &s);
                (void)journal_committed(
                    j, "/a", 2, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
                (void)journal_run_begin(j, 1, 2);
                (void)journal_commit(
                    j, "/b c", 4,
                    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 9);
                (void)journal_run_end(j, 3, 0);
        }
        journal_free(j);
        return 0;
}
