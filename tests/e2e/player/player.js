// Sluice player page: dash.js 5 playing a title from an edge, with a live view of what the
// player and the edge are doing. The e2e test drives this same page and reads window.sluice.
//
// Query parameters:
//   title=ID        with a control plane (config.control): show the title's details and play
//                   it through a control session; without: play <edge>/<ID>/manifest.mpd
//   episode=ID      the episode of a series to play (default: where the profile left it)
//   profile=N       control profile (default: one made on first visit, kept in localStorage)
//   profile_key=K   that profile's key (control answers it when it makes the profile)
//   device=NAME     the device name sent with playback reports (default: kept in localStorage)
//   control=ipv6    talk to control over its second address (the demo's [::1]: another country)
//   q=WORDS         search the catalogue
//   src=URL         play any manifest URL instead
//   cmcd=query|header|off   how CMCD is sent to the edge (default query: no CORS preflight)
//   early=worker    the start's first requests from a worker (start-worker.js), not from
//                   the page's first script (start-early.js)
//   early=off       neither: the page fetches its config and the session or manifest
//                   itself, once dash.js has loaded (to measure their share)
//   prefetch=off    the start's first objects (inits and first segments at the start rung)
//                   are not fetched beside the compile (to measure their share)
//   seekrung=off    a seek out of the buffer fetches at dash.js's current rung, not at the
//                   start rung (seekRung)
//   seekabort=off   a seek out of the buffer leaves the segment downloads under way to finish
//                   (seekAbort)
//   preflight=on    JSON bodies to control go as application/json, which costs a CORS
//                   preflight (by default they go as text/plain: see jsonBody)
//   autoplay=0      load but do not start
//   renew=late      renew the session only once an edge refuses its token, not ahead of its
//                   expiry (see keepSession)
//   buffer=S        target buffer ahead in seconds (dash.js bufferTimeDefault and the top-quality buffers);
//                   the ABR test uses 12 so a throttle shows on screen within a minute
// dash.js (830 kB) loads and compiles while the page fetches what a start needs first (the
// control session, the manifest, the start's first objects): start-early.js set those going
// before this module loaded, and dash.js is pointed at the very URLs it fetched ahead
// (prefetchInterceptor), which the browser's cache then answers.
const dashjs = import('/vendor/dashjs/dash.all.min.js');

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// What start-early.js set going before this module loaded (the early requests, their answer).
const early = self.sluiceEarly;

// Everything a test or a curious developer may want, in one place.
const state = {
  ready: false,
  config: null,
  title: null,
  src: null,
  support: null,
  playing: false,
  ended: false,
  errors: [],
  qualities: [],  // rendered: {type, id, height, bandwidth, t (media time), at (ms, page clock)}
  requested: [],  // ABR decisions: {type, id, height, bandwidth, at (ms, page clock)}
  stalls: [],     // {at, ms}: from a 'waiting' after playback started to the next 'playing'
  stalledSince: null,
  firstFrameMs: null, // page clock (performance.now()) when the first frame was presented
  marks: early.marks, // page clock of the steps of a start: config, session, player, ...
  session: null,  // control's POST /v1/playback answer
  early: null,    // start-early.js's answer (config, session or manifest), until used
  earlyUsed: null, // what of it the start used: 'session' or 'manifest' (null: the page asked)
  startBandwidth: null, // bit/s dash.js was told to start at (the session's start_bandwidth)
  prefetch: [],   // the start objects fetched ahead: {url, kind, fetched, used} (used: dash.js asked)
  sid: early.sid, // the CMCD session id of this page's requests
  seekRungs: 0,   // seeks out of the buffer made at the start rung (seekRung)
  seekAborts: 0,  // segment downloads cancelled by seeks out of the buffer (seekAbort)
  notice: null,   // {status, message}: why a title does not play (451, 404, ...)
  details: null,  // control's GET /v1/titles/<id>
  reports: 0,     // playback reports accepted by control
  mtpReports: 0,  // those of them that carried a measured throughput (mtp)
  profile: null,
  profileKey: null, // the profile's key: control refuses the profile without it
  device: null,
  served: null,   // last edge response headers of interest
  lastSegment: null,
  renewals: [],   // session renewals: {reason, at, position, status, ok, detail}
};
// segmentsInFlight(): media segment downloads under way (seekAbort's).
window.sluice = { state, player: null, segmentsInFlight: () => segmentXhrs.size };

// A media segment's URL (the MPD's SegmentTemplate names them seg-$Number$.m4s).
const SEGMENT_URL = /\.m4s(\?|$)/;

// Response headers that say which edge answered and how. Cross-origin, the edge must list
// them in Access-Control-Expose-Headers for the page to see them.
const EDGE_HEADERS = ['cache-status', 'x-sluice-edge', 'x-served-by', 'via', 'server',
  'x-cache-status', 'x-cache', 'age', 'content-type'];

// RFC 9211: "edge-a; hit, origin; fwd=miss" — the first entry is the cache that answered.
function cacheStatusFirst(v) {
  const first = (v || '').split(',')[0].trim();
  const semi = first.indexOf(';');
  return semi < 0 ? { name: first, rest: '' }
    : { name: first.slice(0, semi).trim(), rest: first.slice(semi + 1).trim() };
}

function describeError(e) {
  const err = e && e.error !== undefined ? e.error : e;
  if (err == null) return String(e && e.type);
  if (typeof err === 'string') return err;
  const parts = [];
  if (err.code !== undefined) parts.push(`code ${err.code}`);
  if (err.message) parts.push(err.message);
  if (parts.length === 0) {
    try { parts.push(JSON.stringify(err).slice(0, 300)); } catch { parts.push(String(err)); }
  }
  return parts.join(': ');
}

// The first time each step of a start happens, on the page clock (tools/bench/ttff.mjs
// prints them beside the request timeline).
function mark(name) {
  if (state.marks[name] === undefined) state.marks[name] = performance.now();
}

function addError(source, message) {
  state.errors.push({ source, message, at: Date.now() });
  console.error(`[sluice-player] ${source}: ${message}`);
  render();
}

