#!/usr/bin/env node
// Unit test of the player page's start-segments.js (what the start worker fetches ahead of
// dash.js) against an MPD as control issues it (player/testdata/session.mpd, from a demo
// session), and variants of it. Then a mutation run: no input makes it throw or name anything
// but an http(s) URL. Exit 0 pass, 1 fail.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const here = dirname(fileURLToPath(import.meta.url));
const ctx = { self: {}, URL };
vm.runInNewContext(readFileSync(join(here, 'player', 'start-segments.js'), 'utf8'), ctx);
const startSegments = ctx.self.startSegments;
const mpd = readFileSync(join(here, 'player', 'testdata', 'session.mpd'), 'utf8');
const manifestUrl = 'http://127.0.0.1:15756/v1/manifest/S1.x.mpd';
const baseA = /<BaseURL serviceLocation="edge-a">([^<]*)</.exec(mpd)[1];
const baseB = /<BaseURL serviceLocation="edge-b">([^<]*)</.exec(mpd)[1];

let failed = 0;
let passed = 0;
function check(ok, what, detail) {
  if (ok) passed++;
  else failed++;
  process.stdout.write(`${ok ? 'ok' : 'FAIL'}: ${what}${ok || detail === undefined ? '' : ` (${detail})`}\n`);
}
const urls = (list) => list.map((s) => `${s.kind} ${s.url}`).join('\n');
const expect = (base, rung, n) => [`video-init ${base}${rung}/init.mp4`, `video ${base}${rung}/seg-${n}.m4s`,
  `audio-init ${base}audio-en/init.mp4`, `audio ${base}audio-en/seg-${n}.m4s`].join('\n');
const run = (m, o) => startSegments(m, { manifestUrl, ...o });

// The rungs are 329, 765, 1628 and 3264 kbit/s; the page tells dash.js ceil(bw / 1000) kbit/s.
check(urls(run(mpd, { startBandwidth: 329000 })) === expect(baseA, 'video-240p', 1),
  'a start rung that is a rung: that rung, from the default pathway', urls(run(mpd, { startBandwidth: 329000 })));
check(urls(run(mpd, { startBandwidth: 1627001 })) === expect(baseA, 'video-480p', 1),
  'within a kbit/s of a rung counts as that rung (dash.js rounds to kbit/s)');
check(urls(run(mpd, { startBandwidth: 1500000 })) === expect(baseA, 'video-360p', 1),
  'between rungs: the highest within');
check(urls(run(mpd, { startBandwidth: 100000 })) === expect(baseA, 'video-240p', 1),
  'below the lowest rung: the lowest');
check(urls(run(mpd, { startBandwidth: 9e6 })) === expect(baseA, 'video-720p', 1), 'above the top: the top');
check(urls(run(mpd, { startBandwidth: 329000, startTime: 9.5 })) === expect(baseA, 'video-240p', 3),
  'a resume at 9.5 s starts at the segment holding it (4 s segments: 3)');
check(urls(run(mpd, { startBandwidth: 329000, startTime: 8 })) === expect(baseA, 'video-240p', 3),
  'a resume on a boundary: the segment it begins');
const toB = mpd.replace('defaultServiceLocation="edge-a"', 'defaultServiceLocation="edge-b"');
check(urls(run(toB, { startBandwidth: 329000 })) === expect(baseB, 'video-240p', 1),
  'the steering element\'s default pathway, not the first BaseURL');
const noSteer = mpd.replace(/<ContentSteering[^]*?<\/ContentSteering>/, '');
check(urls(run(noSteer, { startBandwidth: 329000 })) === expect(baseA, 'video-240p', 1),
  'no steering element: the first BaseURL');
const noBase = mpd.replace(/ *<BaseURL serviceLocation[^\n]*\n/g, '');
check(urls(run(noBase, { startBandwidth: 329000 })) ===
  expect(new URL('.', manifestUrl).href, 'video-240p', 1), 'no BaseURL: relative to the manifest');
