/* SPDX-License-Identifier: MIT */
/*
 * Privilege drop, io_uring allow-list and seccomp filter for sluice-edge (sandbox.h gives the
 * order). Each list below was taken from what the edge does: the opcodes from the uring_loop
 * helpers and the miss path's cancels, the system calls from `strace -f -c` over the
 * integration suite plus what libcurl needs for upstream fetches.
 */
#include <errno.h>
#include <fts.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <linux/capability.h>
#include <liburing.h>
#include <seccomp.h>

#include "bug.h"
#include "log.h"
#include "uring-loop.h"

#include "edge-cfg.h"
#include "sandbox.h"
#include "worker.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                        \
    __has_feature(undefined_behavior_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif

/* SQE opcodes of common/uring-loop.c's helpers and of the upstream fetch path. */
static const uint8_t uring_ops[] = {
    IORING_OP_ACCEPT,       /* uring_loop_accept_multishot */
    IORING_OP_RECV,         /* uring_loop_recv_multishot */
    IORING_OP_SEND,         /* uring_loop_send: response heads and memory bodies */
    IORING_OP_SENDMSG_ZC,   /* uring_loop_sendmsg: h2c batches, zero copy (h2-zc.c) */
    IORING_OP_SENDMSG,      /* uring_loop_sendmsg: the batch a kernel refused zero copy for */
    IORING_OP_POLL_ADD,     /* uring_loop_poll: POLLOUT waits, upstream sockets */
    IORING_OP_POLL_REMOVE,  /* a poll cancelled by its user_data */
    IORING_OP_READ,         /* uring_loop_read: the wake eventfd; the read guarding a small
                             * body's send (uring_loop_sendmsg_after_reads) */
    IORING_OP_ASYNC_CANCEL, /* uring_loop_cancel_fd, upstream re-arms */
    IORING_OP_CLOSE,        /* uring_loop_close */
    IORING_OP_TIMEOUT,      /* liburing's wait timeout on kernels without EXT_ARG */
};

/*
 * System calls the edge makes directly once started. Names, not numbers: a name this
 * architecture lacks (e.g. "open" on arm64) is skipped.
 */
static const char *const allowed_syscalls[] = {
    /* files: the store, LMDB, access log, config and key reloads */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "lseek",
    "close", "close_range", "openat", "open", "newfstatat", "fstat", "stat", "lstat", "statx",
    "fstatfs", "statfs", "getdents64", "mkdirat", "mkdir", "unlinkat", "unlink", "renameat",
    "renameat2", "rename", "linkat", "link", "ftruncate", "fallocate", "fsync", "fdatasync",
    "sync_file_range", "fcntl", "flock", "dup", "dup2", "dup3", "readlink", "readlinkat", "access",
    "faccessat", "faccessat2", "msync", "fadvise64", "readahead", "umask",
    /* the hit path: zero copy sends */
    "sendfile", "splice",
    /* memory */
    "mmap", "munmap", "mprotect", "mremap", "madvise", "brk",
    /* threads, time, signals */
    "futex", "set_robust_list", "get_robust_list", "rseq", "exit", "exit_group",
    "gettid", "getpid", "getppid", "tgkill", "tkill", "sched_yield", "sched_getaffinity",
    "sched_getattr", "sched_setattr", /* a reload that changes worker_slice_us */
    "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time",
    "rt_sigprocmask", "rt_sigaction", "rt_sigreturn", "rt_sigtimedwait", "sigaltstack",
    "restart_syscall",
    /* sockets: client I/O, upstream fetches (libcurl, its resolver), sd_notify; socket and
     * socketpair only for the families in socket_families below */
    "connect", "bind", "getsockname", "getpeername", "getsockopt",
    "setsockopt", "shutdown", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
    "poll", "ppoll", "select", "pselect6", "epoll_create1", "epoll_ctl", "epoll_wait",
    "epoll_pwait", "eventfd2", "pipe", "pipe2",
    /* the rings: only entering them; no new rings, no register operations */
    "io_uring_enter",
    /* misc */
    "getrandom", "uname", "sysinfo", "getuid", "geteuid", "getgid", "getegid", "getrlimit",
    "prlimit64", "getrusage",
};

/* ioctl requests allowed (stdio's isatty, libcurl's non-blocking and readable-bytes checks,
 * if_nametoindex() for an IPv6 zone named in an upstream or control URL, and a client
 * socket's unacknowledged bytes for the send deadline). */
static const unsigned long allowed_ioctls[] = {TCGETS,  TIOCGWINSZ,   FIONREAD, FIONBIO,
                                               FIOCLEX, SIOCGIFINDEX, SIOCOUTQ};

/*
 * Socket families the edge opens once started: upstream and control connections, the
 * resolver's DNS queries, sd_notify and the resolver's nscd socket, and the routing netlink
 * socket getaddrinfo(AI_ADDRCONFIG) reads the host's addresses from. A socket of any other
 * family (packet, crypto, vsock...) is a call outside the list.
 */
static const int socket_families[] = {AF_INET, AF_INET6, AF_UNIX, AF_NETLINK};

/* clone(2)'s flags argument: the first on most architectures, the second on s390. */
#if defined(__s390__) || defined(__s390x__)
#define CLONE_FLAGS_ARG 1
#else
#define CLONE_FLAGS_ARG 0
#endif

/* Hand the cache directory to uid:gid when its top is not theirs yet (first start as root). */
static int chown_tree(const char *dir, uid_t uid, gid_t gid, unsigned long *ret_n)
{
        char *paths[2] = {(char *)dir, NULL};
        struct stat st;
        FTSENT *e;
        FTS *fts;
        int r = 0;

        *ret_n = 0;
        if (stat(dir, &st) < 0)
                return -errno;
        if (st.st_uid == uid && st.st_gid == gid)
                return 0;
        fts = fts_open(paths, FTS_PHYSICAL | FTS_XDEV | FTS_NOSTAT, NULL);
        if (!fts)
                return -errno;
        for (;;) {
                errno = 0;
                e = fts_read(fts);
                if (!e) {
                        r = -errno; /* 0 at the end of the walk */
                        break;
                }
                if (e->fts_info == FTS_DP)
                        continue; /* directories are visited on the way down */
                if (e->fts_info == FTS_ERR || e->fts_info == FTS_DNR) {
                        r = -e->fts_errno;
                        break;
                }
                if (lchown(e->fts_accpath, uid, gid) < 0) {
                        r = -errno;
                        break;
                }
                (*ret_n)++;
        }
        (void)fts_close(fts);
        return r;
}

static int switch_user(const struct edge_cfg *cfg)
{
        struct passwd pw, *found = NULL;
        unsigned long n = 0;
        char buf[4096];
        gid_t gid;
        int r;

        r = getpwnam_r(cfg->user, &pw, buf, sizeof(buf), &found);
        if (r != 0 || !found) {
                log_error("no such user '%s'", cfg->user);
                return r ? -r : -ENOENT;
        }
        if (pw.pw_uid == 0) {
                log_warn("user '%s' is root; staying root, ignoring", cfg->user);
                return 0;
        }
        gid = pw.pw_gid;
        r = chown_tree(cfg->cache.dir, pw.pw_uid, gid, &n);
        if (r < 0) {
                log_error("cannot hand %s to user '%s': %s", cfg->cache.dir, cfg->user,
                          strerror(-r));
                return r;
        }
        if (n)
                log_info("%lu cache entries now owned by '%s'", n, cfg->user);
        /* Both are reopened on SIGHUP, as the user. */
        if (cfg->log.access_log && cfg->log.access_log[0] == '/' &&
            chown(cfg->log.access_log, pw.pw_uid, gid) < 0)
                log_warn("cannot hand %s to user '%s' (a reload cannot reopen it): %s",
                         cfg->log.access_log, cfg->user, strerror(errno));
        if (cfg->log.target && cfg->log.target[0] == '/' &&
            chown(cfg->log.target, pw.pw_uid, gid) < 0)
                log_warn("cannot hand %s to user '%s' (a reload cannot reopen it): %s",
                         cfg->log.target, cfg->user, strerror(errno));

        /* The user's groups, as su or a unit's User= give them: a reload reads the secrets
         * again, 0640 root:sluice (docs/edge-config.md), through a group the user is a member
         * of. glibc applies set*id to every thread of the process. */
        if (initgroups(cfg->user, gid) < 0 || setresgid(gid, gid, gid) < 0 ||
            setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid) < 0) {
                r = -errno;
                log_error("cannot switch to user '%s': %s", cfg->user, strerror(-r));
                return r;
        }
        if (setresuid(0, 0, 0) == 0) {
                log_error("could regain root after switching to '%s'", cfg->user);
                return -EPERM;
        }
        return 0;
}

