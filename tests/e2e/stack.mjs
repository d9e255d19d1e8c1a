#!/usr/bin/env node
// The whole stack, played by real players: headless Chromium against what tools/demo started
// (its var/demo/env file), with every manifest issued by sluice-control.
//
//   node stack.mjs --env FILE [--only NAME[,NAME...]] [--chromium PATH] [--prefer EDGE_ID] [--https]
//
// --https: the demo runs with --https (its edges registered under https:// base URLs) and
// Chromium trusts its CA (an NSS database in $HOME); play then also checks that every media
// object came over https with h2 (the protocol DevTools reports for each response).
// --prefer names the edge this client must be steered to first (its region's edge, in the
// multi-host test): play then checks that edge served the media, and failover that it is the
// one steering ranked first and the one killed.
//
// Scenarios (all by default, in this order; failover last, since it kills an edge):
//   play      dash.js plays a title from control's manifest through an edge; media time
//             advances, no errors, every segment fetched matches the origin's SHA-256
//   preflight a new browser's start sends control no CORS preflight (its JSON goes as
//             text/plain); with ?preflight=on it does, and control counts it
//   players   Shaka Player (control's MPD) and hls.js (control's HLS playlist) play it too
//   clearkey  the ClearKey title plays (licence from control)
//   geo       a client in an unlicensed country gets 451, and the page says so
//   licence   a licence request without a live session (none, made up, or ended by an
//             operator) gets no key
//   parent    edge-b is edge-a's child: a segment edge-b no longer holds, asked for at
//             edge-b's BaseURL in control's MPD, is filled from edge-a (edge-a's hit first in
//             Cache-Status), served whole, and is then edge-b's own hit
//   catalogue the page's title list, search (a title word, a person, a genre) and the series'
//             seasons and episodes equal control's answers to the same queries; the movie
//             plays with a quality panel naming one of the MPD's video representations, a
//             buffer panel that grows above 0 and a served-by panel naming one of the edges
//   seek      seek to the middle; seek-to-playing latency
//   resume    report a position, reopen the title on another device, resume within a segment
//   failover  kill the preferred edge mid-playback: playback goes on from the other edge
//             through content steering with a bounded stall, and once heartbeats stop the
//             steering answers stop naming the dead edge
//   busy      control answers the page's session 503 (its database slow; injected into the
//             browser's traffic): the page asks again after Retry-After and plays; a control
//             that never answers gets a notice saying so within the page's 8 s bound
// Figures are printed as "figure:" lines. Exit 0 pass, 1 fail, 77 skip, 2 bad usage.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required'];
const ALL = ['play', 'prefetch', 'preflight', 'players', 'clearkey', 'geo', 'licence', 'parent',
  'catalogue', 'seek', 'resume', 'failover', 'busy'];
const SEGMENT = 4; // seconds, the origin layout's segment duration

