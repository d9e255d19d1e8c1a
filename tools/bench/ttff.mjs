#!/usr/bin/env node
// tools/bench/ttff.mjs — time to first frame, dash.js in headless Chromium, through Sluice
// (control session + manifest, content steering, sluice-edge) and through nginx serving the
// same files with a static MPD, in one run. A measurement, not a test: it prints a table.
//
//   node tools/bench/ttff.mjs --env var/demo/env [--runs 10] [--title demo-movie]
//                             [--chromium /usr/bin/chromium] [--json]
//                             [--link LATENCY_MS,DOWN_KBIT,UP_KBIT]
//
// Needs a running demo (tools/demo --detach, or tools/bench/ttff.sh which starts one). It
// starts its own nginx over ORIGIN_DIR on a free port, with a static MPD made from control's
// (same representations; one BaseURL at nginx; no steering).
//
// TTFF = from navigation start to the first presented video frame (requestVideoFrameCallback
// on the page, performance.now() is relative to navigation start). The browser's HTTP cache
// is on, as a viewer's is: every media request carries CMCD in its query with a session id
// new to each page load, so no start is replayed from an earlier one (a variant with CMCD off
// runs with the cache disabled through CDP instead). What the page fetches ahead of dash.js
// (its inits and first segments) comes from it.
//   cold: a new browser context per start (no connections, an empty cache)
//   warm: the same context reloaded (connections, the page and dash.js module warm), once the
//         cold start's player is paused and nothing has been in flight for 300 ms
// The variants are interleaved run by run so drift on a shared machine hits both alike.
// Seek-to-playing (to the middle, then to three quarters) is measured on the warm runs: from
// setting currentTime until the seek is done, data is there to go on, and 50 ms have played.
// --timeline prints the request timelines of the last run's cold start and first seek, and
// the page's marks of its warm start.
//
// --link puts a viewer's access link between the player and the services (control, the
// edges, nginx): Chromium's network emulation adds LATENCY_MS to every such request and caps
// its throughput at DOWN_KBIT / UP_KBIT kbit/s (Network.emulateNetworkConditionsByRule,
// request-level: no TCP handshakes or slow start are modelled). The player page and dash.js
// are left at loopback speed, as an installed app's code would be: the link is what the CDN
// and the control plane can act on. Without --link everything is loopback.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { duplicates, recordTimeline, timelineTable } from './ttff-timeline.mjs';

