/**
 * An upload attempt that failed after StartUpload answered is finished by
 * the next attempt (the upload is kept in the message's retry state), end to
 * end: the real jp-importer CLI, the mutual-TLS reference service and its
 * FTP endpoint on loopback. Without it the service refuses the next
 * StartUpload (EEXIST: stored, or an upload in progress for 5 min) and the
 * message retries until it is given up although the data is stored.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatUploadMessage } from '../../src/messages/keyvalue.js';
import { Spool } from '../../src/maildir/spool.js';
import { importerArgs, jobId, listMessages, spoolDirs, startImporter } from '../helpers/daemon.js';
import { readCalls, startService, type Call } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

const summary = (calls: Call[]): string[] =>
  calls.map((c) => `${c.op}:${c.ok ? 'ok' : `fault ${c.fault}`}${c['answerLost'] === true ? ' (answer lost)' : ''}`);

function serverFile(filesDir: string, destination: string): string {
  return join(filesDir, decodeURIComponent(new URL(destination).pathname));
}

/** A dump of `bytes` random bytes for a job the service does not know yet (the failsafe registers it). */
async function oneDump(dir: string, name: string, bytes: number) {
  const files = join(dir, 'files');
  await mkdir(files);
  const path = join(files, `${name}.dump`);
  const data = randomBytes(bytes);
  await writeFile(path, data);
  const dump = join(dir, 'dump');
  await spoolDirs(dump);
  const spool = new Spool(dump);
  const msg = await spool.store(formatUploadMessage({ jobid: jobId(name), file: path }));
  return { files, path, data, dump, spool, msg };
}

const retryFast = ['--retry-first', '1s', '--retry-max', '2s'];

test('CommitUpload done but its answer lost: the next attempt finds the file stored (same size) and delivers; one commit; file removed only then', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const svc = await startService(dir, { ftpListen: '127.0.0.1:0' });
  t.after(() => svc.close());
  const d = await oneDump(dir, 'lost', 400_000);
  svc.setHooks({ loseAnswerNext: 1, loseAnswerOp: 'CommitUpload' });
  const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--workers', 'dump', '--allow-dir', d.files, ...retryFast]));
  t.after(() => imp.child.kill('SIGKILL'));

  const retry = await imp.waitForLog((l) => l['outcome'] === 'retry', 30_000);
  assert.match(String(retry['reason']), /^CommitUpload: /);
  assert.equal(svc.stats().filesCommitted, 1, 'the service did commit');
  assert.ok(existsSync(d.path), 'the local file stays while the commit is unconfirmed');
  const meta = await d.spool.readMeta('post', d.msg);
  const started = (await readCalls(svc.callsFile)).find((c) => c.op === 'StartUpload' && c.ok);
  assert.deepEqual(meta?.upload && { destination: meta.upload.destination, size: meta.upload.size, commitUnknown: meta.upload.commitUnknown },
    { destination: started?.['destination'], size: d.data.length, commitUnknown: true });

  const done = await imp.waitForLog((l) => l['outcome'] === 'delivered', 30_000);
  assert.match(String(done['note']), /^already stored: the earlier CommitUpload was done though its answer was lost/);
  const calls = await readCalls(svc.callsFile);
  assert.deepEqual(summary(calls), [
    'StartUpload:fault 2', 'GetJobAttributes:fault 2', 'RegisterJob:ok', 'StartUpload:ok', 'CommitUpload:ok (answer lost)',
    // next attempt: no upload in progress, and the job's file is stored
    'CommitUpload:fault 2', 'StartUpload:fault 17', 'GetJobAttributes:ok',
  ]);
  assert.equal(svc.stats().filesCommitted, 1);
  assert.equal(svc.stats().answersLost, 1);
  assert.deepEqual(await readFile(serverFile(svc.filesDir, String(started?.['destination']))), d.data);
  assert.equal(existsSync(d.path), false, 'removed once confirmed');
  for (const s of ['new', 'cur', 'post', 'undeliverable']) assert.deepEqual(await listMessages(join(d.dump, s)), [], s);
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0);
});

test('transfer cut until the attempt gives up (retry later): the next attempt resumes into the same destination and commits, no new StartUpload', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const svc = await startService(dir, { ftpListen: '127.0.0.1:0' });
  t.after(() => svc.close());
  const d = await oneDump(dir, 'cut3', 2 * 1024 * 1024);
  // the three tries of one attempt are all cut
  svc.setHooks({ ftpDropAfterBytes: 300_000, ftpDropCount: 3 });
  const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--workers', 'dump', '--allow-dir', d.files, ...retryFast]));
  t.after(() => imp.child.kill('SIGKILL'));

  const retry = await imp.waitForLog((l) => l['outcome'] === 'retry', 30_000);
  assert.match(String(retry['reason']), /^FTP upload: /);
  assert.ok(existsSync(d.path));
  const started = (await readCalls(svc.callsFile)).find((c) => c.op === 'StartUpload' && c.ok);
  const meta = await d.spool.readMeta('post', d.msg);
  assert.equal(meta?.upload?.destination, started?.['destination']);
  assert.equal(meta?.upload?.commitUnknown, false);

  const done = await imp.waitForLog((l) => l['outcome'] === 'delivered', 30_000);
  assert.match(String(done['note']), /^committed into the upload of an earlier attempt \(resumed at byte \d+ of 2097152\)/);
  const calls = await readCalls(svc.callsFile);
  // the service would answer a second StartUpload with EEXIST (upload in progress) for 5 minutes
  assert.deepEqual(summary(calls), ['StartUpload:fault 2', 'GetJobAttributes:fault 2', 'RegisterJob:ok', 'StartUpload:ok', 'CommitUpload:ok']);
  const commit = calls.find((c) => c.op === 'CommitUpload');
  assert.equal(commit?.['destination'], started?.['destination']);
  assert.equal(commit?.['bytes'], d.data.length);
  assert.deepEqual(await readFile(serverFile(svc.filesDir, String(started?.['destination']))), d.data);
  assert.equal(existsSync(d.path), false);
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0);
});