const start5 = mpd.replace(/startNumber="1"/g, 'startNumber="5"');
check(urls(run(start5, { startBandwidth: 329000 })) === expect(baseA, 'video-240p', 5), 'startNumber is kept');
const padded = mpd.replace(/seg-\$Number\$/g, 'seg-$Number%05d$');
check(run(padded, { startBandwidth: 329000 })[1].url === `${baseA}video-240p/seg-00001.m4s`, '$Number%05d$ is padded');
const amp = mpd.replace(/(<BaseURL serviceLocation="edge-a">[^<]*)</, '$1?a=1&amp;b=2<');
check(run(amp, { startBandwidth: 329000 })[0].url.startsWith(`${baseA.replace(/\/$/, '')}`) &&
  !run(amp, { startBandwidth: 329000 })[0].url.includes('&amp;'), 'XML entities in a BaseURL are decoded');

// What it cannot tell, it leaves out.
check(run(mpd, {}).length === 0, 'no start rung: nothing (dash.js would pick its own)');
check(run(mpd.replace(/duration="51200"\/>/, 'duration="51200"><SegmentTimeline><S t="0" d="51200" r="9"/></SegmentTimeline></SegmentTemplate>'),
  { startBandwidth: 329000 }).filter((s) => s.kind.startsWith('video')).length === 0, 'a SegmentTimeline: no video guess');
check(run(mpd.replace(/seg-\$Number\$/, 'seg-$Time$'), { startBandwidth: 329000 }).length === 0, '$Time$: nothing');
check(run(mpd.replace('</Period>', '</Period><Period id="1"></Period>'), { startBandwidth: 329000 }).length === 0,
  'several Periods: nothing');
const twoAudio = mpd.replace(/(<AdaptationSet id="1"[^]*?<\/AdaptationSet>)/, '$1$1');
check(urls(run(twoAudio, { startBandwidth: 329000 })) === expect(baseA, 'video-240p', 1).split('\n').slice(0, 2).join('\n'),
  'a choice of audio sets: video only');
check(run('x'.repeat((1 << 20) + 1), { startBandwidth: 329000 }).length === 0, 'over the size limit: nothing');
check(run(null, { startBandwidth: 329000 }).length === 0, 'not a string: nothing');

// Mutations: cuts, byte flips and spliced-in markup never make it throw or name anything but
// an http(s) URL.
let seed = 7;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
const bits = ['<', '>', '"', '/>', '$Number$', '<Period>', '<AdaptationSet contentType="video">', '&amp;',
  '<Representation id="" bandwidth="-1"/>', 'startNumber="1e308"', 'duration="0"', '%0999d'];
let thrown = 0;
let outside = 0;
for (let i = 0; i < 3000; i++) {
  let m = mpd;
  for (let k = 1 + rnd(4); k > 0; k--) {
    const at = rnd(m.length);
    const op = rnd(3);
    if (op === 0) m = m.slice(0, at) + m.slice(at + 1 + rnd(40));
    else if (op === 1) m = m.slice(0, at) + String.fromCharCode(rnd(128)) + m.slice(at + 1);
    else m = m.slice(0, at) + bits[rnd(bits.length)] + m.slice(at);
  }
  try {
    const out = run(m, { startBandwidth: 1 + rnd(5e6), startTime: rnd(50) });
    if (!Array.isArray(out) || out.some((s) => typeof s.url !== 'string')) outside++;
    else if (out.some((s) => !/^https?:/.test(s.url))) outside++;
  } catch (e) {
    thrown++;
    if (thrown === 1) process.stdout.write(`first throw: ${e.message}\n`);
  }
}
check(thrown === 0 && outside === 0, '3000 mutated MPDs: no throw, only http(s) URLs', `${thrown} threw, ${outside} bad`);

process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exitCode = failed ? 1 : 0;