/* Empty the bounding set. Returns false without CAP_SETPCAP (systemd bounded it already). */
static bool drop_bounding_set(void)
{
        for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) {
                if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 0)
                        continue;
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
                        return false;
        }
        return true;
}

/* Empty every capability set of this thread; the bounding set too when we may. */
static int drop_capabilities(bool *ret_bounding)
{
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

        *ret_bounding = drop_bounding_set();
        (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        memset(data, 0, sizeof(data));
        if (syscall(SYS_capset, &hdr, data) < 0)
                return -errno;
        return 0;
}

static unsigned count_threads(void)
{
        FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        unsigned n = 0;

        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "Threads: %u", &n) == 1)
                        break;
        (void)fclose(f);
        return n;
}

int sandbox_privileges_drop(const struct edge_cfg *cfg)
{
        bool bounding;
        int r;

        if (cfg->user && *cfg->user) {
                if (geteuid() == 0) {
                        /* Needs CAP_SETPCAP, which the switch takes away. */
                        if (cfg->sandbox.enabled)
                                (void)drop_bounding_set();
                        r = switch_user(cfg);
                        if (r < 0)
                                return r;
                } else {
                        struct passwd *pw = getpwnam(cfg->user);
                        if (!pw || pw->pw_uid != geteuid())
                                log_warn("not started as root, cannot switch to user "
                                         "'%s', ignoring",
                                         cfg->user);
                }
        }
        if (!cfg->sandbox.enabled) {
                log_warn("disabled by configuration");
                return 0;
        }
        if (geteuid() == 0)
                log_warn("running as root without 'user:'; capabilities are dropped "
                         "but files stay root's");
        if (count_threads() > 1)
                log_warn("%u threads before the capability drop; only this one drops, "
                         "ignoring",
                         count_threads());
        r = drop_capabilities(&bounding);
        if (r < 0) {
                log_error("cannot drop capabilities: %s", strerror(-r));
                return r;
        }
        if (!bounding)
                log_debug("bounding set kept (no CAP_SETPCAP)");
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                r = -errno;
                log_error("cannot set no_new_privs: %s", strerror(-r));
                return r;
        }
        return 0;
}