const opt = { chromium: '/usr/bin/chromium', only: ALL };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const next = () => argv[++i];
  switch (argv[i]) {
    case '--env': opt.env = next(); break;
    case '--only': opt.only = next().split(','); break;
    case '--chromium': opt.chromium = next(); break;
    case '--prefer': opt.prefer = next(); break;
    case '--https': opt.https = true; break;
    default: process.stderr.write(`stack: unknown argument ${argv[i]}\n`); process.exit(2);
  }
}
if (!opt.env || opt.only.some((o) => !ALL.includes(o))) {
  process.stderr.write(`usage: stack.mjs --env FILE [--only ${ALL.join(',')}]\n`);
  process.exit(2);
}
const env = {};
for (const line of readFileSync(opt.env, 'utf8').split('\n')) {
  const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
  if (m) env[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
}
const edges = [{ id: env.EDGE_ID, url: env.EDGE_URL }, { id: env.EDGE2_ID, url: env.EDGE2_URL }];
const edgeOf = (url) => edges.find((e) => url.startsWith(e.url));

const log = (m) => process.stderr.write(`stack: ${m}\n`);
const figure = (m) => process.stdout.write(`figure: ${m}\n`);
const checks = [];
const check = (ok, name, detail = '') => {
  checks.push(ok);
  process.stdout.write(`${ok ? 'ok' : 'not ok'} ${checks.length} - ${name}${detail ? ` (${detail})` : ''}\n`);
  return ok;
};
const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

// A request to control, headers and body, within CONTROL_MS: a control that accepts and never
// answers fails the scenario with that reason, not after node's own limit of 300 s.
const CONTROL_MS = 15000;
async function controlFetch(path, init = {}) {
  const what = `control ${init.method || 'GET'} ${path}`;
  const signal = AbortSignal.timeout(CONTROL_MS);
  try {
    const r = await fetch(env.CONTROL_URL + path, { ...init, signal });
    const text = await r.text();
    return { r, text };
  } catch (e) {
    if (signal.aborted) throw new Error(`${what} did not answer within ${CONTROL_MS / 1000} s`);
    throw new Error(`${what}: ${e.message}`);
  }
}

async function control(method, path, body, headers = {}) {
  const { r, text } = await controlFetch(path, { method,
    headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
    body: body !== undefined ? (typeof body === 'string' ? body : JSON.stringify(body)) : undefined });
  let j = null;
  try { j = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, body: j };
}

// CORS preflights control has answered so far (its metrics).
async function preflights() {
  const { text } = await controlFetch('/metrics');
  const m = /^sluice_control_preflights_total (\d+)$/m.exec(text);
  if (!m) throw new Error('control has no sluice_control_preflights_total');
  return Number(m[1]);
}

// Every edge response of a page, and the SHA-256 check of its body against the origin file.
// With --https, also the protocol of every media response (init or segment) from DevTools,
// whichever host served it; w.cdp settles once DevTools reports them.
function watchEdges(page) {
  const w = { responses: [], bodies: [], control: [], media: [] };
  if (opt.https) {
    w.cdp = page.context().newCDPSession(page).then(async (cdp) => {
      cdp.on('Network.responseReceived', (ev) => {
        const u = new URL(ev.response.url);
        if (/\.(m4s|mp4)$/.test(u.pathname)) {
          w.media.push({ url: ev.response.url, protocol: ev.response.protocol, status: ev.response.status });
        }
      });
      await cdp.send('Network.enable');
    });
  }
  page.on('response', (resp) => {
    if (resp.url().startsWith(env.CONTROL_URL)) {
      w.control.push({ path: new URL(resp.url()).pathname, status: resp.status() });
    }
    const e = edgeOf(resp.url());
    if (!e) return;
    const u = new URL(resp.url());
    const status = resp.status();
    w.responses.push({ edge: e.id, path: u.pathname, status, at: Date.now() });
    if (status !== 200 && status !== 206) return;
    // /s/<jwt>/<asset>/<rep>/<file> → ORIGIN_DIR/<asset>/<rep>/<file>
    const rel = u.pathname.replace(/^\/s\/[^/]+\//, '').replace(/^\/+/, '');
    w.bodies.push((async () => {
      let body;
      try {
        body = await resp.body();
      } catch (err) {
        return { rel, ok: true, skipped: true };
      }
      let want = await readFile(join(env.ORIGIN_DIR, decodeURIComponent(rel))).catch(() => null);
      if (!want) return { rel, ok: false, detail: 'not in the origin' };
      if (status === 206) {
        const m = /^bytes (\d+)-(\d+)\//.exec(resp.headers()['content-range'] || '');
        if (!m) return { rel, ok: false, detail: '206 without Content-Range' };
        want = want.subarray(Number(m[1]), Number(m[2]) + 1);
      }
      return { rel, ok: sha256(body) === sha256(want), detail: `${body.length} vs ${want.length} bytes` };
    })());
  });
  return w;
}

const unknownSettings = [];
async function openPlayer(browser, query, { context } = {}) {
  const ctx = context || await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => log(`page exception: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') log(`console: ${m.text()}`);
    // A setting dash.js does not have is ignored with only this line (the page's buffer=S
    // set dash.js 4's stableBufferTime, which 5 renamed: the target below the top rung stayed).
    if (/Settings parameter .* is not supported/.test(m.text())) unknownSettings.push(m.text());
  });
  const w = watchEdges(page);
  await w.cdp;
  const t0 = Date.now();
  await page.goto(`${env.PLAYER_URL}?${query}`);
  await page.waitForFunction(() => window.sluice && window.sluice.state.ready, null, { timeout: 20000 });
  return { ctx, page, w, t0, own: !context };
}

const failedNow = `(window.sluice.state.errors.length > 0 || !!document.getElementById('video').error)`;
async function waitPlaying(page, timeout = 25000) {
  await page.waitForFunction(`${failedNow} || window.sluice.state.playing`, null, { timeout, polling: 100 });
}
async function waitAdvance(page, from, secs, timeout = 30000) {
  await page.waitForFunction(`${failedNow} || document.getElementById('video').currentTime >= ${from + secs}`,
    null, { timeout, polling: 100 });
}
const videoTime = (page) => page.evaluate(() => document.getElementById('video').currentTime);
const errorsOf = (page) => page.evaluate(() => window.sluice.state.errors.map((e) => `${e.source}: ${e.message}`)
  .concat(document.getElementById('video').error ? [`video: ${document.getElementById('video').error.code}`] : []));

// The prefetch scenario's checks, for the page made with extra query q.
async function prefetchFrom(browser, q) {
  const how = q ? ` (${q.slice(1)})` : '';
  // A 12 s buffer (not dash.js's 30 s at the top rung, most of the clip) keeps dash.js
  // fetching while the seek below looks for a download under way.
  const p = await openPlayer(browser, `title=demo-movie${q || '&buffer=12'}`);
  await waitPlaying(p.page);
  await p.page.waitForFunction(() => window.sluice.state.prefetch.every((x) => x.status || x.error),
    null, { timeout: 15000 }).catch(() => {});
  const st = await p.page.evaluate(() => ({ sid: window.sluice.state.sid,
    rung: window.sluice.state.startBandwidth, prefetch: window.sluice.state.prefetch }));
  const errs = await errorsOf(p.page);
  const kinds = st.prefetch.map((x) => x.kind).sort().join(',');
  if (!check(st.rung > 0, `prefetch${how}: control named a start rung`, String(st.rung))) {
    await p.ctx.close();
    return;
  }
  check(kinds === 'audio,audio-init,video,video-init', `prefetch${how}: the page fetched both inits and first segments ahead`, kinds);
  check(unknownSettings.length === 0, `prefetch${how}: dash.js took every setting the page gave (buffer=12)`,
    unknownSettings.join('; '));
  const late = st.prefetch.filter((x) => !x.used || x.status !== 200);
  check(late.length === 0 && errs.length === 0, `prefetch${how}: dash.js asked for every one of them and played`,
    late.map((x) => `${x.kind} used ${x.used} status ${x.status}`).concat(errs).join('; '));
  if (!q) {
    // The page is not rendered until the session's answer is read (start-early.js), and is
    // shown then: once the start objects were asked for, before the first frame.
    const shown = await p.page.evaluate(() => ({ m: window.sluice.state.marks,
      ff: window.sluice.state.firstFrameMs,
      display: getComputedStyle(document.documentElement).display }));
    // 'page-shown' is read from performance.now(); the session and request marks are absolute
    // times (start-ahead.js's startNow(), which a worker's marks need) less timeOrigin, a
    // difference of two numbers near 1.8e12 ms that is exact only to 2^-12 ms. Marks made in
    // one tick of the page clock (Chromium's is 0.1 ms) can so come out a few 1e-4 ms apart
    // either way: order is checked to within a hundredth of a millisecond.
    const SLACK_MS = 0.01;
    const at = shown.m['page-shown'];
    const asked = Math.max(...['video', 'audio'].map((k) => shown.m[`${k}-prefetch-requested`] ?? Infinity));
    check(at + SLACK_MS >= shown.m.session && at + SLACK_MS >= asked && at <= shown.ff && shown.display !== 'none',
      'prefetch: the page was shown once the session\'s answer was read and the start objects asked for',
      `shown ${at} session ${shown.m.session} asked ${asked} first frame ${shown.ff} display ${shown.display}`);
  }
  // The edges' access logs, beside the env file: this page's requests carry its CMCD sid.
  await new Promise((r) => setTimeout(r, 500));
  const sid = `sid%3D%22${st.sid}%22`;
  const lines = [];
  for (const e of edges) {
    const text = await readFile(join(dirname(opt.env), 'logs', `${e.id}.access.log`), 'utf8').catch(() => '');
    lines.push(...text.split('\n').filter((l) => l.includes(sid)));
  }
  const twice = st.prefetch.map((x) => {
    const path = new URL(x.url).pathname.replace(/^\/s\/[^/]+/, '/s/*');
    return [x.kind, lines.filter((l) => l.includes(`"GET ${path}?`)).length];
  }).filter(([, n]) => n !== 1);
  check(lines.length > 0 && twice.length === 0, `prefetch${how}: each start object crossed to the edge once`,
    twice.length ? twice.map(([k, n]) => `${k} ${n} times`).join(', ') : `${lines.length} requests of this page`);
  if (!q) {
    // A seek far out of the buffer is made at the start rung: dash.js's video bitrate is
    // capped at it until playback goes on, then the cap is lifted. It is made while a
    // segment is on its way over a slow link (2 Mbit/s): that download is cancelled.
    const cdp = await p.ctx.newCDPSession(p.page);
    const cancelled = [];
    const urls = new Map();
    cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
    cdp.on('Network.loadingFailed', (e) => {
      const u = urls.get(e.requestId) || '';
      if (e.canceled && /\.m4s(\?|$)/.test(u)) cancelled.push(new URL(u).pathname.replace(/^\/s\/[^/]+/, ''));
    });
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20,
      downloadThroughput: 2e6 / 8, uploadThroughput: 1e6 / 8 });
    const inFlight = await p.page.waitForFunction(() => window.sluice.segmentsInFlight() > 0, null,
      { timeout: 20000, polling: 10 }).then(() => true, () => false);
    const dur = await p.page.evaluate(() => document.getElementById('video').duration);
    const to = Math.floor((dur - 2 * SEGMENT) / SEGMENT) * SEGMENT + 0.5;
    const during = await p.page.evaluate((t) => new Promise((resolve) => {
      const v = document.getElementById('video');
      v.addEventListener('seeking', () => setTimeout(() =>
        resolve(window.sluice.player.getSettings().streaming.abr.maxBitrate.video), 0), { once: true });
      v.currentTime = t;
    }), to);
    await p.page.waitForFunction((t) => {
      const v = document.getElementById('video');
      return !!v.error || (!v.seeking && v.readyState >= 3 && v.currentTime > t + 0.3);
    }, to, { timeout: 20000, polling: 100 }).catch(() => {});
    const after = await p.page.evaluate(() => ({ t: document.getElementById('video').currentTime,
      seeks: window.sluice.state.seekRungs, cap: window.sluice.player.getSettings().streaming.abr.maxBitrate.video }));
    const kbit = Math.ceil(st.rung / 1000);
    check(after.seeks === 1 && during === kbit && after.cap === -1 && after.t > to && after.t < to + SEGMENT,
      'prefetch: a seek out of the buffer is capped at the start rung, then dash.js may climb again',
      `cap ${during} kbit/s during the seek (start rung ${kbit}), ${after.cap} after; ${after.seeks} capped seeks; at ${after.t.toFixed(1)} s for ${to} s`);

    const aborts = await p.page.evaluate(() => window.sluice.state.seekAborts);
    check(inFlight && aborts >= 1 && cancelled.length >= 1 && (await errorsOf(p.page)).length === 0,
      'prefetch: the seek cancelled the segment download under way for the old position, and played on',
      `in flight at the seek: ${inFlight}; cancelled by the page ${aborts}, by the browser's count ${cancelled.length} (${cancelled.join(', ')})`);
  }
  await p.ctx.close();
}

