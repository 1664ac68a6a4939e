/**
 * uploadFiles() → sandbox worker → jp-primary-dev: the tar that arrives
 * holds entries equal to the input files.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { extract } from 'tar-stream';
import { uploadFiles } from '../../src/index.js';
import { importerArgs, jobId, OWNER, spoolDirs, startImporter } from '../helpers/daemon.js';
import { storeLikeLb } from '../../src/maildir/lb-writer.js';
import { readCalls, startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

async function readTar(path: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        out.set(header.name, Buffer.concat(chunks));
        next();
      });
      stream.resume();
    });
    ex.on('finish', () => resolve());
    ex.on('error', reject);
  });
  createReadStream(path).pipe(ex);
  await done;
  return out;
}

test('uploadFiles() → sandbox worker → primary service: the stored tar holds the input files', async (t) => {
  const dir = await tempDir(t);
  const svc = await startService(dir, { ftpListen: '127.0.0.1:0' });
  t.after(() => svc.close());
  const reg = join(dir, 'reg');
  await spoolDirs(reg);
  await storeLikeLb(reg, `${jobId('sb')}\n${OWNER}`);
  const inputs = join(dir, 'job-output');
  await mkdir(join(inputs, 'a'.repeat(120)), { recursive: true });
  const files = {
    [join(inputs, 'stdout.txt')]: Buffer.from('hello\n'),
    [join(inputs, 'a'.repeat(120), 'long-name-beyond-100-bytes.bin')]: randomBytes(100_000),
  };
  for (const [p, data] of Object.entries(files)) await writeFile(p, data);
  const sandbox = join(dir, 'sandbox');
  const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--workers', 'reg,sandbox']));
  t.after(() => imp.child.kill('SIGKILL'));
  // The job is registered first (sandboxes have no failsafe registration).
  await imp.waitForLog((l) => l['outcome'] === 'delivered' && l['worker'] === 'reg', 30_000);
  const id = await uploadFiles(jobId('sb'), Object.keys(files), { maildir: sandbox });
  assert.match(id, /^\d+_\d+/);
  const line = await imp.waitForLog((l) => l['outcome'] === 'delivered' && l['worker'] === 'sandbox', 30_000);
  assert.equal(line['id'], id);
  const calls = await readCalls(svc.callsFile);
  const commit = calls.find((c) => c.op === 'CommitUpload' && c.ok);
  assert.ok(commit, JSON.stringify(calls));
  const start = calls.find((c) => c.op === 'StartUpload' && c.ok);
  assert.equal(start?.['class'], 'urn:org.glite.jp.primary:isb');
  const tar = await readTar(join(svc.filesDir, decodeURIComponent(new URL(String(commit['destination'])).pathname)));
  assert.equal(tar.size, 2);
  for (const [p, data] of Object.entries(files)) assert.deepEqual(tar.get(p.replace(/^\/+/, '')), data, p);
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0);
});