function headerMap(h) {
  const out = {};
  if (!h) return out;
  if (typeof h.forEach === 'function' && typeof h.get === 'function') {
    h.forEach((v, k) => { out[k.toLowerCase()] = v; });
  } else if (typeof h === 'string') {
    for (const line of h.split(/\r?\n/)) {
      const i = line.indexOf(':');
      if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
  } else {
    for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = String(v);
  }
  return out;
}

function fmtRep(rep) {
  if (!rep) return '–';
  // dash.js's bitrateInKbit is bandwidth / 1000 unrounded (339.123 for 339123 bit/s).
  const kbit = Math.round((rep.bandwidth || 0) / 1000);
  const size = rep.height ? `${rep.width}×${rep.height} ` : '';
  return `${rep.id} · ${size}${kbit} kbit/s`;
}

function fmtSecs(s) {
  return Number.isFinite(s) ? s.toFixed(1) + ' s' : '–';
}

let player = null;

function render() {
  const v = $('video');
  $('s-title').textContent = state.title || state.src || '–';
  let st = 'idle';
  if (state.src) st = state.ended ? 'ended' : v.paused ? (state.playing ? 'paused' : 'loading')
    : v.readyState < 3 ? 'buffering' : 'playing';
  $('s-state').textContent = st;
  $('s-pos').textContent = state.src ? `${fmtSecs(v.currentTime)} / ${fmtSecs(v.duration)}` : '–';
  if (player && state.src) {
    let vrep = null;
    let arep = null;
    try { vrep = player.getCurrentRepresentationForType('video'); } catch { /* not yet */ }
    try { arep = player.getCurrentRepresentationForType('audio'); } catch { /* not yet */ }
    $('s-video').textContent = fmtRep(vrep);
    $('s-audio').textContent = fmtRep(arep);
    let bv = NaN;
    let ba = NaN;
    try { bv = player.getBufferLength('video'); } catch { /* not yet */ }
    try { ba = player.getBufferLength('audio'); } catch { /* not yet */ }
    $('s-buffer').textContent = `video ${fmtSecs(bv)} · audio ${fmtSecs(ba)}`;
    let tput = NaN;
    try { tput = player.getAverageThroughput('video'); } catch { /* not yet */ }
    $('s-tput').textContent = Number.isFinite(tput) && tput > 0
      ? `${Math.round(tput)} kbit/s (estimate)` : '–';
  }
  if (state.served) {
    const h = state.served.headers;
    const cs = cacheStatusFirst(h['cache-status']);
    const who = cs.name || h['x-sluice-edge'] || h['x-served-by'] || h.via || h.server || '';
    const named = ((state.config && state.config.edges) || []).find((e) =>
      new URL(e.url).host === state.served.host);
    const cfgId = named ? ` (${named.id})`
      : state.config && state.config.edgeId ? ` (configured: ${state.config.edgeId})` : '';
    state.servedBy = named ? named.id : null;
    $('s-edge').textContent = `${who || 'unknown (no identifying header exposed)'} at ` +
      `${state.served.host}${cfgId}`;
    const cache = cs.rest || h['x-cache-status'] || h['x-cache'] || '';
    $('s-cache').textContent = cache ? cache + (h.age ? ` · age ${h.age}` : '') : '–';
  }
  if (state.lastSegment) $('s-seg').textContent = state.lastSegment;
  const n = $('notice');
  n.textContent = state.notice ? state.notice.message : '';
  n.hidden = !state.notice;
  const errs = $('s-errors');
  errs.textContent = state.errors.length
    ? state.errors.map((e) => `${e.source}: ${e.message}`).join('\n') : 'none';
  errs.className = state.errors.length ? 'bad' : '';
}

function renderTitles() {
  const ul = $('titles');
  ul.textContent = '';
  const titles = (state.config && state.config.titles) || [];
  if (titles.length === 0) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = 'no titles';
    ul.append(li);
  }
  for (const t of titles) {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = `?title=${encodeURIComponent(t.id)}`;
    a.textContent = t.id;
    if (t.id === state.title) a.className = 'current';
    li.append(a);
    ul.append(li);
  }
  const edge = state.config ? state.config.edge : '';
  $('edge-line').textContent = edge ? `edge ${edge}` : '';
}

function mediaSourceSupported() {
  const MS = self.ManagedMediaSource || self.MediaSource || self.WebKitMediaSource;
  return !!MS && typeof MS.isTypeSupported === 'function';
}

const isAbsolute = (u) => /^[a-z][a-z0-9+.-]*:/i.test(u);

// A static manifest the page already holds (control's session answer carries it) or fetched
// while dash.js still loads, handed to dash.js as a blob: URL so the player need not fetch it
// once loaded. Resolved against a blob: URL, relative references would point nowhere, so the
// MPD-level BaseURLs, Location and steering server are made absolute against the manifest's
// own URL first, as DASH resolves them (an MPD without a BaseURL gets its directory's).
// Anything unexpected: dash.js gets the URL.
async function prefetchManifest(url) {
  try {
    const r = await fetch(url);
    return r.ok ? manifestBlob(await r.text(), url) : url;
  } catch {
    return url;
  }
}

function manifestBlob(text, url) {
  try {
    const doc = new DOMParser().parseFromString(text, 'application/xml');
    const mpd = doc.documentElement;
    if (mpd.localName !== 'MPD' || doc.getElementsByTagName('parsererror').length > 0 ||
      mpd.getAttribute('type') === 'dynamic') return url; // live: dash.js refreshes from the URL
    const top = [...mpd.children];
    for (const e of top.filter((x) => ['BaseURL', 'Location', 'ContentSteering'].includes(x.localName))) {
      const ref = e.textContent.trim();
      if (!isAbsolute(ref)) e.textContent = new URL(ref, url).href;
    }
    if (!top.some((x) => x.localName === 'BaseURL')) {
      const b = doc.createElementNS(mpd.namespaceURI, 'BaseURL');
      b.textContent = new URL('.', url).href;
      mpd.insertBefore(b, mpd.firstElementChild);
    }
    mark('manifest-in-hand');
    return URL.createObjectURL(new Blob([new XMLSerializer().serializeToString(doc)],
      { type: 'application/dash+xml' }));
  } catch {
    return url;
  }
}

