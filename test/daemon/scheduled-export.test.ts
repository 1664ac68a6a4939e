/**
 * A scheduled export-dumps task in the daemon turns a dropped LB purge dump
 * into uploads with no manual step; runs of a task never overlap, also
 * across processes.
 */
import assert from 'node:assert/strict';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import lockfile from 'proper-lockfile';
import { validateOptions } from '../../src/config/options.js';
import { silentLogger } from '../../src/core/log.js';
import { runTaskLocked, taskLockDir } from '../../src/daemon/tasks.js';
import { storeLikeLb } from '../../src/maildir/lb-writer.js';
import type { PruneStoreSpec } from '../../src/schedule/index.js';
import { devCerts } from '../helpers/certs.js';
import { jobId, OWNER, spoolDirs, startImporter, until } from '../helpers/daemon.js';
import { readCalls, startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

const event = (job: string, n: number) =>
  `DG.ARRIVED=20261121100000.00000${n} DATE=20261121100000.00000${n} HOST="lb.example.org" PROG=edg-wms LVL=SYSTEM DG.EVNT="RegJob" DG.JOBID="${job}" DG.DESCR="event ${n}"`;

test('a dump dropped into the watched directory is exported and uploaded by the daemon on schedule', async (t) => {
  const dir = await tempDir(t);
  const svc = await startService(dir, { ftpListen: '127.0.0.1:0' });
  t.after(() => svc.close());
  const jobs = [jobId('sched0'), jobId('sched1'), jobId('sched2')];
  await spoolDirs(join(dir, 'reg'));
  for (const j of jobs) await storeLikeLb(join(dir, 'reg'), `${j}\n${OWNER}`);
  for (const d of ['lb-dumps', 'dump-files']) await mkdir(join(dir, d));
  const c = devCerts();
  const conf = join(dir, 'jp-importer.conf');
  await writeFile(conf, `[importer]\njpps = 127.0.0.1:${svc.httpsPort}\ncert = ${c.client}\nkey = ${c.clientKey}\ncadir = ${c.caDir}\n` +
    'reg-mdir = reg\ndump-mdir = dump\nsandbox-mdir = sandbox\nworkers = reg,dump\nallow-dir = dump-files\npidfile = jp-importer.pid\npoll = 200ms\n\n' +
    '[task export-dumps]\nschedule = */1 * * * * *\naction = export-dumps\ndumps = lb-dumps\nstore = dump-files\n');
  const imp = startImporter(['--foreground', '--config', conf]);
  t.after(() => imp.child.kill('SIGKILL'));
  await imp.waitForLog((l) => l.msg === 'jp-importer running');
  // registrations first (dumps of unknown jobs would take the failsafe path, also fine)
  await until(async () => (await readCalls(svc.callsFile)).filter((x) => x.op === 'RegisterJob' && x.ok).length === 3, 20_000, 'registered');
  const dump = join(dir, 'lb-dumps', 'purge-1.dump');
  await writeFile(dump, [0, 1, 2, 3, 4, 5].map((n) => event(jobs[n % 3] as string, n)).join('\n') + '\n');
  const old = new Date(Date.now() - 120_000);
  await utimes(dump, old, old); // a finished dump (fresh files are left to settle)
  await until(async () => (await readCalls(svc.callsFile)).filter((x) => x.op === 'CommitUpload' && x.ok).length === 3, 30_000, 'three uploads');
  const run = await imp.waitForLog((l) => l['task'] === 'export-dumps' && l['outcome'] === 'ok');
  assert.ok(typeof run['ms'] === 'number' || typeof run['durationMs'] === 'number' || run['summary'] !== undefined, JSON.stringify(run));
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0);
});

test('a task already running in another process is skipped, not started twice', async (t) => {
  const dir = await tempDir(t);
  const o = validateOptions({ pidfile: join(dir, 'p.pid'), store: join(dir, 'store') }, {});
  await mkdir(taskLockDir(o), { recursive: true });
  const target = join(taskLockDir(o), 'prune');
  const release = await lockfile.lock(target, { realpath: false });
  const spec: PruneStoreSpec = { name: 'prune', action: 'prune-store', schedule: '0 3 * * *', overdueMs: undefined, source: 'test [task prune]',
    dir: join(dir, 'store'), olderThanMs: 1000 };
  const r = await runTaskLocked(spec, o, silentLogger);
  assert.equal(r.ok, true);
  assert.match(r.summary, /another process is running this task/);
  await release();
});