// playwright-core is installed for the e2e tests (tests/e2e, npm ci); use that copy.
const { chromium } = await import(new URL('../../tests/e2e/node_modules/playwright-core/index.mjs',
  import.meta.url));

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required'];
// What is compared. Each lever is also measured on its own: a variant with it turned off.
const VARIANTS = {
  sluice: { side: 'sluice' },
  nginx: { side: 'nginx' },
  // the session's start bandwidth ignored by the page (dash.js picks its default start rung)
  'sluice-no-start-rung': { side: 'sluice', query: '&startbw=off' },
  // no early requests: config and session (or manifest) fetched once dash.js has loaded
  'sluice-no-early': { side: 'sluice', query: '&early=off' },
  'nginx-no-early': { side: 'nginx', query: '&early=off' },
  // the session's JSON sent as application/json: a new browser preflights it (CORS)
  'sluice-preflight': { side: 'sluice', query: '&preflight=on' },
  // the page asks for the session but not for the start's inits and first segments
  'sluice-no-prefetch': { side: 'sluice', query: '&prefetch=off' },
  // the start's first requests from a worker (after fetching the config) instead of the page
  'sluice-early-worker': { side: 'sluice', query: '&early=worker' },
  // the page rendered at once, not held until the session's answer is read
  'sluice-paint-early': { side: 'sluice', query: '&paint=early' },
  // a seek out of the buffer at dash.js's current rung instead of the start rung
  'sluice-no-seek-rung': { side: 'sluice', query: '&seekrung=off' },
  // a seek out of the buffer leaves the segment downloads under way to finish
  'sluice-no-seek-abort': { side: 'sluice', query: '&seekabort=off' },
  // the title evicted from both edges before each start: the start is filled from the origin
  'sluice-cold-edge': { side: 'sluice', coldEdge: true, prefetchStart: 2 },
  // the same with the edges' start prefetch off (cache.prefetch_start 0; nor prefetch on)
  'sluice-cold-edge-no-start-prefetch': { side: 'sluice', coldEdge: true, prefetchStart: 0 },
  // the same without CMCD, so the edges get no hint to prefetch at all (start or nor)
  // (segment URLs the same from one load to the next: the HTTP cache off, or warm replays)
  'sluice-cold-edge-no-cmcd': { side: 'sluice', query: '&cmcd=off', coldEdge: true, prefetchStart: 2,
    noCache: true },
};
const opt = { runs: 10, title: 'demo-movie', chromium: '/usr/bin/chromium', json: false,
  variants: ['sluice', 'nginx'], timeline: false, link: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const next = () => argv[++i];
  switch (argv[i]) {
    case '--env': opt.env = next(); break;
    case '--runs': opt.runs = Number(next()); break;
    case '--title': opt.title = next(); break;
    case '--chromium': opt.chromium = next(); break;
    case '--json': opt.json = true; break;
    case '--timeline': opt.timeline = true; break;
    case '--variants': opt.variants = next().split(','); break;
    case '--link': {
      const [latency, down, up] = next().split(',').map(Number);
      opt.link = { latency, down, up };
      break;
    }
    default: process.stderr.write(`ttff: unknown argument ${argv[i]}\n`); process.exit(2);
  }
}
const badLink = opt.link && !(opt.link.latency >= 0 && opt.link.down > 0 && opt.link.up > 0);
if (!opt.env || !(opt.runs > 0) || opt.variants.some((v) => !VARIANTS[v]) || badLink) {
  process.stderr.write('usage: ttff.mjs --env FILE [--runs N] [--title ID] [--json] [--timeline]\n' +
    `                [--variants ${Object.keys(VARIANTS).join(',')}]\n` +
    '                [--link LATENCY_MS,DOWN_KBIT,UP_KBIT]\n');
  process.exit(2);
}
const env = {};
for (const line of readFileSync(opt.env, 'utf8').split('\n')) {
  const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
  if (m) env[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
}
const log = (m) => process.stderr.write(`ttff: ${m}\n`);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function startNginx(dir) {
  const port = await freePort();
  const sess = await (await fetch(`${env.CONTROL_URL}/v1/playback`, { method: 'POST',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ title: opt.title }) })).json();
  let mpd = await (await fetch(sess.manifest_url)).text();
  const asset = sess.asset;
  mpd = mpd.replace(/\s*<BaseURL[^>]*>[^<]*<\/BaseURL>/g, '')
    .replace(/\s*<ContentSteering[^>]*>[^<]*<\/ContentSteering>/g, '')
    .replace(/(<Period\b)/, `<BaseURL>http://127.0.0.1:${port}/${asset}/</BaseURL>\n  $1`);
  writeFileSync(join(dir, 'static.mpd'), mpd);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir};
  proxy_temp_path ${dir};
  fastcgi_temp_path ${dir};
  uwsgi_temp_path ${dir};
  scgi_temp_path ${dir};
  types { video/mp4 mp4; video/iso.segment m4s; application/dash+xml mpd; }
  sendfile on;
  tcp_nopush on;
  server {
    listen 127.0.0.1:${port};
    add_header Access-Control-Allow-Origin * always;
    add_header Timing-Allow-Origin * always;
    root ${env.ORIGIN_DIR};
    location = /static.mpd { root ${dir}; }
  }
}
`);
  const g = process.getuid && process.getuid() === 0 ? 'daemon off; user root;' : 'daemon off;';
  const child = spawn('nginx', ['-p', dir, '-c', conf, '-g', g], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}/static.mpd`;
  const deadline = Date.now() + 10000;
  for (;;) {
    try {
      if ((await fetch(url)).ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('nginx did not start');
    await new Promise((r) => { setTimeout(r, 50); }); // poll pace while nginx binds
  }
  return { child, url };
}

// Every object of the title out of both edges (admin API), so the next start misses.
async function evictTitle(title) {
  const asset = title; // the demo's titles are their own assets
  for (const adm of [env.EDGE_ADMIN_URL, env.EDGE2_ADMIN_URL].filter(Boolean)) {
    const auth = { Authorization: `Bearer ${env.EDGE_ADMIN_TOKEN}` };
    const r = await fetch(`${adm}/admin/objects?prefix=${encodeURIComponent(`/${asset}/`)}`, { headers: auth });
    if (!r.ok) throw new Error(`listing ${adm}: ${r.status}`);
    for (const o of await r.json()) {
      const d = await fetch(`${adm}/admin/objects${o.key}`, { method: 'DELETE', headers: auth });
      if (!d.ok && d.status !== 404) throw new Error(`DELETE ${o.key} at ${adm}: ${d.status}`);
    }
  }
}

const reloads = (log) => (readFileSync(log, 'utf8').match(/configuration reloaded/g) || []).length;

// cache.prefetch_start of both demo edges (their configs beside the env file), applied with
// SIGHUP (a reload takes it); returns once each edge has logged the reload.
async function setStartPrefetch(n) {
  const dir = dirname(opt.env);
  for (const [id, pid] of [['edge-a', env.EDGE_PID], ['edge-b', env.EDGE2_PID]]) {
    const conf = join(dir, `${id}.yaml`);
    const text = readFileSync(conf, 'utf8');
    const next = text.replace(/(max_size: [^,}]+)(, prefetch_start: \d+)?/, `$1, prefetch_start: ${n}`);
    if (next === text) continue;
    const log = join(dir, 'logs', `${id}.log`);
    const before = reloads(log);
    writeFileSync(conf, next);
    process.kill(Number(pid), 'SIGHUP');
    const deadline = Date.now() + 10000;
    while (reloads(log) === before) {
      if (Date.now() > deadline) throw new Error(`${id} did not reload ${conf}`);
      await new Promise((r) => { setTimeout(r, 20); }); // the edge logs the reload; poll its log
    }
  }
}

