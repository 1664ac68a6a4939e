/**
 * The master's supervision with real signals: a worker killed mid-batch is
 * restarted and nothing is lost; SIGTERM while busy stops within 10 s.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { storeLikeLb } from '../../src/maildir/lb-writer.js';
import { importerArgs, jobId, listMessages, OWNER, spoolDirs, startImporter, until } from '../helpers/daemon.js';
import { readCalls, registeredJobs, startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

test('a worker killed with SIGKILL mid-batch is restarted; every message is delivered, none lost, cur/ empty', async (t) => {
  const dir = await tempDir(t);
  const svc = await startService(dir, { hooks: { latencyMs: 15 } });
  t.after(() => svc.close());
  const reg = join(dir, 'reg');
  await spoolDirs(reg);
  const N = 300;
  for (let i = 0; i < N; i++) await storeLikeLb(reg, `${jobId(`k${i}`)}\n${OWNER}`);
  const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--concurrency', '8']));
  t.after(() => imp.child.kill('SIGKILL'));
  const started = await imp.waitForLog((l) => l.msg === 'worker started');
  await until(async () => (await registeredJobs(svc.callsFile)).size >= 40, 30_000, '40 delivered');
  const inCur = (await listMessages(join(reg, 'cur'))).length;
  process.kill(Number(started['workerPid']), 'SIGKILL');
  const died = await imp.waitForLog((l) => /worker died; restarting/.test(String(l.msg)));
  assert.equal(died['signal'], 'SIGKILL');
  await imp.waitForLog((l) => l.msg === 'returned claims of dead processes to the queue');
  await until(async () => (await registeredJobs(svc.callsFile)).size === N, 60_000, `all ${N} registered`);
  await until(async () => (await listMessages(join(reg, 'new'))).length === 0 && (await listMessages(join(reg, 'cur'))).length === 0,
    10_000, 'spool drained');
  const calls = (await readCalls(svc.callsFile)).filter((c) => c.op === 'RegisterJob');
  const duplicates = calls.filter((c) => !c.ok && c.fault === 17).length;
  assert.ok(duplicates <= Math.max(inCur, 8), `duplicates (${duplicates}) bounded by the messages in flight at the kill`);
  assert.deepEqual(await listMessages(join(reg, 'undeliverable')), []);
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0);
});

test('SIGTERM while busy: exit within 10 s, pidfile gone, nothing lost, nothing left claimed', async (t) => {
  const dir = await tempDir(t);
  const svc = await startService(dir, { hooks: { latencyMs: 40 } });
  t.after(() => svc.close());
  const reg = join(dir, 'reg');
  await spoolDirs(reg);
  const N = 300;
  for (let i = 0; i < N; i++) await storeLikeLb(reg, `${jobId(`term${i}`)}\n${OWNER}`);
  const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--concurrency', '4']));
  t.after(() => imp.child.kill('SIGKILL'));
  await until(async () => (await registeredJobs(svc.callsFile)).size >= 20, 30_000, '20 delivered');
  const t0 = Date.now();
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0);
  const took = Date.now() - t0;
  assert.ok(took < 10_000, `stopped in ${took} ms`);
  assert.equal(existsSync(join(dir, 'jp-importer.pid')), false, 'pidfile removed');
  assert.deepEqual(await listMessages(join(reg, 'cur')), [], 'nothing left claimed');
  const registered = await registeredJobs(svc.callsFile);
  const waiting = (await listMessages(join(reg, 'new'))).length + (await listMessages(join(reg, 'post'))).length;
  assert.ok(registered.size < N, 'it was stopped mid-run');
  assert.equal(registered.size + waiting, N, 'every message is either delivered or still queued');
  const stopped = imp.logs.find((l) => l.msg === 'jp-importer stopped');
  assert.ok(stopped && typeof stopped['delivered'] === 'number');
});