// src: the manifest's URL; source: what dash.js loads (a prefetched copy's blob: URL, or src).
async function start(src, autoplay, { startTime, licenseUrl, startBandwidth, source } = {}) {
  const v = $('video');
  state.src = src;
  let MediaPlayer;
  try {
    ({ MediaPlayer } = await dashjs);
  } catch (e) {
    addError('page', `cannot load dash.js: ${e.message}`);
    return;
  }
  mark('player-loaded');
  v.addEventListener('playing', () => {
    if (state.stalledSince !== null) {
      state.stalls.push({ at: state.stalledSince, ms: performance.now() - state.stalledSince });
      state.stalledSince = null;
    }
    state.playing = true;
    render();
  });
  // A stall is a 'waiting' once playback has started, not the start-up wait or a seek.
  v.addEventListener('waiting', () => {
    if (state.playing && !v.seeking && state.stalledSince === null) {
      state.stalledSince = performance.now();
    }
  });
  v.addEventListener('seeking', () => { state.stalledSince = null; });
  if (v.requestVideoFrameCallback) {
    v.requestVideoFrameCallback((now) => {
      state.firstFrameMs = now;
      mark('first-frame');
    });
  }
  v.addEventListener('ended', () => { state.ended = true; render(); });
  v.addEventListener('error', () => {
    const e = v.error;
    addError('video', e ? `MediaError ${e.code}${e.message ? ': ' + e.message : ''}` : 'error');
  });

  mark('player-create');
  trackSegmentXhrs(); // also with seekabort=off, where tests read segmentsInFlight()
  if (params.get('seekabort') !== 'off') seekAbort(v);
  player = MediaPlayer().create();
  window.sluice.player = player;
  const cmcd = params.get('cmcd') || 'query';
  const dashSource = source || src;
  player.updateSettings({
    debug: { logLevel: 2 }, // warnings and errors to the console
    streaming: {
      cmcd: {
        enabled: cmcd !== 'off',
        mode: cmcd === 'header' ? 'header' : 'query',
        // A blob: URL takes no query: CMCD goes with segment requests only, then.
        includeInRequests: dashSource.startsWith('blob:') ? ['segment'] : ['segment', 'mpd'],
        sid: early.sid,
        cid: state.title || 'sluice',
      },
    },
  });
  // The start rung control picked (bit/s: that rung's bandwidth, the highest whose first
  // segment arrives within a quarter second at this viewer's or network's recent throughput):
  // dash.js starts at the highest rung within it, which is that rung (kbit/s rounded up, as
  // dash.js compares bandwidth / 1000), instead of at its 1 Mbit/s default. Fast switching
  // off: when dash.js then climbs, it does so from the next segment on rather than fetching
  // what it has buffered (segment 1) again at the new rung, which on a slow link competed
  // with the start. startbw=off ignores both (to measure the difference); startbw=N (bit/s)
  // starts there instead of at the session's rung (a test aid).
  if (Number(params.get('startbw')) > 0) startBandwidth = Number(params.get('startbw'));
  if (startBandwidth > 0 && params.get('startbw') !== 'off') {
    state.startBandwidth = startBandwidth;
    player.updateSettings({ streaming: {
      abr: { initialBitrate: { video: Math.max(1, Math.ceil(startBandwidth / 1000)) } },
      buffer: { fastSwitchEnabled: false },
    } });
    if (params.get('seekrung') !== 'off') seekRung(v, Math.ceil(startBandwidth / 1000));
  }
  const buffer = Number(params.get('buffer'));
  if (buffer > 0) {
    player.updateSettings({ streaming: { buffer: { bufferTimeDefault: buffer,
      bufferTimeAtTopQuality: buffer, bufferTimeAtTopQualityLongForm: buffer } } });
  }
  const ev = MediaPlayer.events;
  player.on(ev.MANIFEST_LOADED, () => mark('manifest-loaded'));
  player.on(ev.STREAM_INITIALIZED, () => mark('stream-initialized'));
  player.on(ev.FRAGMENT_LOADING_STARTED, (e) => mark(`${e.request && e.request.mediaType}-` +
    `${e.request && e.request.type === 'InitializationSegment' ? 'init' : 'segment'}-requested`));
  player.on(ev.CAN_PLAY, () => mark('can-play'));
  player.on(ev.ERROR, (e) => addError('dash.js', describeError(e)));
  player.on(ev.PLAYBACK_ERROR, (e) => addError('playback', describeError(e)));
  player.on(ev.QUALITY_CHANGE_RENDERED, (e) => {
    const r = e.newRepresentation || {};
    state.qualities.push({ type: e.mediaType, id: r.id, height: r.height,
      bandwidth: r.bandwidth, t: v.currentTime, at: performance.now() });
    render();
  });
  player.on(ev.QUALITY_CHANGE_REQUESTED, (e) => {
    const r = e.newRepresentation || {};
    state.requested.push({ type: e.mediaType, id: r.id, height: r.height,
      bandwidth: r.bandwidth, at: performance.now() });
  });
  player.on(ev.FRAGMENT_LOADING_COMPLETED, (e) => {
    const r = e.request || {};
    if (r.url) state.lastSegment = `${r.mediaType || ''} ${new URL(r.url).pathname}`;
  });
  player.on(ev.QUALITY_CHANGE_REQUESTED, cancelAbandoned);
  player.addRequestInterceptor(keepCancel);
  player.addRequestInterceptor(prefetchInterceptor);
  player.addResponseInterceptor((resp) => {
    try {
      const h = headerMap(resp.headers);
      const picked = {};
      for (const k of EDGE_HEADERS) if (h[k] !== undefined) picked[k] = h[k];
      const url = new URL(resp.url || (resp.request && resp.request.url), location.href);
      // Manifests, steering and licences come from control: "served by" is about media.
      const c = state.config || {};
      // Control's routes all live under /v1/ and an edge serves none there, so the path alone
      // tells them apart even before the page's config has loaded.
      const fromControl = url.pathname.startsWith('/v1/') ||
        [c.control, c.controlAlt].some((u) => u && url.href.startsWith(u));
      if (!fromControl) state.served = { host: url.host, headers: picked, status: resp.status };
    } catch { /* a display aid only */ }
    return Promise.resolve(resp);
  });
  if (licenseUrl) {
    player.setProtectionData({ 'org.w3.clearkey': { serverURL: licenseUrl } });
  }
  if (startTime > 0) player.initialize(v, dashSource, autoplay, startTime);
  else player.initialize(v, dashSource, autoplay);
  render();
}

// ---- the catalogue and sessions (with a control plane) ----

function controlBase() {
  const c = state.config;
  return params.get('control') === 'ipv6' && c.controlAlt ? c.controlAlt : c.control;
}

// A JSON body as text/plain, so that the browser asks control no CORS preflight first:
// start-ahead.js's jsonInit, inline in the page (serve.mjs), as the session's was sent; a
// page without the inline script (index.html as shipped) makes the same body itself.
const jsonBody = (obj) => {
  const preflight = params.get('preflight') === 'on';
  if (self.jsonInit) return self.jsonInit(obj, preflight);
  const body = JSON.stringify(obj);
  return preflight ? { headers: { 'Content-Type': 'application/json' }, body } : { body };
};

