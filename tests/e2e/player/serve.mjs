#!/usr/bin/env node
// Sluice player page server: a small static server (node stdlib only) for the dash.js player
// page, used by the e2e playback test and by tools/demo. It runs on its own origin (its own
// port), so every request the player makes to an edge is a real cross-origin request.
//
//   node serve.mjs --listen HOST:PORT --edge URL [--edge-id ID] [--title ID ...]
//                  [--control URL [--control-alt URL]] [--edge-name ID=URL ...] [--dashjs DIR]
//
// With --control the page is a catalogue: titles, search and details come from control, and
// play starts a session there (POST /v1/playback) and plays the manifest control issues.
// --control-alt is a second address of the same control (the demo's [::1], a client in
// another country), chosen by the page's ?control=ipv6. --edge-name maps an edge's URL to
// its id, so the page can say which edge is serving.
//
// PORT 0 picks a free port. Once listening, prints exactly one line to stdout,
// "PLAYER_URL=http://HOST:PORT/", and nothing else there (logs go to stderr), so a caller can
// read that line from a pipe. Exits 0 on SIGTERM/SIGINT.
//
// Routes: / (the page, with start-early.js and what it needs inline), /player.js,
// /start-early.js, /start-worker.js, /start-segments.js, /start-ahead.js, /player.css,
// /config.json (what the page plays), /vendor/dashjs/* (dash.js ESM build from node_modules),
// /alt.html + /alt.js (Shaka Player or hls.js on the same content) with /vendor/shaka/* and
// /vendor/hlsjs/*, /healthz.

import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const opt = { listen: '127.0.0.1:0', edge: '', edgeId: '', control: '', controlAlt: '',
    edgeNames: [], titles: [],
    dashjs: join(here, '..', 'node_modules', 'dashjs', 'dist', 'modern', 'esm') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--listen': opt.listen = val(); break;
      case '--edge': opt.edge = val().replace(/\/+$/, ''); break;
      case '--edge-id': opt.edgeId = val(); break;
      case '--control': opt.control = val().replace(/\/+$/, ''); break;
      case '--control-alt': opt.controlAlt = val().replace(/\/+$/, ''); break;
      case '--edge-name': {
        const [id, ...rest] = val().split('=');
        opt.edgeNames.push({ id, url: rest.join('=').replace(/\/+$/, '') });
        break;
      }
      case '--title': opt.titles.push(...val().split(/\s+/).filter(Boolean)); break;
      case '--dashjs': opt.dashjs = val(); break;
      case '-h': case '--help':
        process.stdout.write('usage: serve.mjs --listen HOST:PORT --edge URL [--edge-id ID] ' +
          '[--title ID ...] [--control URL] [--dashjs DIR]\n');
        process.exit(0);
        break;
      default: throw new Error(`unknown argument: ${a}`);
    }
  }
  if (!opt.edge && !opt.control) throw new Error('--edge URL or --control URL is required');
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d+)$/.exec(opt.listen);
  if (!m) throw new Error(`--listen wants HOST:PORT, got ${opt.listen}`);
  opt.host = m[1].replace(/^\[|\]$/g, '');
  opt.port = Number(m[2]);
  return opt;
}

const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

function send(res, status, type, body) {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(body);
}

// Resolve name inside root, refusing anything that escapes it.
function inside(root, name) {
  const p = normalize(join(root, name));
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep) ? p : null;
}

