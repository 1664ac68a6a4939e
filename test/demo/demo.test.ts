/**
 * `npm run demo`, the README's first command, end to end: the reference
 * service, the importer, registrations, a dump export, sandboxes and (with
 * the Globus server installed) a gsiftp:// upload, each delivered; exit 0.
 * It writes into the checkout's demo-data/ and maildir/demo/ as the demo
 * itself does (both git-ignored).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { PACKAGE_ROOT } from '../../src/config/paths.js';

test('npm run demo: every registration, dump and sandbox delivered, exit 0', { timeout: 300_000 }, async () => {
  const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'scripts', 'demo.js')], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  // eslint-disable-next-line no-control-regex
  const text = out.replace(/\u001b\[[0-9;]*m/g, '');
  const tail = text.split('\n').slice(-40).join('\n');
  assert.equal(code, 0, tail);
  assert.match(text, /registrations delivered : 12\b/, tail);
  assert.match(text, /dumps uploaded\+committed: 12\b/, tail);
  assert.match(text, /sandboxes uploaded {6}: 3\b/, tail);
  assert.match(text, /still queued {12}: 0\b/, tail);
  assert.match(text, /importer exit code {6}: 0\b/, tail);
  if (!/gsiftp:\/\/ dump {10}: skipped/.test(text)) assert.match(text, /gsiftp:\/\/ dump {10}: 1 committed/, tail);
});
