/* SPDX-License-Identifier: MIT */
/*
 * sluice-ingest: source video -> ABR ladder (H.264/AAC fMP4, 4 s aligned segments) in the
 * origin layout, optionally CENC-encrypted, described by asset.json and registered with
 * control. See docs/ingest.md.
 *
 * The title is built in <origin>/.ingest.<pid>.<title>.XXXXXX and renamed to
 * <origin>/<title> only once every file and asset.json are written and synced, so a title
 * directory that exists is complete.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "asset.h"
#include "cenc.h"
#include "hex.h"
#include "ladder.h"
#include "lang.h"
#include "metadata.h"
#include "mp4-info.h"
#include "probe.h"
#include "proc.h"
#include "util.h"

#include "sluice-version.h"

#define JOBS_MAX         (8 + LADDER_AUDIO_MAX + LADDER_TEXT_MAX)
#define EXIT_USAGE       2
#define EXIT_REGISTER    3
#define EXIT_INTERRUPTED 130
/* Control's asset reader takes titles of at most 63 bytes (control/asset.h, ASSET_ID_MAX
 * with its NUL), fewer than its id alphabet allows elsewhere. */
#define TITLE_MAX 63

struct opts {
        const char *title, *origin, *source, *register_url, *key_out, *key_in, *token_file;
        const char *ladder, *audio_lang, *ffmpeg, *ffprobe, *preset, *metadata;
        const char *subs[LADDER_TEXT_MAX];
        unsigned n_subs;
        double test_seconds;
        int encrypt, four_k, replace, jobs, threads, progress; /* progress: -1 auto */
        int register_only;
};

#define STOP_GRACE_S 5.0 /* seconds an encoder gets to exit on SIGTERM before SIGKILL */

static volatile sig_atomic_t interrupted;
static char tmp_dir[PATH_MAX];
static char key_tmp[PATH_MAX]; /* the key staged beside --key-out until its title is published */
/* SOURCE and the --subtitles files as ffmpeg reads them: util_file_url */
static char src_url[PATH_MAX + 8], sub_url[LADDER_TEXT_MAX][PATH_MAX + 8];

static void on_signal(int sig)
{
        interrupted = sig;
}

static void usage(FILE *f)
{
        fputs("Usage: sluice-ingest --title ID --origin DIR [OPTIONS] (SOURCE | --test-source "
              "SECONDS)\n"
              "\n"
              "Encode SOURCE into the bitrate ladder (H.264 + AAC, fMP4, 4 s segments with\n"
              "keyframes aligned across renditions) and publish it as DIR/ID/ with asset.json.\n"
              "\n"
              "  --title ID             title id: letters, digits, '_' and '-', at most 63,\n"
              "                         a letter or digit first\n"
              "  --origin DIR           origin directory (must exist)\n"
              "  --test-source SECONDS  make a synthetic title (pattern, burnt-in rung name and\n"
              "                         time, beeping tone) instead of reading SOURCE\n"
              "  --4k                   test source at 3840x2160, so the 2160p rung is made\n"
              "  --ladder LIST          only these rungs, e.g. 240p,360p (default: every rung\n"
              "                         up to the source height: 240p 360p 480p 720p 1080p 2160p)\n"
              "  --audio-lang LIST      languages of the source's audio streams, in order\n"
              "                         (default: their language tags, else 'und'; 'en' for\n"
              "                         the test source; more entries add test tones)\n"
              "  --subtitles LANG=FILE  add a WebVTT subtitle track (repeatable)\n"
              "  --encrypt              CENC (cenc, AES-128-CTR) with a new random key and KID\n"
              "  --key-out FILE         write the key as JSON to FILE, a new file outside DIR\n"
              "                         (mode 0600; never replaced), once the title is\n"
              "                         published; needed with --register, which sends\n"
              "                         control the key too; without it the key is printed\n"
              "                         on stdout\n"
              "  --register URL         register title, asset and key with control at URL\n"
              "  --metadata FILE        with --register: the title's catalog fields, a YAML or\n"
              "                         JSON file of \"metadata\", \"series\" and \"markers\"\n"
              "                         as control's admin API takes them (docs/ingest.md)\n"
              "  --token-file FILE      bearer token for --register (or $SLUICE_CONTROL_TOKEN)\n"
              "  --register-only        register an already published title again (with\n"
              "                         --key-in FILE, the --key-out file, if encrypted)\n"
              "  --replace              replace an existing title atomically\n"
              "  --jobs N               renditions encoded at once (default: cores)\n"
              "  --threads N            threads per ffmpeg (default: ffmpeg's choice)\n"
              "  --preset NAME          x264 preset (default: veryfast)\n"
              "  --ffmpeg PATH, --ffprobe PATH   programs to run (default: from PATH)\n"
              "  --progress, --no-progress       force the progress line on or off\n"
              "  -h, --help, --version\n"
              "\n"
              "Exit: 0 done, 1 failed (nothing published), 2 usage, 3 published but\n"
              "registration failed, 130 interrupted.\n",
              f);
}

/* A title id control takes (its sluice_id: a letter or digit first), at most TITLE_MAX bytes. */
static int title_valid(const char *t)
{
        size_t n = strlen(t);
        if (n == 0 || n > TITLE_MAX)
                return 0;
        for (size_t i = 0; i < n; i++) {
                char c = t[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      (i > 0 && (c == '_' || c == '-'))))
                        return 0;
        }
        return 1;
}

