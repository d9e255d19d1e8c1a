/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpd.h"
#include "steering.h"

#define NS_MPD       "urn:mpeg:dash:schema:mpd:2011"
#define NS_CENC      "urn:mpeg:cenc:2013"
#define NS_DASHIF    "https://dashif.org/CPS"
#define PROFILE_LIVE "urn:mpeg:dash:profile:isoff-live:2011"
#define SCHEME_CENC  "urn:mpeg:dash:mp4protection:2011"
#define SCHEME_CK    "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e"
#define SCHEME_ROLE  "urn:mpeg:dash:role:2011"
#define SCHEME_ACC   "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"
#define SCHEME_MARK  "urn:sluice:marker:2025"

/* common/buf's "over the limit" is the manifest builders' -E2BIG. */
static int over_max(int r)
{
        return r == -ENOBUFS ? -E2BIG : r;
}

void mpd_buf_init(struct mpd_buf *b, size_t max)
{
        buf_init(&b->b, max);
}

void mpd_buf_done(struct mpd_buf *b)
{
        buf_done(&b->b);
}

int mpd_buf_reserve(struct mpd_buf *b, size_t n)
{
        return over_max(buf_reserve(&b->b, n));
}

int mpd_buf_append(struct mpd_buf *b, const char *s, size_t n)
{
        return over_max(buf_append(&b->b, s, n));
}

int mpd_buf_puts(struct mpd_buf *b, const char *s)
{
        return over_max(buf_append_str(&b->b, s));
}

int mpd_buf_printf(struct mpd_buf *b, const char *fmt, ...)
{
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = buf_vprintf(&b->b, fmt, ap);
        va_end(ap);
        return over_max(r);
}

