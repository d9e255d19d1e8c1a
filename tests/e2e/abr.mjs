#!/usr/bin/env node
// ABR under a throttled network: dash.js on the Sluice player page plays a title from an edge
// while the page's network is throttled through the Chrome DevTools Protocol
// (Network.emulateNetworkConditions), 8 → 1 → 8 Mbit/s. Checks:
//   - at 8 Mbit/s dash.js asks for a rung of at least --high bit/s;
//   - at 1 Mbit/s it asks for a rung whose video bandwidth fits the link, and renders one
//     (the link stays at 1 Mbit/s until it does, so the buffer plays out on the slow link);
//   - back at 8 Mbit/s it climbs again to at least --high bit/s;
//   - no stall ('waiting' to 'playing' after start, seeks excluded) lasts longer than one
//     segment (--segment seconds), no player error.
// Prints the figures (decisions with times, stalls) as "abr:" lines on stderr.
//
//   node abr.mjs --page URL [--high BPS] [--segment S] [--phase S] [--chromium PATH]
//
// Exit 0 pass, 1 fail, 77 when the browser cannot play H.264/AAC through MSE, 2 bad usage.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required'];

const opt = { high: 1400000, segment: 4, phase: 25, chromium: '/usr/bin/chromium' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const next = () => argv[++i];
  switch (argv[i]) {
    case '--page': opt.page = next(); break;
    case '--high': opt.high = Number(next()); break;
    case '--segment': opt.segment = Number(next()); break;
    case '--phase': opt.phase = Number(next()); break;
    case '--chromium': opt.chromium = next(); break;
    default: process.stderr.write(`abr: unknown argument ${argv[i]}\n`); process.exit(2);
  }
}
if (!opt.page) { process.stderr.write('abr: --page is required\n'); process.exit(2); }

const log = (m) => process.stderr.write(`abr: ${m}\n`);
const checks = [];
const check = (ok, name, detail = '') => {
  checks.push(ok);
  process.stdout.write(`${ok ? 'ok' : 'not ok'} ${checks.length} - ${name}${detail ? ` (${detail})` : ''}\n`);
  return ok;
};
const mbit = (n) => ({ offline: false, latency: 20, downloadThroughput: n * 1e6 / 8,
  uploadThroughput: n * 1e6 / 8 });

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-abr-chromium-'));
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(dir, { executablePath: opt.chromium,
      args: CHROMIUM_ARGS, headless: true, viewport: { width: 1280, height: 860 } });
    const page = ctx.pages()[0] || await ctx.newPage();
    page.on('pageerror', (e) => log(`page exception: ${e.message}`));
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', mbit(8));
    const t0 = Date.now();
    const at = () => ((Date.now() - t0) / 1000).toFixed(1);

    await page.goto(opt.page);
    await page.waitForFunction(() => window.sluice && window.sluice.state.ready);
    const support = await page.evaluate(() => window.sluice.state.support);
    if (!support.mse || !support.h264 || !support.aac) {
      process.stdout.write(`SKIP: no H.264/AAC through MSE here (${JSON.stringify(support)})\n`);
      return 77;
    }
    const videoAsked = (since, test) => `window.sluice.state.errors.length > 0 ||
      window.sluice.state.requested.some((q) => q.type === 'video' && q.at >= ${since} && (${test})(q))`;
    const wait = async (expr, what) => {
      try {
        await page.waitForFunction(expr, null, { timeout: opt.phase * 1000, polling: 100 });
        return true;
      } catch {
        log(`no ${what} within ${opt.phase} s`);
        return false;
      }
    };
    const now = () => page.evaluate(() => performance.now());

    // Phase 1: 8 Mbit/s until dash.js asks for a high rung.
    const upA = await wait(videoAsked(0, `(q) => q.bandwidth >= ${opt.high}`), 'climb at 8 Mbit/s');
    log(`${at()} s: phase 1 done (8 Mbit/s)`);
    check(upA, `at 8 Mbit/s dash.js requests a rung >= ${opt.high / 1e6} Mbit/s`);

    // Phase 2: 1 Mbit/s until it asks for a rung that fits (video <= 0.85 Mbit/s).
    await cdp.send('Network.emulateNetworkConditions', mbit(1));
    const t1 = await now();
    const down = await wait(videoAsked(t1, '(q) => q.bandwidth <= 850000'), 'step down at 1 Mbit/s');
    log(`${at()} s: phase 2 step-down requested`);
    check(down, 'at 1 Mbit/s dash.js requests a rung that fits the link (<= 0.85 Mbit/s)');
    // Rendered since the throttle began: the start-up rung shown before it does not count, and
    // the link stays at 1 Mbit/s until the buffer played out down to the low rung.
    const rendered = await wait(`window.sluice.state.errors.length > 0 ||
      window.sluice.state.qualities.some((q) => q.type === 'video' && q.at >= ${t1} && q.bandwidth <= 850000)`,
    'low rung on screen');
    log(`${at()} s: low rung rendered=${rendered}`);
    check(rendered, 'at 1 Mbit/s a low rung is then rendered');

    // Phase 3: back to 8 Mbit/s until it climbs again.
    await cdp.send('Network.emulateNetworkConditions', mbit(8));
    const t2 = await now();
    const upB = await wait(videoAsked(t2, `(q) => q.bandwidth >= ${opt.high}`), 'climb back at 8 Mbit/s');
    log(`${at()} s: phase 3 done`);
    check(upB, `back at 8 Mbit/s dash.js climbs to >= ${opt.high / 1e6} Mbit/s again`);

    const st = await page.evaluate(() => {
      const s = window.sluice.state;
      const v = document.getElementById('video');
      const open = s.stalledSince !== null ? [{ at: s.stalledSince, ms: performance.now() - s.stalledSince, open: true }] : [];
      return { requested: s.requested, qualities: s.qualities, stalls: s.stalls.concat(open),
        errors: s.errors, t: v.currentTime, videoError: v.error && v.error.code };
    });
    for (const q of st.requested.filter((x) => x.type === 'video')) {
      log(`  requested ${q.id} (${(q.bandwidth / 1e6).toFixed(2)} Mbit/s) at ${(q.at / 1000).toFixed(1)} s`);
    }
    const total = st.stalls.reduce((a, s) => a + s.ms, 0);
    const worst = st.stalls.reduce((a, s) => Math.max(a, s.ms), 0);
    log(`stalls: ${st.stalls.length}, total ${(total / 1000).toFixed(2)} s, longest ${(worst / 1000).toFixed(2)} s; media time ${st.t.toFixed(1)} s`);
    check(worst <= opt.segment * 1000, `no stall longer than one segment (${opt.segment} s)`,
      `${st.stalls.length} stalls, longest ${(worst / 1000).toFixed(2)} s`);
    check(st.errors.length === 0 && !st.videoError, 'no player errors',
      st.errors.map((e) => `${e.source}: ${e.message}`).join('; '));
  } catch (e) {
    check(false, 'ABR session ran', e.message.split('\n')[0]);
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
  const failed = checks.filter((c) => !c).length;
  process.stdout.write(`${checks.length - failed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
