#!/usr/bin/env node
// A sharp bandwidth drop under the Sluice player page: dash.js plays a title from an edge
// across a tc-shaped link (run-drop.sh: the page in its own network namespace, tbf on the
// edge's side of the link), 8 Mbit/s until --drop seconds after the page was opened, then
// --low Mbit/s for --slow seconds, then 8 Mbit/s for --after seconds. The page starts at a
// low rung (startbw), climbs at 8 Mbit/s, and meets the drop with a high rung's segment in
// flight; dash.js's abandon rule drops that download and switches down. Checks:
//   - no player or media error (MEDIA_ERR_DECODE above all);
//   - after the drop dash.js asks for a lower video rung than it asked for before it;
//   - media time goes on at least --advance seconds past where it was at the drop;
//   - every segment download dash.js abandoned ends there and then (its XHR cancelled), not
//     running on beside the lower rung's until dash.js's request timeout;
//   - no segment download runs into that timeout;
//   - every video media segment appended to the SourceBuffer is of the rung whose init
//     segment was appended last (a segment behind another rung's init fails to decode).
// Prints the figures (abandons, switches, appends) as "drop:" lines on stderr.
//
//   node drop.mjs --page URL --shape "CMD ... {rate} ..." [--drop S] [--slow S] [--after S]
//                 [--low MBIT] [--advance S] [--chromium PATH]
//
// --shape is the command that sets the link's rate, {rate} standing for "<n>mbit"; it is run
// with each step of the timeline. Exit 0 pass, 1 fail, 77 when the browser cannot play
// H.264/AAC through MSE, 2 bad usage.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required'];

const opt = { drop: 15, slow: 25, after: 10, low: 0.6, advance: 20, chromium: '/usr/bin/chromium' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const next = () => argv[++i];
  switch (argv[i]) {
    case '--page': opt.page = next(); break;
    case '--shape': opt.shape = next(); break;
    case '--drop': opt.drop = Number(next()); break;
    case '--slow': opt.slow = Number(next()); break;
    case '--after': opt.after = Number(next()); break;
    case '--low': opt.low = Number(next()); break;
    case '--advance': opt.advance = Number(next()); break;
    case '--chromium': opt.chromium = next(); break;
    default: process.stderr.write(`drop: unknown argument ${argv[i]}\n`); process.exit(2);
  }
}
if (!opt.page || !opt.shape) { process.stderr.write('drop: --page and --shape are required\n'); process.exit(2); }

