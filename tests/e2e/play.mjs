#!/usr/bin/env node
// Play one title in headless Chromium (dash.js on the Sluice player page) and check what a
// viewer would notice, plus what the edge sent:
//   - playback starts (the video element's `playing` event, or currentTime > 0);
//   - media time advances by at least --min-advance seconds;
//   - no dash.js ERROR/PLAYBACK_ERROR event, no video.error, no uncaught page exception;
//   - at least 2 distinct media segments came from the edge with status 200/206;
//   - the body of every object fetched from the edge (manifest, init, segments) is byte-for-byte
//     the file on disk (SHA-256; a 206 is compared with the same range of the file);
//   - every edge response carries Access-Control-Allow-Origin for the player's origin.
//
//   node play.mjs --page URL --edge URL --title ID --media DIR [--min-advance S]
//                 [--timeout S] [--screenshot FILE] [--chromium PATH]
//
// Exit 0 when every check passes, 1 when one fails, 77 when this browser cannot play the
// content at all (no MSE or no H.264/AAC), 2 on bad usage.

import { bodyVerifier, runSession, waitForPlayback } from './play-session.mjs';

function parseArgs(argv) {
  const opt = { minAdvance: 6, timeout: 90, screenshot: '', chromium: '/usr/bin/chromium' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--page': opt.page = val(); break;
      case '--edge': opt.edge = val(); break;
      case '--title': opt.title = val(); break;
      case '--media': opt.media = val(); break;
      case '--min-advance': opt.minAdvance = Number(val()); break;
      case '--timeout': opt.timeout = Number(val()); break;
      case '--screenshot': opt.screenshot = val(); break;
      case '--chromium': opt.chromium = val(); break;
      default: throw new Error(`unknown argument: ${a}`);
    }
  }
  for (const k of ['page', 'edge', 'title', 'media']) {
    if (!opt[k]) throw new Error(`--${k} is required`);
  }
  if (!(opt.minAdvance > 0) || !(opt.timeout > 0)) throw new Error('bad --min-advance/--timeout');
  opt.edgeOrigin = new URL(opt.edge).origin;
  opt.pageOrigin = new URL(opt.page).origin;
  return opt;
}

const log = (msg) => process.stderr.write(`play: ${msg}\n`);

