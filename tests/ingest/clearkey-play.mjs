#!/usr/bin/env node
// Play an encrypted title made by sluice-ingest in headless Chromium with dash.js and a
// ClearKey licence, straight from the title directory (no edge, no control): checks that
// Chrome's MSE parser accepts our encv/tenc/senc/saiz/saio boxes and its ClearKey CDM
// decrypts our subsample layout. The manifest is the minimal one control would build
// (mp4protection + ClearKey ContentProtection with cenc:default_KID, no pssh).
//
//   node clearkey-play.mjs TITLE_DIR KEY_JSON [--chromium PATH] [--seconds S]
//
// Exit 0 when media time advances by S seconds (default 6) with no error, 1 on failure,
// 77 when the browser, dash.js or H.264 support is missing.

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const e2e = join(here, '..', 'e2e', 'node_modules');
const args = process.argv.slice(2);
const opt = { chromium: '/usr/bin/chromium', seconds: 6 };
const pos = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--chromium') opt.chromium = args[++i];
  else if (args[i] === '--seconds') opt.seconds = Number(args[++i]);
  else pos.push(args[i]);
}
if (pos.length !== 2) {
  console.error('usage: clearkey-play.mjs TITLE_DIR KEY_JSON [--chromium PATH] [--seconds S]');
  process.exit(2);
}
const [dir, keyFile] = pos;
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

const asset = JSON.parse(await readFile(join(dir, 'asset.json'), 'utf8'));
const key = JSON.parse(await readFile(keyFile, 'utf8'));
if (!asset.encryption || asset.encryption.kid !== key.kid) {
  console.error('FAIL: the title is not encrypted with this key');
  process.exit(1);
}
const b64url = (hex) => Buffer.from(hex, 'hex').toString('base64url');
const uuid = (h) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;

// The smallest MPD that carries what control's would: one AdaptationSet per media type.
function mpd() {
  const prot = `
      <ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cenc" cenc:default_KID="${uuid(key.kid)}"/>
      <ContentProtection schemeIdUri="urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e" value="ClearKey1.0"/>`;
  const sets = ['video', 'audio'].map((type) => {
    const reps = asset.representations.filter((r) => r.type === type);
    if (!reps.length) return '';
    const body = reps.map((r) => `
      <Representation id="${r.id}" bandwidth="${r.bandwidth}" codecs="${r.codec}"${
        type === 'video' ? ` width="${r.width}" height="${r.height}" frameRate="${r.frame_rate}"`
          : ` audioSamplingRate="${r.sample_rate}"`}>
        <SegmentTemplate timescale="${r.timescale}" duration="${r.segment_duration * r.timescale}"
          startNumber="${r.start_number}" initialization="${r.init}" media="${r.media}"/>
      </Representation>`).join('');
    return `
    <AdaptationSet contentType="${type}" mimeType="${reps[0].mime_type}" segmentAlignment="true"${
      type === 'audio' ? ` lang="${reps[0].lang}"` : ''}>${prot}${body}
    </AdaptationSet>`;
  }).join('');
  return `<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:cenc="urn:mpeg:cenc:2013" type="static"
  profiles="urn:mpeg:dash:profile:isoff-live:2011" minBufferTime="PT4S"
  mediaPresentationDuration="PT${asset.duration}S">
  <Period id="0" start="PT0S">${sets}
  </Period>
</MPD>`;
}

const page = `<!doctype html><meta charset="utf-8"><video id="v" muted></video>
<script src="/dash.js"></script>
<script>
  window.result = { errors: [] };
  const p = dashjs.MediaPlayer().create();
  p.on(dashjs.MediaPlayer.events.ERROR, (e) => window.result.errors.push(JSON.stringify(e.error || e)));
  p.on(dashjs.MediaPlayer.events.PLAYBACK_ERROR, (e) => window.result.errors.push('playback ' + JSON.stringify(e.error || e)));
  p.setProtectionData({ 'org.w3.clearkey': { clearkeys: { '${b64url(key.kid)}': '${b64url(key.key)}' } } });
  window.result.h264 = MediaSource.isTypeSupported('video/mp4; codecs="avc1.640015"');
  p.initialize(document.getElementById('v'), '/manifest.mpd', true);
</script>`;

const server = createServer(async (req, res) => {
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  try {
    let body, type = 'application/octet-stream';
    if (path === '/') { body = page; type = 'text/html'; }
    else if (path === '/dash.js') { body = dashjs; type = 'text/javascript'; }
    else if (path === '/manifest.mpd') { body = mpd(); type = 'application/dash+xml'; }
    else {
      const rel = normalize(path).replace(/^\/+/, '');
      if (rel.startsWith('..') || rel === 'asset.json') throw new Error('no');
      body = await readFile(join(dir, rel));
    }
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
  const deadline = Date.now() + 60000;
  let state;
  for (;;) {
    state = await tab.evaluate(() => ({
      t: document.getElementById('v').currentTime, errors: window.result.errors,
      h264: window.result.h264, mediaError: document.getElementById('v').error?.message ?? null,
    }));
    if (state.h264 === false) { await browser.close(); server.close(); skip('no H.264 in this Chromium'); }
    if (state.errors.length || state.mediaError || state.t >= opt.seconds || Date.now() > deadline) break;
    await new Promise((ok) => setTimeout(ok, 250));
  }
  console.log(JSON.stringify(state));
  rc = state.t >= opt.seconds && !state.errors.length && !state.mediaError ? 0 : 1;
  console.log(rc === 0 ? `ok: played ${state.t.toFixed(1)} s of the encrypted title`
    : 'FAIL: the encrypted title did not play');
} finally {
  await browser.close();
  server.close();
}
process.exit(rc);
