/**
 * The registration path end to end: the real jp-importer CLI against the
 * mutual-TLS reference service on loopback.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { storeLikeLb } from '../../src/maildir/lb-writer.js';
import { Spool } from '../../src/maildir/spool.js';
import { devCerts } from '../helpers/certs.js';
import { importerArgs, jobId, listMessages, OWNER, spoolDirs, startImporter, until } from '../helpers/daemon.js';
import { readCalls, registeredJobs, startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

test('a message written like the C LB server (tmp link kept) is registered; afterwards neither link exists', async (t) => {
  const dir = await tempDir(t);
  const svc = await startService(dir);
  t.after(() => svc.close());
  const reg = join(dir, 'reg');
  await spoolDirs(reg);
  const name = await storeLikeLb(reg, `${jobId('c1')}\n${OWNER}`);
  assert.ok(existsSync(join(reg, 'tmp', name)) && existsSync(join(reg, 'new', name)));
  const imp = startImporter(importerArgs(svc.httpsPort, dir));
  t.after(() => imp.child.kill('SIGKILL'));
  const line = await imp.waitForLog((l) => l['outcome'] === 'delivered');
  assert.equal(line['id'], name);
  assert.equal(line['job'], jobId('c1'));
  const calls = await readCalls(svc.callsFile);
  assert.deepEqual(calls.map((c) => [c.op, c.job, c.owner, c.ok]), [['RegisterJob', jobId('c1'), OWNER, true]]);
  for (const d of ['tmp', 'new', 'cur', 'post', 'undeliverable']) assert.deepEqual(await listMessages(join(reg, d)), [], d);
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0);
});

test('malformed registrations are kept in undeliverable/ with a reason; valid ones beside them are delivered', async (t) => {
  const dir = await tempDir(t);
  const svc = await startService(dir);
  t.after(() => svc.close());
  const reg = join(dir, 'reg');
  await spoolDirs(reg);
  const bad: Record<string, Buffer> = {
    empty: Buffer.alloc(0),
    oneLine: Buffer.from(jobId('x')),
    binary: Buffer.from([0, 1, 2, 0xff, 0xfe]),
    huge: Buffer.alloc(10 * 1024 * 1024, 0x61),
    invalidUtf8: Buffer.concat([Buffer.from(`${jobId('u')}\n/CN=`), Buffer.from([0xc3, 0x28])]),
  };
  const badNames = new Map<string, string>();
  for (const [k, body] of Object.entries(bad)) badNames.set(await storeLikeLb(reg, body), k);
  for (let i = 0; i < 5; i++) await storeLikeLb(reg, `${jobId(`ok${i}`)}\n${OWNER}`);
  const imp = startImporter(importerArgs(svc.httpsPort, dir));
  t.after(() => imp.child.kill('SIGKILL'));
  await until(async () => (await registeredJobs(svc.callsFile)).size === 5 && (await listMessages(join(reg, 'undeliverable'))).length === 5,
    30_000, '5 delivered and 5 given up');
  const spool = new Spool(reg);
  const reasons: Record<string, string> = {};
  for (const n of await listMessages(join(reg, 'undeliverable'))) {
    reasons[badNames.get(n) ?? n] = (await spool.readMeta('undeliverable', n))?.gaveUpReason ?? '';
  }
  assert.match(reasons['empty'] ?? '', /empty/);
  assert.match(reasons['oneLine'] ?? '', /one line/);
  assert.match(reasons['binary'] ?? '', /UTF-8|NUL/);
  assert.match(reasons['huge'] ?? '', /10485760 bytes, more than the limit/);
  assert.match(reasons['invalidUtf8'] ?? '', /UTF-8/);
  assert.equal((await readFile(join(reg, 'undeliverable', [...badNames.entries()].find(([, k]) => k === 'huge')?.[0] ?? ''))).length, 10 * 1024 * 1024, 'kept whole');
  assert.equal(imp.child.exitCode, null, 'daemon still running');
  // and it keeps working afterwards
  await storeLikeLb(reg, `${jobId('after')}\n${OWNER}`);
  await until(async () => (await registeredJobs(svc.callsFile)).has(jobId('after')), 20_000, 'later message');
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0);
});

test('service down: the worker holds the messages and probes with one on growing delays; service back: all delivered, none given up', async (t) => {
  const dir = await tempDir(t);
  let svc = await startService(dir);
  const port = svc.httpsPort;
  await svc.close();
  const reg = join(dir, 'reg');
  await spoolDirs(reg);
  for (let i = 0; i < 5; i++) await storeLikeLb(reg, `${jobId(`down${i}`)}\n${OWNER}`);
  const imp = startImporter(importerArgs(port, dir, ['--retry-first', '150ms', '--retry-max', '1200ms']));
  t.after(() => imp.child.kill('SIGKILL'));
  // four probes after the first failure
  await imp.waitForLog((l) => l['destination'] === 'unreachable' && Number(l['failures']) >= 5, 30_000);
  const gate = imp.logs.filter((l) => l['destination'] === 'unreachable');
  const delays = gate.map((l) => Date.parse(String(l['nextProbe'])) - Number(l['time']));
  assert.deepEqual(gate.map((l) => l['failures']).slice(0, 5), [1, 2, 3, 4, 5]);
  // Measured from the log line's time, a few ms after the gate took its clock: equal delays (at the cap) may differ by that.
  assert.ok(delays.every((d, i) => i === 0 || d >= (delays[i - 1] as number) - 10), `probe delays grow: ${delays.join(', ')}`);
  assert.ok((delays[3] as number) > (delays[0] as number) && delays.every((d) => d <= 1200), `capped at --retry-max: ${delays.join(', ')}`);
  assert.match(String(gate[0]?.['reason']), /ECONNREFUSED|connect/i);
  // every message kept: failed ones in post/ with their state (probes re-use them), the others untouched in new/
  const spool = new Spool(reg);
  let metas: (Awaited<ReturnType<Spool['readMeta']>>)[] = [];
  await until(async () => {
    const post = await listMessages(join(reg, 'post'));
    const others = (await listMessages(join(reg, 'new'))).length + (await listMessages(join(reg, 'cur'))).length;
    metas = await Promise.all(post.map((n) => spool.readMeta('post', n)));
    return post.length + others === 5 && metas.some((m) => (m?.attempts ?? 0) >= 2);
  }, 10_000, 'all 5 kept, a probed one with two failed attempts');
  for (const m of metas) assert.match(m?.lastError ?? '', /ECONNREFUSED|connect/i);
  const retryLog = await imp.waitForLog((l) => l['outcome'] === 'retry');
  assert.ok(typeof retryLog['next'] === 'string' && typeof retryLog['reason'] === 'string');
  const attemptsWhileDown = imp.logs.filter((l) => l['outcome'] === 'retry').length;
  assert.ok(attemptsWhileDown <= 5 + gate.length, `${attemptsWhileDown} attempts: the first wave and one per probe`);
  svc = await startService(dir, { listen: `127.0.0.1:${port}` });
  t.after(() => svc.close());
  await until(async () => (await registeredJobs(svc.callsFile)).size === 5, 30_000, 'all 5 delivered after recovery');
  assert.deepEqual(await listMessages(join(reg, 'undeliverable')), []);
  await until(async () => (await listMessages(join(reg, 'post'))).length === 0, 10_000, 'post/ empty');
  await imp.waitForLog((l) => l['destination'] === 'reachable', 5_000);
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0);
});

test('a service whose certificate is from an unknown CA gets nothing; messages are kept for retry and the log says why', async (t) => {
  const dir = await tempDir(t);
  const c = devCerts();
  const svc = await startService(dir, { certFile: c.rogueServer, keyFile: c.rogueServerKey });
  t.after(() => svc.close());
  const reg = join(dir, 'reg');
  await spoolDirs(reg);
  await storeLikeLb(reg, `${jobId('tls')}\n${OWNER}`);
  const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--retry-first', '5m']));
  t.after(() => imp.child.kill('SIGKILL'));
  const line = await imp.waitForLog((l) => l['outcome'] === 'retry');
  assert.match(String(line['reason']), /certificate|CA|verify|TLS/i);
  assert.deepEqual(await readCalls(svc.callsFile), [], 'the service recorded nothing');
  assert.equal((await listMessages(join(reg, 'post'))).length, 1);
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0);
});

test('two instances with one pidfile: the second refuses with exit code 1 naming the running pid; a stale pidfile is taken over', async (t) => {
  const dir = await tempDir(t);
  const svc = await startService(dir);
  t.after(() => svc.close());
  const first = startImporter(importerArgs(svc.httpsPort, dir));
  t.after(() => first.child.kill('SIGKILL'));
  await first.waitForLog((l) => l.msg === 'jp-importer running');
  const second = startImporter(importerArgs(svc.httpsPort, dir));
  assert.equal(await second.exited, 1);
  assert.ok(second.logs.some((l) => new RegExp(`already running as pid ${first.child.pid}`).test(String(l.msg))),
    JSON.stringify(second.logs));
  first.child.kill('SIGKILL');
  await first.exited;
  // the dead master's pidfile and lock remain: a new instance takes them over
  assert.ok(existsSync(join(dir, 'jp-importer.pid')));
  const third = startImporter(importerArgs(svc.httpsPort, dir));
  t.after(() => third.child.kill('SIGKILL'));
  await third.waitForLog((l) => l.msg === 'jp-importer running');
  assert.equal((await readFile(join(dir, 'jp-importer.pid'), 'utf8')).trim(), String(third.child.pid));
  third.child.kill('SIGTERM');
  assert.equal(await third.exited, 0);
  assert.equal(existsSync(join(dir, 'jp-importer.pid')), false, 'pidfile removed at exit');
});

test('invalid flag values are refused with a message naming the flag', async (t) => {
  const dir = await tempDir(t);
  const imp = startImporter(['--foreground', '-D', 'lots', '-i', join(dir, 'p')]);
  assert.equal(await imp.exited, 1);
  assert.ok(imp.logs.some((l) => /--dump-slaves \(-D\): must be an integer from 1 to 20, got "lots"/.test(String(l.msg))), JSON.stringify(imp.logs));
  const unknown = startImporter(['--foreground', '--bogus-flag']);
  assert.equal(await unknown.exited, 1);
  assert.ok(unknown.logs.some((l) => /bogus-flag/.test(String(l.msg))));
  await writeFile(join(dir, 'x'), '');
});