async function sendFile(res, path, head) {
  let st;
  try {
    st = await stat(path);
  } catch {
    return send(res, 404, types['.txt'], 'not found\n');
  }
  if (!st.isFile()) return send(res, 404, types['.txt'], 'not found\n');
  const ext = path.slice(path.lastIndexOf('.'));
  const body = head ? '' : await readFile(path);
  res.writeHead(200, {
    'Content-Type': types[ext] || 'application/octet-stream',
    'Content-Length': st.size,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(body);
}

// The player page with its start inline: in place of its start-early.js tag, one script with
// the config (self.sluiceConfig), start-segments.js, start-ahead.js and start-early.js, so
// that the page's first requests start without a fetch before them (start-early.js).
const EARLY_TAG = '<script src="/start-early.js"></script>';
async function sendPage(res, config, head) {
  const [page, ...scripts] = await Promise.all(['index.html', 'start-segments.js', 'start-ahead.js',
    'start-early.js'].map((f) => readFile(join(here, f), 'utf8')));
  if (!page.includes(EARLY_TAG) || scripts.some((t) => /<\/script/i.test(t))) {
    throw new Error('index.html or a start script cannot be inlined');
  }
  const inline = `<script>\nself.sluiceConfig = ${config.replace(/</g, '\\u003c')};\n` +
    `${scripts.join('\n')}</script>`;
  const body = Buffer.from(page.replace(EARLY_TAG, () => inline));
  res.writeHead(200, {
    'Content-Type': types['.html'],
    'Content-Length': body.length,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(head ? '' : body);
}

function main() {
  let opt;
  try {
    opt = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`serve.mjs: ${e.message}\n`);
    process.exit(2);
  }
  const config = JSON.stringify({
    edge: opt.edge,
    edgeId: opt.edgeId,
    control: opt.control,
    controlAlt: opt.controlAlt,
    edges: opt.edgeNames,
    titles: opt.titles.map((id) => ({ id, manifest: `${opt.edge}/${id}/manifest.mpd` })),
  });
  const pages = { '/': 'index.html', '/index.html': 'index.html', '/player.js': 'player.js',
    '/start-early.js': 'start-early.js', '/start-worker.js': 'start-worker.js',
    '/start-segments.js': 'start-segments.js', '/start-ahead.js': 'start-ahead.js',
    '/player.css': 'player.css', '/alt.html': 'alt.html', '/alt.js': 'alt.js' };
  const modules = join(here, '..', 'node_modules');
  const vendors = [['/vendor/dashjs/', opt.dashjs],
    ['/vendor/shaka/', join(modules, 'shaka-player', 'dist')],
    ['/vendor/hlsjs/', join(modules, 'hls.js', 'dist')]];

  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://localhost');
      const head = req.method === 'HEAD';
      if (req.method !== 'GET' && !head) {
        res.setHeader('Allow', 'GET, HEAD');
        return send(res, 405, types['.txt'], 'method not allowed\n');
      }
      if (url.pathname === '/healthz') return send(res, 200, types['.txt'], 'ok\n');
      if (url.pathname === '/favicon.ico') {
        res.writeHead(204, { 'Cache-Control': 'max-age=86400' });
        return res.end();
      }
      if (url.pathname === '/config.json') return send(res, 200, types['.json'], config);
      if (pages[url.pathname] === 'index.html') return await sendPage(res, config, head);
      if (pages[url.pathname]) return await sendFile(res, join(here, pages[url.pathname]), head);
      for (const [prefix, root] of vendors) {
        if (!url.pathname.startsWith(prefix)) continue;
        let name;
        try {
          name = decodeURIComponent(url.pathname.slice(prefix.length));
        } catch {
          return send(res, 400, types['.txt'], 'bad request: malformed percent-encoding\n');
        }
        const p = inside(root, name);
        if (p) return await sendFile(res, p, head);
      }
      return send(res, 404, types['.txt'], 'not found\n');
    } catch (e) {
      process.stderr.write(`serve.mjs: ${req.method} ${req.url}: ${e.message}\n`);
      if (!res.headersSent) send(res, 500, types['.txt'], 'internal error\n');
      else res.destroy();
    }
  });
  server.on('error', (e) => {
    process.stderr.write(`serve.mjs: ${e.message}\n`);
    process.exit(1);
  });
  server.listen(opt.port, opt.host, () => {
    const a = server.address();
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    process.stdout.write(`PLAYER_URL=http://${host}:${a.port}/\n`);
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