async function firstFrame(page, url) {
  await page.goto(url);
  await page.waitForFunction(() => window.sluice && (window.sluice.state.firstFrameMs !== null ||
    window.sluice.state.errors.length > 0 || window.sluice.state.notice), null,
  { timeout: 30000, polling: 20 });
  const st = await page.evaluate(() => ({ ff: window.sluice.state.firstFrameMs,
    errors: window.sluice.state.errors.map((e) => e.message) }));
  if (st.ff === null) throw new Error(`no first frame: ${st.errors.join('; ')}`);
  return st.ff;
}

// The GETs of cdp's page still in flight (id to URL), kept up to date from the protocol's events.
function inflight(cdp) {
  const ids = new Map();
  // GETs: the page's playback reports go as beacons, whose end the protocol does not report.
  cdp.on('Network.requestWillBeSent', (e) => {
    if (e.request.method === 'GET') ids.set(e.requestId, e.request.url);
  });
  cdp.on('Network.loadingFinished', (e) => ids.delete(e.requestId));
  cdp.on('Network.loadingFailed', (e) => ids.delete(e.requestId));
  return ids;
}

// Until nothing has been in flight for quietMs (at most timeoutMs): a warm start measured while
// the cold one's downloads still run would time their contention, not the start.
async function networkQuiet(ids, quietMs = 300, timeoutMs = 20000) {
  const end = Date.now() + timeoutMs;
  let since = ids.size ? 0 : Date.now();
  while (Date.now() < end) {
    if (ids.size) since = 0;
    else if (!since) since = Date.now();
    else if (Date.now() - since >= quietMs) return true;
    await new Promise((r) => { setTimeout(r, 20); }); // sampled: the events arrive between
  }
  return false;
}