// How long control may take to answer (start-ahead.js has the same bound): past it, or on a
// network error, the answer is status 0 with error saying why, for the page to show.
const ANSWER_MS = 8000;

async function api(method, path, body) {
  let r;
  try {
    r = await fetch(controlBase() + path, {
      method,
      ...(body ? jsonBody(body) : {}),
      cache: 'no-store',
      signal: AbortSignal.timeout(ANSWER_MS),
    });
  } catch (e) {
    const error = e.name === 'TimeoutError' ? `no answer within ${ANSWER_MS / 1000} s`
      : `no answer (${e.message})`;
    return { status: 0, ok: false, body: null, error };
  }
  let j = null;
  try { j = await r.json(); } catch { /* an empty or non-JSON answer */ }
  return { status: r.status, ok: r.ok, body: j, retryAfter: r.headers.get('Retry-After') };
}

// Why control refused or failed a request, for the page: its detail, or what went wrong.
const why = (r) => (r.body && r.body.detail) || r.error || `${r.status}`;

// Control busy (503, its database slow): asked again after its Retry-After (1 to 10 s), up to
// three times; the answer that ends it is returned.
async function retryBusy(r, again) {
  for (let tries = 0; tries < 3 && r.status === 503; tries++) {
    const s = Math.min(Math.max(Number(r.retryAfter) || 1, 1), 10);
    await new Promise((resolve) => { setTimeout(resolve, s * 1000); });
    r = await again();
  }
  return r;
}

const PROFILE_NAME = early.profileName;

function keepProfile(id, key) {
  state.profile = Number(id);
  state.profileKey = key;
  localStorage.setItem('sluice-profile', String(id));
  localStorage.setItem('sluice-profile-key', key);
}

// A kept profile that control refuses (made before profiles had keys, or kept without its
// key) is forgotten, and the next session or ensureProfile() makes a new one. One refused
// from the URL (a stale or shared link) leaves the viewer's own saved profile alone, and
// the page goes on with that one: its key cannot be had again.
function forgetProfile() {
  const saved = localStorage.getItem('sluice-profile');
  if (saved === String(state.profile)) {
    localStorage.removeItem('sluice-profile');
    localStorage.removeItem('sluice-profile-key');
  }
  const own = saved !== null && saved !== String(state.profile);
  state.profile = own ? Number(saved) : null;
  state.profileKey = own ? localStorage.getItem('sluice-profile-key') : null;
  // A refused profile named in the URL leaves it too: the page's links and a reload would
  // otherwise carry it on, and make another new profile on every load.
  if (params.has('profile') || params.has('profile_key')) {
    params.delete('profile');
    params.delete('profile_key');
    const q = params.toString();
    history.replaceState(null, '', `${location.pathname}${q ? `?${q}` : ''}${location.hash}`);
  }
}

// Control answers a missing or wrong key as it answers a profile that does not exist.
function profileRefused(r) {
  return r.status === 404 && !!r.body && r.body.detail === 'unknown profile';
}

function profileQuery() {
  return state.profile
    ? `profile=${state.profile}&profile_key=${encodeURIComponent(state.profileKey || '')}` : '';
}

// The profile and device in the URL or kept from an earlier visit. On a first visit there is
// no profile yet: the first session makes it, or ensureProfile() when nothing is played.
function loadIdentity() {
  const fromUrl = params.get('profile');
  const p = fromUrl || localStorage.getItem('sluice-profile');
  state.profile = p ? Number(p) : null;
  state.profileKey = fromUrl ? params.get('profile_key')
    : localStorage.getItem('sluice-profile-key');
  let d = params.get('device') || localStorage.getItem('sluice-device');
  if (!d) {
    d = `browser-${Math.random().toString(36).slice(2, 8)}`;
    localStorage.setItem('sluice-device', d);
  }
  state.device = d;
}

async function ensureProfile() {
  if (state.profile !== null) return;
  const r = await api('POST', '/v1/profiles', { name: PROFILE_NAME });
  if (r.ok) keepProfile(r.body.id, r.body.key);
}

function link(text, query) {
  const a = document.createElement('a');
  const q = new URLSearchParams(query);
  for (const k of ['profile', 'profile_key', 'device', 'control']) {
    if (params.get(k)) q.set(k, params.get(k));
  }
  a.href = `?${q}`;
  a.textContent = text;
  return a;
}

function renderCards(items) {
  const ul = $('titles');
  ul.textContent = '';
  if (!items.length) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = 'nothing found';
    ul.append(li);
  }
  for (const t of items) {
    const li = document.createElement('li');
    const a = link(t.name || t.id, { title: t.id });
    a.dataset.title = t.id;
    if (t.id === state.title) a.className = 'current';
    if (t.available === false) a.title = 'not available in your country';
    li.append(a);
    ul.append(li);
  }
}

async function loadCatalog() {
  const q = params.get('q');
  const list = () => (q ? api('GET', `/v1/search?q=${encodeURIComponent(q)}&${profileQuery()}`)
    : api('GET', `/v1/catalog?${profileQuery()}`));
  let r = await list();
  if (state.profile && profileRefused(r)) {
    forgetProfile();
    await ensureProfile();
    r = await list();
  }
  if (!r.ok) {
    addError('control', `catalogue: ${r.status} ${why(r)}`);
    return;
  }
  state.catalog = r.body.items;
  renderCards(r.body.items);
  $('edge-line').textContent = `control ${controlBase()}`;
  if (state.profile) {
    const cw = await api('GET', `/v1/continue-watching?${profileQuery()}`);
    const ul = $('continue');
    ul.textContent = '';
    for (const it of (cw.ok && cw.body.items) || []) {
      const li = document.createElement('li');
      const q2 = { title: it.title };
      if (it.episode) q2.episode = it.episode;
      li.append(link(`${it.name} · ${Math.round(it.position)} s`, q2));
      ul.append(li);
    }
    $('continue-box').hidden = !ul.children.length;
  }
}

