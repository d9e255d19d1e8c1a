// Sluice player page: the round trips a start needs first, made on a thread of their own.
// While dash.js (830 kB) compiles and runs its module on the page's main thread, no fetch the
// page started can be answered to its code there: the page's config, control's session (with
// the manifest inline) or a plain manifest would wait for the compile however early they
// arrived. Here they are made and read in parallel with it, and handed over in one message.
//
// With control's session it also starts fetching the first objects dash.js will ask for
// (start-segments.js: the inits and first segments at the session's start rung), so that they
// cross the viewer's link during the compile too and dash.js finds them in the HTTP cache. The
// answer goes to the page at once; the bodies are read here (a body nobody reads stops
// arriving). Each carries CMCD as dash.js would send it at start (su, the page's sid), so the
// edge's start prefetch still sees the start; the page has dash.js ask for these very URLs.
//
// In: {title, episode, profile, ipv6, src, newProfile, sid, prefetch}. Out: {config, configAt,
// session: {status, ok, body}, sessionAt, sessionRequestedAt, manifest: {url, text},
// prefetch: [{url, kind, fetched}], error}, then one {prefetched: url, status, bytes, at, done}
// (or {prefetched, error}) as each start object has arrived; times are absolute
// (performance.timeOrigin + now) so the page can put them on its own clock.

const now = () => performance.timeOrigin + performance.now();
const startedAt = now();
// The config is asked for at once, before the page's message comes (it needs nothing of it).
const configAnswer = fetch('/config.json', { cache: 'no-store' });

async function run(d) {
  const out = { startedAt };
  const c = await (await configAnswer).json();
  out.config = c;
  out.configAt = now();
  if (c.control && !d.src && d.title) {
    const base = d.ipv6 && c.controlAlt ? c.controlAlt : c.control;
    const body = { title: d.title, inline_manifest: true };
    if (d.episode) body.episode = d.episode;
    if (d.profile) body.profile = d.profile;
    else body.new_profile = d.newProfile;
    out.sessionRequestedAt = now();
    const answer = fetch(`${base}/v1/playback`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      cache: 'no-store',
    });
    // Loaded while the session crosses the link (importScripts blocks this thread only).
    if (d.prefetch) {
      try {
        importScripts('/start-segments.js');
      } catch { /* then no prefetch: startSegments stays undefined */ }
      out.loadedAt = now();
    }
    const r = await answer;
    let j = null;
    try { j = await r.json(); } catch { /* an empty or non-JSON answer */ }
    out.session = { status: r.status, ok: r.ok, body: j, asked: body };
    out.sessionAt = now();
    if (r.ok && j && d.prefetch && self.startSegments) out.prefetch = prefetch(j, d);
  } else {
    // The manifest the page will play, found as the page finds it.
    let src = d.src;
    if (!src && d.title) {
      const t = (c.titles || []).find((x) => x.id === d.title);
      src = t ? t.manifest : `${c.edge}/${encodeURIComponent(d.title)}/manifest.mpd`;
    }
    if (src) {
      const r = await fetch(src);
      if (r.ok) out.manifest = { url: src, text: await r.text() };
    }
  }
  return out;
}

// CMCD (query form) for a start request of kind, keys in order as CTA-5004 wants them.
function cmcdArg(kind, d) {
  const ot = kind.endsWith('-init') ? 'i' : kind === 'audio' ? 'a' : 'v';
  const q = (v) => `"${String(v).replace(/["\\]/g, '')}"`;
  return `CMCD=${encodeURIComponent(`cid=${q(d.title)},ot=${ot},sf=d,sid=${q(d.sid)},st=v,su`)}`;
}

// Starts fetching the session's start objects; returns what the page's dash.js should ask
// for instead of each (the same URL with this request's CMCD). Bodies are drained here.
function prefetch(session, d) {
  let list;
  try {
    list = startSegments(session.manifest, { manifestUrl: session.manifest_url,
      startBandwidth: session.start_bandwidth, startTime: session.resume_position });
  } catch {
    return [];
  }
  return list.map((s) => {
    const url = `${s.url}${s.url.includes('?') ? '&' : '?'}${cmcdArg(s.kind, d)}`;
    const at = now();
    fetch(url).then(async (r) => {
      const bytes = (await r.arrayBuffer()).byteLength;
      postMessage({ prefetched: s.url, status: r.status, bytes, at, done: now() });
    }).catch((e) => postMessage({ prefetched: s.url, error: String(e && e.message) }));
    return { url: s.url, kind: s.kind, fetched: url };
  });
}

onmessage = async ({ data }) => {
  let out;
  try {
    out = await run(data);
  } catch (e) {
    out = { error: String(e && e.message) };
  }
  postMessage(out);
};
