/* SPDX-License-Identifier: MIT */
/*
 * The token keys file (common/token.c: token_keyset_load()), which the edge, control and the
 * fill agent's verify read, and which is control's GET /v1/admin/keys answer as it is. The
 * first byte picks the shortest secret allowed (bit 0: signing's 32 bytes, else verifying's
 * 16); the rest is the file. A load either gives 1 to TOKEN_MAX_KEYS keys, each with a kid
 * that is not empty, not longer than TOKEN_KID_MAX and no other key's, a secret within the
 * bounds asked for and a retire_at that is not negative (0: never); or fails with a message
 * that is not empty and is NUL-terminated.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static int fd = -1;
        static char path[64];
        struct token_keyset ks = {0};
        char err[512];

        if (size < 1)
                return 0;
        /* The loader reads a path (and reads it again to place an error): a file in memory. */
        if (fd < 0) {
                fd = memfd_create("fuzz-token-keys", MFD_CLOEXEC);
                CHECK(fd >= 0);
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        }
        CHECK(ftruncate(fd, 0) == 0);
        CHECK(pwrite(fd, data + 1, size - 1, 0) == (ssize_t)(size - 1));

        size_t min = data[0] & 1 ? TOKEN_SIGN_SECRET_MIN : TOKEN_SECRET_MIN;
        memset(err, 0x55, sizeof(err));
        if (token_keyset_load(path, min, &ks, err, sizeof(err)) < 0) {
                CHECK(memchr(err, '\0', sizeof(err)) && err[0]);
                return 0;
        }
        CHECK(ks.n >= 1 && ks.n <= TOKEN_MAX_KEYS);
        for (size_t i = 0; i < ks.n; i++) {
                const struct token_key *k = &ks.keys[i];
                size_t kl = strnlen(k->kid, sizeof(k->kid));

                CHECK(kl >= 1 && kl <= TOKEN_KID_MAX);
                CHECK(k->secret_len >= min && k->secret_len <= TOKEN_SECRET_MAX);
                CHECK(k->retire_at >= 0);
                for (size_t j = 0; j < i; j++)
                        CHECK(strcmp(ks.keys[j].kid, k->kid) != 0);
        }
        return 0;
}