const log = (m) => process.stderr.write(`drop: ${m}\n`);
const checks = [];
const check = (ok, name, detail = '') => {
  checks.push(ok);
  process.stdout.write(`${ok ? 'ok' : 'not ok'} ${checks.length} - ${name}${detail ? ` (${detail})` : ''}\n`);
  return ok;
};
const shape = (mbit) => {
  const words = opt.shape.split(/\s+/).map((w) => w.replace('{rate}', `${mbit}mbit`));
  execFileSync(words[0], words.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
};
const sleep = (ms) => new Promise((r) => { setTimeout(r, Math.max(ms, 0)); });

// In the page before its scripts: what the checks need that window.sluice does not say.
// Segment downloads (their end: load, abort, timeout) and what is appended to the video
// SourceBuffer, each append named by the download whose body it is.
function watch() {
  const w = (window.dropWatch = { xhrs: [], appends: [], abandons: [], cancelled: [] });
  const name = (u) => String(u).replace(/[?#].*$/, '');
  const bodies = new WeakMap();
  const sizes = new Map(); // byte length -> download: when dash.js appends a copy of the body
  const P = XMLHttpRequest.prototype;
  const open = P.open;
  const send = P.send;
  P.open = function dropOpen(method, url, ...rest) {
    this.dropUrl = name(url);
    return open.call(this, method, url, ...rest);
  };
  P.send = function dropSend(body) {
    if (/\.(m4s|mp4)$/.test(this.dropUrl || '')) {
      const x = { url: this.dropUrl, at: performance.now(), end: null };
      w.xhrs.push(x);
      for (const e of ['load', 'abort', 'timeout', 'error']) {
        this.addEventListener(e, () => {
          if (x.end) return;
          x.end = e;
          x.endAt = performance.now();
          if (e === 'load' && this.response instanceof ArrayBuffer) {
            bodies.set(this.response, x.url);
            sizes.set(this.response.byteLength, x.url);
          }
        });
      }
    }
    return send.call(this, body);
  };
  const add = MediaSource.prototype.addSourceBuffer;
  MediaSource.prototype.addSourceBuffer = function dropAddSourceBuffer(type) {
    const sb = add.call(this, type);
    sb.dropVideo = /^video\//.test(type);
    return sb;
  };
  const append = SourceBuffer.prototype.appendBuffer;
  SourceBuffer.prototype.appendBuffer = function dropAppend(data) {
    if (this.dropVideo) {
      const buf = data instanceof ArrayBuffer ? data : data.buffer;
      const u8 = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      const box = String.fromCharCode(u8[4], u8[5], u8[6], u8[7]);
      w.appends.push({ url: bodies.get(buf) || sizes.get(u8.byteLength) || null, init: box === 'ftyp', bytes: u8.byteLength,
        at: performance.now() });
    }
    return append.call(this, data);
  };
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-drop-chromium-'));
  let ctx;
  try {
    shape(8);
    ctx = await chromium.launchPersistentContext(dir, { executablePath: opt.chromium,
      args: CHROMIUM_ARGS, headless: true, viewport: { width: 1280, height: 860 } });
    const page = ctx.pages()[0] || await ctx.newPage();
    page.on('pageerror', (e) => log(`page exception: ${e.message}`));
    await page.addInitScript(watch);
    const t0 = Date.now();
    await page.goto(opt.page);
    await page.waitForFunction(() => window.sluice && window.sluice.state.ready, null, { timeout: 30000 });
    const support = await page.evaluate(() => window.sluice.state.support);
    if (!support.mse || !support.h264 || !support.aac) {
      process.stdout.write(`SKIP: no H.264/AAC through MSE here (${JSON.stringify(support)})\n`);
      return 77;
    }
    // dash.js's abandon decisions and abandoned downloads, as dash.js reports them.
    await page.evaluate(() => {
      const w = window.dropWatch;
      const p = window.sluice.player;
      p.on('qualityChangeRequested', (e) => {
        if (e.reason && e.reason.forceAbandon) {
          w.abandons.push({ type: e.mediaType, from: e.oldRepresentation && e.oldRepresentation.id,
            to: e.newRepresentation && e.newRepresentation.id, at: performance.now() });
        }
      });
      p.on('fragmentLoadingAbandoned', (e) => {
        w.cancelled.push({ type: e.mediaType, url: e.request && String(e.request.url).replace(/[?#].*$/, ''),
          at: performance.now() });
      });
    });

    await sleep(opt.drop * 1000 - (Date.now() - t0));
    shape(opt.low);
    const atDrop = await page.evaluate(() => ({ now: performance.now(),
      t: document.getElementById('video').currentTime }));
    log(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${opt.low} Mbit/s (media time ${atDrop.t.toFixed(1)} s)`);
    await sleep(opt.slow * 1000);
    shape(8);
    log(`${((Date.now() - t0) / 1000).toFixed(1)} s: 8 Mbit/s`);
    await sleep(opt.after * 1000);

    const st = await page.evaluate(() => {
      const s = window.sluice.state;
      const v = document.getElementById('video');
      return { requested: s.requested, errors: s.errors, t: v.currentTime,
        videoError: v.error && { code: v.error.code, message: v.error.message }, w: window.dropWatch };
    });
    const w = st.w;
    const rungs = st.requested.filter((q) => q.type === 'video');
    for (const q of rungs) log(`  requested ${q.id} (${(q.bandwidth / 1e6).toFixed(2)} Mbit/s) at ${(q.at / 1000).toFixed(1)} s`);
    for (const a of w.abandons) log(`  abandoned ${a.type} ${a.from} -> ${a.to} at ${(a.at / 1000).toFixed(1)} s`);
    for (const c of w.cancelled) log(`  download cancelled: ${c.url} at ${(c.at / 1000).toFixed(1)} s`);
    for (const x of w.xhrs.filter((y) => y.end && y.end !== 'load')) {
      log(`  ${x.url}: ${x.end} after ${((x.endAt - x.at) / 1000).toFixed(1)} s`);
    }

    check(st.errors.length === 0 && !st.videoError, 'no player or media error (no MEDIA_ERR_DECODE)',
      [...st.errors.map((e) => `${e.source}: ${e.message}`),
        st.videoError ? `video element: MediaError ${st.videoError.code} ${st.videoError.message}` : '']
        .filter(Boolean).join('; '));

    const before = rungs.filter((q) => q.at < atDrop.now).pop();
    const lower = rungs.find((q) => q.at >= atDrop.now && before && q.bandwidth < before.bandwidth);
    check(!!lower, 'after the drop dash.js asks for a lower video rung',
      lower ? `${before.id} -> ${lower.id}` : `last before the drop: ${before ? before.id : 'none'}`);

    check(st.t >= atDrop.t + opt.advance, `media time goes on ${opt.advance} s past the drop`,
      `${atDrop.t.toFixed(1)} s at the drop, ${st.t.toFixed(1)} s at the end`);

    // dash.js abandons one download per decision (the one in flight for that type): it must
    // end then, with FRAGMENT_LOADING_ABANDONED, as dash.js means it to.
    const late = w.abandons.filter((a) => !w.cancelled.some((c) => c.type === a.type &&
      c.at >= a.at - 50 && c.at <= a.at + 2000));
    if (w.abandons.length === 0) log('dash.js abandoned no download this run');
    check(late.length === 0, 'every segment download dash.js abandoned is cancelled then',
      late.map((a) => `${a.type} ${a.from} -> ${a.to} at ${(a.at / 1000).toFixed(1)} s: ` +
        `the download ran on`).join('; ') || `${w.abandons.length} abandoned`);

    const timedOut = w.xhrs.filter((x) => x.end === 'timeout');
    check(timedOut.length === 0, 'no segment download runs into the request timeout',
      timedOut.map((x) => `${x.url} after ${((x.endAt - x.at) / 1000).toFixed(1)} s`).join('; '));

    // The rung of a download is the directory its object is in (<title>/<rung>/...).
    const rungOf = (u) => (u ? u.split('/').slice(-2, -1)[0] : null);
    let initRung = null;
    const astray = [];
    for (const a of w.appends) {
      if (a.init) initRung = rungOf(a.url);
      else if (a.url && initRung && rungOf(a.url) !== initRung) {
        astray.push(`${a.url.split('/').slice(-2).join('/')} behind ${initRung}'s init at ${(a.at / 1000).toFixed(1)} s`);
      }
    }
    log(`${w.appends.length} video appends, ${w.appends.filter((a) => !a.url).length} not matched to a download`);
    check(astray.length === 0, 'every video segment appended is of the rung whose init was appended last',
      astray.join('; '));
  } catch (e) {
    check(false, 'drop session ran', e.message.split('\n')[0]);
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
  const failed = checks.filter((c) => !c).length;
  process.stdout.write(`${checks.length - failed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