void sandbox_uring_restrict(const struct edge_cfg *cfg, struct uring_loop_params *p)
{
        if (!cfg->sandbox.enabled)
                return;
        p->allow_ops = uring_ops;
        p->n_allow_ops = ARRAY_SIZE(uring_ops);
        /* IO_LINK: the read a small body's send is linked behind (see conn.c). */
        p->allow_sqe_flags = IOSQE_BUFFER_SELECT | IOSQE_IO_LINK;
}

/*
 * Threads but no processes, and sockets of the edge's families only. clone(2) passes when its
 * flags hold CLONE_THREAD (pthread_create); a fork's clone has no CLONE_THREAD and meets the
 * default action. clone3(2) passes its flags in memory, which a filter cannot read, so it
 * fails with ENOSYS and glibc falls back to clone(2). Returns rules added or -errno.
 */
static int seccomp_add_process_rules(scmp_filter_ctx ctx)
{
        struct scmp_arg_cmp thread = {.arg = CLONE_FLAGS_ARG, .op = SCMP_CMP_MASKED_EQ,
                                      .datum_a = CLONE_THREAD, .datum_b = CLONE_THREAD};
        struct scmp_arg_cmp local = {.arg = 0, .op = SCMP_CMP_EQ, .datum_a = AF_UNIX,
                                     .datum_b = 0};
        int clone3 = seccomp_syscall_resolve_name("clone3");
        int r, n = 0;

        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, thread);
        if (r == 0 && clone3 != __NR_SCMP_ERROR) {
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), clone3, 0);
                n++;
        }
        if (r == 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1, local);
        n += 2;
        for (size_t i = 0; r == 0 && i < ARRAY_SIZE(socket_families); i++) {
                struct scmp_arg_cmp family = {.arg = 0, .op = SCMP_CMP_EQ,
                                              .datum_a = (scmp_datum_t)socket_families[i],
                                              .datum_b = 0};
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, family);
                n++;
        }
        return r < 0 ? r : n;
}

