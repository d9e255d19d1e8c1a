/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "asset.h"
#include "hex.h"
#include "mp4-info.h"

int asset_file_sha256(const char *path, uint8_t ret_digest[32], uint64_t *ret_size)
{
        uint8_t buf[1 << 16];
        uint64_t size = 0;
        unsigned dlen = 0;
        int r = -EIO;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
                goto out;
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        goto out;
                }
                if (n == 0)
                        break;
                if (EVP_DigestUpdate(md, buf, (size_t)n) != 1)
                        goto out;
                size += (uint64_t)n;
        }
        if (EVP_DigestFinal_ex(md, ret_digest, &dlen) != 1 || dlen != 32)
                goto out;
        *ret_size = size;
        r = 0;
out:
        EVP_MD_CTX_free(md);
        close(fd);
        return r;
}

static int file_entry(json_t *files, const char *dir, const char *rel, uint64_t *ret_size)
{
        char path[4096], hex[65];
        uint8_t d[32];
        uint64_t size;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, rel) >= sizeof(path))
                return -ENAMETOOLONG;
        int r = asset_file_sha256(path, d, &size);
        if (r < 0)
                return r;
        json_t *o = json_pack("{s:s, s:I, s:s}", "path", rel, "size", (json_int_t)size, "sha256",
                              hex_encode(d, 32, hex));
        if (!o || json_array_append_new(files, o) < 0)
                return -ENOMEM;
        if (ret_size)
                *ret_size = size;
        return 0;
}

/* Per-rendition facts gathered from its files, kept to compare renditions. */
struct rep_scan {
        unsigned n_seg;
        double *starts; /* seconds */
        double end;     /* seconds: the last segment's start plus its duration */
};

static int scan_rep(const char *dir, const struct ladder_job *j, json_t *files, json_t *rep,
                    struct rep_scan *sc, char *err, size_t errlen)
{
        char rel[256], path[4096];
        uint8_t *buf = NULL;
        size_t len;
        struct mp4_track t;
        int r;

        snprintf(rel, sizeof(rel), "%s/init.mp4", j->id);
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        r = util_file_read(path, ASSET_FILE_MAX, &buf, &len);
        if (r < 0) {
                snprintf(err, errlen, "%s: %s", rel, strerror(-r));
                return r;
        }
        r = mp4_info_track_parse(buf, len, &t);
        free(buf);
        buf = NULL;
        if (r < 0) {
                snprintf(err, errlen, "%s: cannot describe track: %s", rel, strerror(-r));
                return r;
        }
        if ((r = file_entry(files, dir, rel, NULL)) < 0)
                return r;

