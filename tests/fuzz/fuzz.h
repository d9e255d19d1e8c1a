/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the fuzz targets: the libFuzzer entry point, and a check that stays in release
 * (NDEBUG) builds, which replay the corpora too, where assert() would vanish. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define CHECK(c)                                                                                   \
        do {                                                                                       \
                if (!(c))                                                                          \
                        abort();                                                                   \
        } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