static int parse_uint(const char *s, long lo, long hi, int *ret)
{
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < lo || v > hi)
                return -EINVAL;
        *ret = (int)v;
        return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
        enum {
                O_TITLE = 256,
                O_ORIGIN,
                O_TEST,
                O_4K,
                O_LADDER,
                O_ALANG,
                O_SUBS,
                O_ENC,
                O_KEYOUT,
                O_REG,
                O_TOKEN,
                O_REPLACE,
                O_JOBS,
                O_THREADS,
                O_PRESET,
                O_FFMPEG,
                O_FFPROBE,
                O_PROG,
                O_NOPROG,
                O_VERSION,
                O_REGONLY,
                O_KEYIN,
                O_META
        };
        static const struct option lo[] = {
            {"title", required_argument, 0, O_TITLE},
            {"origin", required_argument, 0, O_ORIGIN},
            {"test-source", required_argument, 0, O_TEST},
            {"4k", no_argument, 0, O_4K},
            {"ladder", required_argument, 0, O_LADDER},
            {"audio-lang", required_argument, 0, O_ALANG},
            {"subtitles", required_argument, 0, O_SUBS},
            {"encrypt", no_argument, 0, O_ENC},
            {"key-out", required_argument, 0, O_KEYOUT},
            {"register", required_argument, 0, O_REG},
            {"token-file", required_argument, 0, O_TOKEN},
            {"replace", no_argument, 0, O_REPLACE},
            {"jobs", required_argument, 0, O_JOBS},
            {"threads", required_argument, 0, O_THREADS},
            {"preset", required_argument, 0, O_PRESET},
            {"ffmpeg", required_argument, 0, O_FFMPEG},
            {"ffprobe", required_argument, 0, O_FFPROBE},
            {"progress", no_argument, 0, O_PROG},
            {"no-progress", no_argument, 0, O_NOPROG},
            {"register-only", no_argument, 0, O_REGONLY},
            {"key-in", required_argument, 0, O_KEYIN},
            {"metadata", required_argument, 0, O_META},
            {"help", no_argument, 0, 'h'},
            {"version", no_argument, 0, O_VERSION},
            {0, 0, 0, 0},
        };
        int c, v;
        char *end;
        while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
                switch (c) {
                case O_TITLE:
                        o->title = optarg;
                        break;
                case O_ORIGIN:
                        o->origin = optarg;
                        break;
                case O_TEST:
                        errno = 0;
                        o->test_seconds = strtod(optarg, &end);
                        if (errno || end == optarg || *end || !(o->test_seconds >= 1) ||
                            o->test_seconds > 86400) {
                                fprintf(stderr,
                                        "sluice-ingest: --test-source: seconds in 1..86400\n");
                                return -EINVAL;
                        }
                        break;
                case O_4K:
                        o->four_k = 1;
                        break;
                case O_LADDER:
                        o->ladder = optarg;
                        break;
                case O_ALANG:
                        o->audio_lang = optarg;
                        break;
                case O_SUBS:
                        if (o->n_subs == LADDER_TEXT_MAX || !strchr(optarg, '=')) {
                                fprintf(stderr,
                                        "sluice-ingest: --subtitles LANG=FILE, at most %d\n",
                                        LADDER_TEXT_MAX);
                                return -EINVAL;
                        }
                        o->subs[o->n_subs++] = optarg;
                        break;
                case O_ENC:
                        o->encrypt = 1;
                        break;
                case O_KEYOUT:
                        o->key_out = optarg;
                        break;
                case O_REG:
                        o->register_url = optarg;
                        break;
                case O_TOKEN:
                        o->token_file = optarg;
                        break;
                case O_REPLACE:
                        o->replace = 1;
                        break;
                case O_JOBS:
                case O_THREADS:
                        if (parse_uint(optarg, c == O_JOBS ? 1 : 0, 64, &v) < 0) {
                                fprintf(stderr, "sluice-ingest: --%s: a number in %d..64\n",
                                        c == O_JOBS ? "jobs" : "threads", c == O_JOBS ? 1 : 0);
                                return -EINVAL;
                        }
                        *(c == O_JOBS ? &o->jobs : &o->threads) = v;
                        break;
                case O_PRESET:
                        o->preset = optarg;
                        break;
                case O_FFMPEG:
                        o->ffmpeg = optarg;
                        break;
                case O_FFPROBE:
                        o->ffprobe = optarg;
                        break;
                case O_PROG:
                        o->progress = 1;
                        break;
                case O_REGONLY:
                        o->register_only = 1;
                        break;
                case O_KEYIN:
                        o->key_in = optarg;
                        break;
                case O_META:
                        o->metadata = optarg;
                        break;
                case O_NOPROG:
                        o->progress = 0;
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
                case O_VERSION:
                        printf("sluice-ingest %s\n", SLUICE_VERSION);
                        exit(0);
                default:
                        return -EINVAL;
                }
        }
        if (optind < argc)
                o->source = argv[optind++];
        if (optind < argc) {
                fprintf(stderr, "sluice-ingest: one SOURCE only\n");
                return -EINVAL;
        }
        if (o->metadata && !o->register_url) {
                fprintf(stderr, "sluice-ingest: --metadata is sent by --register; give both\n");
                return -EINVAL;
        }
        /* A key flag without what uses it would publish a clear title, or ignore the key
         * given, without a word. */
        if (o->key_out && !o->encrypt) {
                fprintf(stderr, "sluice-ingest: --key-out writes the key of --encrypt; give "
                                "both\n");
                return -EINVAL;
        }
        if (o->key_in && !o->register_only) {
                fprintf(stderr, "sluice-ingest: --key-in is for --register-only (an encrypted "
                                "title's key)\n");
                return -EINVAL;
        }
        if (o->register_only) {
                if (!o->title || !o->origin || !o->register_url || o->source ||
                    o->test_seconds > 0) {
                        fprintf(stderr, "sluice-ingest: --register-only needs --title, --origin "
                                        "and --register, and no source\n");
                        return -EINVAL;
                }
                if (!title_valid(o->title)) {
                        fprintf(stderr, "sluice-ingest: --title: 1-63 of [A-Za-z0-9_-], a "
                                        "letter or digit first\n");
                        return -EINVAL;
                }
                return 0;
        }
        if (!o->title || !o->origin || (!o->source == !(o->test_seconds > 0))) {
                fprintf(stderr, "sluice-ingest: need --title, --origin and one of SOURCE or "
                                "--test-source (try --help)\n");
                return -EINVAL;
        }
        if (!title_valid(o->title)) {
                fprintf(stderr, "sluice-ingest: --title: 1-63 of [A-Za-z0-9_-], a letter or "
                                "digit first\n");
                return -EINVAL;
        }
        if (o->four_k && o->source) {
                fprintf(stderr, "sluice-ingest: --4k applies to --test-source only\n");
                return -EINVAL;
        }
        /* The key must be kept somewhere before the title is published, and control has it
         * only once registered, which may take minutes: a run killed meanwhile would leave a
         * published title whose key is nowhere. Printed on stdout, it would land in the logs
         * of every scheduled run. */
        if (o->encrypt && o->register_url && !o->key_out) {
                fprintf(stderr, "sluice-ingest: --encrypt with --register needs --key-out FILE: "
                                "the key is kept there before the title is published, and "
                                "control has it only once registered\n");
                return -EINVAL;
        }
        return 0;
}

static int probe_source(const struct opts *o, struct ladder_src *s)
{
        char *out = NULL, msg[160];
        const char *err = "";
        int r;
        char *argv[] = {(char *)o->ffprobe,
                        "-v",
                        "error",
                        "-print_format",
                        "json",
                        "-show_format",
                        "-show_streams",
                        "-i",
                        src_url,
                        NULL};
        struct stat st;

        if (stat(o->source, &st) < 0) {
                fprintf(stderr, "sluice-ingest: %s: %s\n", o->source, strerror(errno));
                return -errno;
        }
        r = util_file_url(src_url, sizeof(src_url), o->source);
        if (r < 0) {
                fprintf(stderr, "sluice-ingest: %s: %s\n", o->source, strerror(-r));
                return r;
        }
        r = proc_capture(argv, PROBE_OUT_MAX, &out, &err);
        if (r == -E2BIG) {
                fprintf(stderr, "sluice-ingest: %s: ffprobe's answer is over %u bytes\n", o->source,
                        PROBE_OUT_MAX);
                return r;
        }
        if (r < 0) {
                fprintf(stderr, "sluice-ingest: cannot run %s: %s\n", o->ffprobe, strerror(-r));
                return r;
        }
        if (r == PROC_EXEC_FAILED) {
                /* The guard always starts; its exit code says the exec failed. */
                fprintf(stderr,
                        "sluice-ingest: cannot run %s (%s); install ffmpeg or give --ffprobe "
                        "PATH\n",
                        o->ffprobe, *err ? err : "no message");
                free(out);
                return -ENOENT;
        }
        if (r != 0) {
                fprintf(stderr, "sluice-ingest: %s: not a media file ffprobe can read: %s\n",
                        o->source, *err ? err : "(no message)");
                free(out);
                return -EINVAL;
        }
        r = probe_parse(out, strlen(out), s, msg, sizeof(msg));
        if (r < 0)
                fprintf(stderr, "sluice-ingest: %s: %s\n", o->source, msg);
        else
                s->path = src_url;
        if (r >= 0 && s->n_audio_source > s->n_audio)
                fprintf(stderr,
                        "sluice-ingest: %s has %u audio streams; encoding the first %u, "
                        "ignoring the rest\n",
                        o->source, s->n_audio_source, s->n_audio);
        free(out);
        return r;
}

