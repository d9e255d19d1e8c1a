/* SPDX-License-Identifier: MIT */
#pragma once

/* Scratch directories for the unit tests that need files: made under $TMPDIR (or /tmp),
 * removed whole at the end. */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A new directory, <prefix>-XXXXXX; exits 1 when none can be made. The name is in a static
 * buffer, good until the next call. */
static inline char *tests_scratch(const char *prefix)
{
        static char tmpl[64];
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

        (void)snprintf(tmpl, sizeof(tmpl), "%s/%s-XXXXXX", base, prefix);
        if (!mkdtemp(tmpl)) {
                perror("mkdtemp");
                exit(1);
        }
        return tmpl;
}

/* Remove path and everything under it, errors ignored. */
static inline void tests_rm_rf(const char *path)
{
        DIR *d = opendir(path);
        struct dirent *de;
        struct stat st;
        char p[1024];

        if (!d) {
                (void)unlink(path);
                return;
        }
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (snprintf(p, sizeof(p), "%s/%s", path, de->d_name) >= (int)sizeof(p))
                        continue;
                if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
                        tests_rm_rf(p);
                else
                        (void)unlink(p);
        }
        closedir(d);
        (void)rmdir(path);
}
