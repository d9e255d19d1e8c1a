#!/usr/bin/env node
// tools/bench/tls-play.mjs — cold time to first frame of the demo's player page, media from the
// edges over plain HTTP/1.1 against over TLS with h2, side by side in one run. A measurement,
// not a test: it prints medians and their ratio.
//
//   node tools/bench/tls-play.mjs --http ENV --https ENV [--runs 7] [--title demo-movie]
//                                 [--chromium /usr/bin/chromium]
//
// ENV files come from two running demos: tools/demo --detach and tools/demo --https --detach
// (tools/bench/tls-play.sh starts both). Chromium must trust the https demo's CA (run with HOME
// holding an NSS database that does; the .sh does that). Each start is a new browser context
// (no connections, no HTTP cache), so the TLS handshakes are in the https figure; the two are
// interleaved run by run so drift on a shared machine hits both alike. TTFF is the page's
// firstFrameMs: navigation start to the first presented frame (control session, manifest,
// steering and the edges' init and first segments included).
import { readFileSync } from 'node:fs';

const { chromium } = await import(new URL('../../tests/e2e/node_modules/playwright-core/index.mjs',
  import.meta.url));

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required'];

const opt = { runs: 7, title: 'demo-movie', chromium: '/usr/bin/chromium' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const v = argv[i + 1];
  if (v === undefined) { process.stderr.write(`tls-play: ${argv[i]} needs a value\n`); process.exit(2); }
  switch (argv[i]) {
    case '--http': opt.http = v; break;
    case '--https': opt.https = v; break;
    case '--runs': opt.runs = Number(v); break;
    case '--title': opt.title = v; break;
    case '--chromium': opt.chromium = v; break;
    default: process.stderr.write(`tls-play: unknown argument ${argv[i]}\n`); process.exit(2);
  }
}
if (!opt.http || !opt.https || !(opt.runs >= 1 && opt.runs <= 100)) {
  process.stderr.write('usage: tls-play.mjs --http ENV --https ENV [--runs 1..100] [--title ID]\n');
  process.exit(2);
}

const playerUrl = (file) => {
  const m = /^PLAYER_URL=(\S+)$/m.exec(readFileSync(file, 'utf8'));
  if (!m) throw new Error(`${file} has no PLAYER_URL`);
  return m[1];
};
const sides = [['http', playerUrl(opt.http)], ['https', playerUrl(opt.https)]];
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

// One cold start: a new context, the page, its first frame; the protocol of the media responses.
async function start(browser, url) {
  const ctx = await browser.newContext();
  try {
    const page = await ctx.newPage();
    const cdp = await ctx.newCDPSession(page);
    const protocols = new Set();
    cdp.on('Network.responseReceived', (ev) => {
      if (/\.(m4s|mp4)(\?|$)/.test(ev.response.url)) protocols.add(ev.response.protocol);
    });
    await cdp.send('Network.enable');
    await page.goto(`${url}?title=${encodeURIComponent(opt.title)}`);
    await page.waitForFunction(() => window.sluice && (window.sluice.state.firstFrameMs !== null ||
      window.sluice.state.errors.length > 0), null, { timeout: 30000, polling: 50 });
    const st = await page.evaluate(() => ({ ms: window.sluice.state.firstFrameMs,
      errors: window.sluice.state.errors.map((e) => e.message) }));
    if (st.ms === null) throw new Error(`${url}: ${st.errors.join('; ')}`);
    return { ms: st.ms, protocols: [...protocols].join('+') };
  } finally {
    await ctx.close();
  }
}

const browser = await chromium.launch({ executablePath: opt.chromium, args: CHROMIUM_ARGS, headless: true });
const got = { http: [], https: [] };
const protos = { http: new Set(), https: new Set() };
try {
  for (let r = 0; r < opt.runs; r++) {
    // Alternate which side goes first, so neither always runs on the other's warm machine.
    for (const [name, url] of r % 2 ? [...sides].reverse() : sides) {
      const s = await start(browser, url);
      got[name].push(s.ms);
      protos[name].add(s.protocols);
    }
  }
} finally {
  await browser.close();
}
const med = { http: median(got.http), https: median(got.https) };
process.stdout.write(`| media from the edges | protocol | cold TTFF p50 | runs (ms) |\n|---|---|---|---|\n`);
for (const name of ['http', 'https']) {
  process.stdout.write(`| ${name} | ${[...protos[name]].join(', ')} | ${Math.round(med[name])} ms | ` +
    `${got[name].map((x) => Math.round(x)).join(', ')} |\n`);
}
process.stdout.write(`\nhttps/http cold TTFF p50: ${(med.https / med.http).toFixed(2)}x (${opt.runs} runs each)\n`);