function renderDetails(d) {
  const box = $('details');
  box.textContent = '';
  const h = document.createElement('h2');
  h.textContent = `${d.name}${d.year ? ` (${d.year})` : ''}`;
  const p = document.createElement('p');
  p.textContent = d.synopsis || '';
  const meta = document.createElement('p');
  meta.className = 'muted';
  meta.textContent = [d.kind, (d.genres || []).join(', '), d.encrypted ? 'ClearKey' : '',
    (d.cast || []).map((c) => c.name).join(', '), d.available ? '' : 'not available in your country']
    .filter(Boolean).join(' · ');
  box.append(h, p, meta);
  // Each season under its own heading, its episodes in order (a series may hold several).
  for (const season of d.seasons || []) {
    const part = document.createElement('div');
    part.dataset.season = season.season;
    const sh = document.createElement('h3');
    sh.textContent = `Season ${season.season}${season.name ? `: ${season.name}` : ''}`;
    const ul = document.createElement('ul');
    for (const e of season.episodes) {
      const li = document.createElement('li');
      const a = link(`S${season.season}E${e.episode} ${e.name}`, { title: d.id, episode: e.id });
      a.dataset.episode = e.id;
      if (state.session && state.session.episode === e.id) a.className = 'current';
      li.append(a);
      ul.append(li);
    }
    part.append(sh, ul);
    box.append(part);
  }
  box.hidden = false;
}

// The throughput the page has seen, kbit/s, from the Resource Timing entries of its last
// SEGMENT_SAMPLES media segment downloads: bytes over the time from request to last byte.
// dash.js's own estimate takes the time from first to last byte, which a segment that arrives
// within one timer tick (a loopback or LAN link) makes zero, so that it has no estimate at
// all. Entries without a transfer size are left out: from the browser's cache, or from an
// edge that did not send Timing-Allow-Origin. NaN when there is none.
const SEGMENT_SAMPLES = 8;
function segmentThroughput() {
  let bytes = 0;
  let ms = 0;
  const seen = performance.getEntriesByType('resource').filter((e) =>
    SEGMENT_URL.test(e.name) && e.transferSize > 0 && e.responseEnd > e.requestStart);
  for (const e of seen.slice(-SEGMENT_SAMPLES)) {
    bytes += e.transferSize;
    ms += e.responseEnd - e.requestStart;
  }
  return ms > 0 ? (8 * bytes) / ms : NaN;
}

const REPORT_MS = 10000;
async function report(reason) {
  const v = $('video');
  if (!state.session || !Number.isFinite(v.currentTime)) return null;
  // Before the first frame the position is 0 (dash.js has not reached the resume point, or
  // the start failed): reported, it would overwrite the viewer's resume point.
  if (state.firstFrameMs === null && !state.playing) return null;
  let q = '';
  try { q = player.getCurrentRepresentationForType('video').id; } catch { /* not yet */ }
  // What the player measured, as CMCD names and units (mtp kbit/s, bl ms): control keeps it
  // to pick the start rung of this viewer's and this network's next session. dash.js's
  // estimate, else the page's own (segmentThroughput).
  // A measure is usable when positive and finite (not NaN: not yet measured).
  const usable = (x) => x > 0 && Number.isFinite(x);
  let mtp = NaN;
  let bl;
  try { mtp = player.getAverageThroughput('video'); } catch { /* not yet */ }
  if (!usable(mtp)) mtp = segmentThroughput();
  try { bl = Math.round(player.getBufferLength('video') * 1000); } catch { /* not yet */ }
  mtp = usable(mtp) ? Math.round(mtp) : undefined;
  const r = await fetch(state.session.report_url, {
    method: 'POST',
    ...jsonBody({ session: state.session.session, position: v.currentTime,
      quality: q || undefined, device: state.device,
      mtp, bl: bl >= 0 ? bl : undefined }),
    keepalive: reason === 'unload',
    // A control that never answers must not hold a report (and whoever awaits it) for ever.
    signal: AbortSignal.timeout(REPORT_MS),
  }).catch(() => null);
  if (r && r.ok) {
    state.reports++;
    if (mtp) state.mtpReports++;
  }
  return r ? r.status : 0;
}

async function loadDetails(title) {
  const q = state.profile ? `?${profileQuery()}` : '';
  const d = await api('GET', `/v1/titles/${encodeURIComponent(title)}${q}`);
  if (d.ok) {
    state.details = d.body;
    renderDetails(d.body);
  }
}

async function playTitle(title, episode) {
  // inline_manifest: the MPD comes with the session, one round trip less before dash.js starts.
  const body = { title, inline_manifest: true };
  if (episode) body.episode = episode;
  // A first visit makes its profile with the session: one round trip less before the start.
  if (state.profile) {
    body.profile = state.profile;
    body.profile_key = state.profileKey || undefined;
  } else body.new_profile = PROFILE_NAME;
  // The worker asked for this very session while dash.js compiled: take its answer.
  const e = state.early;
  state.early = null;
  let r;
  if (e && e.session && JSON.stringify(e.session.asked) === JSON.stringify(body)) {
    state.marks['session-requested'] = e.sessionRequestedAt - performance.timeOrigin;
    state.marks.session = e.sessionAt - performance.timeOrigin;
    r = e.session;
    state.earlyUsed = 'session';
    state.prefetch = early.prefetch;
  } else {
    mark('session-requested');
    r = await api('POST', '/v1/playback', body);
    mark('session');
  }
  r = await retryBusy(r, () => api('POST', '/v1/playback', body));
  // A kept profile refused: the page makes a new one with this session and plays on.
  // (The viewer's saved profile, when the refused one came from the URL; refused too, a
  // new one.)
  for (let tries = 0; tries < 2 && body.profile && profileRefused(r); tries++) {
    forgetProfile();
    delete body.profile;
    delete body.profile_key;
    if (state.profile) {
      body.profile = state.profile;
      body.profile_key = state.profileKey || undefined;
    } else body.new_profile = PROFILE_NAME;
    r = await api('POST', '/v1/playback', body);
  }
  if (!r.ok) {
    const what = r.status === 451 ? 'This title is not available in your country.'
      : r.status === 404 ? 'No such title.'
        : r.status === 0 ? 'Cannot play: control did not answer.' : `Cannot play: ${r.status}`;
    state.notice = { status: r.status, message: `${what} (${why(r)})` };
    render();
    return;
  }
  state.session = r.body;
  if (r.body.profile) keepProfile(r.body.profile, r.body.profile_key);
  if (r.body.resume_position > 0) {
    state.notice = null;
    $('s-resume').textContent = `resumed at ${r.body.resume_position.toFixed(1)} s`;
  }
  await start(r.body.manifest_url, params.get('autoplay') !== '0',
    { startTime: r.body.resume_position, licenseUrl: r.body.license_url,
      startBandwidth: r.body.start_bandwidth,
      source: typeof r.body.manifest === 'string' ? manifestBlob(r.body.manifest, r.body.manifest_url)
        : await prefetchManifest(r.body.manifest_url) });
  keepSession();
  const v = $('video');
  setInterval(() => { if (!v.paused) report('tick'); }, 5000);
  v.addEventListener('pause', () => report('pause'));
  v.addEventListener('seeked', () => report('seek'));
  addEventListener('pagehide', () => report('unload'));
}