/* Build the job list: video rungs, one audio per language, one text per --subtitles. */
static int plan_jobs(const struct opts *o, struct ladder_src *s, struct ladder_job *jobs,
                     size_t *ret_n)
{
        unsigned mask;
        size_t n = 0;
        if (ladder_rungs_select(o->ladder, s->height, &mask) < 0) {
                fprintf(stderr, "sluice-ingest: --ladder: rung names are 240p 360p 480p 720p "
                                "1080p 2160p\n");
                return -EINVAL;
        }
        if (!s->path) {
                /* Make the synthetic source no larger than the top rung asked for. */
                unsigned top = 0;
                for (size_t i = 0; i < ladder_rungs_n; i++)
                        if (mask & (1u << i))
                                top = ladder_rungs[i].height;
                if (top < s->height) {
                        s->width = ladder_width_for(s, top);
                        s->height = top;
                }
        }
        for (size_t i = 0; i < ladder_rungs_n; i++) {
                if (!(mask & (1u << i)))
                        continue;
                struct ladder_job *j = &jobs[n++];
                j->kind = LADDER_VIDEO;
                snprintf(j->id, sizeof(j->id), "video-%s", ladder_rungs[i].name);
                j->height = ladder_rungs[i].height;
                j->width = ladder_width_for(s, j->height);
                j->kbps = ladder_rungs[i].kbps;
        }
        /* --audio-lang renames the source's streams in order (or, for the test source,
         * asks for that many tones). */
        if (o->audio_lang) {
                const char *p = o->audio_lang;
                unsigned k = 0;
                /* Every name is checked; those past LADDER_AUDIO_MAX name streams that are
                 * left out (a source's, said so) or tones that are not made (refused). */
                while (*p) {
                        size_t len = strcspn(p, ",");
                        char tag[sizeof(s->audio_lang[0])] = "";
                        if (len < sizeof(tag)) {
                                memcpy(tag, p, len);
                                tag[len] = '\0';
                        }
                        if (len >= sizeof(tag) || !probe_lang_valid(tag)) {
                                fprintf(stderr,
                                        "sluice-ingest: --audio-lang: '%.*s' is not a "
                                        "language tag (2-15 letters or '-')\n",
                                        (int)len, p);
                                return -EINVAL;
                        }
                        if (k < LADDER_AUDIO_MAX) {
                                lang_bcp47_in_place(tag, sizeof(tag));
                                memcpy(s->audio_lang[k], tag, sizeof(tag));
                        }
                        k++;
                        p += len + (p[len] == ',');
                }
                if (s->path && k > s->n_audio_source) {
                        fprintf(stderr,
                                "sluice-ingest: --audio-lang names %u languages, the "
                                "source has %u audio streams\n",
                                k, s->n_audio_source);
                        return -EINVAL;
                }
                if (!s->path && k > LADDER_AUDIO_MAX) {
                        fprintf(stderr,
                                "sluice-ingest: --audio-lang names %u languages, at most %d "
                                "audio representations are made\n",
                                k, LADDER_AUDIO_MAX);
                        return -EINVAL;
                }
                if (!s->path)
                        s->n_audio = k;
        }
        for (unsigned a = 0; a < s->n_audio; a++) {
                struct ladder_job *j = &jobs[n++];
                j->kind = LADDER_AUDIO;
                j->audio_index = a;
                j->kbps = LADDER_AUDIO_KBPS;
                snprintf(j->lang, sizeof(j->lang), "%s", s->audio_lang[a]);
                snprintf(j->id, sizeof(j->id), "audio-%s", j->lang);
                for (size_t b = 0; b + 1 < n; b++)
                        if (!strcmp(jobs[b].id, j->id))
                                snprintf(j->id, sizeof(j->id), "audio-%s-%u", j->lang, a + 1);
        }
        for (unsigned t = 0; t < o->n_subs; t++) {
                struct ladder_job *j = &jobs[n++];
                const char *eq = strchr(o->subs[t], '=');
                size_t len = (size_t)(eq - o->subs[t]);
                j->kind = LADDER_TEXT;
                if (len < sizeof(j->lang)) {
                        memcpy(j->lang, o->subs[t], len);
                        j->lang[len] = '\0';
                }
                if (len >= sizeof(j->lang) || !probe_lang_valid(j->lang)) {
                        fprintf(stderr,
                                "sluice-ingest: --subtitles: '%.*s' is not a language (2-15 "
                                "letters or '-')\n",
                                (int)len, o->subs[t]);
                        return -EINVAL;
                }
                lang_bcp47_in_place(j->lang, sizeof(j->lang));
                if (access(eq + 1, R_OK) < 0) {
                        fprintf(stderr, "sluice-ingest: %s: %s\n", eq + 1, strerror(errno));
                        return -errno;
                }
                int r = util_file_url(sub_url[t], sizeof(sub_url[t]), eq + 1);
                if (r < 0) {
                        fprintf(stderr, "sluice-ingest: %s: %s\n", eq + 1, strerror(-r));
                        return r;
                }
                j->text_path = sub_url[t];
                snprintf(j->id, sizeof(j->id), "text-%s", j->lang);
                for (size_t b = 0; b + 1 < n; b++)
                        if (!strcmp(jobs[b].id, j->id)) {
                                fprintf(stderr, "sluice-ingest: two subtitle tracks for '%s'\n",
                                        j->lang);
                                return -EINVAL;
                        }
        }
        *ret_n = n;
        return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st, (void)flag, (void)ftw;
        (void)remove(path);
        return 0;
}

