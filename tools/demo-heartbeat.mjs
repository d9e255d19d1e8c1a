#!/usr/bin/env node
// tools/demo-heartbeat.mjs — heartbeats to control on behalf of edges that do not send their
// own yet (tools/demo starts it). For each edge, every PERIOD: ask the edge's admin API for
// /healthz and /admin/holdings; if the edge answers, POST /v1/edges/<id>/heartbeat with its
// load and the titles it holds. An edge that does not answer gets no heartbeat, so control
// stops steering to it after two periods, exactly as if the edge had gone quiet itself.
//
//   node demo-heartbeat.mjs --control URL --period SECONDS
//        --edge ID,ADMIN_URL,ADMIN_TOKEN_FILE [--edge ...]
//
// Logs one line per change of an edge's state (up/down) to stderr. Exits 0 on SIGTERM.
import { readFileSync } from 'node:fs';

const opt = { edges: [], period: 2 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const next = () => argv[++i];
  switch (argv[i]) {
    case '--control': opt.control = next().replace(/\/+$/, ''); break;
    case '--period': opt.period = Number(next()); break;
    case '--edge': {
      const [id, admin, tokenFile] = next().split(',');
      opt.edges.push({ id, admin: admin.replace(/\/+$/, ''),
        token: readFileSync(tokenFile, 'utf8').split('\n')[0].trim(), up: null });
      break;
    }
    default: process.stderr.write(`demo-heartbeat: unknown argument ${argv[i]}\n`); process.exit(2);
  }
}
if (!opt.control || opt.edges.length === 0 || !(opt.period > 0)) {
  process.stderr.write('usage: demo-heartbeat.mjs --control URL --period S --edge ID,ADMIN_URL,TOKEN_FILE ...\n');
  process.exit(2);
}

async function getJson(url, token) {
  const r = await fetch(url, { headers: { Authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(opt.period * 1000) });
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.json();
}

async function beat(e) {
  let body;
  try {
    const h = await getJson(`${e.admin}/healthz`, e.token);
    if (h.status !== 'ok') throw new Error(`status ${h.status}`);
    const hold = await getJson(`${e.admin}/admin/holdings`, e.token);
    const titles = new Set();
    for (const k of hold.keys || []) {
      const first = String(k).replace(/^\/+/, '').split('/')[0];
      if (first) titles.add(first);
    }
    body = { load: Math.min(1, (h.connections || 0) / 1000), disk_used: hold.bytes || 0,
      disk_total: hold.max_bytes || 0, titles: [...titles] };
  } catch (err) {
    if (e.up !== false) process.stderr.write(`demo-heartbeat: ${e.id} is not answering (${err.message}); no heartbeat\n`);
    e.up = false;
    return;
  }
  try {
    const r = await fetch(`${opt.control}/v1/edges/${encodeURIComponent(e.id)}/heartbeat`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      signal: AbortSignal.timeout(opt.period * 1000) });
    if (!r.ok) throw new Error(`control answered ${r.status}: ${(await r.text()).slice(0, 200)}`);
    if (e.up !== true) process.stderr.write(`demo-heartbeat: ${e.id} up, holding ${body.titles.join(' ') || 'nothing'}\n`);
    e.up = true;
  } catch (err) {
    process.stderr.write(`demo-heartbeat: ${e.id}: heartbeat failed: ${err.message}\n`);
  }
}

const timer = setInterval(() => { for (const e of opt.edges) beat(e); }, opt.period * 1000);
for (const e of opt.edges) beat(e);
const stop = () => { clearInterval(timer); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