const scenarios = {
  async play(browser) {
    const p = await openPlayer(browser, 'title=demo-movie');
    await waitPlaying(p.page);
    const ttff = await p.page.evaluate(() => window.sluice.state.firstFrameMs);
    const t0 = await videoTime(p.page);
    await waitAdvance(p.page, t0, 8).catch(() => {});
    const t1 = await videoTime(p.page);
    const errs = await errorsOf(p.page);
    const bodies = await Promise.all(p.w.bodies);
    const segs = new Set(bodies.filter((b) => !b.skipped && b.rel.endsWith('.m4s')).map((b) => b.rel));
    const bad = bodies.filter((b) => !b.ok);
    check(t1 - t0 >= 7.95, 'play: media time advances 8 s', `${t0.toFixed(1)} → ${t1.toFixed(1)}`);
    check(errs.length === 0, 'play: no player errors', errs.join('; '));
    check(segs.size >= 4 && bad.length === 0, 'play: every segment fetched matches the origin (SHA-256)',
      `${bodies.length} bodies, ${segs.size} distinct segments${bad.length ? '; bad: ' + bad.map((b) => `${b.rel} ${b.detail}`).join(', ') : ''}`);
    const bad4 = p.w.responses.filter((r) => r.status >= 400);
    check(bad4.length === 0, 'play: no error status from the edges', bad4.map((r) => `${r.status} ${r.path}`).slice(0, 3).join(' '));
    const served = await p.page.evaluate(() => [window.sluice.state.servedBy, document.getElementById('s-edge').textContent]);
    check(!!served[0], 'play: the page says which edge is serving', served[1]);
    if (opt.prefer) {
      const media = new Set(p.w.responses.filter((r) => r.path.endsWith('.m4s') && r.status < 400).map((r) => r.edge));
      check(served[0] === opt.prefer && media.size === 1 && media.has(opt.prefer),
        `play: this client's own region's edge (${opt.prefer}) served the media`,
        `page says ${served[0]}; segments from ${[...media].join(', ') || 'none'}`);
    }
    // The same object without the token control put in the BaseURL: the edge must refuse it.
    const signed = p.w.responses.find((r) => r.status === 200 && r.path.startsWith('/s/'));
    if (signed) {
      const e = edges.find((x) => x.id === signed.edge);
      const bare = await fetch(e.url + signed.path.replace(/^\/s\/[^/]+/, ''));
      check(bare.status === 403, 'play: an edge refuses the same object without the signed token', `${bare.status}`);
    } else {
      check(false, 'play: segments came through signed URLs (/s/<jwt>/...)');
    }
    if (opt.https) {
      const plain = p.w.media.filter((m) => !m.url.startsWith('https:') || m.protocol !== 'h2');
      check(p.w.media.length >= 4 && plain.length === 0, 'play: every media object came over https with h2',
        `${p.w.media.length} responses${plain.length ? '; not: ' + plain.slice(0, 3).map((m) => `${m.protocol} ${m.url.slice(0, 60)}`).join(', ') : ''}`);
    }
    // The page reports what it measured every 5 s while it plays: control keeps it as this
    // network's throughput estimate, which later starts (prefetch) are answered from.
    const measured = await p.page.waitForFunction(() => window.sluice.state.mtpReports > 0, null,
      { timeout: 12000, polling: 100 }).then(() => true, () => false);
    const [reports, withMtp] = await p.page.evaluate(() =>
      [window.sluice.state.reports, window.sluice.state.mtpReports]);
    check(measured, 'play: the page reported its measured throughput to control',
      `${reports} report(s) accepted, ${withMtp} with mtp`);
    figure(`play: first frame ${ttff ? Math.round(ttff) : '?'} ms after navigation start (page clock)`);
    await p.ctx.close();
  },

  async players(browser) {
    const s = await control('POST', '/v1/playback', { title: 'demo-movie' });
    if (!check(s.status === 200 && s.body.hls_url, 'players: control issues a session with an HLS playlist', `${s.status}`)) return;
    // The ClearKey title too: Shaka reads the licence URL only from dashif:Laurl, as the
    // DASH-IF guidelines spell it (the MPD's dashif:laurl was error 6012, no licence server).
    const enc = await control('POST', '/v1/playback', { title: 'demo-secret' });
    if (!check(enc.status === 200 && enc.body.manifest_url, 'players: control issues a session for the ClearKey title', `${enc.status}`)) return;
    for (const [which, src] of [['shaka', s.body.manifest_url], ['hlsjs', s.body.hls_url],
      ['shaka', enc.body.manifest_url]]) {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      const w = watchEdges(page);
      await page.goto(`${env.PLAYER_URL}alt.html?player=${which}&src=${encodeURIComponent(src)}`);
      let ok = true;
      try {
        await page.waitForFunction('window.sluiceAlt.state.errors.length > 0 || window.sluiceAlt.state.playing',
          null, { timeout: 25000, polling: 100 });
        const t0 = await videoTime(page);
        await page.waitForFunction(`window.sluiceAlt.state.errors.length > 0 || document.getElementById('video').currentTime >= ${t0 + 6}`,
          null, { timeout: 25000, polling: 100 });
      } catch (e) {
        ok = false;
        log(`${which}: ${e.message.split('\n')[0]}`);
      }
      const st = await page.evaluate(() => ({ errors: window.sluiceAlt.state.errors, t: document.getElementById('video').currentTime }));
      const bodies = await Promise.all(w.bodies);
      const bad = bodies.filter((b) => !b.ok);
      // Only bodies actually compared count (a body the browser could not hand over is skipped).
      const segs = new Set(bodies.filter((b) => !b.skipped && b.rel.endsWith('.m4s')).map((b) => b.rel));
      check(ok && st.errors.length === 0 && segs.size >= 2 && bad.length === 0,
        `players: ${which} plays control's ${which === 'shaka' ? 'MPD' : 'HLS playlist'}${src === enc.body.manifest_url ? ' of the ClearKey title' : ''} through the edges`,
        `t=${st.t.toFixed(1)} s, ${segs.size} segments, ${bad.length} mismatches ${st.errors.map((e) => e.message).join('; ')}`);
      await ctx.close();
    }
  },

  async clearkey(browser) {
    const p = await openPlayer(browser, 'title=demo-secret');
    let ok = true;
    try {
      await waitPlaying(p.page);
      const t0 = await videoTime(p.page);
      await waitAdvance(p.page, t0, 6);
    } catch (e) {
      ok = false;
      log(`clearkey: ${e.message.split('\n')[0]}`);
    }
    const errs = await errorsOf(p.page);
    const enc = await p.page.evaluate(() => window.sluice.state.session && window.sluice.state.session.encrypted);
    check(ok && errs.length === 0 && enc === true, 'clearkey: the encrypted title plays', errs.join('; '));
    const lic = p.w.control.filter((r) => r.path === '/v1/license/clearkey').map((r) => r.status);
    check(lic.includes(200), 'clearkey: the licence came from control', `statuses ${lic.join(',')}`);
    await p.ctx.close();
  },

  // The page fetches the start's inits and first segments beside dash.js's compile, and
  // dash.js takes them from the browser's cache: each crosses to the edge once. Control has a
  // throughput estimate for this client by now (play reported), so a start rung. Both ways of
  // making the early requests: the page's own script, and the worker.
  async prefetch(browser) {
    // The estimate comes from play's reports, and control caches a network's estimate for up
    // to cache_ttl: wait until a start from this address is answered with a rung (or 10 s).
    let bw = null;
    for (let t = 0; t < 100 && !(bw > 0); t++) {
      if (t) await new Promise((res) => setTimeout(res, 100));
      const r = await control('POST', '/v1/playback', { title: 'demo-movie', device: 'probe' });
      bw = r.status === 200 && r.body ? r.body.start_bandwidth : `status ${r.status}`;
    }
    if (!check(bw > 0, 'prefetch: control has a throughput estimate for this network (play reported one)',
      String(bw))) return;
    await prefetchFrom(browser, '');
    await prefetchFrom(browser, '&early=worker');
  },

  // A new browser (no preflight cached) starts with no CORS preflight to control: the page
  // sends its JSON as text/plain. With ?preflight=on it sends application/json, and control
  // answers a preflight first: the count can tell the two apart.
  async preflight(browser) {
    for (const [q, want] of [['', 'none'], ['&preflight=on', 'some']]) {
      const before = await preflights();
      const p = await openPlayer(browser, `title=demo-movie${q}`);
      await waitPlaying(p.page);
      const session = await p.page.evaluate(() => !!window.sluice.state.session);
      const n = (await preflights()) - before;
      check(session && (want === 'none' ? n === 0 : n >= 1),
        `preflight${q ? ' (on)' : ''}: a new browser's start, ${want} answered by control`,
        `${n} preflights, session ${session}`);
      await p.ctx.close();
    }
  },

  async busy(browser) {
    // The session's POST, as control answers it when its database times out (server.c: 503,
    // Retry-After, CORS), then passed on; or never answered.
    const open = async (mode) => {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
      const asked = [];
      await ctx.route('**/v1/playback', (route) => {
        if (route.request().method() !== 'POST') return route.continue();
        asked.push(Date.now());
        if (mode === 'silent') return undefined; // held: no answer, ever
        if (asked.length > 1) return route.continue();
        return route.fulfill({ status: 503, contentType: 'application/json',
          headers: { 'Retry-After': '1', 'Cache-Control': 'no-store', 'Access-Control-Allow-Origin': '*',
            'Access-Control-Expose-Headers': 'Retry-After' },
          body: '{"error":"unavailable","detail":"database timed out"}' });
      });
      return { p: await openPlayer(browser, 'title=demo-movie', { context: ctx }), asked };
    };
    let { p, asked } = await open('busy');
    await waitPlaying(p.page);
    let st = await p.page.evaluate(() => ({ playing: window.sluice.state.playing,
      notice: window.sluice.state.notice, errors: window.sluice.state.errors.length }));
    check(st.playing && !st.notice && st.errors === 0, 'busy: after a 503 the page asks again and plays',
      JSON.stringify(st));
    check(asked.length === 2 && asked[1] - asked[0] >= 900,
      'busy: the second session request waited for Retry-After (1 s)',
      `${asked.length} requests, ${asked.length > 1 ? asked[1] - asked[0] : '-'} ms apart`);
    await p.ctx.close();

    ({ p, asked } = await open('silent'));
    await p.page.waitForFunction(() => window.sluice.state.notice, null, { timeout: 20000 })
      .catch(() => {});
    st = await p.page.evaluate(() => ({ notice: window.sluice.state.notice,
      shown: document.getElementById('notice').textContent, hidden: document.getElementById('notice').hidden }));
    check(st.notice && st.notice.status === 0 && !st.hidden && /did not answer/.test(st.shown),
      'busy: a control that never answers: the page says so', JSON.stringify(st));
    check(asked.length === 1, 'busy: the unanswered session was asked for once', `${asked.length} requests`);
    await p.ctx.close();
  },

  async geo(browser) {
    const p = await openPlayer(browser, 'title=demo-movie&control=ipv6');
    await p.page.waitForFunction(() => window.sluice.state.notice || window.sluice.state.session, null, { timeout: 15000 });
    const st = await p.page.evaluate(() => ({ notice: window.sluice.state.notice,
      shown: document.getElementById('notice').textContent, hidden: document.getElementById('notice').hidden,
      earlyUsed: window.sluice.state.earlyUsed }));
    check(st.notice && st.notice.status === 451, 'geo: a client in BR gets 451', JSON.stringify(st.notice));
    // The 451 came to the early request, sent to control's second address as the page asked.
    check(st.earlyUsed === 'session', 'geo: the session came from the page\'s early request', String(st.earlyUsed));
    check(!st.hidden && /not available in your country/i.test(st.shown), 'geo: the page says so', st.shown);
    await p.ctx.close();
  },

  async licence() {
    const s = await control('POST', '/v1/playback', { title: 'demo-secret' });
    const asset = JSON.parse(readFileSync(join(env.ORIGIN_DIR, 'demo-secret', 'asset.json'), 'utf8'));
    const kid = Buffer.from(asset.encryption.kid, 'hex').toString('base64url');
    const req = JSON.stringify({ kids: [kid], type: 'temporary' });
    const live = await control('POST', `/v1/license/clearkey?session=${s.body.session}`, req);
    check(live.status === 200 && live.body.keys && live.body.keys.length === 1,
      'licence: a live session gets its key (control of the check below)', `${live.status}`);
    const none = await control('POST', '/v1/license/clearkey', req);
    const made = await control('POST', `/v1/license/clearkey?session=${randomBytes(16).toString('hex')}`, req);
    const noKey = (r) => r.status >= 400 && !(r.body && r.body.keys);
    check(noKey(none) && noKey(made), 'licence: without a live session there is no key',
      `no session: ${none.status}, made-up session: ${made.status}`);
    // A validly signed session is live only until it expires or an operator ends it
    // (docs/control.md): ended, the very id that got its key above gets none.
    const end = await control('POST', `/v1/admin/sessions/${s.body.session}/end`, undefined,
      { Authorization: `Bearer ${env.CONTROL_ADMIN_TOKEN}` });
    check(end.status === 200 && end.body && end.body.ended === true,
      'licence: an operator ends the live session', `${end.status} ${JSON.stringify(end.body)}`);
    const ended = await control('POST', `/v1/license/clearkey?session=${s.body.session}`, req);
    check(ended.status === 403 && noKey(ended), 'licence: an ended session, validly signed, gets no key',
      `${ended.status}`);
  },

  async parent() {
    const s = await control('POST', '/v1/playback', { title: 'demo-movie' });
    if (s.status !== 200) throw new Error(`control POST /v1/playback: ${s.status}`);
    const mpd = await (await fetch(s.body.manifest_url)).text();
    const bases = [...mpd.matchAll(/<BaseURL serviceLocation="([^"]+)">([^<]+)<\/BaseURL>/g)]
      .map((m) => ({ loc: m[1], url: m[2].replace(/&amp;/g, '&') }));
    const child = bases.find((b) => b.url.startsWith(env.EDGE2_URL));
    check(!!child, `parent: control's MPD has a BaseURL at ${env.EDGE2_ID}`, bases.map((b) => b.loc).join(' '));
    if (!child) return;
    const rel = 'video-240p/seg-3.m4s';
    const del = await fetch(`${env.EDGE2_ADMIN_URL}/admin/objects/demo-movie/${rel}`,
      { method: 'DELETE', headers: { Authorization: `Bearer ${env.EDGE_ADMIN_TOKEN}` } });
    const want = sha256(await readFile(join(env.ORIGIN_DIR, 'demo-movie', rel)));
    const get = async () => {
      const r = await fetch(child.url + rel);
      const body = Buffer.from(await r.arrayBuffer());
      return { status: r.status, ok: sha256(body) === want, cs: r.headers.get('cache-status') || '' };
    };
    const first = await get();
    const entries = first.cs.split(',').map((x) => x.trim());
    check(del.status < 300 && first.status === 200 && first.ok &&
      /^edge-a; hit\b/.test(entries[0] || '') && /^edge-b; fwd=miss\b/.test(entries[entries.length - 1] || ''),
    `parent: a segment ${env.EDGE2_ID} dropped is filled from edge-a and served whole`,
    `DELETE ${del.status}; GET ${first.status}, SHA-256 ${first.ok ? 'matches' : 'differs'}; Cache-Status: ${first.cs}`);
    const again = await get();
    check(again.status === 200 && again.ok && /^edge-b; hit\b/.test(again.cs),
      `parent: then ${env.EDGE2_ID} serves it from its own store`, `${again.status}; Cache-Status: ${again.cs}`);
  },

  // What the page shows of the catalogue, checked against what control answers the test for
  // the same queries (same profile, same client address, so the same country).
  async catalogue(browser) {
    const prof = await control('POST', '/v1/profiles', { name: 'catalogue test' });
    if (prof.status !== 200) throw new Error(`control POST /v1/profiles: ${prof.status}`);
    const pq = `profile=${prof.body.id}&profile_key=${prof.body.key}`;
    const get = async (path) => {
      const r = await control('GET', `${path}${path.includes('?') ? '&' : '?'}${pq}`);
      if (r.status !== 200) throw new Error(`control GET ${path}: ${r.status}`);
      return r.body;
    };
    const cat = (await get('/v1/catalog')).items;
    const details = {};
    for (const t of cat) details[t.id] = await get(`/v1/titles/${encodeURIComponent(t.id)}`);
    const demo = (env.TITLE_IDS || '').split(/\s+/).filter(Boolean);
    check(demo.length > 0 && demo.every((id) => cat.some((t) => t.id === id)),
      'catalogue: control lists every demo title', `${demo.join(' ')} in ${cat.map((t) => t.id).join(' ')}`);
    const cards = (items) => items.map((t) => `${t.id}=${t.name || t.id}`);
    const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

    const p = await openPlayer(browser, `${pq}&device=catalogue`);
    const shown = () => p.page.$$eval('#titles a[data-title]',
      (as) => as.map((a) => `${a.dataset.title}=${a.textContent}`));
    const list = await shown();
    check(same(list, cards(cat)), "catalogue: the title list is control's catalogue, in its order",
      `page: ${list.join(', ')}; control: ${cards(cat).join(', ')}`);

    // Three searches typed into the page's own search box, each query taken from the catalogue.
    const movie = cat.find((t) => t.kind === 'movie' && !details[t.id].encrypted &&
      (details[t.id].cast || []).length > 0) || cat.find((t) => t.kind === 'movie');
    const series = cat.find((t) => t.kind === 'series');
    if (!check(movie && series, 'catalogue: control has a movie and a series to search for and open',
      cat.map((t) => `${t.id}:${t.kind}`).join(' '))) {
      await p.ctx.close();
      return;
    }
    const person = cat.map((t) => (details[t.id].cast || [])[0]).find(Boolean);
    const word = movie.name.split(/\s+/).reduce((a, b) => (b.length >= a.length ? b : a), '');
    const queries = [
      ['a title word', word, movie.id],
      ['a person', person && person.name, cat.find((t) => (details[t.id].cast || []).includes(person))?.id],
      ['a genre', (series.genres || [])[0], series.id],
    ];
    for (const [what, q, from] of queries) {
      if (!q) {
        check(false, `catalogue: the catalogue gives ${what} to search for`);
        continue;
      }
      const want = (await get(`/v1/search?q=${encodeURIComponent(q)}`)).items;
      check(want.some((t) => t.id === from) && want.length < cat.length,
        `catalogue: control's search for ${what} ("${q}") finds ${from} and not every title`,
        want.map((t) => t.id).join(' '));
      await p.page.fill('#q', q);
      await Promise.all([
        p.page.waitForURL((u) => u.searchParams.get('q') === q, { timeout: 15000 }),
        p.page.press('#q', 'Enter'),
      ]);
      await p.page.waitForFunction(() => window.sluice && window.sluice.state.ready, null, { timeout: 20000 });
      const got = await shown();
      const others = cat.filter((t) => !want.some((w) => w.id === t.id) && got.some((g) => g.startsWith(`${t.id}=`)));
      check(same(got, cards(want)) && others.length === 0,
        `catalogue: searching the page for ${what} ("${q}") shows control's matches and no other title`,
        `page: ${got.join(', ') || 'nothing'}; control: ${cards(want).join(', ') || 'nothing'}`);
    }

    // The series, opened from the list: every season with its episodes, in order.
    const open = async (id) => {
      await Promise.all([
        p.page.waitForURL((u) => u.searchParams.get('title') === id, { timeout: 15000 }),
        p.page.click(`#titles a[data-title="${id}"]`),
      ]);
      await p.page.waitForFunction(() => window.sluice && window.sluice.state.ready, null, { timeout: 20000 });
    };
    const sd = details[series.id];
    await open(series.id); // from the genre search's results
    const page = await p.page.evaluate(() => ({
      visible: !document.getElementById('details').hidden,
      heading: (document.querySelector('#details h2') || {}).textContent || '',
      seasons: [...document.querySelectorAll('#details [data-season]')].map((s) => ({
        season: Number(s.dataset.season),
        heading: (s.querySelector('h3') || {}).textContent || '',
        episodes: [...s.querySelectorAll('a[data-episode]')].map((a) => ({ id: a.dataset.episode,
          text: a.textContent, current: a.classList.contains('current') })),
      })),
      playing: window.sluice.state.session && window.sluice.state.session.episode,
    }));
    const seasons = sd.seasons || [];
    const episodes = seasons.flatMap((s) => s.episodes);
    check(page.visible && page.heading.includes(sd.name), `catalogue: opening ${series.id} shows its details`,
      page.heading);
    check(seasons.length > 0 && same(page.seasons.map((s) => s.season), seasons.map((s) => s.season)) &&
      page.seasons.every((s) => s.heading.includes(String(s.season))),
    `catalogue: ${series.id} shows each of its seasons`,
    `page: ${page.seasons.map((s) => s.heading).join(', ') || 'none'}; control: ${seasons.map((s) => s.season).join(', ')}`);
    const pageEps = page.seasons.flatMap((s) => s.episodes);
    check(episodes.length >= 2 && pageEps.length === episodes.length &&
      episodes.every((e, i) => pageEps[i].id === e.id && pageEps[i].text.includes(e.name)),
    `catalogue: ${series.id} shows its ${episodes.length} episodes in order`,
    `page: ${pageEps.map((e) => `${e.id} "${e.text}"`).join(', ')}`);
    const marked = pageEps.filter((e) => e.current).map((e) => e.id);
    check(!!page.playing && marked.length === 1 && marked[0] === page.playing,
      `catalogue: ${series.id} marks the episode its session plays`, `${marked.join(', ') || 'none'} / ${page.playing}`);

    // The movie, opened from the title list and played. Every render of the buffer cell is
    // recorded from the page's start, with the state shown beside it.
    await p.page.addInitScript(() => {
      window.bufferSeen = [];
      document.addEventListener('DOMContentLoaded', () => {
        const cell = document.getElementById('s-buffer');
        new MutationObserver(() => window.bufferSeen.push({ text: cell.textContent,
          state: document.getElementById('s-state').textContent }))
          .observe(cell, { childList: true, characterData: true, subtree: true });
      });
    });
    const mediaFrom = p.w.responses.length;
    await open(movie.id);
    await waitPlaying(p.page);
    await waitAdvance(p.page, await videoTime(p.page), 4).catch(() => {});
    const errs = await errorsOf(p.page);
    check(errs.length === 0, `catalogue: ${movie.id} plays without errors`, errs.join('; '));

    const s = await p.page.evaluate(() => ({ mpd: window.sluice.state.session.manifest_url }));
    const mpd = await (await fetch(s.mpd)).text();
    const attrs = (tag) => Object.fromEntries([...tag.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const reps = [...mpd.matchAll(/<AdaptationSet\b([^>]*)>([\s\S]*?)<\/AdaptationSet>/g)]
      .filter((a) => /(contentType|mimeType)="video/.test(a[1]))
      .flatMap((a) => [...a[2].matchAll(/<Representation\b([^>]*)>/g)].map((r) => attrs(r[1])));
    // The panel is redrawn every half second: wait until it shows dash.js's current choice.
    await p.page.waitForFunction(() => {
      const r = window.sluice.player.getCurrentRepresentationForType('video');
      return r && document.getElementById('s-video').textContent.startsWith(`${r.id} `);
    }, null, { timeout: 10000, polling: 100 }).catch(() => {});
    const q = await p.page.evaluate(() => {
      const r = window.sluice.player.getCurrentRepresentationForType('video');
      return { text: document.getElementById('s-video').textContent,
        cur: r && { id: r.id, width: r.width, height: r.height, bandwidth: r.bandwidth } };
    });
    const m = /^(\S+) · (\d+)×(\d+) (\d+) kbit\/s$/.exec(q.text);
    const rep = m && reps.find((r) => r.id === m[1]);
    check(reps.length > 0 && !!rep && Number(rep.width) === Number(m[2]) && Number(rep.height) === Number(m[3]) &&
      Math.round(Number(rep.bandwidth) / 1000) === Number(m[4]),
    "catalogue: the quality panel names one of the MPD's video representations",
    `"${q.text}"; MPD: ${reps.map((r) => `${r.id} ${r.width}×${r.height} ${r.bandwidth}`).join(', ')}`);
    check(!!rep && !!q.cur && q.cur.id === rep.id && q.cur.height === Number(rep.height) &&
      q.cur.bandwidth === Number(rep.bandwidth),
    "catalogue: the quality panel is dash.js's current representation, as the MPD describes it",
    JSON.stringify(q.cur));

    const seen = (await p.page.evaluate(() => window.bufferSeen)).map((b) => {
      const v = /^video (\d+(?:\.\d+)?) s · audio (?:\d+(?:\.\d+)? s|–)$/.exec(b.text);
      return { ...b, v: v ? Number(v[1]) : null };
    });
    // The first render comes right after dash.js is handed the manifest, before any segment:
    // nothing is buffered, shown as "–" (dash.js answers NaN for an empty buffer) or 0.
    const start = seen.length && seen[0].v !== null ? seen[0].v : 0;
    const last = seen[seen.length - 1];
    check(!!last && last.state === 'playing' && last.v > 0 &&
      seen.some((b) => b.state === 'playing' && b.v > start),
    'catalogue: the buffer panel shows a number that grows above 0 while playing',
    `${seen.length} renders; ${seen.slice(0, 3).concat(seen.slice(-2)).map((b) => `${b.state}: ${b.text}`).join(' | ')}`);

    const served = await p.page.evaluate(() => [window.sluice.state.servedBy, document.getElementById('s-edge').textContent]);
    const edge = edges.find((e) => e.id === served[0]);
    const media = new Set(p.w.responses.slice(mediaFrom).filter((r) => r.path.endsWith('.m4s') && r.status < 400).map((r) => r.edge));
    check(!!edge && served[1].includes(edge.id) && served[1].includes(new URL(edge.url).host) && media.has(edge.id),
      'catalogue: the served-by panel names one of the two edges, one that served the movie',
      `"${served[1]}"; segments from ${[...media].join(', ') || 'none'}`);
    await p.ctx.close();
  },

  async seek(browser) {
    const p = await openPlayer(browser, 'title=demo-movie');
    await waitPlaying(p.page);
    const dur = await p.page.evaluate(() => document.getElementById('video').duration);
    // Half a second past a segment boundary: on the boundary itself, which segment a player
    // fetches first is a rounding choice (dash.js now and then took the next one).
    const mid = Math.floor(dur / 2 / SEGMENT) * SEGMENT + 0.5;
    // Bounded: a seek that never plays again is this check failing, not the test hanging
    // until meson's timeout.
    const ms = await p.page.evaluate(([to, limit]) => new Promise((resolve) => {
      const v = document.getElementById('video');
      const t = performance.now();
      let timer;
      const end = (r) => { clearTimeout(timer); v.removeEventListener('playing', done); v.removeEventListener('timeupdate', tick); resolve(r); };
      const done = () => end(performance.now() - t);
      // 'playing' fires only after a stall; a seek inside the buffer resumes with timeupdates.
      const tick = () => { if (!v.seeking && v.currentTime > to + 0.1 && v.readyState >= 3) done(); };
      v.addEventListener('playing', done);
      v.addEventListener('timeupdate', tick);
      timer = setTimeout(() => end(null), limit);
      v.currentTime = to;
    }), [mid, 20000]);
    const t = await videoTime(p.page);
    check(ms !== null && t >= mid && t < mid + SEGMENT, 'seek: playback goes on from the middle',
      `seeked to ${mid} s, at ${t.toFixed(1)} s${ms === null ? ', not playing 20 s after the seek' : ''}`);
    if (ms !== null) figure(`seek: seek-to-playing ${Math.round(ms)} ms (seed target 500 ms)`);
    await p.ctx.close();

    // A seek out of the buffer once dash.js has climbed above the start rung: what it fetches
    // for the new position is the start rung's segment, not the climbed-to rung's. startbw=1
    // makes the lowest rung the start one.
    const q = await openPlayer(browser, 'title=demo-movie&startbw=1&buffer=8');
    await waitPlaying(q.page);
    const repOf = (path) => (/\/(video-[^/]+)\/seg-\d+\.m4s$/.exec(path) || [])[1];
    const videoSegs = () => q.w.responses.filter((r) => repOf(r.path));
    const startRep = repOf((videoSegs()[0] || { path: '' }).path);
    let climbed = false;
    // The climb the check needs is made at once, to the top rung, not waited for from dash.js's
    // ABR: on a loaded machine its throughput estimate can stay low for many seconds, and by
    // then the seek's target may be buffered already. (dash.js may come down again later; its
    // next segment is fetched at the top rung first.)
    await q.page.evaluate(() => {
      const pl = window.sluice.player;
      const reps = [...(pl.getRepresentationsByType('video') || [])].sort((a, b) => a.bandwidth - b.bandwidth);
      if (reps.length) pl.setRepresentationForTypeById('video', reps[reps.length - 1].id);
    });
    for (let i = 0; i < 150 && !climbed; i++) {
      climbed = videoSegs().some((r) => repOf(r.path) !== startRep);
      if (!climbed) await new Promise((res) => setTimeout(res, 100));
    }
    const to = Math.floor((dur - 2 * SEGMENT) / SEGMENT) * SEGMENT + 0.5;
    const n = Math.floor(to / SEGMENT) + 1;
    const seekAt = Date.now();
    await q.page.evaluate((t) => { document.getElementById('video').currentTime = t; }, to);
    await q.page.waitForFunction((t) => {
      const v = document.getElementById('video');
      return !!v.error || (!v.seeking && v.readyState >= 3 && v.currentTime > t + 0.3);
    }, to, { timeout: 20000, polling: 100 }).catch(() => {});
    const first = videoSegs().find((r) => r.at >= seekAt && r.path.endsWith(`/seg-${n}.m4s`));
    const climbedTo = videoSegs().filter((r) => r.at < seekAt).map((r) => repOf(r.path)).pop();
    check(climbed && first && repOf(first.path) === startRep,
      'seek: out of the buffer, after a climb, the new position\'s segment comes at the start rung',
      `start rung ${startRep}, at ${climbedTo} before the seek (climbed: ${climbed}); segment ${n} ` +
      `from ${first ? repOf(first.path) : 'nothing'}`);
    check((await errorsOf(q.page)).length === 0, 'seek: no player errors after the start-rung seek',
      (await errorsOf(q.page)).join('; '));
    await q.ctx.close();
  },

  async resume(browser) {
    const prof = await control('POST', '/v1/profiles', { name: 'resume test' });
    // The profile travels with its key, as a viewer would carry it to another device.
    const pq = `profile=${prof.body.id}&profile_key=${prof.body.key}`;
    const a = await openPlayer(browser, `title=demo-movie&${pq}&device=phone`);
    await waitPlaying(a.page);
    // Control treats the last 30 s as finished (starts over), so stay before that.
    const dur = await a.page.evaluate(() => document.getElementById('video').duration);
    const target = Math.max(2.3, Math.min(dur / 2, dur - 32.7));
    await a.page.evaluate((to) => { document.getElementById('video').currentTime = to; }, target);
    await a.page.waitForFunction((to) => document.getElementById('video').currentTime >= to + 0.5, target, { timeout: 15000 });
    const pos = await a.page.evaluate(async () => {
      const v = document.getElementById('video');
      v.pause();
      await window.sluice.report('test');
      return v.currentTime;
    });
    await a.ctx.close();
    // Another device: a fresh browser context (no shared storage) with the same profile.
    const b = await openPlayer(browser, `title=demo-movie&${pq}&device=tv`);
    await waitPlaying(b.page);
    const st = await b.page.evaluate(() => ({ resume: window.sluice.state.session.resume_position,
      t: document.getElementById('video').currentTime }));
    check(Math.abs(st.resume - pos) < 0.5, 'resume: control hands the reported position to the other device',
      `reported ${pos.toFixed(2)} s, offered ${st.resume.toFixed(2)} s`);
    check(st.t >= pos - SEGMENT && st.t <= pos + SEGMENT, 'resume: playback on the other device starts within one segment',
      `at ${st.t.toFixed(2)} s`);
    await b.ctx.close();
    // The same profile with a wrong key: control refuses it as it refuses an unknown profile,
    // and the page forgets it, plays with a new profile of its own and keeps that one.
    const c = await openPlayer(browser, `title=demo-movie&profile=${prof.body.id}&profile_key=${'0'.repeat(64)}`);
    await waitPlaying(c.page);
    const errs = await errorsOf(c.page);
    const kept = await c.page.evaluate(() => ({ url: location.search, resume: window.sluice.state.session.resume_position,
      id: localStorage.getItem('sluice-profile'), key: localStorage.getItem('sluice-profile-key') }));
    check(errs.length === 0 && kept.resume === 0 && /^[0-9a-f]{64}$/.test(kept.key || '') &&
      kept.id && kept.id !== String(prof.body.id) && !/profile/.test(kept.url),
      'resume: a refused profile key: the page plays with a new profile, keeps it, and drops the refused one from its URL',
      `${errs.join('; ')} kept profile ${kept.id}, resume ${kept.resume}, url ${kept.url}`);
    // The same link again in that browser, which has a profile of its own now: the refused
    // one does not cost the viewer theirs; the page plays with it.
    const d = await openPlayer(browser, `title=demo-movie&profile=${prof.body.id}&profile_key=${'0'.repeat(64)}`,
      { context: c.ctx });
    await waitPlaying(d.page);
    const after = await d.page.evaluate(() => ({ state: window.sluice.state.profile,
      id: localStorage.getItem('sluice-profile'), key: localStorage.getItem('sluice-profile-key') }));
    check(after.id === kept.id && after.key === kept.key && String(after.state) === kept.id,
      'resume: a refused profile in a link keeps the viewer\'s own saved profile, and plays with it',
      `saved ${kept.id} → ${after.id}, playing as ${after.state}`);
    // A page without the inline start script (index.html as shipped) still sends its reports.
    const bare = await d.page.evaluate(async () => { delete self.jsonInit; return window.sluice.report('test'); });
    check(bare === 200, 'resume: a report from a page without the inline start script', String(bare));
    await c.ctx.close();
  },

  async failover(browser) {
    const p = await openPlayer(browser, 'title=demo-series');
    await waitPlaying(p.page);
    const sid = await p.page.evaluate(() => window.sluice.state.session.session);
    const t0 = await videoTime(p.page);
    await waitAdvance(p.page, t0, 2);
    const before = p.w.responses.filter((r) => r.path.endsWith('.m4s'));
    const preferred = before.length ? before[before.length - 1].edge : null;
    const steer0 = await control('GET', `/v1/steering/${sid}`);
    const first = steer0.body && steer0.body['PATHWAY-PRIORITY'] && steer0.body['PATHWAY-PRIORITY'][0];
    check(preferred === first, 'failover: segments come from the edge steering ranks first', `${preferred} / ${first}`);
    if (opt.prefer) check(first === opt.prefer, `failover: steering ranks this client's region's edge (${opt.prefer}) first`, `${first}`);
    const victim = edges.find((e) => e.id === preferred) || edges[0];
    const other = edges.find((e) => e !== victim);
    const pid = Number(victim === edges[0] ? env.EDGE_PID : env.EDGE2_PID);
    const killedAt = Date.now();
    const tKill = await videoTime(p.page);
    process.kill(pid, 'SIGKILL');
    log(`killed ${victim.id} (pid ${pid}) at media time ${tKill.toFixed(1)} s`);
    // Control's side, watched from the kill on: the dead edge leaves steering once two
    // heartbeat periods pass without one.
    const dropped = (async () => {
      const limit = Date.now() + 20000;
      while (Date.now() < limit) {
        const s = await control('GET', `/v1/steering/${sid}`);
        if (!JSON.stringify(s.body['PATHWAY-PRIORITY'] || []).includes(victim.id)) return Date.now() - killedAt;
        await new Promise((r) => { setTimeout(r, 200); }); // poll pace
      }
      return null;
    })();
    // dash.js reports each download that failed on the dead edge (an ERROR event) before it
    // retries on the next BaseURL; only a media error or a failure elsewhere counts here.
    let ok = true;
    try {
      await p.page.waitForFunction(`!!document.getElementById('video').error ||
        document.getElementById('video').currentTime >= ${tKill + 3 * SEGMENT}`, null,
      { timeout: 60000, polling: 100 });
    } catch (e) {
      ok = false;
    }
    const st = await p.page.evaluate(() => ({ stalls: window.sluice.state.stalls,
      open: window.sluice.state.stalledSince === null ? 0 : performance.now() - window.sluice.state.stalledSince,
      t: document.getElementById('video').currentTime }));
    const after = p.w.responses.filter((r) => r.at > killedAt && r.path.endsWith('.m4s') && r.status < 400);
    const fromOther = after.filter((r) => r.edge === other.id).length;
    const errs = (await errorsOf(p.page)).filter((e) => !e.includes(victim.url));
    const stall = Math.max(st.open, ...st.stalls.map((s) => s.ms), 0);
    check(ok && fromOther > 0, `failover: playback goes on from ${other.id}`,
      `media ${tKill.toFixed(1)} → ${st.t.toFixed(1)} s, ${fromOther} segments from ${other.id}`);
    check(stall <= 2 * SEGMENT * 1000, 'failover: the stall is bounded (two segments)', `${Math.round(stall)} ms`);
    check(errs.length === 0, 'failover: no player errors besides downloads from the dead edge', errs.join('; '));
    figure(`failover: longest stall ${Math.round(stall)} ms; ${st.stalls.length} stalls`);
    // dash.js itself follows the MPD's ContentSteering: it asked control's steering server
    // for this session (not only the test's own queries above, which go outside the page).
    const steered = p.w.control.filter((r) => r.path === `/v1/steering/${sid}`);
    check(steered.length > 0 && steered.every((r) => r.status === 200),
      'failover: the player itself asked control\'s steering server for its session',
      `${steered.length} requests, statuses ${[...new Set(steered.map((r) => r.status))].join(',') || '-'}`);
    const waited = await dropped;
    check(waited !== null, `failover: steering stops naming ${victim.id} once its heartbeats stop`,
      waited !== null ? `after ${waited} ms` : 'still named after 20 s');
    if (waited !== null) figure(`failover: steering dropped ${victim.id} ${waited} ms after it died`);
    await p.ctx.close();
  },
};

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-stack-chromium-'));
  let browser;
  try {
    browser = await chromium.launch({ executablePath: opt.chromium, args: CHROMIUM_ARGS, headless: true });
    for (const name of ALL.filter((n) => opt.only.includes(n))) {
      const t = Date.now();
      try {
        await scenarios[name](browser);
      } catch (e) {
        check(false, `${name}: ran`, e.message.split('\n')[0]);
      }
      log(`${name}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
    }
  } finally {
    if (browser) await browser.close().catch(() => {});
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
  const failed = checks.filter((c) => !c).length;
  process.stdout.write(`${checks.length - failed} passed, ${failed} failed\n`);
  return failed === 0 && checks.length > 0 ? 0 : 1;
}

process.exitCode = await main();
