// What play.mjs and play-h2.mjs share: their main (arguments, the headless Chromium, numbered
// checks and their tally), comparing a body the edge sent with the file on disk, and waiting for
// dash.js on the Sluice player page to start playing and to advance media time.

import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required'];

export const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// Numbered "ok N - name" / "not ok N - name (detail)" lines; finish() prints the tally and
// returns the exit status (0 only when at least one check ran and none failed).
function tapChecks() {
  const results = [];
  const check = (ok, name, detail = '') => {
    results.push(ok);
    process.stdout.write(`${ok ? 'ok' : 'not ok'} ${results.length} - ${name}` +
      `${detail ? ` (${detail})` : ''}\n`);
    return ok;
  };
  const finish = () => {
    const failed = results.filter((ok) => !ok).length;
    process.stdout.write(`${results.length - failed} passed, ${failed} failed\n`);
    return failed === 0 && results.length > 0 ? 0 : 1;
  };
  return { check, finish };
}

// Map an edge URL path to the file on disk: everything after "/<title>/" (so a token prefix
// such as /s/<jwt>/ does not matter), relative to the title's media directory.
function diskPath(title, media, pathname) {
  const marker = `/${title}/`;
  const i = pathname.indexOf(marker);
  if (i < 0) return null;
  const rel = decodeURIComponent(pathname.slice(i + marker.length));
  if (rel.split('/').some((p) => p === '..' || p === '')) return null;
  return join(media, rel);
}

// A checker of GET bodies against the title's files (each file read once): resolves to
// {path, ok, detail} or, for a download the player abandoned (an ABR switch), {ok, skipped}.
export function bodyVerifier(title, media) {
  const files = new Map();
  const readDisk = (p) => {
    if (!files.has(p)) files.set(p, readFile(p));
    return files.get(p);
  };
  return async (resp, path) => {
    const file = diskPath(title, media, path);
    if (!file) return { path, ok: false, detail: 'not under the title' };
    let want;
    try {
      want = await readDisk(file);
    } catch {
      return { path, ok: false, detail: `no such file on disk: ${file}` };
    }
    let body;
    try {
      body = await resp.body();
    } catch (e) {
      const f = resp.request().failure();
      if (f) return { path, ok: true, skipped: `aborted: ${f.errorText}` };
      return { path, ok: false, detail: `body unavailable: ${e.message}` };
    }
    if (resp.status() === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(resp.headers()['content-range'] || '');
      if (!m) return { path, ok: false, detail: '206 without a usable Content-Range' };
      want = want.subarray(Number(m[1]), Number(m[2]) + 1);
    }
    const ok = sha256(body) === sha256(want);
    return { path, ok, detail: ok ? '' : `got ${body.length} bytes, want ${want.length}` };
  };
}

// Run session(context, page) in a fresh headless Chromium with its own profile; the browser
// and the profile are gone afterwards, whatever happened. Returns what session returned.
async function withChromium(executablePath, profilePrefix, session) {
  const userDataDir = await mkdtemp(join(tmpdir(), profilePrefix));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      args: CHROMIUM_ARGS,
      headless: true,
      viewport: { width: 1280, height: 860 },
    });
    const page = context.pages()[0] || await context.newPage();
    return await session(context, page);
  } finally {
    if (context) await context.close().catch(() => {});
    await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
  }
}

// Wait for playback to start (or the first sign that it will not), then for media time to
// advance by minAdvance seconds (or the end, or an error). left() is the time still allowed
// in ms. Returns {started, advanced, t0}; a wait that timed out is logged.
export async function waitForPlayback(page, minAdvance, left, log) {
  const failedNow = `(() => { const s = window.sluice.state;
    return s.errors.length > 0 || document.getElementById('video').error !== null; })()`;
  let started = true;
  try {
    await page.waitForFunction(`${failedNow} || window.sluice.state.playing ||
      document.getElementById('video').currentTime > 0`, null, { timeout: left(), polling: 100 });
  } catch (e) {
    started = false;
    log(`waiting for playback to start: ${e.message.split('\n')[0]}`);
  }
  const t0 = await page.evaluate(() => document.getElementById('video').currentTime);
  let advanced = started;
  if (started) {
    try {
      await page.waitForFunction(`${failedNow} || window.sluice.state.ended ||
        document.getElementById('video').currentTime >= ${t0 + minAdvance}`, null,
      { timeout: left(), polling: 100 });
    } catch (e) {
      advanced = false;
      log(`waiting for media time to advance: ${e.message.split('\n')[0]}`);
    }
  }
  return { started, advanced, t0 };
}

// A player script's main: parse the arguments (exit 2 on bad usage), run session(opt, context,
// page, check) in a fresh Chromium and report the checks. The session returns 77 when this
// browser cannot play the content (a skip), nothing otherwise. Returns the exit status.
export async function runSession(parseArgs, log, profilePrefix, session) {
  let opt;
  try {
    opt = parseArgs(process.argv.slice(2));
  } catch (e) {
    log(e.message);
    return 2;
  }
  const { check, finish } = tapChecks();
  try {
    const rc = await withChromium(opt.chromium, profilePrefix,
      (context, page) => session(opt, context, page, check));
    if (rc !== undefined) return rc;
  } catch (e) {
    check(false, 'playback session ran', e.message.split('\n')[0]);
  }
  return finish();
}
