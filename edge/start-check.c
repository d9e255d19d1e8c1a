/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "log.h"
#include "start-check.h"

/* The directory a new entry at path would be made in is there and writable. */
static bool parent_takes(const char *key, const char *path)
{
        char dir[PATH_MAX];
        const char *slash = strrchr(path, '/');
        struct stat st;

        if (!slash)
                (void)snprintf(dir, sizeof(dir), ".");
        else if (slash == path)
                (void)snprintf(dir, sizeof(dir), "/");
        else if ((size_t)(slash - path) < sizeof(dir))
                (void)snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
        else {
                log_error("%s %s: the path is too long", key, path);
                return false;
        }
        if (stat(dir, &st) < 0 && errno == ENOENT) {
                /* The unit's LogsDirectory= and CacheDirectory= make theirs at start. */
                log_warn("%s %s: %s does not exist (yet): a start fails unless it is made "
                         "first, as systemd's LogsDirectory= and CacheDirectory= do",
                         key, path, dir);
                return true;
        }
        if (stat(dir, &st) < 0) {
                log_error("%s %s cannot be created: %s: %s", key, path, dir, strerror(errno));
                return false;
        }
        if (!S_ISDIR(st.st_mode)) {
                log_error("%s %s cannot be created: %s is not a directory", key, path, dir);
                return false;
        }
        if (access(dir, W_OK | X_OK) < 0) {
                log_error("%s %s cannot be created in %s: %s", key, path, dir, strerror(errno));
                return false;
        }
        return true;
}

/* A file opened to append to (the start creates it when absent). */
static bool appendable(const char *key, const char *path)
{
        int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

        if (fd >= 0) {
                (void)close(fd);
                return true;
        }
        if (errno == ENOENT)
                return parent_takes(key, path);
        log_error("%s %s cannot be opened: %s", key, path, strerror(errno));
        return false;
}

/* The cache directory: one, writable, or one the start can make. */
static bool dir_usable(const char *key, const char *path)
{
        struct stat st;

        if (stat(path, &st) < 0) {
                if (errno == ENOENT)
                        return parent_takes(key, path);
                log_error("%s %s: %s", key, path, strerror(errno));
                return false;
        }
        if (!S_ISDIR(st.st_mode)) {
                log_error("%s %s is not a directory", key, path);
                return false;
        }
        if (access(path, W_OK | X_OK) < 0) {
                log_error("%s %s: %s", key, path, strerror(errno));
                return false;
        }
        return true;
}

int start_check(const struct edge_cfg *cfg)
{
        const char *target = cfg->log.target, *alog = cfg->log.access_log;
        bool ok = true;

        if (target && strcmp(target, "stderr") != 0 && strcmp(target, "journal") != 0)
                ok &= appendable("log.target", target);
        if (alog && alog[0] && strcmp(alog, "-") != 0)
                ok &= appendable("log.access_log", alog);
        if (cfg->cache.dir)
                ok &= dir_usable("cache.dir", cfg->cache.dir);
        if (cfg->user && cfg->user[0]) {
                struct passwd pw, *found = NULL;
                char buf[4096];
                int r = getpwnam_r(cfg->user, &pw, buf, sizeof(buf), &found);

                if (r != 0 || !found) {
                        log_error("user '%s': %s", cfg->user,
                                  r ? strerror(r) : "no such user on this system");
                        ok = false;
                }
        }
        return ok ? 0 : -EINVAL;
}