// ---- keeping the session alive ----
//
// A session's tokens expire with it (control's session_ttl, 6 h by default; sooner when the
// title's licence ends first). An edge refuses an expired token with a plain 403, its Date
// header past the token's exp (edges allow 30 s of skew), and control answers 404 for the
// session's steering, reports and manifests. Control renews nothing: the page asks it for a
// new session of the same title and episode (POST /v1/playback) and goes on where it is.
// The new tokens are swapped into dash.js's requests (a request interceptor: the BaseURLs of
// the MPD it holds carry the old token in their path), so the buffer, the position and the
// rung stay as they were and dash.js's own retry of a refused segment fetches it with the new
// token. The session is renewed a little ahead of its expiry while the page holds it, paused
// or not (dash.js asks for steering every few seconds either way); and whenever an edge
// refuses the current token when it has expired, or before any edge took it (a device asleep
// through the expiry, a clock behind control's). A renewal that control refuses (the title no
// longer licensed here, gone), that it does not answer after RENEW_TRIES tries, or a second
// new token refused before any edge took it stops playback with a notice: dash.js would
// otherwise retry the refused segments once a second for ever. ?renew=late leaves out the
// renewal ahead of expiry (what a page asleep through the expiry meets; a test aid).
const RENEW_TRIES = 3;
const RENEW_FRESH_REFUSALS = 2; // new tokens refused before any edge took them: give up
const TOKEN_IN_PATH = /\/s\/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)\//;
const keeper = {
  token: null,       // the current session's token (the MPD's BaseURLs carry it)
  worked: false,     // an edge has answered the current token with media
  renewed: false,    // the current token came from a renewal
  staleTokens: new Set(), // earlier sessions' tokens and ids, swapped for the current ones
  staleIds: new Set(),
  inFlight: null,    // the renewal under way (one at a time)
  freshRefusals: 0, // new tokens refused before any edge took them
  refusedToken: null,
  timer: 0,
  receivedAt: 0,     // page clock (ms since the epoch) when the current session came
  stopped: false,
};

// The claims of a token (its middle part, base64url JSON), or null.
function tokenClaims(jwt) {
  try {
    const b = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(b + '='.repeat((4 - (b.length % 4)) % 4)));
  } catch {
    return null;
  }
}

const tokenOf = (url) => { const m = TOKEN_IN_PATH.exec(url || ''); return m ? m[1] : null; };

// The token the MPD's first BaseURL carries (control signs one token per session, good on
// every edge), or null.
function mpdToken(text) {
  try {
    const doc = new DOMParser().parseFromString(text, 'application/xml');
    for (const b of doc.getElementsByTagName('BaseURL')) {
      const t = tokenOf(b.textContent.trim());
      if (t) return t;
    }
  } catch { /* no MPD */ }
  return null;
}

// Requests made with an earlier session's token (media) or id (steering) go out with the
// current ones.
function sessionInterceptor(req) {
  if (req && typeof req.url === 'string' && keeper.staleIds.size) {
    const t = tokenOf(req.url);
    if (t && keeper.staleTokens.has(t)) req.url = req.url.replace(`/s/${t}/`, `/s/${keeper.token}/`);
    for (const id of keeper.staleIds) {
      if (req.url.includes(`/${id}`)) req.url = req.url.replace(`/${id}`, `/${state.session.session}`);
    }
  }
  return req;
}

// An edge's answer for the current token: media confirms it; a refusal of an expired token,
// or of one no edge has taken yet, renews the session. The answer goes on to dash.js once
// the renewal is done, so that its retry of the request carries the new token.
function sessionResponse(resp) {
  try {
    const url = resp.url || (resp.request && resp.request.url) || '';
    const t = tokenOf(url);
    // A manifest fetched rather than inline: the token is the one the first media came with.
    if (t && !keeper.token && resp.status >= 200 && resp.status < 300) keeper.token = t;
    if (!t || t !== keeper.token || keeper.stopped) return Promise.resolve(resp);
    if (resp.status >= 200 && resp.status < 300) {
      keeper.worked = true;
      keeper.freshRefusals = 0;
    } else if (resp.status === 403) {
      const claims = tokenClaims(t);
      const said = Date.parse(headerMap(resp.headers).date || '');
      const now = Number.isFinite(said) ? said / 1000 : Date.now() / 1000;
      const expired = !!claims && claims.exp > 0 && claims.exp <= now;
      // A token an edge took, refused unexpired by another: that edge's trouble, which
      // dash.js meets by trying the next BaseURL.
      if (!expired && keeper.worked) return Promise.resolve(resp);
      if (keeper.renewed && !keeper.worked && keeper.refusedToken !== t) {
        keeper.refusedToken = t;
        if (++keeper.freshRefusals >= RENEW_FRESH_REFUSALS) {
          stopSession(403, 'the edges refuse the tokens of a new session too');
          return Promise.resolve(resp);
        }
      }
      return renewSession(expired ? 'expired' : 'refused').then(() => resp);
    }
  } catch { /* an aid: dash.js goes on as it would */ }
  return Promise.resolve(resp);
}

// A new session of the same title, episode and profile; true once its tokens are in use.
function renewSession(reason) {
  if (!keeper.inFlight) {
    keeper.inFlight = renewOnce(reason).finally(() => { keeper.inFlight = null; });
  }
  return keeper.inFlight;
}