/* Build and load the filter over every thread. Returns rules added or -errno. */
static int seccomp_load_filter(enum edge_seccomp_mode mode)
{
        uint32_t deflt = mode == EDGE_SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS;
        scmp_filter_ctx ctx;
        int r, n = 0;

        ctx = seccomp_init(deflt);
        if (!ctx)
                return -ENOMEM;
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
        if (r < 0)
                goto out;
        /* A binary tree over syscall numbers: a send costs a few comparisons, not ~130. */
        (void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
        for (size_t i = 0; i < ARRAY_SIZE(allowed_syscalls); i++) {
                int nr = seccomp_syscall_resolve_name(allowed_syscalls[i]);
                if (nr == __NR_SCMP_ERROR)
                        continue;
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
                if (r < 0)
                        goto out;
                n++;
        }
        r = seccomp_add_process_rules(ctx);
        if (r < 0)
                goto out;
        n += r;
        for (size_t i = 0; i < ARRAY_SIZE(allowed_ioctls); i++) {
                /* Spelled out: the SCMP_A1() macro leaves datum_b implicit, which clang flags. */
                struct scmp_arg_cmp cmp = {.arg = 1, .op = SCMP_CMP_EQ,
                                           .datum_a = allowed_ioctls[i], .datum_b = 0};
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, cmp);
                if (r < 0)
                        goto out;
                n++;
        }
        r = seccomp_load(ctx);
        if (r == 0)
                r = n;
out:
        seccomp_release(ctx);
        return r;
}

static const char *mode_name(enum edge_seccomp_mode m)
{
        return m == EDGE_SECCOMP_KILL ? "kill" : m == EDGE_SECCOMP_LOG ? "log" : "off";
}

int sandbox_filter_apply(const struct edge_cfg *cfg, const struct edge_server *srv)
{
        enum edge_seccomp_mode mode = (enum edge_seccomp_mode)cfg->sandbox.seccomp;
        unsigned restricted = 0, ops = 0;
        int n = 0;

        if (!cfg->sandbox.enabled)
                return 0;
        for (unsigned i = 0; i <= srv->n_workers; i++) {
                unsigned k = srv->workers[i].loop ? uring_loop_restrictions(srv->workers[i].loop)
                                                  : 0;
                if (k) {
                        restricted++;
                        ops = k;
                }
        }
#ifdef SANITIZER_BUILD
        /* The sanitizer runtimes make calls of their own (LeakSanitizer ptraces at exit). */
        if (mode == EDGE_SECCOMP_KILL) {
                log_info("sanitizer build, seccomp logs instead of killing");
                mode = EDGE_SECCOMP_LOG;
        }
#endif
        if (mode != EDGE_SECCOMP_OFF) {
                n = seccomp_load_filter(mode);
                if (n < 0) {
                        log_error("cannot load the seccomp filter: %s", strerror(-n));
                        return n;
                }
        }
        log_info("uid %u, capabilities none, no_new_privs, io_uring restricted to %u "
                 "opcodes on %u of %u rings, seccomp %s (%d rules)",
                 (unsigned)geteuid(), ops, restricted, srv->n_workers + 1, mode_name(mode), n);
        return 0;
}
