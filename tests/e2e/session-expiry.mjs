#!/usr/bin/env node
// A session that expires while the player is paused (docs/player.md, "When the session
// expires"): the demo stack of run-stack.sh with control's session_ttl cut to its minimum,
// one minute (appended to the demo's control.yaml, SIGHUP), and three player pages in
// headless Chromium, each playing 3 s and pausing until its token is past the edges' skew
// (exp + 30 s), then playing on:
//   ahead    the page as shipped: it renews the session ahead of its expiry while paused;
//            playback goes on from where it paused, past what it had buffered, with no 403
//   late     ?renew=late (what a page asleep through the expiry meets): the edges refuse the
//            expired token, the page renews on that refusal, and playback goes on from where
//            it paused with a bounded number of refusals and none once renewed
//   refused  ?renew=late on a title whose licence the test removes during the pause: the
//            renewal gets control's 451, the page says so and stops: no request loop
//
//   node session-expiry.mjs --env FILE [--chromium PATH] [--https]
// Exit 0 pass, 1 fail, 2 bad usage.
import { readFileSync, appendFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required'];
const TTL = 60;   // s, control's minimum session_ttl
const SKEW = 30;  // s, the edges' allowance past a token's exp
const PLAY = 3;   // s of media before the pause

const opt = { chromium: '/usr/bin/chromium' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  switch (argv[i]) {
    case '--env': opt.env = argv[++i]; break;
    case '--chromium': opt.chromium = argv[++i]; break;
    case '--https': break; // nothing here depends on the edges' scheme
    default: process.stderr.write(`session-expiry: unknown argument ${argv[i]}\n`); process.exit(2);
  }
}
if (!opt.env) {
  process.stderr.write('usage: session-expiry.mjs --env FILE [--chromium PATH] [--https]\n');
  process.exit(2);
}
const env = {};
for (const line of readFileSync(opt.env, 'utf8').split('\n')) {
  const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
  if (m) env[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
}
const varDir = dirname(opt.env);

const log = (m) => process.stderr.write(`session-expiry: ${m}\n`);
const figure = (m) => process.stdout.write(`figure: ${m}\n`);
const checks = [];
const check = (ok, name, detail = '') => {
  checks.push(ok);
  process.stdout.write(`${ok ? 'ok' : 'not ok'} ${checks.length} - ${name}${detail ? ` (${detail})` : ''}\n`);
  return ok;
};
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

async function control(method, path, body) {
  const r = await fetch(env.CONTROL_URL + path, {
    method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${env.CONTROL_ADMIN_TOKEN}` },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15000),
  });
  const text = await r.text();
  let j = null;
  try { j = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, body: j };
}

// session_ttl: 1m through a reload, seen in a new session's expires.
async function shortSessions() {
  const pid = readFileSync(join(varDir, 'pids'), 'utf8').split('\n')
    .map((l) => l.split(' ')).find((f) => /sluice-control/.test(f.slice(1).join(' ')));
  if (!pid) throw new Error(`no sluice-control in ${join(varDir, 'pids')}`);
  appendFileSync(join(varDir, 'control.yaml'), `session_ttl: ${TTL}s\n`);
  process.kill(Number(pid[0]), 'SIGHUP');
  for (let i = 0; i < 50; i++) {
    const s = await control('POST', '/v1/playback', { title: 'demo-movie' });
    if (s.status === 200 && s.body.expires - Date.now() / 1000 <= TTL + 5) return;
    await sleep(200);
  }
  throw new Error('control did not take session_ttl on SIGHUP');
}

// A player page, the edges' answers to it (status, token, time) and control's.
async function open(browser, name, query) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await ctx.newPage();
  const p = { name, ctx, page, edge: [], control: [] };
  page.on('pageerror', (e) => log(`${name}: page exception: ${e.message}`));
  // Steering refused (404 once expired, 451 once unlicensed) is expected, every 2 s.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/steering|Failed to load resource/.test(m.text())) log(`${name}: console: ${m.text().slice(0, 200)}`);
  });
  page.on('response', (resp) => {
    const u = new URL(resp.url());
    const at = Date.now();
    if (resp.url().startsWith(env.CONTROL_URL)) p.control.push({ path: u.pathname, status: resp.status(), at });
    const m = /^\/s\/([^/]+)\/(.*)$/.exec(u.pathname);
    if (m) p.edge.push({ token: m[1], path: m[2], status: resp.status(), at });
  });
  await page.goto(`${env.PLAYER_URL}?${query}`);
  await page.waitForFunction(() => window.sluice && window.sluice.state.playing, null, { timeout: 30000 });
  await page.waitForFunction((t) => document.getElementById('video').currentTime >= t, PLAY, { timeout: 30000 });
  await page.evaluate(() => document.getElementById('video').pause());
  Object.assign(p, await page.evaluate(() => {
    const v = document.getElementById('video');
    const s = window.sluice.state.session;
    const jwt = /\/s\/([^/]+)\//.exec(s.manifest)[1];
    const claims = JSON.parse(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    let end = v.currentTime;
    for (let i = 0; i < v.buffered.length; i++) if (v.buffered.start(i) <= v.currentTime + 0.5) end = Math.max(end, v.buffered.end(i));
    return { pausedAt: v.currentTime, bufferedEnd: end, exp: claims.exp, token: jwt, duration: v.duration };
  }));
  log(`${name}: paused at ${p.pausedAt.toFixed(2)} s, buffered to ${p.bufferedEnd.toFixed(2)} s, token exp in ${(p.exp - Date.now() / 1000).toFixed(1)} s`);
  return p;
}

const stateOf = (p) => p.page.evaluate(() => {
  const v = document.getElementById('video');
  const s = window.sluice.state;
  return { t: v.currentTime, ended: v.ended, paused: v.paused, seeking: v.seeking,
    renewals: s.renewals || [], notice: s.notice, errors: s.errors.map((e) => `${e.source}: ${e.message.slice(0, 160)}`),
    stalls: s.stalls, resumedOnPage: window.sluiceResumed || Infinity,
    session: s.session && s.session.session, shown: document.getElementById('notice').hidden ? '' : document.getElementById('notice').textContent };
});

// Plays on; samples the position right after, so a restart from elsewhere shows.
async function resume(p) {
  p.resumedAt = Date.now();
  await p.page.evaluate(() => {
    const v = document.getElementById('video');
    window.sluiceSeeks = 0;
    window.sluiceResumed = performance.now();
    v.addEventListener('seeking', () => { window.sluiceSeeks++; });
    v.play();
  });
}

// The playing pages: on from where they paused, past what they had buffered then.
async function goesOn(p, how) {
  const target = Math.min(Math.max(p.pausedAt, p.bufferedEnd) + 6, p.duration - 1);
  const ok = await p.page.waitForFunction((t) => {
    const v = document.getElementById('video');
    return v.currentTime >= t || v.ended;
  }, target, { timeout: 45000, polling: 250 }).then(() => true, () => false);
  const st = await stateOf(p);
  const seeks = await p.page.evaluate(() => window.sluiceSeeks);
  check(ok, `${p.name}: playback went on past what was buffered at the pause`,
    `at ${st.t.toFixed(1)} s, wanted ${target.toFixed(1)} s within 45 s; buffered to ${p.bufferedEnd.toFixed(1)} at the pause`);
  check(seeks === 0, `${p.name}: from where it paused (no seek on resume)`, `${seeks} seeks`);
  const renewed = st.renewals.filter((r) => r.ok);
  check(renewed.some((r) => r.reason === how), `${p.name}: the session was renewed (${how})`,
    JSON.stringify(st.renewals));
  check(st.session !== p.firstSession, `${p.name}: the page holds a new session`);
  const after = p.edge.filter((e) => e.at >= p.resumedAt);
  const refused = after.filter((e) => e.status === 403);
  const fresh = after.filter((e) => e.token !== p.token && e.status >= 200 && e.status < 300);
  figure(`${p.name}: ${after.length} edge requests after resume, ${refused.length} refused, ${fresh.length} answered with the new token; renewals ${JSON.stringify(st.renewals.map((r) => `${r.reason}:${r.status}`))}`);
  check(fresh.length > 0, `${p.name}: media came with the new session's token`, `${fresh.length}`);
  if (how === 'ahead') {
    check(refused.length === 0, `${p.name}: no edge refused a token`, `${refused.length} refusals`);
  } else {
    check(refused.length > 0 && refused.length <= 6, `${p.name}: the edges refused the expired token a few times, not in a loop`,
      `${refused.length} refusals: ${refused.map((e) => e.path).join(' ')}`);
    const firstNew = Math.min(...fresh.map((f) => f.at));
    check(fresh.length > 0 && !refused.some((e) => e.at > firstNew),
      `${p.name}: no refusal once the new token was in use`, `its first media ${firstNew - p.resumedAt} ms after resume`);
  }
  const steering = p.control.filter((c) => c.path.startsWith('/v1/steering/') && c.at >= p.resumedAt);
  if (how === 'ahead') {
    check(steering.length > 0 && steering.every((c) => c.status === 200), `${p.name}: steering goes on for the new session`,
      steering.map((c) => c.status).join(','));
  }
  const stalls = st.stalls.filter((x) => x.at >= st.resumedOnPage);
  check(stalls.every((x) => x.ms < 4000), `${p.name}: no stall as long as a segment`,
    stalls.map((x) => `${Math.round(x.ms)} ms`).join(', ') || 'none');
  const errs = st.errors.filter((e) => !/\/v1\/steering\//.test(e));
  check(errs.length === 0, `${p.name}: no player error`, errs.join(' | '));
}

async function stops(p) {
  const ok = await p.page.waitForFunction(() => !!window.sluice.state.notice, null, { timeout: 40000, polling: 250 })
    .then(() => true, () => false);
  const st = await stateOf(p);
  check(ok && /no longer available/i.test(st.shown), `${p.name}: the page says why it stopped`, st.shown || 'no notice');
  check(st.renewals.length > 0 && st.renewals.every((r) => !r.ok) && st.renewals.some((r) => r.status === 451),
    `${p.name}: the renewal got control's 451`, JSON.stringify(st.renewals));
  check(st.errors.some((e) => /^session: /.test(e)), `${p.name}: the error is listed`,
    st.errors.filter((e) => !/\/v1\/steering\//.test(e)).join(' | '));
  const stoppedAt = Date.now();
  await sleep(5000);
  const later = p.edge.filter((e) => e.at > stoppedAt);
  const refused = p.edge.filter((e) => e.at >= p.resumedAt && e.status === 403);
  figure(`${p.name}: ${refused.length} refusals after resume, ${later.length} edge requests in the 5 s after the notice`);
  check(later.length === 0, `${p.name}: no request loop once stopped`,
    `${later.length} edge requests in 5 s: ${later.map((e) => `${e.path} ${e.status}`).join(' ')}`);
}

let browser;
try {
  await shortSessions();
  log(`control's sessions last ${TTL} s now`);
  browser = await chromium.launch({ executablePath: opt.chromium, args: CHROMIUM_ARGS });
  const pages = await Promise.all([
    open(browser, 'ahead', 'title=demo-movie&buffer=4'),
    open(browser, 'late', 'title=demo-movie&buffer=4&renew=late'),
    open(browser, 'refused', 'title=demo-series&buffer=4&renew=late'),
  ]);
  const [ahead, late, refused] = pages;
  for (const p of pages) p.firstSession = (await stateOf(p)).session;
  // Control answers the series 451 from now on; its session and tokens stand until they expire.
  const lic = await control('PUT', '/v1/admin/titles/demo-series/licences', { licences: [] });
  check(lic.status === 200, 'refused: the series is licensed nowhere now', `${lic.status}`);
  const until = Math.max(...pages.map((p) => p.exp)) + SKEW + 2;
  log(`paused; playing on in ${(until - Date.now() / 1000).toFixed(0)} s, once every token is past exp + ${SKEW} s`);
  await sleep(until * 1000 - Date.now());
  await Promise.all(pages.map(resume));
  await Promise.all([goesOn(ahead, 'ahead'), goesOn(late, 'expired'), stops(refused)]);
} catch (e) {
  check(false, 'session-expiry ran', e.stack || e.message);
} finally {
  if (browser) await browser.close();
}
const failed = checks.filter((c) => !c).length;
process.stdout.write(`${failed ? 'FAIL' : 'PASS'}: ${checks.length - failed}/${checks.length} checks\n`);
process.exit(failed ? 1 : 0);