int mpd_buf_xml_escape(struct mpd_buf *b, const char *s)
{
        const char *run = s;
        for (const char *p = s;; p++) {
                const char *rep = NULL;
                unsigned char ch = (unsigned char)*p;
                switch (ch) {
                case '&':
                        rep = "&amp;";
                        break;
                case '<':
                        rep = "&lt;";
                        break;
                case '>':
                        rep = "&gt;";
                        break;
                case '"':
                        rep = "&quot;";
                        break;
                case '\'':
                        rep = "&apos;";
                        break;
                default:
                        /* C0 controls other than tab/LF/CR are not allowed in XML 1.0 at all. */
                        if (ch != 0 && ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r')
                                rep = "";
                        break;
                }
                if (!rep && ch != 0)
                        continue;
                (void)mpd_buf_append(b, run, (size_t)(p - run));
                if (ch == 0)
                        break;
                (void)mpd_buf_puts(b, rep);
                run = p + 1;
        }
        return over_max(b->b.err);
}

int mpd_buf_steal(struct mpd_buf *b, char **ret, size_t *ret_len)
{
        char *p = buf_steal(&b->b, ret_len);
        int r = b->b.err; /* set whenever nothing was handed over */

        if (!p) {
                buf_done(&b->b);
                return over_max(r);
        }
        *ret = p;
        return 0;
}

int mpd_duration_format(double seconds, char *out, size_t cap)
{
        if (!(seconds >= 0) || seconds > 1e9)
                seconds = 0;
        uint64_t ms = (uint64_t)llround(seconds * 1000.0);
        uint64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, f = ms % 1000;
        int n;
        if (h)
                n = snprintf(out, cap, "PT%" PRIu64 "H%" PRIu64 "M%" PRIu64 ".%03" PRIu64 "S", h, m,
                             s, f);
        else if (m)
                n = snprintf(out, cap, "PT%" PRIu64 "M%" PRIu64 ".%03" PRIu64 "S", m, s, f);
        else
                n = snprintf(out, cap, "PT%" PRIu64 ".%03" PRIu64 "S", s, f);
        if (n < 0 || (size_t)n >= cap)
                return -ENOBUFS;
        return n;
}

/* <SegmentTimeline> with runs of equal, contiguous durations folded into @r. */
static void seg_timeline(struct mpd_buf *b, const struct asset_rep *r, const char *ind)
{
        mpd_buf_printf(b, "%s  <SegmentTimeline>\n", ind);
        size_t i = 0;
        uint64_t next = UINT64_MAX;
        while (i < r->n_segments) {
                const struct asset_segment *s = &r->segments[i];
                size_t run = 1;
                while (i + run < r->n_segments && r->segments[i + run].d == s->d &&
                       r->segments[i + run].t == r->segments[i + run - 1].t + s->d)
                        run++;
                mpd_buf_printf(b, "%s    <S", ind);
                if (s->t != next)
                        mpd_buf_printf(b, " t=\"%" PRIu64 "\"", s->t);
                mpd_buf_printf(b, " d=\"%" PRIu64 "\"", s->d);
                if (run > 1)
                        mpd_buf_printf(b, " r=\"%zu\"", run - 1);
                mpd_buf_puts(b, "/>\n");
                next = s->t + s->d * run;
                i += run;
        }
        mpd_buf_printf(b, "%s  </SegmentTimeline>\n", ind);
}

/*
 * Whether @duration (the nominal duration) addresses the segments r lists: ISO/IEC 23009-1
 * §5.3.9.5.3 has ceil(PeriodDuration / @duration) segments, segment k starting at (k - 1) ×
 * @duration, so every one of them must be listed, none starting half a segment or more from
 * there, and any listed beyond them must start at or after the period's end (an AAC tail:
 * never played, so never needed). A 29.97 fps rung fails it (4.004 s keyframe intervals put
 * the last frames of a 120.02 s title in segment 30, where @duration names a 31st that does
 * not exist), as does a title whose duration is longer than what was written. Without a list
 * it is assumed.
 */
static int duration_addresses(const struct asset *a, const struct asset_rep *r)
{
        uint64_t d = (uint64_t)r->segment_duration * r->timescale;
        if (!r->n_segments || !d)
                return 1;
        /* The period's duration as the manifest writes it: in whole milliseconds. */
        double sec = a->duration >= 0 && a->duration <= 1e9 ? a->duration : 0;
        uint64_t ms = (uint64_t)llround(sec * 1000.0);
        if (ms > UINT64_MAX / r->timescale || d > UINT64_MAX / 1000)
                return 0;
        uint64_t end = ms * r->timescale; /* the period's end, in timescale units × 1000 */
        uint64_t span = 1000 * d, count = (end + span - 1) / span;
        if (count > r->n_segments)
                return 0;
        for (size_t k = 0; k < r->n_segments; k++) {
                uint64_t t = r->segments[k].t, at = (uint64_t)k * d;
                if (k >= count) {
                        if (t <= UINT64_MAX / 1000 && t * 1000 < end)
                                return 0;
                } else if ((t > at ? t - at : at - t) * 2 >= d) {
                        return 0;
                }
        }
        return 1;
}

/* A SegmentTimeline when the caller asks for one or @duration would not name r's segments. */
static int wants_timeline(const struct mpd_params *p, const struct asset_rep *r)
{
        return r->n_segments > 0 && (p->segment_timeline || !duration_addresses(p->asset, r));
}

static void seg_template(struct mpd_buf *b, const struct asset_rep *r, int tl, const char *ind)
{
        mpd_buf_printf(b,
                       "%s<SegmentTemplate initialization=\"$RepresentationID$/init.mp4\" "
                       "media=\"$RepresentationID$/seg-$Number$.m4s\" startNumber=\"%" PRIu32
                       "\" timescale=\"%" PRIu32 "\"",
                       ind, r->start_number, r->timescale);
        if (!tl) {
                mpd_buf_printf(b, " duration=\"%" PRIu64 "\"/>\n",
                               (uint64_t)r->segment_duration * r->timescale);
                return;
        }
        mpd_buf_puts(b, ">\n");
        seg_timeline(b, r, ind);
        mpd_buf_printf(b, "%s</SegmentTemplate>\n", ind);
}

/* Whether reps in set[0..n) can share one SegmentTemplate at AdaptationSet level. */
static int template_shared(const struct mpd_params *p, const struct asset_rep *const *set, size_t n)
{
        int timeline = wants_timeline(p, set[0]);
        for (size_t i = 1; i < n; i++) {
                const struct asset_rep *a = set[0], *r = set[i];
                if (r->timescale != a->timescale || r->segment_duration != a->segment_duration ||
                    r->start_number != a->start_number || wants_timeline(p, r) != timeline)
                        return 0;
                /* Without segments both pointers are NULL, which memcmp() must not see. */
                if (timeline && (r->n_segments != a->n_segments ||
                                 (a->n_segments && memcmp(r->segments, a->segments,
                                                          a->n_segments * sizeof(*a->segments)))))
                        return 0;
        }
        return 1;
}

static void content_protection(struct mpd_buf *b, const struct mpd_params *p)
{
        char kid[37];
        if (!p->asset->encrypted)
                return;
        asset_kid_uuid(p->asset->kid, kid);
        mpd_buf_printf(b,
                       "      <ContentProtection schemeIdUri=\"" SCHEME_CENC
                       "\" value=\"cenc\" cenc:default_KID=\"%s\"/>\n",
                       kid);
        mpd_buf_printf(b,
                       "      <ContentProtection schemeIdUri=\"" SCHEME_CK
                       "\" value=\"ClearKey1.0\" cenc:default_KID=\"%s\">\n"
                       "        <dashif:Laurl>",
                       kid);
        mpd_buf_xml_escape(b, p->license_url);
        mpd_buf_puts(b, "</dashif:Laurl>\n      </ContentProtection>\n");
}

static void frame_rate_attr(struct mpd_buf *b, const struct asset_rep *r)
{
        if (!r->fps_num)
                return;
        if (r->fps_den == 1)
                mpd_buf_printf(b, " frameRate=\"%" PRIu32 "\"", r->fps_num);
        else
                mpd_buf_printf(b, " frameRate=\"%" PRIu32 "/%" PRIu32 "\"", r->fps_num, r->fps_den);
}

/* An AdaptationSet of the audio or video reps in set[0..n). */
static void media_set(struct mpd_buf *b, const struct mpd_params *p, unsigned id,
                      const struct asset_rep *const *set, size_t n, int main_role)
{
        const struct asset_rep *first = set[0];
        int video = first->kind == ASSET_VIDEO;
        int shared = template_shared(p, set, n);

        mpd_buf_printf(b, "    <AdaptationSet id=\"%u\" contentType=\"%s\" mimeType=\"", id,
                       video ? "video" : "audio");
        mpd_buf_xml_escape(b, first->mime_type);
        mpd_buf_puts(b, "\" segmentAlignment=\"true\" startWithSAP=\"1\"");
        if (video) {
                uint32_t mw = 0, mh = 0;
                for (size_t i = 0; i < n; i++) {
                        mw = set[i]->width > mw ? set[i]->width : mw;
                        mh = set[i]->height > mh ? set[i]->height : mh;
                }
                mpd_buf_printf(b, " maxWidth=\"%" PRIu32 "\" maxHeight=\"%" PRIu32 "\"", mw, mh);
        } else {
                mpd_buf_puts(b, " lang=\"");
                mpd_buf_xml_escape(b, first->lang);
                mpd_buf_puts(b, "\"");
        }
        mpd_buf_puts(b, ">\n");
        content_protection(b, p);
        if (!video)
                mpd_buf_printf(b, "      <Role schemeIdUri=\"" SCHEME_ROLE "\" value=\"%s\"/>\n",
                               main_role ? "main" : "alternate");
        if (shared)
                seg_template(b, first, wants_timeline(p, first), "      ");
        for (size_t i = 0; i < n; i++) {
                const struct asset_rep *r = set[i];
                mpd_buf_puts(b, "      <Representation id=\"");
                mpd_buf_xml_escape(b, r->id);
                mpd_buf_puts(b, "\" codecs=\"");
                mpd_buf_xml_escape(b, r->codec);
                mpd_buf_printf(b, "\" bandwidth=\"%" PRIu64 "\"", r->bandwidth);
                if (video) {
                        mpd_buf_printf(b, " width=\"%" PRIu32 "\" height=\"%" PRIu32 "\"", r->width,
                                       r->height);
                        frame_rate_attr(b, r);
                        mpd_buf_puts(b, " sar=\"1:1\"");
                } else if (r->sample_rate) {
                        mpd_buf_printf(b, " audioSamplingRate=\"%" PRIu32 "\"", r->sample_rate);
                }
                int body = !shared || (!video && r->channels);
                if (!body) {
                        mpd_buf_puts(b, "/>\n");
                        continue;
                }
                mpd_buf_puts(b, ">\n");
                if (!video && r->channels)
                        mpd_buf_printf(
                            b,
                            "        <AudioChannelConfiguration schemeIdUri=\"" SCHEME_ACC
                            "\" value=\"%" PRIu32 "\"/>\n",
                            r->channels);
                if (!shared)
                        seg_template(b, r, wants_timeline(p, r), "        ");
                mpd_buf_puts(b, "      </Representation>\n");
        }
        mpd_buf_puts(b, "    </AdaptationSet>\n");
}

static void text_set(struct mpd_buf *b, unsigned id, const struct asset_text *t)
{
        mpd_buf_printf(b, "    <AdaptationSet id=\"%u\" contentType=\"text\" mimeType=\"", id);
        mpd_buf_xml_escape(b, t->mime_type);
        mpd_buf_puts(b, "\" lang=\"");
        mpd_buf_xml_escape(b, t->lang);
        mpd_buf_puts(b, "\">\n      <Role schemeIdUri=\"" SCHEME_ROLE "\" value=\"subtitle\"/>\n"
                        "      <Representation id=\"");
        mpd_buf_xml_escape(b, t->id);
        /* A sidecar file: the Representation's BaseURL resolves against the edge BaseURL. */
        mpd_buf_puts(b, "\" bandwidth=\"256\">\n        <BaseURL>");
        mpd_buf_xml_escape(b, t->path);
        mpd_buf_puts(b, "</BaseURL>\n      </Representation>\n    </AdaptationSet>\n");
}

static void event_stream(struct mpd_buf *b, const struct mpd_params *p)
{
        if (!p->n_markers)
                return;
        mpd_buf_puts(b, "    <EventStream schemeIdUri=\"" SCHEME_MARK
                        "\" value=\"1\" timescale=\"1000\">\n");
        for (size_t i = 0; i < p->n_markers; i++) {
                const struct mpd_marker *m = &p->markers[i];
                double st = m->start > 0 ? m->start : 0, du = m->duration > 0 ? m->duration : 0;
                mpd_buf_printf(b,
                               "      <Event id=\"%zu\" presentationTime=\"%" PRIu64
                               "\" duration=\"%" PRIu64 "\">",
                               i, (uint64_t)llround(st * 1000), (uint64_t)llround(du * 1000));
                mpd_buf_xml_escape(b, m->kind ? m->kind : "");
                mpd_buf_puts(b, "</Event>\n");
        }
        mpd_buf_puts(b, "    </EventStream>\n");
}

static void base_urls(struct mpd_buf *b, const struct mpd_params *p)
{
        const char *title = p->title_path ? p->title_path : p->asset->title;
        for (size_t i = 0; i < p->n_edges; i++) {
                const struct mpd_edge *e = &p->edges[i];
                size_t n = strlen(e->base_url);
                while (n > 0 && e->base_url[n - 1] == '/')
                        n--;
                char *base = strndup(e->base_url, n);
                if (!base) {
                        (void)buf_fail(&b->b, -ENOMEM);
                        return;
                }
                mpd_buf_puts(b, "  <BaseURL serviceLocation=\"");
                mpd_buf_xml_escape(b, e->service_location);
                mpd_buf_puts(b, "\">");
                mpd_buf_xml_escape(b, base);
                if (e->token && *e->token) {
                        mpd_buf_puts(b, "/s/");
                        mpd_buf_xml_escape(b, e->token);
                }
                mpd_buf_puts(b, "/");
                mpd_buf_xml_escape(b, title);
                mpd_buf_puts(b, "/</BaseURL>\n");
                free(base);
        }
}

int mpd_build(const struct mpd_params *p, char **ret, size_t *ret_len)
{
        const struct asset *a = p->asset;
        const struct asset_rep **set = NULL;
        struct mpd_buf b;
        char dur[48], minbuf[48], maxseg[48];
        uint64_t maxsd_ms = 0; /* the longest segment of any representation, rounded up */
        unsigned as_id = 0;
        int r;

        if (!a || !p->edges || p->n_edges == 0 || p->n_edges > MPD_EDGES_MAX ||
            p->n_markers > MPD_MARKERS_MAX || (p->n_markers && !p->markers))
                return -EINVAL;
        if (a->encrypted && (!p->license_url || !*p->license_url))
                return -EINVAL;
        for (size_t i = 0; i < p->n_edges; i++)
                if (!p->edges[i].service_location || !p->edges[i].base_url)
                        return -EINVAL;
        size_t n_video = 0;
        for (size_t i = 0; i < a->n_reps; i++) {
                n_video += a->reps[i].kind == ASSET_VIDEO;
                const struct asset_rep *rep = &a->reps[i];
                if ((uint64_t)rep->segment_duration * 1000 > maxsd_ms)
                        maxsd_ms = (uint64_t)rep->segment_duration * 1000;
                /* The listed segments may run past the nominal duration (4.011 s for a
                 * 4 s audio rung): maxSegmentDuration bounds them all. */
                for (size_t k = 0; rep->timescale && k < rep->n_segments; k++) {
                        uint64_t ms = (rep->segments[k].d * 1000 + rep->timescale - 1) /
                                      rep->timescale;
                        if (ms > maxsd_ms)
                                maxsd_ms = ms;
                }
        }
        if (!n_video)
                return -EINVAL;
        set = calloc(a->n_reps, sizeof(*set));
        if (!set)
                return -ENOMEM;

        mpd_buf_init(&b, MPD_OUT_MAX);
        (void)mpd_duration_format(a->duration, dur, sizeof(dur));
        (void)mpd_duration_format(p->min_buffer_time_s ? p->min_buffer_time_s : 2, minbuf,
                                  sizeof(minbuf));
        (void)mpd_duration_format((double)maxsd_ms / 1000.0, maxseg, sizeof(maxseg));
        mpd_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                         "<MPD xmlns=\"" NS_MPD "\"");
        if (a->encrypted)
                mpd_buf_puts(&b, " xmlns:cenc=\"" NS_CENC "\" xmlns:dashif=\"" NS_DASHIF "\"");
        mpd_buf_printf(&b,
                       " type=\"static\" profiles=\"" PROFILE_LIVE
                       "\" mediaPresentationDuration=\"%s\""
                       " maxSegmentDuration=\"%s\" minBufferTime=\"%s\">\n",
                       dur, maxseg, minbuf);
        base_urls(&b, p);
        if (p->steering_url) {
                mpd_buf_puts(&b, "  <ContentSteering defaultServiceLocation=\"");
                mpd_buf_xml_escape(&b, p->edges[0].service_location);
                mpd_buf_printf(&b, "\" queryBeforeStart=\"%s\">",
                               p->steering_query_before_start ? "true" : "false");
                mpd_buf_xml_escape(&b, p->steering_url);
                /* The pathways this MPD lists, for steering to clone exactly the others
                 * (steering.h, STEERING_MANIFEST_ARG). Edge ids are URL-safe (sluice_id). */
                mpd_buf_puts(&b, strchr(p->steering_url, '?') ? "&amp;" : "?");
                mpd_buf_puts(&b, STEERING_MANIFEST_ARG "=");
                for (size_t i = 0; i < p->n_edges; i++) {
                        if (i)
                                mpd_buf_puts(&b, ",");
                        mpd_buf_xml_escape(&b, p->edges[i].service_location);
                }
                mpd_buf_puts(&b, "</ContentSteering>\n");
        }
        mpd_buf_puts(&b, "  <Period id=\"0\" start=\"PT0S\">\n");
        event_stream(&b, p);

        /* Video: every video representation in one set, in asset order. */
        size_t n = 0;
        for (size_t i = 0; i < a->n_reps; i++)
                if (a->reps[i].kind == ASSET_VIDEO)
                        set[n++] = &a->reps[i];
        media_set(&b, p, as_id++, set, n, 1);

        /* Audio: one set per language, in order of first appearance; the first is "main". */
        int first_lang = 1;
        for (size_t i = 0; i < a->n_reps; i++) {
                const struct asset_rep *ri = &a->reps[i];
                if (ri->kind != ASSET_AUDIO)
                        continue;
                int seen = 0;
                for (size_t j = 0; j < i && !seen; j++)
                        seen = a->reps[j].kind == ASSET_AUDIO &&
                               strcmp(a->reps[j].lang, ri->lang) == 0;
                if (seen)
                        continue;
                n = 0;
                for (size_t j = i; j < a->n_reps; j++)
                        if (a->reps[j].kind == ASSET_AUDIO &&
                            strcmp(a->reps[j].lang, ri->lang) == 0)
                                set[n++] = &a->reps[j];
                media_set(&b, p, as_id++, set, n, first_lang);
                first_lang = 0;
        }
        for (size_t i = 0; i < a->n_texts; i++)
                text_set(&b, as_id++, &a->texts[i]);
        mpd_buf_puts(&b, "  </Period>\n</MPD>\n");

        r = mpd_buf_steal(&b, ret, ret_len);
        free(set);
        return r;
}
