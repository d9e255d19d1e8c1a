/* SPDX-License-Identifier: MIT */
/*
 * The edge's self-restriction (edge/sandbox.c), included here to reach its lists:
 *   - the io_uring allow-list covers every opcode that common/ and edge/ submit, found by
 *     reading their sources for io_uring_prep_*() calls, so a new kind of SQE cannot ship
 *     without its opcode (the restricted ring would refuse it with -EACCES at run time);
 *   - the seccomp filter, loaded in a forked child, lets the calls the edge makes through
 *     (threads and a name lookup among them) and kills the child with SIGSYS on others
 *     (ptrace, mount, execve, new rings, an ioctl request outside its list, a fork, a socket
 *     of a family the edge never opens); in log mode it kills nothing;
 *   - the privilege drop and sandbox_filter_apply leave a child with no capabilities,
 *     no_new_privs and seccomp filter mode, as /proc/self/status shows.
 * SLUICE_SOURCE_ROOT (set by meson) is the tree whose sources are read.
 */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "sandbox.c"
#include "tests.h"

#ifndef SLUICE_SOURCE_ROOT
#error "SLUICE_SOURCE_ROOT must name the source tree"
#endif

/* liburing's prep helpers and the opcode each submits. */
static const struct {
        const char *name;
        uint8_t op;
} prep_ops[] = {
    {"accept", IORING_OP_ACCEPT},
    {"accept_direct", IORING_OP_ACCEPT},
    {"multishot_accept", IORING_OP_ACCEPT},
    {"multishot_accept_direct", IORING_OP_ACCEPT},
    {"recv", IORING_OP_RECV},
    {"recv_multishot", IORING_OP_RECV},
    {"recvmsg", IORING_OP_RECVMSG},
    {"recvmsg_multishot", IORING_OP_RECVMSG},
    {"send", IORING_OP_SEND},
    {"sendto", IORING_OP_SEND},
    {"send_zc", IORING_OP_SEND_ZC},
    {"sendmsg", IORING_OP_SENDMSG},
    {"sendmsg_zc", IORING_OP_SENDMSG_ZC},
    {"poll_add", IORING_OP_POLL_ADD},
    {"poll_multishot", IORING_OP_POLL_ADD},
    {"poll_remove", IORING_OP_POLL_REMOVE},
    {"poll_update", IORING_OP_POLL_REMOVE},
    {"read", IORING_OP_READ},
    {"readv", IORING_OP_READV},
    {"readv2", IORING_OP_READV},
    {"read_fixed", IORING_OP_READ_FIXED},
    {"write", IORING_OP_WRITE},
    {"writev", IORING_OP_WRITEV},
    {"writev2", IORING_OP_WRITEV},
    {"write_fixed", IORING_OP_WRITE_FIXED},
    {"cancel", IORING_OP_ASYNC_CANCEL},
    {"cancel64", IORING_OP_ASYNC_CANCEL},
    {"cancel_fd", IORING_OP_ASYNC_CANCEL},
    {"close", IORING_OP_CLOSE},
    {"close_direct", IORING_OP_CLOSE},
    {"timeout", IORING_OP_TIMEOUT},
    {"timeout_remove", IORING_OP_TIMEOUT_REMOVE},
    {"timeout_update", IORING_OP_TIMEOUT_REMOVE},
    {"link_timeout", IORING_OP_LINK_TIMEOUT},
    {"nop", IORING_OP_NOP},
    {"connect", IORING_OP_CONNECT},
    {"shutdown", IORING_OP_SHUTDOWN},
    {"socket", IORING_OP_SOCKET},
    {"splice", IORING_OP_SPLICE},
    {"tee", IORING_OP_TEE},
    {"openat", IORING_OP_OPENAT},
    {"statx", IORING_OP_STATX},
    {"fsync", IORING_OP_FSYNC},
    {"fallocate", IORING_OP_FALLOCATE},
    {"fadvise", IORING_OP_FADVISE},
    {"madvise", IORING_OP_MADVISE},
    {"sync_file_range", IORING_OP_SYNC_FILE_RANGE},
    {"unlinkat", IORING_OP_UNLINKAT},
    {"renameat", IORING_OP_RENAMEAT},
    {"mkdirat", IORING_OP_MKDIRAT},
    {"provide_buffers", IORING_OP_PROVIDE_BUFFERS},
    {"remove_buffers", IORING_OP_REMOVE_BUFFERS},
    {"msg_ring", IORING_OP_MSG_RING},
    {"files_update", IORING_OP_FILES_UPDATE},
    {"epoll_ctl", IORING_OP_EPOLL_CTL},
};

