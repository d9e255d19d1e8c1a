#!/usr/bin/env node
// The player page server (player/serve.mjs) on what a client may send it: a vendor path with
// malformed percent-encoding is the client's error (400), not the server's (500, with a line
// in its log for every such request); a path that climbs out of a vendor directory, encoded
// or not, is not found; a file inside one is served. Then SIGTERM: exit 0.
// Exit 0 pass, 1 fail.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sluice-serve-test-'));
mkdirSync(join(dir, 'dashjs'));
writeFileSync(join(dir, 'dashjs', 'dash.js'), 'export {};\n');
writeFileSync(join(dir, 'secret.txt'), 'not for clients\n');

let failed = 0;
function check(ok, what, detail) {
  if (!ok) failed++;
  process.stdout.write(`${ok ? 'ok' : 'FAIL'}: ${what}${ok ? '' : ` (${detail})`}\n`);
}

const server = spawn(process.execPath, [join(here, 'player', 'serve.mjs'), '--listen',
  '127.0.0.1:0', '--edge', 'http://127.0.0.1:1', '--dashjs', join(dir, 'dashjs')],
{ stdio: ['ignore', 'pipe', 'pipe'] });
let log = '';
server.stderr.on('data', (b) => { log += b; });
const exited = new Promise((resolve) => { server.on('exit', (code) => resolve(code)); });
try {
  const base = await new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (b) => {
      out += b;
      const m = /^PLAYER_URL=(\S+)\n/.exec(out);
      if (m) resolve(m[1]);
    });
    server.on('exit', () => reject(new Error(`serve.mjs exited: ${log}`)));
  });
  const status = async (path) => (await fetch(base + path)).status;
  for (const path of ['vendor/dashjs/%E0', 'vendor/dashjs/%', 'vendor/dashjs/a%ZZb.js']) {
    const got = await status(path);
    check(got === 400, `malformed percent-encoding in /${path}: 400`, `${got}`);
  }
  check(!/URI malformed|internal/.test(log), 'nothing logged as the server\'s own error',
    log.trim());
  for (const path of ['vendor/dashjs/..%2fsecret.txt', 'vendor/dashjs/%2e%2e/secret.txt']) {
    const got = await status(path);
    check(got === 404, `/${path} climbs out of the vendor directory: 404`, `${got}`);
  }
  const ok = await status('vendor/dashjs/dash.js');
  check(ok === 200, 'a file inside the vendor directory: 200', `${ok}`);
  server.kill('SIGTERM');
  const code = await exited;
  check(code === 0, 'SIGTERM: exit 0', `${code}`);
} catch (e) {
  check(false, 'serve.mjs answered', e.message);
  server.kill('SIGKILL');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