static void rm_tree(const char *path)
{
        (void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#define HOST_TAG_MAX 65 /* a host name (64 bytes at most on Linux) and its NUL */

/*
 * This host's name as it goes into a temporary directory's name, between '@'s: bytes a host
 * name may hold ([A-Za-z0-9.-]); any other byte becomes '_'.
 */
static void host_tag(char *out, size_t cap)
{
        char name[256] = "";

        if (gethostname(name, sizeof(name) - 1) < 0 || !name[0])
                snprintf(name, sizeof(name), "localhost");
        size_t n = 0;
        for (const char *s = name; *s && n + 1 < cap; s++) {
                char ch = *s;
                bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                          (ch >= '0' && ch <= '9') || ch == '.' || ch == '-';
                out[n++] = ok ? ch : '_';
        }
        out[n] = '\0';
}

/*
 * Remove temporary directories of ingest runs whose process is gone (killed, crashed). A
 * directory names its run's pid and host (.ingest.<pid>@<host>@<title>.XXXXXX): a pid means
 * nothing on another host, so on an origin shared by several (NFS) only this host's runs are
 * looked at. A name without a host (.ingest.<pid>.<title>.XXXXXX, made before hosts were
 * named) is taken as this host's, as it was then.
 */
static void stale_cleanup(const char *origin)
{
        char host[HOST_TAG_MAX];
        DIR *d = opendir(origin);
        struct dirent *de;
        if (!d)
                return;
        host_tag(host, sizeof(host));
        while ((de = readdir(d))) {
                char *end;
                if (strncmp(de->d_name, ".ingest.", 8) != 0)
                        continue;
                long pid = strtol(de->d_name + 8, &end, 10);
                if (*end == '@') {
                        size_t hl = strlen(host);
                        if (strncmp(end + 1, host, hl) != 0 || end[1 + hl] != '@')
                                continue; /* another host's run */
                } else if (*end != '.') {
                        continue;
                }
                if (pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno == EPERM))
                        continue;
                char p[PATH_MAX];
                if ((size_t)snprintf(p, sizeof(p), "%s/%s", origin, de->d_name) < sizeof(p)) {
                        fprintf(stderr, "sluice-ingest: removing %s left by a run that died\n", p);
                        rm_tree(p);
                }
        }
        closedir(d);
}

static int space_check(const char *origin, const struct ladder_job *jobs, size_t n, double dur,
                       int encrypt)
{
        struct statvfs sv;
        double need = 0;
        for (size_t i = 0; i < n; i++)
                need += (double)jobs[i].kbps * 1000 / 8 * dur;
        /* Rate control overshoots a little, and encryption rewrites one file at a time. */
        need = need * 1.25 + (encrypt ? 64e6 : 0) + 16e6;
        if (statvfs(origin, &sv) < 0)
                return -errno;
        double avail = (double)sv.f_bavail * sv.f_frsize;
        /* Tests set this to exercise the refusal without filling a disk (docs/ingest.md). */
        const char *fake = getenv("SLUICE_INGEST_TEST_FREE_BYTES");
        if (fake && *fake) {
                char *end;
                double v = strtod(fake, &end);
                if (*end == '\0' && v >= 0)
                        avail = v;
        }
        if (avail < need) {
                fprintf(stderr, "sluice-ingest: %s: %.0f MB free, this title needs about %.0f MB\n",
                        origin, avail / 1e6, need / 1e6);
                return -ENOSPC;
        }
        return 0;
}

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void progress_show(struct ladder_job *jobs, size_t n, double dur, double t0, int final)
{
        double done = 0;
        size_t finished = 0;
        for (size_t i = 0; i < n; i++) {
                if (jobs[i].state == 2) {
                        done += dur;
                        finished++;
                } else if (jobs[i].state == 1) {
                        done += fmin(jobs[i].proc.out_time, dur);
                }
        }
        double title_s = done / (double)n, el = now_s() - t0;
        double speed = el > 0 ? title_s / el : 0;
        double eta = speed > 0 ? (dur - title_s) / speed : 0;
        fprintf(stderr,
                "\r\033[K  encoded %.1f/%.1f s  speed %.2fx  ETA %d:%02d  [%zu/%zu renditions]%s",
                title_s, dur, speed, (int)eta / 60, (int)eta % 60, finished, n, final ? "\n" : "");
}

/*
 * Run every job, at most max_par at once. On failure prints the failing ffmpeg's last lines
 * and stops the others. Returns 0, -EINTR when interrupted, or -EIO.
 */
static int run_jobs(struct ladder_job *jobs, size_t n, const struct ladder_src *s,
                    const struct ladder_opts *lo, int max_par, int show)
{
        double t0 = now_s(), last = 0, stop_at = 0;
        size_t next = 0, running = 0, finished = 0;
        int r = 0;
        struct ladder_job *failed = NULL;
        int failed_code = 0;

        while (finished < n) {
                while (!interrupted && !failed && next < n && running < (size_t)max_par) {
                        struct ladder_job *j = &jobs[next++];
                        struct strv av = {0};
                        char dir[PATH_MAX];
                        (void)util_path(dir, sizeof(dir), "%s/%s", tmp_dir, j->id);
                        if (mkdir(dir, 0755) < 0 || ladder_job_argv(j, s, lo, dir, &av) < 0 ||
                            (r = proc_spawn(&j->proc, av.v)) < 0) {
                                fprintf(stderr, "sluice-ingest: cannot start %s for %s: %s\n",
                                        lo->ffmpeg, j->id, strerror(r < 0 ? -r : errno));
                                strv_done(&av);
                                j->state = 2;
                                finished++;
                                failed = j;
                                break;
                        }
                        strv_done(&av);
                        j->state = 1;
                        running++;
                }
                if (running == 0)
                        break;
                struct pollfd pf[2 * JOBS_MAX];
                struct ladder_job *owner[2 * JOBS_MAX];
                nfds_t np = 0;
                for (size_t i = 0; i < n; i++) {
                        if (jobs[i].state != 1)
                                continue;
                        if (jobs[i].proc.out_fd >= 0) {
                                owner[np] = &jobs[i];
                                pf[np++] =
                                    (struct pollfd){.fd = jobs[i].proc.out_fd, .events = POLLIN};
                        }
                        if (jobs[i].proc.err_fd >= 0) {
                                owner[np] = &jobs[i];
                                pf[np++] =
                                    (struct pollfd){.fd = jobs[i].proc.err_fd, .events = POLLIN};
                        }
                }
                if (interrupted || failed) {
                        /*
                         * Stop the rest; their pipes close when they exit. An encoder that
                         * has not gone after a grace period is killed: ffmpeg can hang in its
                         * own shutdown with the termination signal blocked.
                         */
                        if (stop_at == 0)
                                stop_at = now_s();
                        int sig = now_s() - stop_at > STOP_GRACE_S ? SIGKILL : SIGTERM;
                        for (size_t i = 0; i < n; i++)
                                if (jobs[i].state == 1)
                                        proc_kill(&jobs[i].proc, sig);
                }
                if (poll(pf, np, 250) < 0 && errno != EINTR)
                        return -errno;
                for (nfds_t i = 0; i < np; i++)
                        if (pf[i].revents)
                                (void)proc_pump(&owner[i]->proc, pf[i].fd);
                for (size_t i = 0; i < n; i++) {
                        struct ladder_job *j = &jobs[i];
                        if (j->state != 1 || j->proc.out_fd >= 0 || j->proc.err_fd >= 0)
                                continue;
                        int code = proc_reap(&j->proc);
                        proc_done(&j->proc);
                        j->state = 2;
                        running--;
                        finished++;
                        if (code != 0 && !failed && !interrupted) {
                                failed = j;
                                failed_code = code;
                        } else if (!show && code == 0) {
                                fprintf(stderr, "  %s done\n", j->id);
                        }
                }
                if (show && now_s() - last > 0.5) {
                        last = now_s();
                        progress_show(jobs, n, s->duration, t0, 0);
                }
        }
        if (show)
                progress_show(jobs, n, s->duration, t0, 1);
        if (interrupted)
                return -EINTR;
        if (failed) {
                if (failed_code == PROC_EXEC_FAILED)
                        fprintf(stderr,
                                "sluice-ingest: cannot run %s for %s (%s); install ffmpeg or "
                                "give --ffmpeg PATH\n",
                                lo->ffmpeg, failed->id, proc_tail(&failed->proc, 1));
                else if (failed_code)
                        fprintf(stderr,
                                "sluice-ingest: ffmpeg failed for %s (exit %d); its last "
                                "lines:\n%s\n",
                                failed->id, failed_code, proc_tail(&failed->proc, 8));
                return -EIO;
        }
        return 0;
}

/* Encrypt every init and media segment in place. Returns 0 or -errno, with a message. */
static int encrypt_title(const struct ladder_job *jobs, size_t n, const struct cenc_key *k,
                         double *ret_bytes, double *ret_secs)
{
        double t0 = now_s(), bytes = 0;
        for (size_t i = 0; i < n; i++) {
                const struct ladder_job *j = &jobs[i];
                char path[PATH_MAX];
                uint8_t *buf = NULL;
                size_t len;
                struct mp4_track t;
                struct mp4_buf out = {0};
                if (j->kind == LADDER_TEXT)
                        continue;
                (void)util_path(path, sizeof(path), "%s/%s/init.mp4", tmp_dir, j->id);
                int r = util_file_read(path, ASSET_FILE_MAX, &buf, &len);
                if (r >= 0)
                        r = mp4_info_track_parse(buf, len, &t);
                if (r >= 0)
                        r = cenc_init_rewrite(buf, len, k, &out);
                if (r >= 0)
                        r = util_file_replace(path, out.p, out.len, 0644, 0);
                free(buf);
                mp4_buf_done(&out);
                for (unsigned seg = 1; r >= 0; seg++) {
                        (void)util_path(path, sizeof(path), "%s/%s/seg-%u.m4s", tmp_dir, j->id,
                                        seg);
                        r = util_file_read(path, ASSET_FILE_MAX, &buf, &len);
                        if (r == -ENOENT) {
                                r = 0;
                                break;
                        }
                        if (r >= 0)
                                r = cenc_segment_rewrite(buf, len, &t, k, &out);
                        if (r >= 0)
                                r = util_file_replace(path, out.p, out.len, 0644, 0);
                        bytes += (double)len;
                        free(buf);
                        mp4_buf_done(&out);
                }
                if (r < 0) {
                        fprintf(stderr, "sluice-ingest: encrypting %s: %s\n", path, strerror(-r));
                        return r;
                }
        }
        *ret_bytes = bytes;
        *ret_secs = now_s() - t0;
        return 0;
}

/* The start of control's answer: its "detail" says why a registration was refused. */
struct answer {
        char text[2048];
        size_t len;
};

static size_t curl_sink(char *p, size_t sz, size_t n, void *ud)
{
        struct answer *a = ud;
        size_t k = sz * n < sizeof(a->text) - 1 - a->len ? sz * n : sizeof(a->text) - 1 - a->len;
        memcpy(a->text + a->len, p, k);
        a->len += k;
        a->text[a->len] = '\0';
        return sz * n;
}

/* The bearer token for --register, read before anything is encoded. */
static char reg_token[512];

/*
 * Read --token-file (or $SLUICE_CONTROL_TOKEN) into reg_token: a file that cannot be read,
 * or either over 511 bytes, must fail the run before an encode, not after it. Returns 0 or
 * -EINVAL with a message.
 */
static int token_load(const struct opts *o)
{
        const char *env = getenv("SLUICE_CONTROL_TOKEN");
        uint8_t *t = NULL, *eol;
        size_t tl = 0, t_len;
        int r;

        if (!o->token_file) {
                /* Cut to fit, it would be a token control never gave: refused like the file. */
                if (env && strlen(env) > sizeof(reg_token) - 1) {
                        fprintf(stderr,
                                "sluice-ingest: $SLUICE_CONTROL_TOKEN: longer than %zu bytes\n",
                                sizeof(reg_token) - 1);
                        return -EINVAL;
                }
                snprintf(reg_token, sizeof(reg_token), "%s", env ? env : "");
                return 0;
        }
        r = util_file_read(o->token_file, sizeof(reg_token) - 1, &t, &tl);
        t_len = tl;
        if (r < 0) {
                fprintf(stderr, "sluice-ingest: --token-file %s: cannot read: %s\n", o->token_file,
                        r == -EFBIG ? "longer than 511 bytes" : strerror(-r));
                return -EINVAL;
        }
        /* The first line is the token, as the other binaries read their token files. */
        eol = memchr(t, '\n', tl);
        if (eol)
                tl = (size_t)(eol - t);
        while (tl && t[tl - 1] == '\r')
                tl--;
        /* Cut at the NUL, it would be a token control never gave: refused, as edge, control
         * and sluice-fill refuse it. */
        r = 0;
        if (memchr(t, '\0', tl)) {
                fprintf(stderr, "sluice-ingest: --token-file %s: its first line holds a NUL byte\n",
                        o->token_file);
                r = -EINVAL;
        } else {
                memcpy(reg_token, t, tl);
                reg_token[tl] = '\0';
        }
        /* The whole file, not only the token: what follows its first line is the operator's. */
        explicit_bzero(t, t_len);
        free(t);
        return r;
}

/*
 * POST the title to control: {"title", "asset", "key"?} plus the members of meta (from
 * --metadata), when given, with the token token_load read. Returns 0, or -errno with a
 * message.
 */
static int register_title(const struct opts *o, json_t *asset, const struct cenc_key *k,
                          json_t *meta)
{
        char url[2048], hex_key[33], hex_kid[33], auth[600], errbuf[CURL_ERROR_SIZE] = "";
        const char *token = reg_token;
        struct curl_slist *hdr = NULL;
        struct answer answer = {.len = 0};
        long status = 0;
        int r = -EIO;
        json_t *body = json_pack("{s:s, s:O}", "title", o->title, "asset", asset);
        if (body && meta && json_object_update(body, meta) < 0) {
                json_decref(body);
                body = NULL;
        }
        if (body && k)
                json_object_set_new(body, "key",
                                    json_pack("{s:s, s:s}", "kid", hex_encode(k->kid, 16, hex_kid),
                                              "key", hex_encode(k->key, 16, hex_key)));
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        size_t base = strlen(o->register_url);
        while (base > 0 && o->register_url[base - 1] == '/')
                base--;
        snprintf(url, sizeof(url), "%.*s/v1/admin/titles", (int)base, o->register_url);
        CURL *c = curl_easy_init();
        if (!c || !text)
                goto out;
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
        if (*token) {
                snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
                hdr = curl_slist_append(hdr, auth);
                explicit_bzero(auth, sizeof(auth));
        }
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        /* No bound on the whole: control answers an admin write within its own
         * database_pool.admin_timeout (60 s by default, raised for slow registrations), and
         * the body may be tens of MB. A connection that stops moving is cut instead. */
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 600L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_sink);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
        CURLcode cr = curl_easy_perform(c);
        if (cr != CURLE_OK) {
                fprintf(stderr, "sluice-ingest: cannot register with control at %s: %s\n", url,
                        *errbuf ? errbuf : curl_easy_strerror(cr));
                goto out;
        }
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status == 413) {
                /* The body is mostly asset.json, which grows with the title's length:
                 * control takes 16M on its admin routes by default (max_admin_body). */
                fprintf(stderr,
                        "sluice-ingest: control at %s answered 413: the registration's %zu "
                        "bytes are more than its max_admin_body; raise that "
                        "(docs/control.md)\n",
                        url, strlen(text));
                goto out;
        }
        if (status < 200 || status > 299) {
                json_t *j = json_loads(answer.text, 0, NULL);
                const char *why = json_string_value(json_object_get(j, "detail"));
                fprintf(stderr, "sluice-ingest: control at %s answered %ld%s%s\n", url, status,
                        why && *why ? ": " : "", why && *why ? why : "");
                json_decref(j);
                goto out;
        }
        r = 0;
