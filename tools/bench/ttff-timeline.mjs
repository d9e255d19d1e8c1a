// tools/bench/ttff-timeline.mjs — the request timeline of one player start, from Chromium's
// network events (CDP Network domain), for tools/bench/ttff.mjs. Times are milliseconds from
// the page's navigation request, the same origin the page's performance.now() counts from
// (to within the document request's queueing).

const TOKEN = /\/s\/[^/]+\//; // a signed-URL token segment (/s/<jwt>/): not worth printing
const MAX_REQUESTS = 2000; // a start makes a few dozen; more means a runaway page

// What kind of object a URL is, for the table and the duplicate count.
export function kindOf(url) {
  const p = new URL(url).pathname;
  if (/\/v1\/playback$/.test(p)) return 'session';
  if (/\/v1\/manifest\//.test(p) || p.endsWith('.mpd')) return 'manifest';
  if (/\/v1\/steering\//.test(p)) return 'steering';
  if (/\/v1\/license\//.test(p)) return 'licence';
  if (p.startsWith('/v1/')) return 'control';
  if (p.endsWith('/init.mp4')) return 'init';
  if (/\/seg-\d+\.m4s$/.test(p)) return 'segment';
  return 'page';
}

// The path without the token segment, the CMCD query or the host: what was asked for.
export function objectOf(url) {
  const u = new URL(url);
  return u.pathname.replace(TOKEN, '/');
}

// Starts recording on a CDP session with Network enabled; returns { stop(fromWallMs) } whose
// result is the list of { url, kind, object, start, end, status, bytes, cached, cancelled }
// sorted by start (cached: the browser's cache answered it, nothing crossed the link;
// cancelled: by the page, after its answer had begun). Times are ms from the page's
// navigation, or with fromWallMs (a Date.now() of the page: a seek, say) from then, with what
// the current page still had in flight at that instant included at a negative start.
export function recordTimeline(cdp) {
  const reqs = new Map();
  let t0 = null;
  let lastDoc = null; // the latest navigation's
  const onSent = (e) => {
    if (reqs.size >= MAX_REQUESTS || /^(data|blob):/.test(e.request.url)) return;
    if (t0 === null && e.type === 'Document') t0 = e.timestamp;
    if (e.type === 'Document') lastDoc = e.timestamp;
    reqs.set(e.requestId, { url: e.request.url, method: e.request.method, start: e.timestamp,
      wall: e.wallTime, end: null, status: null, bytes: 0, cached: false });
  };
  const onResp = (e) => {
    const r = reqs.get(e.requestId);
    if (r) {
      r.status = e.response.status;
      if (e.response.fromDiskCache || e.response.fromPrefetchCache) r.cached = true;
    }
  };
  const onCache = (e) => {
    const r = reqs.get(e.requestId);
    if (r) r.cached = true;
  };
  const onDone = (e) => {
    const r = reqs.get(e.requestId);
    if (r) {
      r.end = e.timestamp;
      r.bytes = e.encodedDataLength;
    }
  };
  const onFail = (e) => {
    const r = reqs.get(e.requestId);
    if (r) {
      r.end = e.timestamp;
      r.cancelled = !!e.canceled && r.status !== null;
      r.status = r.status || (e.canceled ? 'cancelled' : 'failed');
    }
  };
  cdp.on('Network.requestWillBeSent', onSent);
  cdp.on('Network.responseReceived', onResp);
  cdp.on('Network.requestServedFromCache', onCache);
  cdp.on('Network.loadingFinished', onDone);
  cdp.on('Network.loadingFailed', onFail);
  return {
    stop(fromWallMs) {
      cdp.off('Network.requestWillBeSent', onSent);
      cdp.off('Network.responseReceived', onResp);
      cdp.off('Network.requestServedFromCache', onCache);
      cdp.off('Network.loadingFinished', onDone);
      cdp.off('Network.loadingFailed', onFail);
      let from = t0;
      let keep = (r) => r.start >= from;
      if (fromWallMs !== undefined) {
        // The monotonic clock of the events at the page's wall-clock instant.
        const any = [...reqs.values()].find((r) => typeof r.wall === 'number');
        from = any ? any.start + (fromWallMs / 1000 - any.wall) : null;
        // The page's own (an earlier page's requests never end) and not done by then.
        keep = (r) => r.start >= lastDoc && (r.end === null || r.end >= from);
      }
      const ms = (t) => (t === null ? null : (t - from) * 1000);
      return [...reqs.values()]
        .filter((r) => r.method !== 'OPTIONS' && from !== null && keep(r))
        .map((r) => ({ url: r.url, kind: kindOf(r.url), object: objectOf(r.url), start: ms(r.start),
          end: ms(r.end), status: r.status, bytes: r.bytes, cached: r.cached, cancelled: !!r.cancelled }))
        .sort((a, b) => a.start - b.start);
    },
  };
}

// Media objects fetched more than once, and media segments fetched for the same segment
// number and type in more than one representation (a rung switch that replaced a segment):
// { repeated: [object...], renumbered: ['video seg-1', ...] } among requests begun before
// `until` ms. A request the browser's cache answered fetched nothing (the page's start
// objects, fetched ahead and then asked for by dash.js).
export function duplicates(timeline, until = Infinity) {
  const seen = new Map();
  const bySeg = new Map();
  for (const r of timeline) {
    if (r.start > until || r.cached || (r.kind !== 'segment' && r.kind !== 'init')) continue;
    seen.set(r.object, (seen.get(r.object) || 0) + 1);
    const m = /\/([^/]+)\/(seg-\d+)\.m4s$/.exec(r.object);
    if (m) {
      const type = m[1].split('-')[0]; // video-360p → video, audio-en → audio
      const k = `${type} ${m[2]}`;
      if (!bySeg.has(k)) bySeg.set(k, new Set());
      bySeg.get(k).add(m[1]);
    }
  }
  return {
    repeated: [...seen].filter(([, n]) => n > 1).map(([o]) => o),
    renumbered: [...bySeg].filter(([, reps]) => reps.size > 1).map(([k]) => k),
  };
}

// A Markdown table of the timeline up to `until` ms (first frame plus a margin), after the
// page's own marks (name → ms on the page clock) in time order. `reached` names the instant
// `at` (ms) the table leads to.
export function timelineTable(name, timeline, at, until, marks = {}, reached = 'first frame') {
  const steps = Object.entries(marks).sort((a, b) => a[1] - b[1])
    .map(([k, t]) => `${k} ${Math.round(t)}`).join(', ');
  const rows = [`#### ${name}: ${reached} at ${Math.round(at)} ms`, '',
    `Page marks (ms): ${steps || 'none'}`, '',
    '| start ms | end ms | what | object | status | bytes |', '|---|---|---|---|---|---|'];
  for (const r of timeline) {
    if (r.start > until) break;
    const obj = r.kind === 'page' || r.kind === 'control' ? new URL(r.url).pathname : r.object;
    rows.push(`| ${Math.round(r.start)} | ${r.end === null ? '–' : Math.round(r.end)} | ${r.kind} | ` +
      `${obj.length > 60 ? `…${obj.slice(-59)}` : obj} | ${r.status ?? '–'}${r.cached ? ' (cache)' : ''}${r.cancelled ? ' (cancelled)' : ''} | ${r.bytes} |`);
  }
  const d = duplicates(timeline, until);
  rows.push('', `fetched twice: ${d.repeated.join(', ') || 'none'}; one segment in several ` +
    `representations: ${d.renumbered.join(', ') || 'none'}`, '');
  return rows.join('\n');
}
