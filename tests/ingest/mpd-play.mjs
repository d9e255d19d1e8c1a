#!/usr/bin/env node
// Play a clear title to its end in headless Chromium with dash.js, from an MPD control built
// for it: the MPD's BaseURLs and ContentSteering (control's edges, not reachable here) are
// taken out, so segment URLs resolve against the title directory, which a local server
// serves. Checks that the manifest names the segments there are: the player asks for no file
// that is missing, reports no error, and reaches the end of the title.
//
//   node mpd-play.mjs MPD_FILE TITLE_DIR [--chromium PATH]
//
// Exit 0 when playback ended with every request answered, 1 on failure (the missing files
// named), 77 when the browser, dash.js or H.264 support is missing.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const e2e = join(here, '..', 'e2e', 'node_modules');
const args = process.argv.slice(2);
const opt = { chromium: '/usr/bin/chromium' };
const pos = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--chromium') opt.chromium = args[++i];
  else pos.push(args[i]);
}
if (pos.length !== 2) {
  console.error('usage: mpd-play.mjs MPD_FILE TITLE_DIR [--chromium PATH]');
  process.exit(2);
}
const [mpdFile, dir] = pos;
const skip = (why) => { console.log(`SKIP: ${why}`); process.exit(77); };

let chromium;
try {
  ({ chromium } = await import(join(e2e, 'playwright-core', 'index.mjs')));
} catch {
  skip('playwright-core is not installed (cd tests/e2e && npm ci)');
}
let dashjs;
try {
  dashjs = await readFile(join(e2e, 'dashjs', 'dist', 'modern', 'umd', 'dash.all.min.js'));
} catch {
  skip('dash.js is not installed (cd tests/e2e && npm ci)');
}
const mpd = (await readFile(mpdFile, 'utf8'))
  .replace(/\s*<BaseURL[^>]*>[^<]*<\/BaseURL>/g, '')
  .replace(/\s*<ContentSteering[^>]*>[^<]*<\/ContentSteering>/g, '');

const page = `<!doctype html><meta charset="utf-8"><video id="v" muted></video>
<script src="/dash.js"></script>
<script>
  window.result = { errors: [], ended: false };
  const p = dashjs.MediaPlayer().create();
  p.on(dashjs.MediaPlayer.events.ERROR, (e) => window.result.errors.push(JSON.stringify(e.error || e)));
  p.on(dashjs.MediaPlayer.events.PLAYBACK_ERROR, (e) => window.result.errors.push('playback ' + JSON.stringify(e.error || e)));
  p.on(dashjs.MediaPlayer.events.PLAYBACK_ENDED, () => { window.result.ended = true; });
  window.result.h264 = MediaSource.isTypeSupported('video/mp4; codecs="avc1.42c015"');
  p.initialize(document.getElementById('v'), '/title/manifest.mpd', true);
</script>`;

const missing = [];
const server = createServer(async (req, res) => {
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  try {
    let body, type = 'application/octet-stream';
    if (path === '/') { body = page; type = 'text/html'; }
    else if (path === '/dash.js') { body = dashjs; type = 'text/javascript'; }
    else if (path === '/title/manifest.mpd') { body = mpd; type = 'application/dash+xml'; }
    else if (path.startsWith('/title/')) {
      const rel = normalize(path.slice('/title/'.length));
      if (rel.startsWith('..')) throw new Error('no');
      try {
        body = await readFile(join(dir, rel));
      } catch (e) {
        missing.push(rel);
        throw e;
      }
    } else throw new Error('no');
    res.writeHead(200, { 'Content-Type': type });
    res.end(body);
  } catch {
    res.writeHead(404);
    res.end();
  }
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const url = `http://127.0.0.1:${server.address().port}/`;

let browser;
try {
  browser = await chromium.launch({ executablePath: opt.chromium,
    args: ['--no-sandbox', '--disable-gpu', '--autoplay-policy=no-user-gesture-required'] });
} catch (e) {
  server.close();
  skip(`cannot start Chromium: ${e.message.split('\n')[0]}`);
}
let rc = 1;
try {
  const tab = await browser.newPage();
  tab.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await tab.goto(url);
  // A bound on a hung player only: a few seconds of title play in about as many.
  const deadline = Date.now() + 60000;
  let state;
  for (;;) {
    state = await tab.evaluate(() => ({
      t: document.getElementById('v').currentTime, ended: window.result.ended,
      errors: window.result.errors, h264: window.result.h264,
      mediaError: document.getElementById('v').error?.message ?? null,
    }));
    if (state.h264 === false) { await browser.close(); server.close(); skip('no H.264 in this Chromium'); }
    if (state.ended || state.errors.length || state.mediaError || missing.length ||
        Date.now() > deadline) break;
    await new Promise((ok) => setTimeout(ok, 250));
  }
  state.missing = missing;
  console.log(JSON.stringify(state));
  rc = state.ended && !state.errors.length && !state.mediaError && !missing.length ? 0 : 1;
  console.log(rc === 0 ? `ok: played to the end (${state.t.toFixed(3)} s), every file there`
    : `FAIL: did not play to the end; asked for missing ${JSON.stringify(missing)}`);
} finally {
  await browser.close();
  server.close();
}
process.exit(rc);