out:
        if (c)
                curl_easy_cleanup(c);
        if (text) /* the content key is in it */
                explicit_bzero(text, strlen(text));
        explicit_bzero(hex_key, sizeof(hex_key));
        /* The token's line copied into the list: wiped before it is freed. */
        for (struct curl_slist *l = hdr; l; l = l->next)
                explicit_bzero(l->data, strlen(l->data));
        curl_slist_free_all(hdr);
        free(text);
        return r;
}

/*
 * The key must never land in the origin, where edges and the fill agent could copy it, nor
 * replace a key file that may be the only copy of a published title's key.
 */
static int key_out_check(const char *key_out, const char *origin, int encrypt)
{
        char dir[PATH_MAX], real_dir[PATH_MAX], real_origin[PATH_MAX];
        struct stat st;
        util_dir_of(dir, sizeof(dir), key_out);
        if (!realpath(dir, real_dir) || !realpath(origin, real_origin)) {
                fprintf(stderr, "sluice-ingest: --key-out %s: %s\n", key_out, strerror(errno));
                return -errno;
        }
        size_t n = strlen(real_origin);
        if (!strncmp(real_dir, real_origin, n) && (real_dir[n] == '/' || real_dir[n] == '\0')) {
                fprintf(stderr, "sluice-ingest: --key-out must be outside the origin %s\n", origin);
                return -EPERM;
        }
        if (!encrypt)
                return 0; /* no key is written */
        if (lstat(key_out, &st) == 0) {
                fprintf(stderr,
                        "sluice-ingest: --key-out %s exists; a key file is never replaced (it may "
                        "hold the only copy of a title's key): move it away or name a new file\n",
                        key_out);
                return -EEXIST;
        }
        if (errno != ENOENT) {
                fprintf(stderr, "sluice-ingest: --key-out %s: %s\n", key_out, strerror(errno));
                return -errno;
        }
        return 0;
}

