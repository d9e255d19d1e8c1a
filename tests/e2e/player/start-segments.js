// Sluice player page: the first objects dash.js will ask for, read from control's MPD
// (control/mpd.c's shape: MPD-level BaseURLs with serviceLocation, one Period, a
// SegmentTemplate with $RepresentationID$ and $Number$), so that the start worker can fetch
// them while dash.js compiles. A classic script: the worker loads it with importScripts and
// the tests evaluate it in node.
//
// startSegments(mpd, {manifestUrl, startBandwidth, startTime}) → [{url, kind}] where kind is
// 'video-init', 'audio-init', 'video', 'audio': the video rung dash.js starts at when told
// initialBitrate ceil(startBandwidth / 1000) kbit/s (the highest whose bandwidth in kbit/s is
// within it, else the lowest), the only audio representation, and for each the segment
// holding startTime. What it cannot tell exactly (no start rung, a SegmentTimeline or $Time$,
// several Periods, audio with a choice of sets or rungs, text, a base that is not http(s)) it
// leaves out: a guess fetched for nothing would share the viewer's link with the start it is
// meant to speed up.
// At most MPD_SCAN_MAX characters are read.

const MPD_SCAN_MAX = 1 << 20;

function xmlText(s) {
  return s.replace(/&(amp|lt|gt|quot|apos);/g,
    (_, e) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: '\'' })[e]);
}

function tagAttrs(tag) {
  const o = {};
  for (const m of tag.matchAll(/([\w:]+)="([^"]*)"/g)) o[m[1]] = xmlText(m[2]);
  return o;
}

// The elements named name directly in text (self-closing or with a body), as {attrs, body}.
function elements(text, name) {
  const out = [];
  const re = new RegExp(`<${name}\\b([^>]*?)(/>|>([\\s\\S]*?)</${name}>)`, 'g');
  for (const m of text.matchAll(re)) out.push({ attrs: tagAttrs(m[1]), body: m[3] || '' });
  return out;
}

// $RepresentationID$, $Bandwidth$, $Number$ (with an optional %0Nd width) and $$; null when
// the template has an identifier this page does not resolve ($Time$, $SubNumber$).
function fillTemplate(t, rep, number) {
  let ok = true;
  const s = t.replace(/\$(RepresentationID|Bandwidth|Number|Time|SubNumber)?(%0(\d+)d)?\$/g,
    (_, id, fmt, width) => {
      if (!id) return '$';
      if (id === 'RepresentationID') return rep.id;
      if (id === 'Bandwidth') return String(rep.bandwidth);
      if (id === 'Number') return String(number).padStart(width ? Number(width) : 0, '0');
      ok = false;
      return '';
    });
  return ok ? s : null;
}

// The init and first segment URLs of rep (with its or its set's SegmentTemplate) from base.
function repUrls(set, rep, base, startTime, kind) {
  const own = elements(rep.body, 'SegmentTemplate')[0];
  const st = own || elements(set.body.replace(/<Representation\b[\s\S]*$/, ''), 'SegmentTemplate')[0];
  if (!st || /<SegmentTimeline\b/.test(st.body)) return [];
  const a = st.attrs;
  const timescale = Number(a.timescale || 1);
  const duration = Number(a.duration);
  const first = Number(a.startNumber || 1);
  if (!a.media || !a.initialization || !(duration > 0) || !(timescale > 0)) return [];
  const n = first + Math.max(0, Math.floor(((startTime || 0) * timescale) / duration + 1e-9));
  const init = fillTemplate(a.initialization, rep.attrs, n);
  const media = fillTemplate(a.media, rep.attrs, n);
  if (init === null || media === null) return [];
  return [{ url: new URL(init, base).href, kind: `${kind}-init` },
    { url: new URL(media, base).href, kind }];
}

function startSegments(mpd, { manifestUrl, startBandwidth, startTime } = {}) {
  if (typeof mpd !== 'string' || mpd.length > MPD_SCAN_MAX || !(startBandwidth > 0)) return [];
  const at = mpd.indexOf('<Period');
  if (at < 0 || mpd.indexOf('<Period', at + 1) >= 0) return [];
  const head = mpd.slice(0, at);
  // dash.js starts on the steering element's default pathway, else on the first BaseURL.
  const bases = elements(head, 'BaseURL');
  const steer = elements(head, 'ContentSteering')[0];
  const dflt = steer && bases.find((b) => b.attrs.serviceLocation === steer.attrs.defaultServiceLocation);
  const chosen = dflt || bases[0];
  let base;
  try {
    base = new URL(chosen ? xmlText(chosen.body.trim()) : '.', manifestUrl).href;
  } catch {
    return [];
  }
  if (!/^https?:/.test(base)) return [];
  const sets = elements(mpd.slice(at), 'AdaptationSet');
  const kindOf = (s) => s.attrs.contentType || (s.attrs.mimeType || '').split('/')[0];
  const video = sets.filter((s) => kindOf(s) === 'video');
  const audio = sets.filter((s) => kindOf(s) === 'audio');
  const out = [];
  if (video.length === 1) {
    const reps = elements(video[0].body, 'Representation')
      .filter((r) => r.attrs.id && Number(r.attrs.bandwidth) > 0)
      .sort((x, y) => Number(x.attrs.bandwidth) - Number(y.attrs.bandwidth));
    const kbit = Math.max(1, Math.ceil(startBandwidth / 1000));
    const within = reps.filter((r) => Number(r.attrs.bandwidth) / 1000 <= kbit);
    const rep = within.length ? within[within.length - 1] : reps[0];
    if (rep) out.push(...repUrls(video[0], rep, base, startTime, 'video'));
  }
  if (out.length && audio.length === 1) {
    const reps = elements(audio[0].body, 'Representation');
    if (reps.length === 1 && reps[0].attrs.id) out.push(...repUrls(audio[0], reps[0], base, startTime, 'audio'));
  }
  return out;
}

self.startSegments = startSegments;
