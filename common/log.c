/* SPDX-License-Identifier: MIT */
/*
 * Line-oriented logging. Each line is formatted on the stack and handed to the kernel with a
 * single write(2), so lines from different threads never interleave and no lock is needed.
 * The target descriptor is swapped with dup2() on reload, which is atomic for concurrent
 * writers: a thread that loaded the old fd number still writes to a valid descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "fd-write.h"
#include "log.h"
#include "utf8.h"

enum log_level log_threshold = LOG_LVL_INFO;

/* Where lines go (STDERR_FILENO or owned_fd) and whether to add <N> priority prefixes. */
static int out_fd = STDERR_FILENO;
static bool journal;
/* The descriptor we opened for a file target. Never closed once opened: a racing writer may
 * still hold its number, so later file targets are dup2()ed onto it instead. */
static int owned_fd = -1;

/* Longest line written, newline included; longer messages are cut and marked with "...". */
#define LOG_LINE_MAX 4096

static const char *const level_names[] = {"error", "warn", "info", "debug"};
/* syslog priorities (err, warning, info, debug) so journald maps our levels. */
static const char level_prio[] = {'3', '4', '6', '7'};

int log_level_parse(const char *s)
{
        if (!s)
                return -EINVAL;
        for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
                if (strcasecmp(s, level_names[i]) == 0)
                        return (int)i;
        if (strcasecmp(s, "warning") == 0)
                return LOG_LVL_WARN;
        return -EINVAL;
}

void log_set_level(enum log_level level)
{
        __atomic_store_n(&log_threshold, level, __ATOMIC_RELAXED);
}

int log_init(enum log_level level, const char *target)
{
        if ((unsigned)level > LOG_LVL_DEBUG)
                return -EINVAL;

        if (!target || strcmp(target, "stderr") == 0 || strcmp(target, "journal") == 0) {
                __atomic_store_n(&journal, target && strcmp(target, "journal") == 0,
                                 __ATOMIC_RELAXED);
                __atomic_store_n(&out_fd, STDERR_FILENO, __ATOMIC_RELEASE);
                __atomic_store_n(&log_threshold, level, __ATOMIC_RELAXED);
                return 0;
        }
        if (target[0] == '\0')
                return -EINVAL;

        int fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
        if (fd < 0)
                return -errno;
        if (owned_fd < 0) {
                owned_fd = fd;
        } else {
                /* Reopen (e.g. after rotation) without ever closing a number in use. */
                if (dup3(fd, owned_fd, O_CLOEXEC) < 0) {
                        int r = -errno;
                        (void)close(fd);
                        return r;
                }
                (void)close(fd);
        }
        __atomic_store_n(&journal, false, __ATOMIC_RELAXED);
        __atomic_store_n(&out_fd, owned_fd, __ATOMIC_RELEASE);
        __atomic_store_n(&log_threshold, level, __ATOMIC_RELAXED);
        return 0;
}

/* "conn.c" from "edge/conn.c": the component shown in the line. */
static void component_of(const char *file, const char **ret, int *ret_len)
{
        const char *base = file ? strrchr(file, '/') : NULL;
        base = base ? base + 1 : (file ? file : "?");
        const char *dot = strrchr(base, '.');
        *ret = base;
        *ret_len = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
}

/*
 * Whether the well-formed sequence s[0..k) is a character a viewer acts on rather than shows:
 * a C1 control (U+0080..U+009F: U+009B is CSI to a terminal, as ESC [ is), a line or
 * paragraph separator (U+2028, U+2029), or a bidirectional embedding, override or isolate
 * (U+202A..U+202E, U+2066..U+2069), which reorders what follows it on screen.
 */
static bool acts(const unsigned char *s, size_t k)
{
        if (k == 2)
                return s[0] == 0xc2 && s[1] <= 0x9f;
        if (k != 3 || s[0] != 0xe2)
                return false;
        return (s[1] == 0x80 && s[2] >= 0xa8 && s[2] <= 0xae) ||
               (s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9);
}

/*
 * Copy msg into out escaping control bytes, so a client-supplied string in a message can
 * neither split a line nor forge another one, on a terminal either. What is not well-formed
 * UTF-8 and the characters acts() names are written as \xHH too: a line holding either is
 * stored by journald as binary ("[blob data]" to journalctl), or played to a terminal that
 * tails the file. Returns bytes written (<= cap), and in *ret_used how many of msg's went in.
 */
