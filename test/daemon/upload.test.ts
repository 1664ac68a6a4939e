/**
 * Dump and sandbox uploads end to end: the real jp-importer CLI, the
 * mutual-TLS reference service and its FTP(S) endpoint on loopback.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatUploadMessage } from '../../src/messages/keyvalue.js';
import { storeLikeLb } from '../../src/maildir/lb-writer.js';
import { Spool } from '../../src/maildir/spool.js';
import { CLIENT_SUBJECT } from '../helpers/certs.js';
import { importerArgs, jobId, listMessages, OWNER, spoolDirs, startImporter, until } from '../helpers/daemon.js';
import { readCalls, startService, type Call } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

const ok = (calls: Call[], op: string) => calls.filter((c) => c.op === op && c.ok);

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function registerJobs(port: number, dir: string, jobs: string[]): Promise<void> {
  // Registration through the importer itself, as in production.
  const reg = join(dir, 'reg');
  await spoolDirs(reg);
  for (const j of jobs) await storeLikeLb(reg, `${j}\n${OWNER}`);
  const imp = startImporter(importerArgs(port, dir, ['--workers', 'reg']));
  await until(async () => (await listMessages(join(reg, 'new'))).length === 0 && (await listMessages(join(reg, 'cur'))).length === 0, 20_000, 'registrations');
  imp.child.kill('SIGTERM');
  await imp.exited;
}

function serverFile(filesDir: string, destination: string): string {
  return join(filesDir, decodeURIComponent(new URL(destination).pathname));
}

test('dump (kept in --store) and sandbox (removed) are uploaded over FTPS and committed; bytes equal', async (t) => {
  const dir = await tempDir(t);
  const svc = await startService(dir, { ftpListen: '127.0.0.1:0', ftps: true });
  t.after(() => svc.close());
  await registerJobs(svc.httpsPort, dir, [jobId('d1'), jobId('s1')]);
  const files = join(dir, 'files');
  const store = join(dir, 'kept');
  await mkdir(files);
  const dumpData = randomBytes(300_000);
  const tarData = randomBytes(70_000);
  await writeFile(join(files, 'd1.dump'), dumpData);
  await writeFile(join(files, 's1.tar'), tarData);
  for (const d of ['dump', 'sandbox']) await spoolDirs(join(dir, d));
  await new Spool(join(dir, 'dump')).store(formatUploadMessage({ jobid: jobId('d1'), file: join(files, 'd1.dump') }));
  await new Spool(join(dir, 'sandbox')).store(formatUploadMessage({ jobid: jobId('s1'), file: join(files, 's1.tar'), proxy: '/tmp/x509up_u0' }));
  const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--workers', 'dump,sandbox', '--allow-dir', files, '-S', store]));
  t.after(() => imp.child.kill('SIGKILL'));
  await until(async () => ok(await readCalls(svc.callsFile), 'CommitUpload').length === 2, 30_000, 'two commits');
  const calls = await readCalls(svc.callsFile);
  const starts = ok(calls, 'StartUpload');
  const dumpStart = starts.find((c) => c.job === jobId('d1'));
  const sbStart = starts.find((c) => c.job === jobId('s1'));
  assert.equal(dumpStart?.['class'], 'urn:org.glite.jp.primary:lb');
  assert.equal(sbStart?.['class'], 'urn:org.glite.jp.primary:isb');
  assert.match(String(dumpStart?.['destination']), /^ftps:\/\/127\.0\.0\.1:\d+\//);
  assert.deepEqual(await readFile(serverFile(svc.filesDir, String(dumpStart?.['destination']))), dumpData);
  assert.deepEqual(await readFile(serverFile(svc.filesDir, String(sbStart?.['destination']))), tarData);
  await imp.waitForLog((l) => l['outcome'] === 'delivered' && l['job'] === jobId('s1'));
  await imp.waitForLog((l) => l['outcome'] === 'delivered' && l['job'] === jobId('d1'));
  assert.equal(existsSync(join(files, 'd1.dump')), false);
  assert.equal(existsSync(join(files, 's1.tar')), false);
  assert.deepEqual(await readFile(join(store, 'd1.dump')), dumpData, 'moved into --store');
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0);
});

test('failsafe registration: a dump of an unknown job registers it (owner = our certificate subject), then uploads', async (t) => {
  const dir = await tempDir(t);
  const svc = await startService(dir, { ftpListen: '127.0.0.1:0' });
  t.after(() => svc.close());
  const files = join(dir, 'files');
  await mkdir(files);
  await writeFile(join(files, 'u.dump'), 'DG.JOBID="x"\n');
  await spoolDirs(join(dir, 'dump'));
  await new Spool(join(dir, 'dump')).store(formatUploadMessage({ jobid: jobId('unknown'), file: join(files, 'u.dump') }));
  const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--workers', 'dump', '--allow-dir', files]));
  t.after(() => imp.child.kill('SIGKILL'));
  await until(async () => ok(await readCalls(svc.callsFile), 'CommitUpload').length === 1, 30_000, 'commit');
  const calls = await readCalls(svc.callsFile);
  assert.deepEqual(calls.map((c) => `${c.op}:${c.ok ? 'ok' : `fault ${c.fault}`}`),
    ['StartUpload:fault 2', 'GetJobAttributes:fault 2', 'RegisterJob:ok', 'StartUpload:ok', 'CommitUpload:ok']);
  assert.equal(ok(calls, 'RegisterJob')[0]?.owner, CLIENT_SUBJECT);
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0);
});

test('a transfer cut after N bytes is resumed and committed exactly once; the C exporter glued format works', async (t) => {
  const dir = await tempDir(t);
  const svc = await startService(dir, { ftpListen: '127.0.0.1:0' });
  t.after(() => svc.close());
  await registerJobs(svc.httpsPort, dir, [jobId('cut')]);
  const files = join(dir, 'files');
  await mkdir(files);
  const data = randomBytes(2 * 1024 * 1024);
  await writeFile(join(files, 'cut.dump'), data);
  await spoolDirs(join(dir, 'dump'));
  // As the C lb_dump_exporter writes it with -j: no newline between file and jpps.
  await storeLikeLb(join(dir, 'dump'), `jobid  ${jobId('cut')}\nfile   ${join(files, 'cut.dump')}jpps   127.0.0.1:${svc.httpsPort}`);
  svc.setHooks({ ftpDropAfterBytes: 300_000 });
  // -p points nowhere useful: the message's own jpps must be used.
  const args = importerArgs(svc.httpsPort, dir, ['--workers', 'dump', '--allow-dir', files]);
  args[args.indexOf('-p') + 1] = '127.0.0.1:1';
  const imp = startImporter(args);
  t.after(() => imp.child.kill('SIGKILL'));
  await imp.waitForLog((l) => l['outcome'] === 'delivered', 30_000);
  const calls = await readCalls(svc.callsFile);
  const commits = ok(calls, 'CommitUpload');
  assert.equal(commits.length, 1, 'committed once');
  assert.equal(commits[0]?.['bytes'], data.length);
  const dest = String(ok(calls, 'StartUpload')[0]?.['destination']);
  assert.deepEqual(await readFile(serverFile(svc.filesDir, dest)), data);
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0);
});

test('files outside the allowed directories (../, symlink, /etc/shadow) are given up with a reason and never uploaded', async (t) => {
  const dir = await tempDir(t);
  const svc = await startService(dir, { ftpListen: '127.0.0.1:0' });
  t.after(() => svc.close());
  const files = join(dir, 'files');
  await mkdir(files);
  await writeFile(join(dir, 'secret'), 'top secret');
  await symlink(join(dir, 'secret'), join(files, 'link.dump'));
  const dump = join(dir, 'dump');
  await spoolDirs(dump);
  const spool = new Spool(dump);
  const names = [
    await spool.store(formatUploadMessage({ jobid: jobId('dotdot'), file: `${files}/../secret` })),
    await spool.store(formatUploadMessage({ jobid: jobId('symlink'), file: join(files, 'link.dump') })),
    await spool.store(formatUploadMessage({ jobid: jobId('shadow'), file: '/etc/shadow' })),
  ];
  const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--workers', 'dump', '--allow-dir', files]));
  t.after(() => imp.child.kill('SIGKILL'));
  await until(async () => (await listMessages(join(dump, 'undeliverable'))).length === 3, 20_000, 'three given up');
  for (const n of names) {
    const reason = (await spool.readMeta('undeliverable', n))?.gaveUpReason ?? '';
    assert.match(reason, /allowed|outside/i, reason);
  }
  assert.deepEqual((await readCalls(svc.callsFile)).filter((c) => c.op === 'StartUpload'), [], 'nothing was started');
  assert.equal(await readFile(join(dir, 'secret'), 'utf8'), 'top secret');
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0);
});

test('-D 4: four dump workers on one subtree upload each message exactly once', async (t) => {
  const dir = await tempDir(t);
  const svc = await startService(dir, { ftpListen: '127.0.0.1:0' });
  t.after(() => svc.close());
  const N = 40;
  const jobs = Array.from({ length: N }, (_, i) => jobId(`multi${i}`));
  await registerJobs(svc.httpsPort, dir, jobs);
  const files = join(dir, 'files');
  await mkdir(files);
  const dump = join(dir, 'dump');
  await spoolDirs(dump);
  for (let i = 0; i < N; i++) {
    await writeFile(join(files, `m${i}.dump`), `dump ${i}\n`);
    await storeLikeLb(dump, formatUploadMessage({ jobid: jobs[i] as string, file: join(files, `m${i}.dump`) }));
  }
  const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--workers', 'dump', '-D', '4', '--allow-dir', files]));
  t.after(() => imp.child.kill('SIGKILL'));
  await until(async () => ok(await readCalls(svc.callsFile), 'CommitUpload').length >= N, 60_000, `${N} commits`);
  await until(async () => (await listMessages(join(dump, 'new'))).length + (await listMessages(join(dump, 'cur'))).length === 0, 10_000, 'spool drained');
  const calls = await readCalls(svc.callsFile);
  const commitsPerJob = new Map<string, number>();
  for (const c of ok(calls, 'CommitUpload')) commitsPerJob.set(String(c.job), (commitsPerJob.get(String(c.job)) ?? 0) + 1);
  assert.equal(commitsPerJob.size, N);
  assert.ok([...commitsPerJob.values()].every((n) => n === 1), 'each exactly once');
  const workers = new Set(imp.logs.filter((l) => l['outcome'] === 'delivered').map((l) => l['worker']));
  assert.ok(workers.size >= 2, `work was shared: ${[...workers].join(', ')}`);
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0);
});

test('FTP server down: uploads retried with backoff, nothing lost or given up; delivered when it is back', async (t) => {
  const dir = await tempDir(t);
  const ftpPort = await freePort();
  let svc = await startService(dir, { destinationBase: `ftp://127.0.0.1:${ftpPort}/` });
  const port = svc.httpsPort;
  await registerJobs(port, dir, [jobId('ftpdown0'), jobId('ftpdown1')]);
  const files = join(dir, 'files');
  await mkdir(files);
  const dump = join(dir, 'dump');
  await spoolDirs(dump);
  for (let i = 0; i < 2; i++) {
    await writeFile(join(files, `f${i}.dump`), `dump ${i}\n`);
    await storeLikeLb(dump, formatUploadMessage({ jobid: jobId(`ftpdown${i}`), file: join(files, `f${i}.dump`) }));
  }
  const imp = startImporter(importerArgs(port, dir, ['--workers', 'dump', '--allow-dir', files, '--retry-first', '150ms', '--retry-max', '1s']));
  t.after(() => imp.child.kill('SIGKILL'));
  const spool = new Spool(dump);
  await until(async () => {
    const post = await listMessages(join(dump, 'post'));
    const metas = await Promise.all(post.map((n) => spool.readMeta('post', n)));
    return post.length === 2 && metas.every((m) => (m?.attempts ?? 0) >= 2);
  }, 30_000, 'two failed attempts each');
  assert.ok(existsSync(join(files, 'f0.dump')) && existsSync(join(files, 'f1.dump')), 'local files kept');
  await svc.close();
  // The uploads started while FTP was down hold their name for up to 5 min
  // (EEXIST "upload in progress", as the real service does): the restarted
  // service's clock is 10 min ahead so they have expired.
  svc = await startService(dir, { listen: `127.0.0.1:${port}`, ftpListen: `127.0.0.1:${ftpPort}`, clock: { now: () => Date.now() + 600_000 } });
  t.after(() => svc.close());
  await until(async () => ok(await readCalls(svc.callsFile), 'CommitUpload').length === 2, 30_000, 'both committed after recovery');
  assert.deepEqual(await listMessages(join(dump, 'undeliverable')), []);
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0);
});