async function renewOnce(reason) {
  const v = $('video');
  const old = state.session;
  const body = { title: old.title, inline_manifest: true };
  if (old.episode) body.episode = old.episode;
  if (state.profile) {
    body.profile = state.profile;
    body.profile_key = state.profileKey || undefined;
  }
  const entry = { reason, at: Date.now(), position: v.currentTime, status: null, ok: false };
  state.renewals.push(entry);
  let r;
  for (let tries = 1; ; tries++) {
    r = await retryBusy(await api('POST', '/v1/playback', body), () => api('POST', '/v1/playback', body));
    if (r.ok || (r.status >= 400 && r.status < 500) || tries >= RENEW_TRIES) break;
    await new Promise((resolve) => { setTimeout(resolve, 1000 * tries); });
  }
  entry.status = r.status;
  const text = r.ok && typeof r.body.manifest === 'string' ? r.body.manifest : null;
  const token = text ? mpdToken(text) : null;
  if (!r.ok || !token) {
    entry.detail = r.ok ? 'no manifest with a token in the answer' : why(r);
    // Ahead of expiry the session still plays: try again later, while it lasts.
    const left = old.expires * 1000 - Date.now();
    if (reason === 'ahead' && left > 2000 && !(r.status === 451 || r.status === 404)) {
      clearTimeout(keeper.timer);
      keeper.timer = setTimeout(() => renewSession('ahead'), Math.min(30000, left / 2));
      return false;
    }
    const what = r.status === 451 ? 'This title is no longer available in your country.'
      : r.status === 404 ? 'This title is no longer available.'
        : 'The session expired and control did not renew it.';
    stopSession(r.status, `${what} (${entry.detail})`);
    return false;
  }
  if (keeper.token) keeper.staleTokens.add(keeper.token);
  keeper.staleIds.add(old.session);
  state.session = { ...r.body, resume_position: old.resume_position };
  keeper.token = token;
  keeper.worked = false;
  keeper.renewed = true;
  keeper.receivedAt = Date.now();
  entry.ok = true;
  if (r.body.asset !== old.asset) {
    // Another asset (re-registered, another episode): its MPD, from where the viewer is.
    player.attachSource(manifestBlob(text, r.body.manifest_url), v.currentTime);
  }
  armRenewal();
  render();
  return true;
}

// Stops dash.js (its retries of refused segments would go on for ever) and says why.
function stopSession(status, message) {
  if (keeper.stopped) return;
  keeper.stopped = true;
  clearTimeout(keeper.timer);
  state.notice = { status, message: `Playback stopped: ${message}` };
  addError('session', message);
  // Once the refusals held for the renewal have gone on to dash.js (it schedules their
  // retries as they do): reset() cancels those too.
  setTimeout(() => {
    try { player.reset(); } catch { /* already torn down */ }
  }, 0);
}

// Renewal ahead of expiry: a tenth of the session's life before it ends, at least 10 s and
// at most 5 minutes before (the page's clock against control's expires). Never sooner than
// AHEAD_MIN_MS after a session came: a clock ahead of control's would otherwise find every
// new session due at once, and renew without end.
const AHEAD_MIN_MS = 30000;
function armRenewal() {
  clearTimeout(keeper.timer);
  if (params.get('renew') === 'late' || keeper.stopped) return;
  const end = state.session.expires * 1000;
  const lead = Math.min(Math.max((end - keeper.receivedAt) / 10, 10000), 300000);
  const at = Math.max(end - lead, keeper.receivedAt + AHEAD_MIN_MS);
  keeper.timer = setTimeout(() => renewSession('ahead'), Math.max(at - Date.now(), 0));
}

function keepSession() {
  if (!player || !state.session) return;
  keeper.token = mpdToken(state.session.manifest || '');
  keeper.receivedAt = Date.now();
  player.addRequestInterceptor(sessionInterceptor);
  player.addResponseInterceptor(sessionResponse);
  armRenewal();
}

// A seek out of the buffer is a start of its own: dash.js would fetch the segment there at
// the rung it has climbed to (a 720p segment is 1.5 MB, 1.5 s on an 8 Mbit/s link). The seek
// is made at the start rung, whose first segment control picked to arrive within a quarter
// second: dash.js is switched to it (right after a seek it asks its ABR rules nothing and
// fetches at the rung it is on, so a cap alone came too late whenever it had climbed), and its
// video bitrate is capped there until playback goes on; then dash.js climbs again from the
// next segment on (fast switching is off). ?seekrung=off leaves seeks alone.
function seekRung(v, kbit) {
  let capped = false;
  const lift = () => {
    if (!capped) return;
    capped = false;
    player.updateSettings({ streaming: { abr: { maxBitrate: { video: -1 } } } });
  };
  v.addEventListener('seeking', () => {
    if (capped || rangesHold(v.buffered, v.currentTime, 0.5)) return;
    capped = true;
    state.seekRungs++;
    player.updateSettings({ streaming: { abr: { maxBitrate: { video: kbit } } } });
    // The highest rung within the cap (as dash.js compares, bandwidth / 1000), else the lowest.
    const reps = [...(player.getRepresentationsByType('video') || [])]
      .sort((a, b) => a.bandwidth - b.bandwidth);
    const fit = reps.filter((r) => r.bandwidth / 1000 <= kbit).pop() || reps[0];
    if (fit) player.setRepresentationForTypeById('video', fit.id);
  });
  v.addEventListener('playing', lift);
  v.addEventListener('timeupdate', () => { if (capped && !v.seeking && v.readyState >= 3) lift(); });
}

// Whether TimeRanges r hold media time t with at least `ahead` seconds to go on from.
function rangesHold(r, t, ahead) {
  for (let i = 0; i < r.length; i++) {
    if (t >= r.start(i) && t <= r.end(i) - ahead) return true;
  }
  return false;
}

// Media segment downloads under way (dash.js makes them with XMLHttpRequest), and the
// SourceBuffers dash.js made, for seekAbort.
const segmentXhrs = new Set();
const sourceBuffers = [];
function trackSegmentXhrs() {
  const P = XMLHttpRequest.prototype;
  if (P.open.name === 'sluiceOpen') return;
  const add = MediaSource.prototype.addSourceBuffer;
  MediaSource.prototype.addSourceBuffer = function sluiceAddSourceBuffer(type) {
    const sb = add.call(this, type);
    sourceBuffers.push(sb);
    return sb;
  };
  const open = P.open;
  const send = P.send;
  P.open = function sluiceOpen(method, url, ...rest) {
    this.sluiceSegment = SEGMENT_URL.test(String(url));
    return open.call(this, method, url, ...rest);
  };
  P.send = function sluiceSend(body) {
    if (this.sluiceSegment) {
      segmentXhrs.add(this);
      this.addEventListener('loadend', () => segmentXhrs.delete(this));
    }
    return send.call(this, body);
  };
}