// Play the title on page and check what a viewer would notice and what the edge sent.
// Returns 77 when this browser cannot play the content, nothing otherwise.
async function session(opt, context, page, check) {
  const edgeResponses = [];   // {url, path, status, headers}
  const bodyChecks = [];      // promises of {path, ok, detail}
  const failedRequests = [];
  const pageErrors = [];
  const verifyBody = bodyVerifier(opt.title, opt.media);

  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') log(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => {
    pageErrors.push(e.message);
    log(`page exception: ${e.message}`);
  });
  page.on('requestfailed', (r) => {
    if (r.url().startsWith(opt.edgeOrigin)) {
      failedRequests.push(`${r.url()}: ${r.failure() && r.failure().errorText}`);
    }
  });
  page.on('response', (resp) => {
    const url = resp.url();
    if (!url.startsWith(opt.edgeOrigin)) return;
    const u = new URL(url);
    const status = resp.status();
    const headers = resp.headers();
    edgeResponses.push({ url, path: u.pathname, status, headers, method: resp.request().method() });
    if (resp.request().method() === 'GET' && (status === 200 || status === 206)) {
      bodyChecks.push(verifyBody(resp, u.pathname));
    }
  });

  const deadline = Date.now() + opt.timeout * 1000;
  const left = () => Math.max(1000, deadline - Date.now());

  await page.goto(opt.page, { timeout: left() });
  await page.waitForFunction(() => window.sluice && window.sluice.state.ready, null,
    { timeout: left() });
  const support = await page.evaluate(() => window.sluice.state.support);
  if (!support.mse || !support.h264 || !support.aac) {
    process.stdout.write(`SKIP: this Chromium cannot play H.264/AAC through MSE ` +
      `(${JSON.stringify(support)})\n`);
    return 77;
  }

  const { advanced, t0 } = await waitForPlayback(page, opt.minAdvance, left, log);

  const st = await page.evaluate(() => {
    const v = document.getElementById('video');
    const s = window.sluice.state;
    return {
      playing: s.playing,
      currentTime: v.currentTime,
      videoError: v.error ? `MediaError ${v.error.code}: ${v.error.message}` : null,
      errors: s.errors,
      qualities: s.qualities,
      served: s.served,
      earlyUsed: s.earlyUsed,
    };
  });
  if (opt.screenshot) {
    await page.screenshot({ path: opt.screenshot }).catch((e) => log(`screenshot: ${e.message}`));
  }
  const bodies = await Promise.all(bodyChecks);

  check(st.playing || st.currentTime > 0, 'playback started',
    `playing=${st.playing} currentTime=${st.currentTime.toFixed(2)}`);
  check(advanced && st.currentTime - t0 >= opt.minAdvance - 0.05,
    `media time advanced by at least ${opt.minAdvance} s`,
    `from ${t0.toFixed(2)} to ${st.currentTime.toFixed(2)}`);
  check(st.earlyUsed === 'manifest', 'the manifest came from the page\'s early request',
    String(st.earlyUsed));
  check(st.errors.length === 0, 'no dash.js or player errors',
    st.errors.map((e) => `${e.source}: ${e.message}`).join('; '));
  check(st.videoError === null, 'no video.error', st.videoError || '');
  check(pageErrors.length === 0, 'no uncaught page exceptions', pageErrors.join('; '));

  const okStatus = edgeResponses.filter((r) => r.status === 200 || r.status === 206);
  const segs = new Set(okStatus.filter((r) => r.path.endsWith('.m4s')).map((r) => r.path));
  check(segs.size >= 2, 'at least 2 distinct segments fetched from the edge',
    `${segs.size}: ${[...segs].join(' ')}`);
  const manifest = okStatus.some((r) => r.path.endsWith(`/${opt.title}/manifest.mpd`));
  check(manifest, 'manifest fetched from the edge');
  const bad = bodies.filter((b) => !b.ok);
  const compared = bodies.filter((b) => !b.skipped);
  const segsCompared = new Set(compared.filter((b) => b.path.endsWith('.m4s')).map((b) => b.path));
  check(segsCompared.size >= 2 && bad.length === 0,
    'every fetched body matches the file on disk (SHA-256)',
    `${compared.length} compared, ${segsCompared.size} of them distinct segments` +
    `${bad.length ? '; ' + bad.map((b) => `${b.path}: ${b.detail}`).join('; ') : ''}`);
  const noCors = edgeResponses.filter((r) => {
    const a = r.headers['access-control-allow-origin'];
    return a !== '*' && a !== opt.pageOrigin;
  });
  check(edgeResponses.length > 0 && noCors.length === 0,
    'every edge response allows the player origin (CORS)',
    noCors.map((r) => `${r.status} ${r.path}`).slice(0, 5).join(' '));
  const unexpected = edgeResponses.filter((r) => r.status >= 400);
  check(unexpected.length === 0, 'no error status from the edge',
    unexpected.map((r) => `${r.status} ${r.path}`).slice(0, 5).join(' '));

  log(`edge responses: ${edgeResponses.length}, distinct segments: ${segs.size}, ` +
    `renditions: ${[...new Set(st.qualities.map((q) => q.id))].join(',') || '?'}`);
  if (st.served) log(`last edge headers: ${JSON.stringify(st.served.headers)}`);
  if (failedRequests.length) log(`failed requests (not counted): ${failedRequests.join('; ')}`);
}

process.exitCode = await runSession(parseArgs, log, 'sluice-e2e-chromium-', session);
