#!/usr/bin/env node
// dash.js (the Sluice player page) plays one title from an edge over HTTP/2 with TLS, in
// headless Chromium that trusts the test's CA through the NSS database in $HOME (run-play-h2.sh
// makes it). Checks:
//   - certificate checks are on: a fetch to --untrusted (a listener whose certificate comes from
//     a CA Chromium does not trust) fails with a certificate error;
//   - playback starts and media time advances by at least --min-advance seconds, with no player
//     error, video.error or page exception;
//   - every edge response was carried by h2 (the protocol DevTools reports for it) over TLS
//     (its security details);
//   - at least 2 distinct segments came from the edge, and every body fetched from it is
//     byte-for-byte the file on disk (SHA-256; a 206 against the same range).
//
//   node play-h2.mjs --page URL --edge URL --untrusted URL --title ID --media DIR
//                    [--min-advance S] [--timeout S] [--chromium PATH]
//
// Exit 0 when every check passes, 1 when one fails, 77 when this browser cannot play the
// content (no MSE or no H.264/AAC), 2 on bad usage.

import { bodyVerifier, runSession, waitForPlayback } from './play-session.mjs';

function parseArgs(argv) {
  const opt = { minAdvance: 6, timeout: 90, chromium: '/usr/bin/chromium' };
  const names = { '--page': 'page', '--edge': 'edge', '--untrusted': 'untrusted',
    '--title': 'title', '--media': 'media', '--chromium': 'chromium' };
  for (let i = 0; i < argv.length; i += 2) {
    const a = argv[i];
    if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
    if (a === '--min-advance') opt.minAdvance = Number(argv[i + 1]);
    else if (a === '--timeout') opt.timeout = Number(argv[i + 1]);
    else if (names[a]) opt[names[a]] = argv[i + 1];
    else throw new Error(`unknown argument: ${a}`);
  }
  for (const k of ['page', 'edge', 'untrusted', 'title', 'media']) {
    if (!opt[k]) throw new Error(`--${k} is required`);
  }
  opt.edgeOrigin = new URL(opt.edge).origin;
  return opt;
}

const log = (msg) => process.stderr.write(`play-h2: ${msg}\n`);

// The untrusted certificate, then playback over h2 with TLS. Returns 77 when this browser
// cannot play the content, nothing otherwise.
async function session(opt, context, page, check) {
  const protocols = new Map(); // request id -> protocol, from DevTools
  const responses = [];        // {path, status, requestId?, tls}
  const bodies = [];           // promises of {path, ok, detail}
  const pageErrors = [];
  const certErrors = [];
  const verify = bodyVerifier(opt.title, opt.media);

  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const byUrl = new Map(); // url -> [protocol, ...] in arrival order
  cdp.on('Network.responseReceived', (ev) => {
    if (!ev.response.url.startsWith(opt.edgeOrigin)) return;
    protocols.set(ev.requestId, ev.response.protocol);
    if (!byUrl.has(ev.response.url)) byUrl.set(ev.response.url, []);
    byUrl.get(ev.response.url).push(ev.response.protocol);
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('requestfailed', (r) => {
    const t = (r.failure() && r.failure().errorText) || '';
    if (r.url().startsWith(new URL(opt.untrusted).origin)) certErrors.push(t);
  });
  page.on('response', (resp) => {
    const url = resp.url();
    if (!url.startsWith(opt.edgeOrigin)) return;
    const path = new URL(url).pathname;
    const status = resp.status();
    const rec = { url, path, status, tls: null };
    responses.push(rec);
    bodies.push(resp.securityDetails().then((d) => { rec.tls = d && d.protocol; }, () => {}));
    if (resp.request().method() === 'GET' && (status === 200 || status === 206)) {
      bodies.push(verify(resp, path));
    }
  });

  const deadline = Date.now() + opt.timeout * 1000;
  const left = () => Math.max(1000, deadline - Date.now());
  await page.goto(opt.page, { timeout: left() });
  await page.waitForFunction(() => window.sluice && window.sluice.state.ready, null,
    { timeout: left() });

  // Checks are on: the untrusted listener's certificate is refused.
  const untrusted = await page.evaluate((u) => fetch(u).then((r) => `status ${r.status}`,
    (e) => `rejected: ${e.message}`), opt.untrusted);
  check(untrusted.startsWith('rejected') && certErrors.some((t) => /CERT/.test(t)),
    'a certificate from an untrusted CA is refused', `${untrusted}; ${certErrors.join(' ')}`);

  const support = await page.evaluate(() => window.sluice.state.support);
  if (!support.mse || !support.h264 || !support.aac) {
    process.stdout.write(`SKIP: no H.264/AAC through MSE (${JSON.stringify(support)})\n`);
    return 77;
  }
  const { t0 } = await waitForPlayback(page, opt.minAdvance, left, log);
  const st = await page.evaluate(() => {
    const v = document.getElementById('video');
    return { t: v.currentTime, err: v.error ? v.error.message || String(v.error.code) : null,
      errors: window.sluice.state.errors.map((e) => `${e.source}: ${e.message}`) };
  });
  const results = (await Promise.all(bodies)).filter((b) => b && b.path);

  check(st.t - t0 >= opt.minAdvance - 0.05, `media time advanced by ${opt.minAdvance} s`,
    `from ${t0.toFixed(2)} to ${st.t.toFixed(2)}`);
  check(st.errors.length === 0 && st.err === null && pageErrors.length === 0,
    'no player error, video.error or page exception',
    [...st.errors, st.err || '', ...pageErrors].filter(Boolean).join('; '));
  const seen = [...byUrl.values()].flat();
  const notH2 = seen.filter((p) => p !== 'h2');
  check(seen.length > 0 && notH2.length === 0, 'every edge response came over h2',
    `${seen.length} responses; others: ${[...new Set(notH2)].join(',')}`);
  const noTls = responses.filter((r) => !/^TLS 1\.[23]$/.test(r.tls || ''));
  check(responses.length > 0 && noTls.length === 0, 'every edge response came over TLS 1.2/1.3',
    noTls.slice(0, 3).map((r) => `${r.path}: ${r.tls}`).join(' '));
  const segs = new Set(results.filter((b) => !b.skipped && b.path.endsWith('.m4s'))
    .map((b) => b.path));
  const bad = results.filter((b) => !b.ok);
  check(segs.size >= 2 && bad.length === 0, 'every body matches the file on disk (SHA-256)',
    `${results.length} compared, ${segs.size} distinct segments` +
    `${bad.length ? '; ' + bad.map((b) => `${b.path}: ${b.detail}`).join('; ') : ''}`);
  const errs = responses.filter((r) => r.status >= 400);
  check(errs.length === 0, 'no error status from the edge',
    errs.slice(0, 5).map((r) => `${r.status} ${r.path}`).join(' '));
}

process.exitCode = await runSession(parseArgs, log, 'sluice-e2e-h2-chromium-', session);
