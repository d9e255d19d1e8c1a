// Sluice player page: what a start asks for first, before dash.js can: with control, the
// session (MPD inline), then the first objects dash.js will ask for (start-segments.js: the
// inits and first segments at the session's start rung), so that they cross the viewer's link
// while dash.js downloads, compiles and sets up its buffers, and dash.js then finds them in the
// HTTP cache; without control, the manifest. A classic script for the page (start-early.js)
// and the start worker (start-worker.js) alike.
//
// startAhead(d, config, arrived) → Promise of {config, configAt, session: {status, ok, body, asked,
// retryAfter, error}, sessionRequestedAt, sessionAt, manifest: {url, text}, prefetch: [{url, kind,
// fetched}]}, where d is {title, episode, profile, profileKey, newProfile, ipv6, src, sid,
// prefetch, preflight} and config a promise of the page's config. Each start object's request
// carries CMCD as dash.js would send it at start (su, the page's sid), so the edge's start prefetch
// still sees the start; the page has dash.js ask for these very URLs (`fetched`). Its body is read
// here (a body nobody reads stops arriving), then arrived(entry, {status, bytes, at, done} or
// {error}). Times are absolute (performance.timeOrigin + now), for any thread's clock.

// A JSON body as a CORS "simple" request: a string body with no type goes as text/plain, so
// the browser sends no preflight (OPTIONS) to control first, a round trip every new browser
// would otherwise make before its first session; control reads text/plain as JSON. (A Blob
// with no type, also simple, measured slower than the preflight itself: docs/demo.md.) With
// d.preflight (?preflight=on) it goes as application/json, to measure the round trip.
function jsonInit(obj, preflight) {
  const text = JSON.stringify(obj);
  if (preflight) return { headers: { 'Content-Type': 'application/json' }, body: text };
  return { body: text };
}

// How long control (or an edge, for a manifest) may take to answer the page: past it the page
// says it did not answer rather than wait on for ever (player.js has the same bound).
const ANSWER_MS = 8000;

// A request that did not get an answer: as the page shows it.
function noAnswer(e) {
  return e && e.name === 'TimeoutError' ? `no answer within ${ANSWER_MS / 1000} s`
    : `no answer (${e && e.message})`;
}

function startNow() {
  return performance.timeOrigin + performance.now();
}

// CMCD (query form) for a start request of kind, keys in order as CTA-5004 wants them.
function startCmcd(kind, d) {
  const ot = kind.endsWith('-init') ? 'i' : kind === 'audio' ? 'a' : 'v';
  const q = (v) => `"${String(v).replace(/["\\]/g, '')}"`;
  return `CMCD=${encodeURIComponent(`cid=${q(d.title)},ot=${ot},sf=d,sid=${q(d.sid)},st=v,su`)}`;
}

// Starts fetching the session's start objects; returns what dash.js should ask for instead
// of each (the same URL with this request's CMCD).
function startFetch(session, d, arrived) {
  let list;
  try {
    list = startSegments(session.manifest, { manifestUrl: session.manifest_url,
      startBandwidth: session.start_bandwidth, startTime: session.resume_position });
  } catch {
    return [];
  }
  return list.map((s) => {
    const e = { url: s.url, kind: s.kind,
      fetched: `${s.url}${s.url.includes('?') ? '&' : '?'}${startCmcd(s.kind, d)}` };
    const at = startNow();
    fetch(e.fetched).then(async (r) => {
      const bytes = (await r.arrayBuffer()).byteLength;
      arrived(e, { status: r.status, bytes, at, done: startNow() });
    }).catch((err) => arrived(e, { error: String(err && err.message) }));
    return e;
  });
}

async function startAhead(d, config, arrived) {
  const out = {};
  const c = await config;
  out.config = c;
  out.configAt = startNow();
  if (c.control && !d.src && d.title) {
    const base = d.ipv6 && c.controlAlt ? c.controlAlt : c.control;
    const body = { title: d.title, inline_manifest: true };
    if (d.episode) body.episode = d.episode;
    if (d.profile) {
      body.profile = d.profile;
      body.profile_key = d.profileKey || undefined;
    } else body.new_profile = d.newProfile;
    out.sessionRequestedAt = startNow();
    let r;
    try {
      r = await fetch(`${base}/v1/playback`, {
        method: 'POST',
        ...jsonInit(body, d.preflight),
        cache: 'no-store',
        signal: AbortSignal.timeout(ANSWER_MS),
      });
    } catch (e) {
      // The page shows it (or asks again), with the config it has.
      out.session = { status: 0, ok: false, body: null, asked: body, error: noAnswer(e) };
      out.sessionAt = startNow();
      return out;
    }
    let j = null;
    try { j = await r.json(); } catch { /* an empty or non-JSON answer */ }
    out.session = { status: r.status, ok: r.ok, body: j, asked: body,
      retryAfter: r.headers.get('Retry-After') };
    out.sessionAt = startNow();
    if (r.ok && j && d.prefetch) out.prefetch = startFetch(j, d, arrived);
  } else {
    // The manifest the page will play, found as the page finds it.
    let src = d.src;
    if (!src && d.title) {
      const t = (c.titles || []).find((x) => x.id === d.title);
      src = t ? t.manifest : `${c.edge}/${encodeURIComponent(d.title)}/manifest.mpd`;
    }
    if (src) {
      // Not answered in time: the page fetches it again itself (prefetchManifest), or dash.js.
      const r = await fetch(src, { signal: AbortSignal.timeout(ANSWER_MS) }).catch(() => null);
      if (r && r.ok) out.manifest = { url: src, text: await r.text() };
    }
  }
  return out;
}

self.startAhead = startAhead;
self.jsonInit = jsonInit;