/*
 * Write the key as one JSON line: staged beside --key-out (key_commit puts it there), else on
 * stdout. Returns 0 or -errno, with a message.
 */
static int key_emit(const struct opts *o, const struct cenc_key *k)
{
        char hk[33], hkid[33];
        json_t *j = json_pack("{s:s, s:s, s:s}", "title", o->title, "kid",
                              hex_encode(k->kid, 16, hkid), "key", hex_encode(k->key, 16, hk));
        char *text = json_dumps(j, JSON_COMPACT);
        size_t len = text ? strlen(text) : 0;
        int r = -ENOMEM;
        json_decref(j);
        explicit_bzero(hk, sizeof(hk));
        if (!text)
                return r;
        if (o->key_out) {
                text[len] = '\n';
                r = util_file_stage(o->key_out, text, len + 1, key_tmp, sizeof(key_tmp));
                if (r < 0)
                        fprintf(stderr, "sluice-ingest: --key-out %s: %s\n", o->key_out,
                                strerror(-r));
        } else {
                /* The key's only copy: a stdout that cannot take it (a full disk, a closed
                 * pipe) must not pass for one that did. */
                errno = 0;
                r = 0;
                if (printf("%s\n", text) < 0 || fflush(stdout) == EOF || ferror(stdout)) {
                        r = errno ? -errno : -EIO;
                        fprintf(stderr, "sluice-ingest: cannot write the key to stdout: %s\n",
                                strerror(-r));
                }
        }
        explicit_bzero(text, len);
        free(text);
        return r;
}

/*
 * Put the key staged by key_emit at --key-out, now that its title is published. On failure
 * the staged file, the key's only copy, is kept and named. Returns 0 or -errno.
 */
static int key_commit(const struct opts *o, const char *title_dir)
{
        int r = util_file_commit(key_tmp, o->key_out);
        if (r < 0)
                fprintf(stderr,
                        "sluice-ingest: %s is published, but its key cannot be put at --key-out "
                        "%s: %s; the key is in %s: keep it\n",
                        title_dir, o->key_out, strerror(-r), key_tmp);
        key_tmp[0] = '\0';
        return r;
}

/* Read back a key JSON written by --key-out. Returns 0 or -EINVAL with a message. */
static int key_read(const char *path, struct cenc_key *k)
{
        uint8_t *text = NULL;
        size_t len = 0;
        /* Read whole and wiped after: json_load_file's stdio buffer would be freed unwiped. */
        json_t *j = util_file_read(path, 4096, &text, &len) == 0
                        ? json_loadb((const char *)text, len, 0, NULL) : NULL;
        if (text)
                explicit_bzero(text, len);
        free(text);
        const char *hk = json_string_value(json_object_get(j, "key"));
        const char *hkid = json_string_value(json_object_get(j, "kid"));
        int r = -EINVAL;
        if (hk && hkid && strlen(hk) == 32 && strlen(hkid) == 32) {
                r = 0;
                for (size_t i = 0; i < 16 && r == 0; i++) {
                        unsigned a = 0, b = 0;
                        if (sscanf(hk + 2 * i, "%2x", &a) != 1 ||
                            sscanf(hkid + 2 * i, "%2x", &b) != 1)
                                r = -EINVAL;
                        k->key[i] = (uint8_t)a;
                        k->kid[i] = (uint8_t)b;
                }
        }
        if (r < 0)
                fprintf(stderr, "sluice-ingest: --key-in %s: not a key file written by --key-out\n",
                        path);
        json_decref(j);
        return r;
}