static size_t copy_escaped(char *out, size_t cap, const char *msg, size_t len, size_t *ret_used)
{
        static const char hex[] = "0123456789abcdef";
        size_t o = 0, i = 0;
        while (i < len) {
                unsigned char c = (unsigned char)msg[i];
                size_t k = c < 0x80 ? 1 : utf8_seq_len(msg + i, len - i);
                if (k > 1 && !acts((const unsigned char *)msg + i, k)) {
                        if (o + k > cap)
                                break;
                        memcpy(out + o, msg + i, k);
                        o += k;
                        i += k;
                } else if (c >= 0x20 && c < 0x7f) {
                        if (o + 1 > cap)
                                break;
                        out[o++] = (char)c;
                        i++;
                } else if (c == '\t') {
                        if (o + 1 > cap)
                                break;
                        out[o++] = ' ';
                        i++;
                } else {
                        /* One byte at a time: a rejected sequence's later bytes are looked at
                         * afresh, as what they start. */
                        if (o + 4 > cap)
                                break;
                        out[o++] = '\\';
                        out[o++] = 'x';
                        out[o++] = hex[c >> 4];
                        out[o++] = hex[c & 15];
                        i++;
                }
        }
        *ret_used = i;
        return o;
}

void log_emit(enum log_level level, const char *file, int line, const char *fmt, ...)
{
        (void)line;
        if ((unsigned)level > LOG_LVL_DEBUG ||
            level > __atomic_load_n(&log_threshold, __ATOMIC_RELAXED))
                return;

        /* Callers often log and then return -errno; keep errno intact for them. */
        int saved_errno = errno;
        char msg[LOG_LINE_MAX];
        char out[LOG_LINE_MAX];
        size_t o = 0;

        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (n < 0)
                n = 0;
        bool cut = (size_t)n >= sizeof(msg);
        size_t mlen = cut ? sizeof(msg) - 1 : (size_t)n;

        bool jr = __atomic_load_n(&journal, __ATOMIC_RELAXED);
        int fd = __atomic_load_n(&out_fd, __ATOMIC_ACQUIRE);
        const char *comp;
        int comp_len;
        component_of(file, &comp, &comp_len);

        int h;
        if (jr) {
                /* journald stamps lines itself; a second timestamp would only add noise. */
                h = snprintf(out, LOG_LINE_MAX, "<%c>%s %.*s: ", level_prio[level],
                             level_names[level], comp_len, comp);
        } else {
                struct timespec ts;
                struct tm tm;
                (void)clock_gettime(CLOCK_REALTIME, &ts);
                (void)gmtime_r(&ts.tv_sec, &tm);
                h = snprintf(out, LOG_LINE_MAX,
                             "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %.*s: ", tm.tm_year + 1900,
                             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                             ts.tv_nsec / 1000000L, level_names[level], comp_len, comp);
        }
        if (h < 0)
                h = 0;
        o = (size_t)h < LOG_LINE_MAX ? (size_t)h : LOG_LINE_MAX - 1;

        /* One byte stays free for the newline. */
        size_t used;
        o += copy_escaped(out + o, LOG_LINE_MAX - 1 - o, msg, mlen, &used);
        if (cut || used < mlen) {
                /* Overwrite the tail so the cut is visible, never half a character. */
                if (o > LOG_LINE_MAX - 4) {
                        o = LOG_LINE_MAX - 4;
                        while (o > 0 && ((unsigned char)out[o] & 0xc0) == 0x80)
                                o--;
                }
                memcpy(out + o, "...", 3);
                o += 3;
        }
        out[o++] = '\n';
        (void)fd_write_all(fd, out, o); /* nowhere left to report a failure */
        errno = saved_errno;
}

bool log_budget_take(struct log_budget *b, unsigned per_s, const char *what)
{
        time_t now = time(NULL);

        if (now != b->window) {
                if (b->dropped)
                        log_info("%s: %u more in the last %lld s not logged", what, b->dropped,
                                 (long long)(now - b->window));
                b->window = now;
                b->logged = b->dropped = 0;
        }
        if (b->logged >= per_s) {
                b->dropped++;
                return false;
        }
        b->logged++;
        return true;
}