// A seek out of the buffer wants one segment per type at the new position, as soon as it can
// come: the downloads still under way for the old position are cancelled so that they do not
// share the link with it (a 720p segment on an 8 Mbit/s link holds it for 1.5 s). Only once
// playback has begun. dash.js means to abort them itself at such a seek, yet over a slow link
// they are seen to run on to the end (tools/bench/ttff.mjs --timeline, the seek's table).
// Each is cancelled as dash.js cancels its own: without its load and error handlers (it would
// retry), with its abort handler, which dash.js ignores while seeking.
function seekAbort(v) {
  if (v.sluiceSeekAbort) return; // one listener per video element
  v.sluiceSeekAbort = true;
  // Whether any SourceBuffer holds media time t: then dash.js goes on with that type's
  // downloads (StreamProcessor: a seek into the buffer), and cancelling them would leave it
  // waiting for an answer that never comes.
  const held = (t) => sourceBuffers.some((sb) => {
    try {
      return rangesHold(sb.buffered, t, 0);
    } catch { /* removed from its MediaSource: holds nothing */
      return false;
    }
  });
  v.addEventListener('seeking', () => {
    // Not the start's own seek to the resume position: those downloads are the start's.
    if (state.firstFrameMs === null || held(v.currentTime)) return;
    for (const x of [...segmentXhrs]) {
      x.onloadend = x.onerror = x.onprogress = x.onload = x.ontimeout = null;
      x.abort();
      state.seekAborts++;
    }
    segmentXhrs.clear();
  });
}

// When dash.js abandons a segment download (its abandon rule, on a sudden fall in
// throughput), the download must stop. With CMCD on, dash.js 5.2 cannot stop it: its CMCD
// request interceptor passes each request on as a copy, the loader keeps its cancel on the
// copy, and dash.js cancels through the original, which has none. The abandoned download then
// runs on beside the lower rung's, holding most of a slow link, until dash.js's 20 s request
// timeout; dash.js fetches it again and appends that segment, of the higher rung, behind the
// lower rung's init segment (MEDIA_ERR_DECODE). The page keeps the cancel of each media
// type's latest request from the copies (the loader's for that type: one download at a time)
// and calls it when dash.js abandons: the download ends as dash.js means it to, and dash.js
// goes on as after its own cancel (FRAGMENT_LOADING_ABANDONED).
const requestData = {}; // media type -> the customData of dash.js's latest request of it
function keepCancel(req) {
  const d = req && req.customData;
  const type = d && d.request && d.request.mediaType;
  if (type) requestData[type] = d;
  return req;
}

function cancelAbandoned(e) {
  if (!e.reason || !e.reason.forceAbandon) return;
  const d = requestData[e.mediaType];
  const r = d && d.request;
  // The download abandoned: a media segment of the rung dash.js leaves (cancelled once; a
  // download already ended is left as it is by the cancel).
  if (!r || r.type !== 'MediaSegment' || typeof d.abort !== 'function' || d.sluiceEnded ||
    !e.oldRepresentation || (r.representation && r.representation.id !== e.oldRepresentation.id)) return;
  d.sluiceEnded = true;
  try { d.abort(); } catch { /* dash.js goes on as it would */ }
}

// dash.js's first request for an object fetched ahead asks for exactly what was asked for
// then (its CMCD in place of dash.js's), which the browser answers from its cache, or from
// the download still under way, instead of fetching it again.
function prefetchInterceptor(req) {
  if (state.prefetch.length && req && typeof req.url === 'string') {
    const bare = req.url.split('?')[0];
    const p = state.prefetch.find((x) => !x.used && x.url === bare);
    if (p) {
      p.used = performance.now();
      req.url = p.fetched;
    }
  }
  return req;
}

// Resolves once the first frame is presented or the video has its first data (or errs), or
// after ms.
function startedOrLate(ms) {
  const v = $('video');
  return new Promise((resolve) => {
    if (state.firstFrameMs !== null || v.readyState >= 2) { resolve(); return; }
    setTimeout(resolve, ms);
    for (const e of ['loadeddata', 'playing', 'error']) v.addEventListener(e, resolve, { once: true });
  });
}

async function bootControl() {
  loadIdentity();
  $('search').hidden = false;
  $('q').value = params.get('q') || '';
  $('search').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams(location.search);
    q.delete('title');
    q.delete('episode');
    q.set('q', $('q').value.trim());
    location.search = `?${q}`;
  });
  // The title's session and player first: the catalogue and the title's details are not on
  // the way to its first frame, so they load once it is presented (or the player has data,
  // without autoplay), or after 3 s whatever happens: their requests and rendering would
  // otherwise share the link and the main thread with the start.
  if (state.title) {
    if (!state.support.mse) addError('page', 'this browser has no Media Source Extensions');
    else {
      await playTitle(state.title, params.get('episode'));
      if (state.session) await startedOrLate(3000);
    }
  }
  await ensureProfile();
  await Promise.all([loadCatalog(), state.title ? loadDetails(state.title) : null]);
}
window.sluice.report = report;

async function boot(answer) {
  try {
    mark('boot');
    const e = await answer;
    if (e && e.config) {
      state.config = e.config;
      state.marks.config = e.configAt - performance.timeOrigin;
      state.early = e;
    } else {
      const r = await fetch('/config.json', { cache: 'no-store' });
      state.config = await r.json();
      mark('config');
    }
  } catch (e) {
    addError('page', `cannot load /config.json: ${e.message}`);
    state.config = { edge: '', titles: [] };
  }
  state.support = {
    mse: mediaSourceSupported(),
    h264: self.MediaSource ? MediaSource.isTypeSupported('video/mp4; codecs="avc1.42c01e"') : false,
    aac: self.MediaSource ? MediaSource.isTypeSupported('audio/mp4; codecs="mp4a.40.2"') : false,
  };
  state.title = params.get('title');
  if (state.config.control && !params.get('src')) {
    $('custom').hidden = true;
    try {
      await bootControl();
    } catch (e) {
      addError('page', `control: ${e.message}`);
    }
    state.ready = true;
    setInterval(render, 500);
    render();
    return;
  }
  let src = params.get('src');
  if (!src && state.title) {
    const t = state.config.titles.find((x) => x.id === state.title);
    src = t ? t.manifest : `${state.config.edge}/${encodeURIComponent(state.title)}/manifest.mpd`;
  }
  renderTitles();
  $('custom').addEventListener('submit', (e) => {
    e.preventDefault();
    const u = $('src').value.trim();
    if (u) location.search = `?src=${encodeURIComponent(u)}`;
  });
  if (src) {
    $('src').value = src;
    if (!state.support.mse) addError('page', 'this browser has no Media Source Extensions');
    else {
      const m = state.early && state.early.manifest;
      if (m && m.url === src) state.earlyUsed = 'manifest';
      await start(src, params.get('autoplay') !== '0',
        { source: state.earlyUsed ? manifestBlob(m.text, src) : await prefetchManifest(src) });
    }
  }
  state.ready = true;
  setInterval(render, 500);
  render();
}

boot(early.answer);
