/**
 * Many consumers on one dump spool: three importer processes, each with
 * four dump workers (-D 4), nothing crashing. Each message is handled
 * exactly once: per job exactly one StartUpload refused (unknown job), one
 * failsafe registration, one StartUpload accepted and one commit — no call
 * more — and the work is shared.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatUploadMessage } from '../../src/messages/keyvalue.js';
import { importerArgs, jobId, spoolDirs, startImporter } from '../helpers/daemon.js';
import { readCalls, startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { drained, mapLimit, pollUntil, sized, spoolCounts, storeMany, storeManyLikeLb } from '../helpers/chaos.js';
import { stopImporter, workerDeaths } from './procs.js';

const N = sized(300, 2_000);
const PROCS = 3;

test(`Many consumers: ${PROCS} importer processes x -D 4 on one dump spool, ${N} uploads: each message handled exactly once`,
  { timeout: sized(180_000, 900_000) }, async (t) => {
    const dir = await tempDir(t);
    const svc = await startService(dir, { ftpListen: '127.0.0.1:0' });
    t.after(() => svc.close());
    const files = join(dir, 'files');
    await mkdir(files);
    const dump = join(dir, 'dump');
    await spoolDirs(dump);
    const jobs = Array.from({ length: N }, (_, i) => jobId(`mc_${i}`));
    const path = (i: number): string => join(files, `mc_${i}.dump`);
    await mapLimit(jobs, 16, (j, i) => writeFile(path(i), `DG.JOBID="${j}" DG.EVNT="Ev${i}"\n`.repeat(1 + (i % 20))));
    const bodies = jobs.map((j, i) => formatUploadMessage({ jobid: j, file: path(i) }));
    // half as the C exporter's maildir writer leaves them, half as this port's Spool.store
    await storeManyLikeLb(dump, bodies.slice(0, N / 2));

    const imps = Array.from({ length: PROCS }, (_, k) => {
      const args = importerArgs(svc.httpsPort, dir, ['--workers', 'dump', '-D', '4', '--ftp-connections', '2', '--allow-dir', files]);
      args[args.indexOf('-i') + 1] = join(dir, `jp-importer-${k}.pid`);
      return startImporter(args);
    });
    t.after(() => imps.forEach((i) => i.child.kill('SIGKILL')));
    await Promise.all(imps.map((i) => i.waitForLog((l) => l.msg === 'jp-importer running', 30_000)));
    await storeMany(dump, bodies.slice(N / 2)); // the rest arrives while they work
    await pollUntil(async () => svc.stats().filesCommitted === N && (await drained(dump)), sized(150_000, 850_000), `${N} committed`, 100);

    const calls = await readCalls(svc.callsFile);
    const per = new Map<string, string[]>();
    for (const c of calls) {
      const key = String(c.job);
      per.set(key, [...(per.get(key) ?? []), `${c.op}:${c.ok ? 'ok' : `fault ${String(c.fault)}`}`]);
    }
    assert.equal(per.size, N, 'calls name exactly the N jobs');
    for (const j of jobs) {
      assert.deepEqual(per.get(j), ['StartUpload:fault 2', 'GetJobAttributes:fault 2', 'RegisterJob:ok', 'StartUpload:ok', 'CommitUpload:ok'], j);
    }
    assert.equal(calls.length, 5 * N, 'no call more');
    for (let i = 0; i < N; i++) assert.equal(existsSync(path(i)), false, `${path(i)} removed after its commit`);
    assert.equal((await spoolCounts(dump)).undeliverable, 0);

    const byProcess = imps.map((imp) => imp.logs.filter((l) => l['outcome'] === 'delivered').length);
    const workers = new Set(imps.flatMap((imp, k) => imp.logs.filter((l) => l['outcome'] === 'delivered').map((l) => `${k}/${String(l['worker'])}`)));
    t.diagnostic(`delivered per process: ${byProcess.join(' ')}; ${workers.size} workers delivered`);
    assert.equal(byProcess.reduce((a, b) => a + b, 0), N, 'one delivery per message in the logs');
    assert.ok(byProcess.filter((n) => n > 0).length >= 2, 'shared between processes');
    assert.ok(workers.size >= 4, 'shared between workers');
    for (const imp of imps) assert.deepEqual(workerDeaths(imp), []);
    assert.deepEqual(await Promise.all(imps.map((i) => stopImporter(i))), imps.map(() => 0));
  });