// { ms: seek to playing, wall: the page's Date.now() at the seek }. Playing: the seek done,
// data to go on, and 50 ms of media played past the target, sampled every 5 ms (timeupdate
// fires only every 250 ms or so, which would add up to that much to a seek). Throws when
// that takes over 30 s.
async function seek(page, frac) {
  return page.evaluate((f) => new Promise((resolve, reject) => {
    const v = document.getElementById('video');
    const to = Math.floor(v.duration * f);
    const wall = Date.now();
    const t = performance.now();
    const poll = setInterval(() => {
      if (performance.now() - t > 30000) {
        clearInterval(poll);
        reject(new Error(`seek to ${to} s: not playing after 30 s`));
      }
      if (v.seeking || v.currentTime <= to + 0.05 || v.readyState < 3) return;
      clearInterval(poll);
      resolve({ ms: performance.now() - t, wall });
    }, 5);
    v.currentTime = to;
  }), frac);
}

// The access link of --link on every request but the player page's own origin (first rule
// that matches wins; an empty pattern matches everything).
async function shapeLink(cdp) {
  if (!opt.link) return;
  const page = new URL(env.PLAYER_URL);
  const off = { latency: 0, downloadThroughput: -1, uploadThroughput: -1 };
  const link = { latency: opt.link.latency, downloadThroughput: opt.link.down * 1000 / 8,
    uploadThroughput: opt.link.up * 1000 / 8 };
  await cdp.send('Network.emulateNetworkConditionsByRule', { offline: false, matchedNetworkConditions: [
    { urlPattern: `${page.protocol}//${page.hostname}:${page.port}/*`, ...off },
    { urlPattern: '', ...link },
  ] });
}

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-ttff-'));
  let nginx;
  let browser;
  try {
    nginx = await startNginx(dir);
    const base = {
      sluice: `${env.PLAYER_URL}?title=${encodeURIComponent(opt.title)}`,
      nginx: `${env.PLAYER_URL}?src=${encodeURIComponent(nginx.url)}`,
    };
    const variants = {};
    const hooks = {};
    for (const v of opt.variants) {
      const def = VARIANTS[v];
      variants[v] = base[def.side] + (def.query || '');
      if (def.coldEdge) {
        hooks[v] = async () => {
          await setStartPrefetch(def.prefetchStart);
          await evictTitle(opt.title);
        };
      }
    }
    browser = await chromium.launch({ executablePath: opt.chromium, args: CHROMIUM_ARGS, headless: true });
    const res = {};
    for (const v of Object.keys(variants)) res[v] = { cold: [], warm: [], seek: [], dup: [] };
    const timelines = {};
    const seekTimelines = {};
    for (let i = 0; i < opt.runs; i++) {
      for (const [v, url] of Object.entries(variants)) {
        const ctx = await browser.newContext();
        const page = await ctx.newPage();
        const cdp = await ctx.newCDPSession(page);
        const busy = inflight(cdp);
        await cdp.send('Network.enable');
        if (VARIANTS[v].noCache) await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
        await shapeLink(cdp);
        if (hooks[v]) await hooks[v]();
        const rec = recordTimeline(cdp);
        const ff = await firstFrame(page, url);
        res[v].cold.push(ff);
        // Until a segment's worth has played: a rung switch right after the start, and any
        // segment it fetches again, shows in this window.
        await page.waitForFunction(() => document.getElementById('video').currentTime >= 4, null,
          { timeout: 15000, polling: 50 }).catch(() => {});
        const tl = rec.stop();
        const marks = await page.evaluate(() => window.sluice.state.marks);
        const d = duplicates(tl);
        res[v].dup.push(d.repeated.length + d.renumbered.length);
        if (i === opt.runs - 1) timelines[v] = { tl, ff, marks }; // start bandwidth known by then
        // The reload once the cold start's downloads are done (paused, dash.js stops at its
        // buffer target), as a viewer coming back to the page later would find it.
        await page.evaluate(() => document.getElementById('video').pause());
        if (!await networkQuiet(busy)) {
          log(`${v} run ${i + 1}: the network never went quiet before the reload: ${[...busy.values()].join(' ')}`);
        }
        // From before the reload: what is still in flight when the seek begins shows too.
        const seekRec = i === opt.runs - 1 ? recordTimeline(cdp) : null;
        res[v].warm.push(await firstFrame(page, url)); // same context: a reload
        if (i === opt.runs - 1) timelines[v].warmMarks = await page.evaluate(() => window.sluice.state.marks);
        await page.waitForFunction(() => document.getElementById('video').currentTime > 0.5, null, { timeout: 15000 });
        const first = await seek(page, 0.5);
        if (seekRec) seekTimelines[v] = { tl: seekRec.stop(first.wall), ms: first.ms };
        res[v].seek.push(first.ms);
        res[v].seek.push((await seek(page, 0.75)).ms);
        await ctx.close();
      }
      log(`run ${i + 1}/${opt.runs}: ${Object.entries(res).map(([v, r]) =>
        `${v} cold ${Math.round(r.cold.at(-1))} warm ${Math.round(r.warm.at(-1))} ms dup ${r.dup.at(-1)} ` +
        `seeks ${r.seek.slice(-2).map(Math.round).join('/')} ms`).join(', ')}`);
    }
    const rows = Object.entries(res).map(([v, r]) => ({
      path: v, cold_p50_ms: Math.round(median(r.cold)), warm_p50_ms: Math.round(median(r.warm)),
      cold_max_ms: Math.round(Math.max(...r.cold)), warm_max_ms: Math.round(Math.max(...r.warm)),
      seek_p50_ms: Math.round(median(r.seek)), seek_max_ms: Math.round(Math.max(...r.seek)),
      dup_starts: r.dup.filter((n) => n > 0).length, runs: r.cold.length,
    }));
    if (opt.json) {
      process.stdout.write(`${JSON.stringify(rows, null, 1)}\n`);
    } else {
      process.stdout.write('| path | cold TTFF p50 | warm TTFF p50 | cold max | warm max | cold/warm | seek p50 | seek max | ' +
        'cold starts with a refetch |\n');
      process.stdout.write('|---|---|---|---|---|---|---|---|---|\n');
      for (const r of rows) {
        process.stdout.write(`| ${r.path} | ${r.cold_p50_ms} ms | ${r.warm_p50_ms} ms | ${r.cold_max_ms} ms | ` +
          `${r.warm_max_ms} ms | ${(r.cold_p50_ms / r.warm_p50_ms).toFixed(2)} | ${r.seek_p50_ms} ms | ${r.seek_max_ms} ms | ` +
          `${r.dup_starts}/${r.runs} |\n`);
      }
      const n = rows.find((r) => r.path === 'nginx');
      for (const s of rows.filter((r) => r.path !== 'nginx' && n)) {
        process.stdout.write(`\n${s.path}/nginx cold p50: ${(s.cold_p50_ms / n.cold_p50_ms).toFixed(2)} (goal <= 0.8); ` +
          `warm p50: ${(s.warm_p50_ms / n.warm_p50_ms).toFixed(2)}.`);
      }
      process.stdout.write(`\nSeed targets: start 1 s p50 / 3 s p99, seek 500 ms. ${opt.runs} runs each` +
        (opt.link ? `; link ${opt.link.latency} ms, ${opt.link.down}/${opt.link.up} kbit/s.\n` : '; loopback.\n'));
      if (opt.timeline) {
        process.stdout.write('\nRequest timelines of the last cold start (ms from navigation):\n\n');
        for (const [v, { tl, ff, marks, warmMarks }] of Object.entries(timelines)) {
          process.stdout.write(`${timelineTable(v, tl, ff, ff + 4000, marks)}\n`);
          // The reload's own marks: where a new context's first run of dash.js costs time.
          const steps = Object.entries(warmMarks || {}).sort((a, b) => a[1] - b[1])
            .map(([k, t]) => `${k} ${Math.round(t)}`).join(', ');
          process.stdout.write(`Page marks of the warm start that followed (ms): ${steps || 'none'}\n\n`);
        }
        process.stdout.write('\nRequest timelines of the last run\'s seek to the middle (ms from the seek; ' +
          'a negative start was in flight when it began):\n\n');
        for (const [v, { tl, ms }] of Object.entries(seekTimelines)) {
          process.stdout.write(`${timelineTable(`${v} seek`, tl, ms, ms + 1000, {}, 'playing')}\n`);
        }
      }
    }
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (nginx) {
      nginx.child.kill('SIGTERM');
      await new Promise((r) => { if (nginx.child.exitCode !== null) r(); else nginx.child.on('exit', r); });
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
