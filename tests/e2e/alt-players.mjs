#!/usr/bin/env node
// Shaka Player and hls.js play the same title from an edge (the page /alt.html):
//   - Shaka Player plays the DASH manifest (--dash URL);
//   - hls.js plays the HLS master playlist (--hls URL);
// each must start, advance media time by --min-advance seconds, raise no fatal error, and
// fetch at least two segments from --edge with 200/206.
//
//   node alt-players.mjs --page-origin URL --edge URL --dash URL --hls URL
//                        [--min-advance S] [--timeout S] [--chromium PATH]
//
// Exit 0 pass, 1 fail, 2 bad usage.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required'];
const opt = { minAdvance: 6, timeout: 45, chromium: '/usr/bin/chromium' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const next = () => argv[++i];
  switch (argv[i]) {
    case '--page-origin': opt.pageOrigin = next().replace(/\/+$/, ''); break;
    case '--edge': opt.edge = new URL(next()).origin; break;
    case '--dash': opt.dash = next(); break;
    case '--hls': opt.hls = next(); break;
    case '--min-advance': opt.minAdvance = Number(next()); break;
    case '--timeout': opt.timeout = Number(next()); break;
    case '--chromium': opt.chromium = next(); break;
    default: process.stderr.write(`alt-players: unknown argument ${argv[i]}\n`); process.exit(2);
  }
}
if (!opt.pageOrigin || !opt.edge || (!opt.dash && !opt.hls)) {
  process.stderr.write('alt-players: --page-origin, --edge and --dash and/or --hls are required\n');
  process.exit(2);
}
const log = (m) => process.stderr.write(`alt-players: ${m}\n`);
const checks = [];
const check = (ok, name, detail = '') => {
  checks.push(ok);
  process.stdout.write(`${ok ? 'ok' : 'not ok'} ${checks.length} - ${name}${detail ? ` (${detail})` : ''}\n`);
};

async function run(browser, which, src) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const segs = new Set();
  page.on('response', (r) => {
    if (r.url().startsWith(opt.edge) && /\.m4s(\?|$)/.test(r.url()) && [200, 206].includes(r.status())) {
      segs.add(new URL(r.url()).pathname);
    }
  });
  page.on('pageerror', (e) => log(`${which}: page exception: ${e.message}`));
  const url = `${opt.pageOrigin}/alt.html?player=${which}&src=${encodeURIComponent(src)}`;
  const started = Date.now();
  try {
    await page.goto(url, { timeout: opt.timeout * 1000 });
    const failed = 'window.sluiceAlt.state.errors.length > 0';
    await page.waitForFunction(`${failed} || window.sluiceAlt.state.playing`, null,
      { timeout: opt.timeout * 1000, polling: 100 });
    const t0 = await page.evaluate(() => document.getElementById('video').currentTime);
    const ttfp = Date.now() - started;
    await page.waitForFunction(`${failed} || document.getElementById('video').currentTime >= ${t0 + opt.minAdvance}`,
      null, { timeout: opt.timeout * 1000, polling: 100 }).catch(() => {});
    const st = await page.evaluate(() => ({ t: document.getElementById('video').currentTime,
      errors: window.sluiceAlt.state.errors, levels: window.sluiceAlt.state.levels }));
    log(`${which}: playing after ${ttfp} ms; media ${t0.toFixed(1)} → ${st.t.toFixed(1)} s; ` +
      `levels ${st.levels.map((l) => l.height).join(',')}`);
    check(st.errors.length === 0, `${which}: no fatal error`, st.errors.map((e) => `${e.source}: ${e.message}`).join('; '));
    check(st.t - t0 >= opt.minAdvance - 0.05, `${which}: media time advanced ${opt.minAdvance} s`,
      `${t0.toFixed(1)} → ${st.t.toFixed(1)}`);
    check(segs.size >= 2, `${which}: segments came from the edge`, `${segs.size} distinct`);
  } catch (e) {
    check(false, `${which}: played`, e.message.split('\n')[0]);
  } finally {
    await ctx.close().catch(() => {});
  }
}

const dir = await mkdtemp(join(tmpdir(), 'sluice-alt-chromium-'));
let browser;
try {
  browser = await chromium.launch({ executablePath: opt.chromium, args: CHROMIUM_ARGS, headless: true });
  if (opt.dash) await run(browser, 'shaka', opt.dash);
  if (opt.hls) await run(browser, 'hlsjs', opt.hls);
} catch (e) {
  check(false, 'browser ran', e.message.split('\n')[0]);
} finally {
  if (browser) await browser.close().catch(() => {});
  await rm(dir, { recursive: true, force: true }).catch(() => {});
}
const failed = checks.filter((c) => !c).length;
process.stdout.write(`${checks.length - failed} passed, ${failed} failed\n`);
process.exitCode = failed === 0 && checks.length > 0 ? 0 : 1;
