/* SPDX-License-Identifier: MIT */
#pragma once
/* What a store directory holds on disk, counted by the store tests. */
#include <dirent.h>
#include <stdio.h>

/* Entries of dir/sub, dot files aside (0 when it cannot be read). */
static inline unsigned count_files(const char *dir, const char *sub)
{
        char p[1024];
        struct dirent *de;
        unsigned n = 0;
        DIR *d;

        snprintf(p, sizeof(p), "%s/%s", dir, sub);
        d = opendir(p);
        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

/* Object files under dir/objects/00..ff. */
static inline unsigned count_objects(const char *dir)
{
        unsigned n = 0;

        for (unsigned b = 0; b < 256; b++) {
                char sub[16];

                snprintf(sub, sizeof(sub), "objects/%02x", b);
                n += count_files(dir, sub);
        }
        return n;
}