        json_t *timeline = json_array();
        uint64_t total_bytes = 0, total_dur = 0, prev_size = 0, prev_dur = 0;
        double peak = 0;
        for (unsigned n = 1;; n++) {
                uint64_t start, dur, size;
                int sync;
                snprintf(rel, sizeof(rel), "%s/seg-%u.m4s", j->id, n);
                snprintf(path, sizeof(path), "%s/%s", dir, rel);
                r = util_file_read(path, ASSET_FILE_MAX, &buf, &len);
                if (r == -ENOENT)
                        break;
                if (r < 0)
                        goto fail;
                r = mp4_info_segment_timing(buf, len, &t, &start, &dur, &sync);
                free(buf);
                buf = NULL;
                if (r < 0) {
                        snprintf(err, errlen, "%s: %s", rel, strerror(-r));
                        goto fail;
                }
                if (t.handler == MP4_FOURCC('v', 'i', 'd', 'e') && !sync) {
                        snprintf(err, errlen, "%s: does not start with a keyframe", rel);
                        r = -EBADMSG;
                        goto fail;
                }
                if ((r = file_entry(files, dir, rel, &size)) < 0)
                        goto fail;
                double *s = realloc(sc->starts, n * sizeof(*s));
                if (!s) {
                        r = -ENOMEM;
                        goto fail;
                }
                sc->starts = s;
                s[n - 1] = (double)start / t.timescale;
                sc->n_seg = n;
                sc->end = (double)(start + dur) / t.timescale;
                json_array_append_new(timeline, json_pack("{s:I, s:I}", "t", (json_int_t)start, "d",
                                                          (json_int_t)dur));
                total_bytes += size;
                total_dur += dur;
                if (dur) {
                        /* A segment under half the target (an audio tail of priming samples,
                         * a short last second) is rated with the one before it: RFC 8216
                         * §4.1 takes the peak over runs of 0.5 to 1.5 target durations, and
                         * a player's buffer carries such a tail. Rated alone, an 11 ms tail
                         * of audio declared 2.8 times its rate. */
                        uint64_t bsize = size, bdur = dur;
                        if (2 * dur < (uint64_t)LADDER_SEGMENT_SECONDS * t.timescale && prev_dur) {
                                bsize += prev_size;
                                bdur += prev_dur;
                        }
                        double bps = (double)bsize * 8 * t.timescale / (double)bdur;
                        if (bps > peak)
                                peak = bps;
                }
                prev_size = size;
                prev_dur = dur;
        }
        if (sc->n_seg == 0) {
                snprintf(err, errlen, "%s: no segments", j->id);
                r = -EBADMSG;
                goto fail;
        }
        /* Declare at least the peak segment rate: a player sizing its buffer from
         * @bandwidth must not stall on the heaviest segment. */
        json_int_t nominal = (json_int_t)j->kbps * 1000;
        json_int_t bandwidth =
            peak > (double)nominal ? (json_int_t)(peak + 999) / 1000 * 1000 : nominal;
        json_object_set_new(rep, "id", json_string(j->id));
        json_object_set_new(rep, "type", json_string(j->kind == LADDER_VIDEO ? "video" : "audio"));
        json_object_set_new(rep, "mime_type",
                            json_string(j->kind == LADDER_VIDEO ? "video/mp4" : "audio/mp4"));
        json_object_set_new(rep, "codec", json_string(t.codec));
        json_object_set_new(rep, "bandwidth", json_integer(bandwidth));
        json_object_set_new(rep, "nominal_bitrate", json_integer(nominal));
        json_object_set_new(rep, "average_bitrate",
                            json_integer(total_dur ? (json_int_t)((double)total_bytes * 8 *
                                                                  t.timescale / (double)total_dur)
                                                   : 0));
        json_object_set_new(rep, "timescale", json_integer(t.timescale));
        json_object_set_new(rep, "init", json_sprintf("%s/init.mp4", j->id));
        json_object_set_new(rep, "media", json_sprintf("%s/seg-$Number$.m4s", j->id));
        json_object_set_new(rep, "start_number", json_integer(1));
        json_object_set_new(rep, "segment_count", json_integer(sc->n_seg));
        json_object_set_new(rep, "segment_duration", json_integer(LADDER_SEGMENT_SECONDS));
        json_object_set_new(rep, "segments", timeline);
        timeline = NULL;
        if (j->kind == LADDER_VIDEO) {
                json_object_set_new(rep, "width", json_integer(t.width));
                json_object_set_new(rep, "height", json_integer(t.height));
        } else {
                json_object_set_new(rep, "lang", json_string(j->lang));
                json_object_set_new(rep, "sample_rate", json_integer(t.sample_rate));
                json_object_set_new(rep, "channels", json_integer(t.channels));
        }
        return 0;
fail:
        json_decref(timeline);
        free(buf);
        return r;
}

