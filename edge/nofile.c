/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "log.h"

#include "nofile.h"

void nofile_raise(uint64_t caches, uint64_t conns)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
                log_warn("cannot read the descriptor limit: %s", strerror(errno));
                return;
        }
        if (rl.rlim_cur < rl.rlim_max) {
                rlim_t was = rl.rlim_cur;
                rl.rlim_cur = rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
                        log_info("descriptor limit raised from %llu to %llu (the hard limit)",
                                 (unsigned long long)was, (unsigned long long)rl.rlim_cur);
                } else {
                        log_warn("cannot raise the descriptor limit from %llu: %s",
                                 (unsigned long long)was, strerror(errno));
                        rl.rlim_cur = was;
                }
        }
        if (rl.rlim_cur == RLIM_INFINITY)
                return;
        if (rl.rlim_cur < caches)
                log_warn("the descriptor limit, %llu, is under what the workers' file caches may "
                         "hold (%llu: workers x cache.fd_cache and a margin); cached files will "
                         "give way and be reopened (raise the hard limit: ulimit -Hn, or "
                         "LimitNOFILE=; or lower cache.fd_cache)",
                         (unsigned long long)rl.rlim_cur, (unsigned long long)caches);
        else if (rl.rlim_cur < caches + conns)
                log_info("the descriptor limit, %llu, is under the file caches and "
                         "limits.max_connections together (%llu): past it, accepts wait for "
                         "descriptors",
                         (unsigned long long)rl.rlim_cur, (unsigned long long)(caches + conns));
}