/*
 * Allowed without a prep call in the tree: liburing submits a TIMEOUT itself for a wait with a
 * timeout on kernels without IORING_ENTER_EXT_ARG; POLL_REMOVE is kept for cancelling a poll by
 * its user_data. Anything else allowed and never submitted is a needless opening.
 */
static const uint8_t implicit_ops[] = {IORING_OP_TIMEOUT, IORING_OP_POLL_REMOVE};

struct scan {
        bool used[256];
        char where[256][128]; /* the first call submitting each opcode, and its file */
        unsigned calls;
        char unknown[256]; /* first prep helper missing from prep_ops[], with its file */
};

/* A prep helper's name for op, for messages. */
static const char *op_name(uint8_t op)
{
        for (size_t i = 0; i < ARRAY_SIZE(prep_ops); i++)
                if (prep_ops[i].op == op)
                        return prep_ops[i].name;
        return "?";
}

static bool op_in(const uint8_t *ops, size_t n, uint8_t op)
{
        for (size_t i = 0; i < n; i++)
                if (ops[i] == op)
                        return true;
        return false;
}

static char *slurp(const char *path)
{
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        long n;

        if (!f)
                return NULL;
        if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
                buf = malloc((size_t)n + 1);
                if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
                        free(buf);
                        buf = NULL;
                }
                if (buf)
                        buf[n] = '\0';
        }
        (void)fclose(f);
        return buf;
}

/* Blank out comments and string and character literals, so only code is read. */
static void strip_comments(char *s)
{
        for (char *p = s; *p; p++) {
                if (p[0] == '/' && p[1] == '*') {
                        char *end = strstr(p + 2, "*/");
                        char *stop = end ? end + 2 : p + strlen(p);
                        memset(p, ' ', (size_t)(stop - p));
                        p = stop - 1;
                } else if (p[0] == '/' && p[1] == '/') {
                        while (*p && *p != '\n')
                                *p++ = ' ';
                        p--;
                } else if (*p == '"' || *p == '\'') {
                        char quote = *p;
                        for (p++; *p && *p != quote && *p != '\n'; p++) {
                                if (*p == '\\' && p[1])
                                        *p++ = ' ';
                                *p = ' ';
                        }
                        if (!*p)
                                p--;
                }
        }
}