int asset_json_build(const char *dir, const char *title, const struct ladder_job *jobs,
                     size_t n_jobs, const struct ladder_src *src, const uint8_t *kid, json_t **ret,
                     char *err, size_t errlen)
{
        json_t *root = json_object(), *reps = json_array(), *texts = json_array();
        json_t *files = json_array();
        struct rep_scan *sc = calloc(n_jobs + 1, sizeof(*sc));
        const struct rep_scan *ref = NULL;
        const struct ladder_job *ref_job = NULL;
        char now[32], hex[33];
        time_t tnow = time(NULL);
        struct tm tm;
        int r = -ENOMEM;

        if (!root || !reps || !texts || !files || !sc)
                goto out;
        for (size_t i = 0; i < n_jobs; i++) {
                const struct ladder_job *j = &jobs[i];
                if (j->kind == LADDER_TEXT) {
                        char rel[256];
                        snprintf(rel, sizeof(rel), "%s/subtitles.vtt", j->id);
                        if ((r = file_entry(files, dir, rel, NULL)) < 0) {
                                snprintf(err, errlen, "%s: %s", rel, strerror(-r));
                                goto out;
                        }
                        json_array_append_new(texts, json_pack("{s:s, s:s, s:s, s:s}", "id", j->id,
                                                               "lang", j->lang, "path", rel,
                                                               "mime_type", "text/vtt"));
                        continue;
                }
                json_t *rep = json_object();
                if (!rep)
                        goto out;
                r = scan_rep(dir, j, files, rep, &sc[i], err, errlen);
                if (r < 0) {
                        json_decref(rep);
                        goto out;
                }
                json_array_append_new(reps, rep);
                if (j->kind != LADDER_VIDEO)
                        continue;
                if (j->kind == LADDER_VIDEO) {
                        json_object_set_new(rep, "frame_rate",
                                            json_sprintf("%u/%u", src->fps_num, src->fps_den));
                }
                if (!ref) {
                        ref = &sc[i];
                        ref_job = j;
                        continue;
                }
                /* Aligned keyframes mean identical segment boundaries in every rung. */
                int same = sc[i].n_seg == ref->n_seg;
                for (unsigned s = 0; same && s < ref->n_seg; s++)
                        same = sc[i].starts[s] > ref->starts[s] - 0.001 &&
                               sc[i].starts[s] < ref->starts[s] + 0.001;
                if (!same) {
                        snprintf(err, errlen, "%s and %s: segment boundaries differ", ref_job->id,
                                 j->id);
                        r = -EBADMSG;
                        goto out;
                }
        }
        /* A source cut short (a truncated file whose header still gives the full duration, a
         * video stream that ends seconds before its audio) encodes to less than it claims:
         * declared whole, the title would send players after segments never written. */
        double duration = src->duration;
        for (size_t i = 0; i < n_jobs; i++) {
                if (jobs[i].kind == LADDER_TEXT)
                        continue;
                if (sc[i].end < src->duration - ASSET_SHORT_MAX) {
                        snprintf(err, errlen,
                                 "%s: %.3f s encoded of the source's %.3f s (a truncated or "
                                 "damaged source, or a stream that ends early)",
                                 jobs[i].id, sc[i].end, src->duration);
                        r = -EBADMSG;
                        goto out;
                }
                if (sc[i].end < duration)
                        duration = sc[i].end;
        }
        duration = floor(duration * 1000 + 1e-6) / 1000;
        gmtime_r(&tnow, &tm);
        strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_set_new(root, "version", json_integer(ASSET_VERSION));
        json_object_set_new(root, "title", json_string(title));
        json_object_set_new(root, "created", json_string(now));
        json_object_set_new(root, "duration", json_real(duration));
        json_object_set_new(root, "segment_duration", json_integer(LADDER_SEGMENT_SECONDS));
        json_object_set_new(root, "segment_count", json_integer(ref ? ref->n_seg : 0));
        if (kid)
                json_object_set_new(root, "encryption",
                                    json_pack("{s:s, s:s, s:i}", "scheme", "cenc", "kid",
                                              hex_encode(kid, 16, hex), "iv_size", CENC_IV_SIZE));
        else
                json_object_set_new(root, "encryption", json_null());
        json_object_set_new(root, "representations", reps);
        json_object_set_new(root, "subtitles", texts);
        json_object_set_new(root, "files", files);
        reps = texts = files = NULL;
        *ret = root;
        root = NULL;
        r = 0;
out:
        for (size_t i = 0; sc && i < n_jobs; i++)
                free(sc[i].starts);
        free(sc);
        json_decref(root);
        json_decref(reps);
        json_decref(texts);
        json_decref(files);
        return r;
}