/* --register-only: send an already published title (and its key) to control again. */
static int register_again(const struct opts *o, json_t *meta)
{
        char path[PATH_MAX], hex[33];
        json_error_t je;
        struct cenc_key k = {0};
        int rc = 1;
        (void)util_path(path, sizeof(path), "%s/%s/asset.json", o->origin, o->title);
        json_t *asset = json_load_file(path, 0, &je);
        if (!asset) {
                fprintf(stderr, "sluice-ingest: %s: %s\n", path, je.text);
                return 1;
        }
        const char *kid =
            json_string_value(json_object_get(json_object_get(asset, "encryption"), "kid"));
        if (kid && !o->key_in) {
                fprintf(stderr, "sluice-ingest: %s is encrypted: give its key with --key-in\n",
                        o->title);
                goto out;
        }
        if (kid && (key_read(o->key_in, &k) < 0 || strcmp(hex_encode(k.kid, 16, hex), kid) != 0)) {
                fprintf(stderr, "sluice-ingest: --key-in %s is not the key of %s\n", o->key_in,
                        o->title);
                goto out;
        }
        char err[160];
        if (metadata_markers_check(meta, json_number_value(json_object_get(asset, "duration")),
                                   "the title's", err, sizeof(err)) < 0) {
                fprintf(stderr, "sluice-ingest: --metadata: %s\n", err);
                rc = EXIT_USAGE;
                goto out;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        rc = register_title(o, asset, kid ? &k : NULL, meta) < 0 ? EXIT_REGISTER : 0;
        curl_global_cleanup();
        if (rc == 0)
                fprintf(stderr, "sluice-ingest: registered %s with %s\n", o->title,
                        o->register_url);
out:
        OPENSSL_cleanse(&k, sizeof(k));
        json_decref(asset);
        return rc;
}

/* Whether something is at path: a dangling symlink is, though access() or stat() say not. */
static int entry_exists(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0;
}

/*
 * --replace where the filesystem cannot exchange two names (NFS, FUSE): the old title is
 * renamed aside, beside the new one's temporary name, and the new one put in its place.
 * Readers still never see a mix, but between the two renames no title at all. Returns 0 or
 * -errno, with the old title back in place.
 */
static int swap_in(const char *final)
{
        char aside[PATH_MAX];
        int r = util_path(aside, sizeof(aside), "%s.old", tmp_dir);

        if (r < 0)
                return r;
        if (rename(final, aside) < 0)
                return -errno;
        if (rename(tmp_dir, final) < 0) {
                r = -errno;
                (void)rename(aside, final);
                return r;
        }
        rm_tree(aside);
        return 0;
}

static int publish(const struct opts *o, char *final, size_t len)
{
        snprintf(final, len, "%s/%s", o->origin, o->title);
        int dfd = open(o->origin, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        /* Everything ffmpeg and we wrote reaches the disk before the name appears: a
         * failed sync (pages the kernel could not write back) leaves it unpublished. */
        if (syncfs(dfd) < 0) {
                int r = -errno;
                close(dfd);
                return r;
        }
        int r = 0;
        if (o->replace && entry_exists(final)) {
                if (renameat2(AT_FDCWD, tmp_dir, AT_FDCWD, final, RENAME_EXCHANGE) == 0)
                        rm_tree(tmp_dir); /* now the old title */
                else
                        r = errno == EINVAL ? swap_in(final) : -errno;
        } else {
                r = util_dir_rename_new(tmp_dir, final);
        }
        if (r == 0)
                (void)fsync(dfd);
        close(dfd);
        return r;
}

int main(int argc, char **argv)
{
        struct opts o = {
            .ffmpeg = "ffmpeg", .ffprobe = "ffprobe", .preset = "veryfast", .progress = -1};
        struct ladder_src src = {0};
        struct ladder_job jobs[JOBS_MAX];
        struct cenc_key key;
        size_t n_jobs = 0;
        json_t *asset = NULL, *meta = NULL;
        char final[PATH_MAX], err[1024] = "";
        int r, rc = 1, published = 0, registered = 0;

        if (argc >= 2 && !strcmp(argv[1], "--exec-guard"))
                return proc_exec_guard(argc - 2, argv + 2);
        json_set_alloc_funcs(malloc, util_wiped_free); /* keys pass through the JSON */
        memset(jobs, 0, sizeof(jobs));
        for (size_t i = 0; i < JOBS_MAX; i++) /* proc_done of a job never started: not fd 0 */
                jobs[i].proc.out_fd = jobs[i].proc.err_fd = -1;
        if (parse_args(argc, argv, &o) < 0)
                return EXIT_USAGE;
        static char self[PATH_MAX];
        ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (sl > 0) {
                self[sl] = '\0';
                proc_guard_exe = self;
        }
        /* Bounded here so every path built under it below fits in PATH_MAX. */
        if (strlen(o.origin) > PATH_MAX / 2) {
                fprintf(stderr, "sluice-ingest: --origin: path too long\n");
                return EXIT_USAGE;
        }
        struct stat st;
        /* --register-only only reads the title: a read-only origin will do. */
        if (stat(o.origin, &st) < 0 || !S_ISDIR(st.st_mode) ||
            (!o.register_only && access(o.origin, W_OK) < 0)) {
                fprintf(stderr, "sluice-ingest: --origin %s: not a%s directory\n", o.origin,
                        o.register_only ? "" : " writable");
                return 1;
        }
        /* Like --metadata, read before anything is encoded: a typo must not cost an encode. */
        if (o.register_url && token_load(&o) < 0)
                return EXIT_USAGE;
        if (o.register_only) {
                if (o.metadata && metadata_file_load(o.metadata, &meta, err, sizeof(err)) < 0) {
                        fprintf(stderr, "sluice-ingest: --metadata: %s\n", err);
                        return EXIT_USAGE;
                }
                rc = register_again(&o, meta);
                json_decref(meta);
                return rc;
        }
        if (o.key_out && key_out_check(o.key_out, o.origin, o.encrypt) < 0)
                return EXIT_USAGE;
        /* Found closed only after the encode, or taken meanwhile by a file opened here. */
        if (o.encrypt && !o.key_out && fcntl(STDOUT_FILENO, F_GETFD) < 0) {
                fprintf(stderr, "sluice-ingest: stdout, where the key goes, is closed (give "
                                "--key-out FILE)\n");
                return EXIT_USAGE;
        }
        snprintf(final, sizeof(final), "%s/%s", o.origin, o.title);
        if (!o.replace && entry_exists(final)) {
                fprintf(stderr, "sluice-ingest: %s exists (use --replace)\n", final);
                return 1;
        }

        if (o.source) {
                if (probe_source(&o, &src) < 0)
                        return 1;
        } else {
                src.duration = o.test_seconds;
                src.width = o.four_k ? 3840 : 1920;
                src.height = o.four_k ? 2160 : 1080;
                src.sar_num = src.sar_den = 1;
                src.fps_num = 25;
                src.fps_den = 1;
                src.n_audio = 1;
                snprintf(src.audio_lang[0], sizeof(src.audio_lang[0]), "en");
        }
        if (plan_jobs(&o, &src, jobs, &n_jobs) < 0)
                return EXIT_USAGE;

        stale_cleanup(o.origin);
        if (space_check(o.origin, jobs, n_jobs, src.duration, o.encrypt) < 0)
                return 1;
        /* Read before anything is encoded: a typo in it must not cost an encode. A marker
         * past the end is control's 400 (migration 028), known now from the probe. */
        if (o.metadata &&
            (metadata_file_load(o.metadata, &meta, err, sizeof(err)) < 0 ||
             metadata_markers_check(meta, src.duration, "the source's", err, sizeof(err)) < 0)) {
                fprintf(stderr, "sluice-ingest: --metadata: %s\n", err);
                json_decref(meta);
                return EXIT_USAGE;
        }
        if (o.encrypt && cenc_key_generate(&key) < 0) {
                fprintf(stderr, "sluice-ingest: cannot generate a key (OpenSSL RAND)\n");
                json_decref(meta);
                return 1;
        }

        /* "./" before a relative origin: ffmpeg would take "o:x/..." for protocol "o". */
        char host[HOST_TAG_MAX];
        host_tag(host, sizeof(host));
        snprintf(tmp_dir, sizeof(tmp_dir), "%s%s/.ingest.%ld@%s@%s.XXXXXX",
                 o.origin[0] == '/' ? "" : "./", o.origin, (long)getpid(), host, o.title);
        if (!mkdtemp(tmp_dir)) {
                fprintf(stderr, "sluice-ingest: %s: %s\n", tmp_dir, strerror(errno));
                json_decref(meta);
                return 1;
        }
        /* mkdtemp makes it 0700, and it becomes the title's directory: readable by the
         * origin's server as the renditions' directories are (0755 less the umask). */
        mode_t um = umask(0);
        umask(um);
        if (chmod(tmp_dir, 0755 & ~um) < 0) {
                fprintf(stderr, "sluice-ingest: %s: %s\n", tmp_dir, strerror(errno));
                rm_tree(tmp_dir);
                json_decref(meta);
                return 1;
        }
        struct sigaction sa = {.sa_handler = on_signal};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        int par = o.jobs ? o.jobs : (int)(cores > 0 ? cores : 1);
        int show = o.progress >= 0 ? o.progress : isatty(STDERR_FILENO);
        struct ladder_opts lo = {.ffmpeg = o.ffmpeg, .preset = o.preset, .threads = o.threads};
        fprintf(stderr, "sluice-ingest: %s: %zu renditions, %.1f s, %d at a time\n", o.title,
                n_jobs, src.duration, par);
        double t0 = now_s();
        r = run_jobs(jobs, n_jobs, &src, &lo, par, show);
        if (r < 0) {
                rc = r == -EINTR ? EXIT_INTERRUPTED : 1;
                goto out;
        }
        fprintf(stderr, "sluice-ingest: encoded in %.1f s (%.2f s per source minute)\n",
                now_s() - t0, (now_s() - t0) * 60 / src.duration);
        for (size_t i = 0; i < n_jobs; i++) {
                char p[PATH_MAX];
                (void)util_path(p, sizeof(p), "%s/%s/ffmpeg.mpd", tmp_dir, jobs[i].id);
                (void)unlink(p);
        }
        if (o.encrypt) {
                double bytes = 0, secs = 0;
                if (encrypt_title(jobs, n_jobs, &key, &bytes, &secs) < 0)
                        goto out;
                fprintf(stderr, "sluice-ingest: encrypted %.1f MB in %.3f s (%.1f MB/s)\n",
                        bytes / 1e6, secs, secs > 0 ? bytes / 1e6 / secs : 0);
        }
        if (interrupted) {
                rc = EXIT_INTERRUPTED;
                goto out;
        }
        r = asset_json_build(tmp_dir, o.title, jobs, n_jobs, &src, o.encrypt ? key.kid : NULL,
                             &asset, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "sluice-ingest: checking the output: %s\n",
                        *err ? err : strerror(-r));
                goto out;
        }
        /* The title may end up to ASSET_SHORT_MAX before the source, where a marker may be. */
        if (metadata_markers_check(meta, json_number_value(json_object_get(asset, "duration")),
                                   "the title's encoded", err, sizeof(err)) < 0) {
                fprintf(stderr, "sluice-ingest: --metadata: %s; nothing published\n", err);
                rc = EXIT_USAGE;
                goto out;
        }
        char *text = json_dumps(asset, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        char ap[PATH_MAX];
        (void)util_path(ap, sizeof(ap), "%s/asset.json", tmp_dir);
        r = text ? util_file_replace(ap, text, strlen(text), 0644, 0) : -ENOMEM;
        free(text);
        if (r < 0) {
                fprintf(stderr, "sluice-ingest: %s: %s\n", ap, strerror(-r));
                goto out;
        }
        if (interrupted) {
                rc = EXIT_INTERRUPTED;
                goto out;
        }
        /*
         * The key is written before the title appears, since a title nobody can decrypt is
         * lost content (with --register too: --key-out is required then). A --key-out file is
         * only staged beside its name and put there once the title is published, so a failed
         * publish leaves no key file.
         */
        if (o.encrypt && key_emit(&o, &key) < 0) {
                fprintf(stderr, "sluice-ingest: %s is not published without its key\n", o.title);
                goto out;
        }
        r = publish(&o, final, sizeof(final));
        if (r < 0) {
                fprintf(stderr, "sluice-ingest: publishing %s: %s\n", final, strerror(-r));
                goto out;
        }
        tmp_dir[0] = '\0';
        published = 1;
        fprintf(stderr, "sluice-ingest: published %s\n", final);
        rc = 0;
        /* Where the key is, for --register-only's --key-in: at --key-out, or in the staged
         * file if it could not be put there. */
        char key_at[PATH_MAX] = "";
        if (key_tmp[0]) {
                snprintf(key_at, sizeof(key_at), "%s", key_tmp);
                if (key_commit(&o, final) < 0)
                        rc = 1;
                else
                        snprintf(key_at, sizeof(key_at), "%s", o.key_out);
        }
        if (o.register_url) {
                curl_global_init(CURL_GLOBAL_DEFAULT);
                if (register_title(&o, asset, o.encrypt ? &key : NULL, meta) < 0) {
                        fprintf(stderr,
                                "sluice-ingest: %s is published and %s/asset.json "
                                "describes it; once control is up: sluice-ingest "
                                "--register-only --register URL --title %s --origin %s%s%s%s%s%s"
                                "%s\n",
                                final, final, o.title, o.origin,
                                o.encrypt ? " --key-in " : "", key_at,
                                o.metadata ? " --metadata " : "", o.metadata ? o.metadata : "",
                                o.token_file ? " --token-file " : "",
                                o.token_file ? o.token_file : "");
                        rc = EXIT_REGISTER;
                } else {
                        registered = 1;
                }
                curl_global_cleanup();
        }
out:
        /* A signal during the final sync or the registration comes too late to stop the
         * run: it is finished, and its outcome (and exit status) stands. */
        if (interrupted && !published)
                fprintf(stderr, "\nsluice-ingest: interrupted; nothing published\n");
        else if (interrupted)
                fprintf(stderr, "sluice-ingest: interrupted too late to stop: %s is published%s\n",
                        final,
                        registered       ? " and registered"
                        : o.register_url ? ", not registered"
                                         : "");
        for (size_t i = 0; i < n_jobs; i++) {
                if (jobs[i].state == 1) {
                        proc_kill(&jobs[i].proc, SIGKILL);
                        (void)proc_reap(&jobs[i].proc);
                }
                proc_done(&jobs[i].proc);
        }
        if (tmp_dir[0])
                rm_tree(tmp_dir);
        if (key_tmp[0])
                (void)unlink(key_tmp);
        json_decref(asset);
        json_decref(meta);
        OPENSSL_cleanse(&key, sizeof(key));
        return rc;
}