static void scan_text(const char *path, char *text, struct scan *sc)
{
        static const char prefix[] = "io_uring_prep_";

        strip_comments(text);
        for (char *p = strstr(text, prefix); p; p = strstr(p + 1, prefix)) {
                const char *name = p + sizeof(prefix) - 1;
                size_t len = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_");
                const char *after = name + len;
                bool known = false;

                while (*after == ' ' || *after == '\t' || *after == '\n')
                        after++;
                if (*after != '(' || (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_')))
                        continue; /* not a call */
                sc->calls++;
                for (size_t i = 0; i < ARRAY_SIZE(prep_ops); i++) {
                        uint8_t op = prep_ops[i].op;
                        if (strlen(prep_ops[i].name) == len &&
                            memcmp(prep_ops[i].name, name, len) == 0) {
                                if (!sc->used[op])
                                        snprintf(sc->where[op], sizeof(sc->where[op]),
                                                 "io_uring_prep_%s in %s", prep_ops[i].name, path);
                                sc->used[op] = true;
                                known = true;
                                break;
                        }
                }
                if (!known && !sc->unknown[0])
                        snprintf(sc->unknown, sizeof(sc->unknown), "io_uring_prep_%.*s in %s",
                                 (int)len, name, path);
        }
}

/* Read every .c and .h file under dir (recursively). Returns the number of files read. */
static unsigned scan_dir(const char *dir, struct scan *sc)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        unsigned n = 0;

        if (!d)
                return 0;
        while ((e = readdir(d))) {
                char path[4096];
                size_t len = strlen(e->d_name);
                struct stat st;

                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                if (stat(path, &st) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        n += scan_dir(path, sc);
                } else if (len > 2 && (strcmp(e->d_name + len - 2, ".c") == 0 ||
                                       strcmp(e->d_name + len - 2, ".h") == 0)) {
                        char *text = slurp(path);
                        if (text) {
                                scan_text(path, text, sc);
                                free(text);
                                n++;
                        }
                }
        }
        (void)closedir(d);
        return n;
}

TEST(scanner_reads_calls_not_comments)
{
        char text[] = "/* io_uring_prep_splice(sqe) */ x = \"io_uring_prep_tee(\"; c = '\"';\n"
                      "// io_uring_prep_openat(sqe)\n"
                      "io_uring_prep_send (sqe, fd, b, n, 0); my_io_uring_prep_nop(sqe);\n"
                      "io_uring_prep_frobnicate(sqe);\n";
        static struct scan sc;

        scan_text("x.c", text, &sc);
        ASSERT_EQ(sc.calls, 2);
        ASSERT_TRUE(sc.used[IORING_OP_SEND]);
        ASSERT_TRUE(!sc.used[IORING_OP_SPLICE] && !sc.used[IORING_OP_TEE]);
        ASSERT_TRUE(!sc.used[IORING_OP_OPENAT] && !sc.used[IORING_OP_NOP]);
        ASSERT_STREQ(sc.unknown, "io_uring_prep_frobnicate in x.c");
}

TEST(uring_allow_list_covers_every_submitted_opcode)
{
        static struct scan sc;
        unsigned files =
            scan_dir(SLUICE_SOURCE_ROOT "/common", &sc) + scan_dir(SLUICE_SOURCE_ROOT "/edge", &sc);

        ASSERT_TRUE(files > 10);
        /* The loop accepts, receives, sends, polls, reads its eventfd, cancels and closes. */
        ASSERT_TRUE(sc.calls >= 7);
        if (sc.unknown[0])
                TEST_FAIL_AT("%s: add it to prep_ops[] here, and its opcode to sandbox.c's "
                             "uring_ops[] if the edge submits it",
                             sc.unknown);
        for (unsigned op = 0; op < 256; op++)
                if (sc.used[op] && !op_in(uring_ops, ARRAY_SIZE(uring_ops), (uint8_t)op))
                        TEST_FAIL_AT("opcode %u (%s) is submitted but not in sandbox.c's "
                                     "uring_ops[]: the restricted ring refuses it",
                                     op, sc.where[op]);
        for (size_t i = 0; i < ARRAY_SIZE(uring_ops); i++) {
                uint8_t op = uring_ops[i];
                if (!sc.used[op] && !op_in(implicit_ops, ARRAY_SIZE(implicit_ops), op))
                        TEST_FAIL_AT("opcode %u (%s) is allowed but nothing submits it", op,
                                     op_name(op));
                for (size_t j = 0; j < i; j++)
                        if (uring_ops[j] == op)
                                TEST_FAIL_AT("opcode %u listed twice", op);
        }
}

TEST(uring_restrict_follows_the_switch)
{
        struct edge_cfg cfg = {0};
        struct uring_loop_params p = {0};

        sandbox_uring_restrict(&cfg, &p);
        ASSERT_EQ(p.n_allow_ops, 0);
        ASSERT_TRUE(p.allow_ops == NULL);

        cfg.sandbox.enabled = true;
        sandbox_uring_restrict(&cfg, &p);
        ASSERT_TRUE(p.allow_ops == uring_ops);
        ASSERT_EQ(p.n_allow_ops, ARRAY_SIZE(uring_ops));
        ASSERT_EQ(p.allow_sqe_flags, IOSQE_BUFFER_SELECT | IOSQE_IO_LINK);
}

TEST(uring_loop_takes_the_edge_list)
{
        struct edge_cfg cfg = {.sandbox = {.enabled = true}};
        struct uring_loop_params p = {.sq_entries = 8};
        struct uring_loop *loop = NULL;
        int r;

        sandbox_uring_restrict(&cfg, &p);
        r = uring_loop_new(&p, &loop);
        if (r == -ENOSYS || r == -EPERM) {
                TEST_SKIP_CASE("io_uring unavailable (%d): the restricted ring not checked", r);
        }
        ASSERT_EQ(r, 0);
        ASSERT_EQ(uring_loop_restrictions(loop), ARRAY_SIZE(uring_ops));
        uring_loop_free(loop);
}

/* ---- seccomp, in forked children ---------------------------------------------------------- */

/* Child exit codes: 0 all well, others name the step that went wrong. */
enum {
        CHILD_OK = 0,
        CHILD_LOAD = 10,
        CHILD_CALL = 11,
        CHILD_STATUS = 12,
        CHILD_SURVIVED = 13,
};

/* "Name:\tvalue" of /proc/self/status, as an integer; -1 when absent. Allowed calls only. */
static long self_status(const char *name)
{
        char buf[8192], key[64];
        ssize_t n = 0, r;
        long v = -1;
        int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return -1;
        while (n < (ssize_t)sizeof(buf) - 1 &&
               (r = read(fd, buf + n, sizeof(buf) - 1 - (size_t)n)) > 0)
                n += r;
        (void)close(fd);
        buf[n] = '\0';
        snprintf(key, sizeof(key), "\n%s:", name);
        const char *p = strstr(buf, key);
        if (p)
                v = strtol(p + strlen(key), NULL, 16); /* decimal fields read the same below 10 */
        return v;
}

/* Run fn in a child and return its wait status. No core dumps from the expected SIGSYS. */
static int in_child(int (*fn)(void *), void *arg)
{
        int status = 0;
        pid_t pid;

        fflush(NULL);
        pid = fork();
        if (pid == 0) {
                struct rlimit no_core = {0, 0};
                (void)setrlimit(RLIMIT_CORE, &no_core);
                _exit(fn(arg));
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid)
                return -1;
        return status;
}

static bool killed_by_sigsys(int status)
{
        return status >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

static bool exited_ok(int status)
{
        return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == CHILD_OK;
}

static int child_allow_all(void *arg)
{
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

        (void)arg;
        return ctx && seccomp_load(ctx) == 0 ? CHILD_OK : CHILD_LOAD;
}

/*
 * Why filters cannot be tried here, or NULL when they can. Not under valgrind, which runs the
 * test inside itself: the filter would judge valgrind's own calls. Each seccomp case skips
 * alone (TEST_SKIP_CASE), so the cases before and after still run.
 */
static const char *seccomp_unusable(void)
{
        if (tests_under_valgrind())
                return "under valgrind: the seccomp case not run";
        if (!exited_ok(in_child(child_allow_all, NULL)))
                return "cannot load a seccomp filter here: the seccomp case not run";
        return NULL;
}

static void *thread_main(void *arg)
{
        *(int *)arg = 1;
        return NULL;
}

/* A thread started and joined; clone3 refused with ENOSYS (glibc then uses clone). */
static bool threads_work(void)
{
        pthread_t t;
        int ran = 0;

        errno = 0;
        if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
                return false;
        return pthread_create(&t, NULL, thread_main, &ran) == 0 && pthread_join(t, NULL) == 0 &&
               ran == 1;
}

/* A socket of each family the edge opens, and a getaddrinfo lookup as libcurl's resolver
 * makes one (here with AI_ADDRCONFIG, which reads the host's addresses over routing netlink). */
static bool sockets_work(void)
{
        static const int families[][3] = {{AF_INET, SOCK_STREAM, 0},
                                          {AF_INET6, SOCK_DGRAM, 0},
                                          {AF_UNIX, SOCK_STREAM, 0},
                                          {AF_NETLINK, SOCK_RAW, 0 /* NETLINK_ROUTE */}};
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV};
        struct addrinfo *res = NULL;
        int sv[2], s, r;

        for (size_t i = 0; i < ARRAY_SIZE(families); i++) {
                s = socket(families[i][0], families[i][1] | SOCK_CLOEXEC, families[i][2]);
                /* A family the kernel lacks fails; the filter would have killed instead. */
                if (s >= 0)
                        (void)close(s);
                else if (errno != EAFNOSUPPORT)
                        return false;
        }
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return false;
        (void)close(sv[0]);
        (void)close(sv[1]);
        r = getaddrinfo("localhost", "80", &hints, &res);
        if (r == 0)
                freeaddrinfo(res);
        /* No address configured at all is an answer too; a filtered call would have killed. */
        return r == 0 || r == EAI_NONAME || r == EAI_ADDRFAMILY || r == EAI_NODATA;
}

/* What the edge does once filtered: files, pipes, sockets, memory, time, an io_uring enter. */
static int child_allowed_calls(void *arg)
{
        struct io_uring ring;
        bool have_ring = io_uring_queue_init(4, &ring, 0) == 0;
        char path[] = "/tmp/sluice-sandbox-XXXXXX";
        struct timespec ts;
        int fds[2], fd, s, n = 0;
        char buf[16];
        void *mem;

        (void)arg;
        fd = mkstemp(path);
        if (fd < 0)
                return CHILD_CALL;
        if (seccomp_load_filter(EDGE_SECCOMP_KILL) < 0)
                return CHILD_LOAD;
        if (pwrite(fd, "sluice", 6, 0) != 6 || pread(fd, buf, 6, 0) != 6 || fsync(fd) < 0 ||
            ftruncate(fd, 3) < 0 || close(fd) < 0 || unlink(path) < 0)
                return CHILD_CALL;
        if (pipe2(fds, O_CLOEXEC) < 0 || write(fds[1], "x", 1) != 1 ||
            ioctl(fds[0], FIONREAD, &n) < 0 || n != 1 || read(fds[0], buf, 1) != 1)
                return CHILD_CALL;
        (void)close(fds[0]);
        (void)close(fds[1]);
        s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int)) < 0 ||
            close(s) < 0)
                return CHILD_CALL;
        mem = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED || munmap(mem, 1 << 20) < 0)
                return CHILD_CALL;
        if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0 || getpid() <= 0)
                return CHILD_CALL;
        if (!threads_work() || !sockets_work())
                return CHILD_CALL;
        if (have_ring) {
                struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
                struct io_uring_cqe *cqe;
                if (!sqe)
                        return CHILD_CALL;
                io_uring_prep_nop(sqe);
                if (io_uring_submit_and_wait(&ring, 1) != 1 || io_uring_peek_cqe(&ring, &cqe) < 0)
                        return CHILD_CALL;
        }
        if (self_status("Seccomp") != 2 || self_status("NoNewPrivs") != 1)
                return CHILD_STATUS;
        return CHILD_OK;
}

