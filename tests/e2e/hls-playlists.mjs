#!/usr/bin/env node
// Write HLS playlists next to a clip made by make-clip.sh, for HLS-only players (hls.js)
// in the edge-only tests: control builds real ones per session (GET /v1/manifest/<s>.m3u8);
// a clip pushed straight into an edge has none.
//
//   node hls-playlists.mjs CLIP_DIR
//
// Reads CLIP_DIR/manifest.mpd (the SegmentTemplate MPD make-clip.sh writes) and writes
// CLIP_DIR/master.m3u8 and CLIP_DIR/<rep>/media.m3u8 (fMP4: EXT-X-MAP for the init segment,
// version 7), with relative URLs so a token prefix in the path carries over.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: hls-playlists.mjs CLIP_DIR\n');
  process.exit(2);
}
const mpd = readFileSync(join(dir, 'manifest.mpd'), 'utf8');

function seconds(iso) { // PT#H#M#S
  const m = /^PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$/.exec(iso || '');
  if (!m) throw new Error(`not an ISO 8601 duration: ${iso}`);
  return (Number(m[1] || 0) * 3600) + (Number(m[2] || 0) * 60) + Number(m[3] || 0);
}
const attr = (tag, name) => {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return m ? m[1] : undefined;
};

const total = seconds(attr(/<MPD[^>]*>/s.exec(mpd)[0], 'mediaPresentationDuration'));
const reps = [];
for (const m of mpd.matchAll(/<Representation\b[^>]*>[\s\S]*?<\/Representation>/g)) {
  const tag = /<Representation\b[^>]*>/.exec(m[0])[0];
  const tpl = /<SegmentTemplate\b[^>]*>/.exec(m[0])[0];
  reps.push({
    id: attr(tag, 'id'),
    mime: attr(tag, 'mimeType'),
    codecs: attr(tag, 'codecs'),
    bandwidth: Number(attr(tag, 'bandwidth')),
    width: attr(tag, 'width'),
    height: attr(tag, 'height'),
    segDur: Number(attr(tpl, 'duration')) / Number(attr(tpl, 'timescale') || 1),
    start: Number(attr(tpl, 'startNumber') || 1),
  });
}
if (reps.length === 0) throw new Error('no representations in the MPD');

for (const r of reps) {
  const files = readdirSync(join(dir, r.id)).filter((f) => /^seg-\d+\.m4s$/.test(f));
  // The encoder may close an audio representation with one more, very short segment (AAC
  // frames do not end on the 4 s boundary), so the files, not the duration, give the count.
  const count = files.length;
  if (count < Math.ceil(total / r.segDur - 1e-6)) {
    throw new Error(`${r.id}: ${count} segment files, fewer than the MPD's duration implies`);
  }
  const lines = ['#EXTM3U', '#EXT-X-VERSION:7', `#EXT-X-TARGETDURATION:${Math.ceil(r.segDur)}`,
    '#EXT-X-MEDIA-SEQUENCE:0', '#EXT-X-PLAYLIST-TYPE:VOD', '#EXT-X-INDEPENDENT-SEGMENTS',
    '#EXT-X-MAP:URI="init.mp4"'];
  for (let i = 0; i < count; i++) {
    const d = Math.max(0.05, Math.min(r.segDur, total - i * r.segDur));
    lines.push(`#EXTINF:${d.toFixed(3)},`, `seg-${r.start + i}.m4s`);
  }
  lines.push('#EXT-X-ENDLIST', '');
  writeFileSync(join(dir, r.id, 'media.m3u8'), lines.join('\n'));
}

const audio = reps.filter((r) => r.mime.startsWith('audio/'));
const video = reps.filter((r) => r.mime.startsWith('video/'));
const master = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-INDEPENDENT-SEGMENTS'];
audio.forEach((a, i) => master.push(`#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="${a.id}",` +
  `LANGUAGE="en",DEFAULT=${i === 0 ? 'YES' : 'NO'},AUTOSELECT=YES,URI="${a.id}/media.m3u8"`));
const abw = audio.length ? Math.max(...audio.map((a) => a.bandwidth)) : 0;
for (const v of video) {
  const codecs = [v.codecs, ...(audio.length ? [audio[0].codecs] : [])].join(',');
  master.push(`#EXT-X-STREAM-INF:BANDWIDTH=${v.bandwidth + abw},CODECS="${codecs}",` +
    `RESOLUTION=${v.width}x${v.height}${audio.length ? ',AUDIO="aud"' : ''}`, `${v.id}/media.m3u8`);
}
master.push('');
writeFileSync(join(dir, 'master.m3u8'), master.join('\n'));