TEST(filter_lets_the_edges_calls_through)
{
        const char *why = seccomp_unusable();
        int status;

        if (why)
                TEST_SKIP_CASE("%s", why);
        status = in_child(child_allowed_calls, NULL);
        if (!exited_ok(status))
                TEST_FAIL_AT("child: status 0x%x (exit %d, signal %d)", status,
                             WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                             WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

enum forbidden {
        F_PTRACE,
        F_MOUNT,
        F_EXECVE,
        F_IO_URING_SETUP,
        F_IO_URING_REGISTER,
        F_SETUID,
        F_IOCTL_OTHER,
        F_FORK,
        F_SOCKET_PACKET,
        F_SOCKET_ALG,
        F_SOCKETPAIR_INET,
        F_COUNT,
};

static const char *const forbidden_names[F_COUNT] = {
    "ptrace", "mount", "execve", "io_uring_setup", "io_uring_register", "setuid", "ioctl(TIOCSTI)",
    "clone without CLONE_THREAD (a fork)", "socket(AF_PACKET)", "socket(AF_ALG)",
    "socketpair(AF_INET)",
};

struct forbidden_try {
        enum forbidden what;
        enum edge_seccomp_mode mode;
};

static int child_forbidden(void *arg)
{
        const struct forbidden_try *t = arg;
        char *const argv[] = {(char *)"/bin/true", NULL};
        char c = 'x';
        int fds[2];

        if (seccomp_load_filter(t->mode) < 0)
                return CHILD_LOAD;
        switch (t->what) {
        case F_PTRACE:
                (void)syscall(SYS_ptrace, PTRACE_TRACEME, 0, NULL, NULL);
                break;
        case F_MOUNT:
                (void)syscall(SYS_mount, "none", "/nonexistent-sluice", "tmpfs", 0UL, NULL);
                break;
        case F_EXECVE:
                (void)syscall(SYS_execve, argv[0], argv, NULL);
                break;
        case F_IO_URING_SETUP:
                (void)syscall(__NR_io_uring_setup, 4, NULL);
                break;
        case F_IO_URING_REGISTER:
                (void)syscall(__NR_io_uring_register, -1, IORING_REGISTER_PROBE, NULL, 0);
                break;
        case F_SETUID:
                (void)syscall(SYS_setuid, getuid());
                break;
        case F_IOCTL_OTHER:
                (void)syscall(SYS_ioctl, -1, TIOCSTI, &c);
                break;
        case F_FORK:
                /* Raw, as glibc's fork() makes it; a child that got through exits too. */
                if (syscall(SYS_clone, (unsigned long)SIGCHLD, NULL, NULL, NULL, 0UL) == 0)
                        _exit(CHILD_SURVIVED);
                break;
        case F_SOCKET_PACKET:
                (void)syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0);
                break;
        case F_SOCKET_ALG:
                (void)syscall(SYS_socket, AF_ALG, SOCK_SEQPACKET, 0);
                break;
        case F_SOCKETPAIR_INET:
                (void)syscall(SYS_socketpair, AF_INET, SOCK_STREAM, 0, fds);
                break;
        case F_COUNT:
                break;
        }
        return t->mode == EDGE_SECCOMP_LOG ? CHILD_OK : CHILD_SURVIVED;
}

TEST(filter_kills_on_forbidden_calls)
{
        const char *why = seccomp_unusable();

        if (why)
                TEST_SKIP_CASE("%s", why);
        for (enum forbidden f = 0; f < F_COUNT; f++) {
                struct forbidden_try t = {f, EDGE_SECCOMP_KILL};
                int status = in_child(child_forbidden, &t);
                if (!killed_by_sigsys(status))
                        TEST_FAIL_AT("%s: child not killed by SIGSYS (status 0x%x, exit %d)",
                                     forbidden_names[f], status,
                                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        }
}

TEST(log_mode_kills_nothing)
{
        /* The mount goes through to the kernel, which refuses it: no such mount point. */
        struct forbidden_try t = {F_MOUNT, EDGE_SECCOMP_LOG};
        const char *why = seccomp_unusable();
        int status;

        if (why)
                TEST_SKIP_CASE("%s", why);
        status = in_child(child_forbidden, &t);
        ASSERT_TRUE(exited_ok(status));
}

/* The whole sequence of main(): drop privileges, then apply the filter over a server whose
 * one worker has a ring restricted to the edge's list. */
static int child_full_sequence(void *arg)
{
        struct edge_cfg cfg = {.sandbox = {.enabled = true, .seccomp = EDGE_SECCOMP_KILL}};
        struct uring_loop_params p = {.sq_entries = 8};
        struct edge_worker workers[2];
        struct edge_server srv;

        (void)arg;
        memset(workers, 0, sizeof(workers));
        memset(&srv, 0, sizeof(srv));
        srv.workers = workers;
        srv.n_workers = 1;
        sandbox_uring_restrict(&cfg, &p);
        if (uring_loop_new(&p, &workers[0].loop) < 0)
                workers[0].loop = NULL; /* no io_uring here: the filter is still checked */
        if (sandbox_privileges_drop(&cfg) < 0 || sandbox_filter_apply(&cfg, &srv) < 0)
                return CHILD_LOAD;
        if (self_status("CapEff") != 0 || self_status("CapPrm") != 0 ||
            self_status("CapAmb") != 0 || self_status("NoNewPrivs") != 1 ||
            self_status("Seccomp") != 2)
                return CHILD_STATUS;
        return CHILD_OK;
}

TEST(privileges_drop_then_filter)
{
        const char *why = seccomp_unusable();
        int status;

        if (why)
                TEST_SKIP_CASE("%s", why);
        status = in_child(child_full_sequence, NULL);
        if (!exited_ok(status))
                TEST_FAIL_AT("child: status 0x%x (exit %d, signal %d)", status,
                             WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                             WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

TEST_MAIN()
