/**
 * R5: upload messages naming files outside the allowed directories (`../`,
 * symlinks out, a symlinked directory, a sibling with the same prefix,
 * /etc/shadow, FIFOs) are refused with a reason naming the path, and the
 * file is never read: no call reaches the service for them, a writer
 * blocked on each FIFO never sees a reader, the regular files' access
 * times do not move, and nothing is removed.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatUploadMessage } from '../../src/messages/keyvalue.js';
import { importerArgs, jobId, spoolDirs, startImporter } from '../helpers/daemon.js';
import { readCalls, startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { atimeWorks, drained, pollUntil, spoolCounts, storeMany, undeliverableReasons } from '../helpers/chaos.js';
import { fifoHasReader, mkfifo, stopImporter } from './procs.js';

const OLD = new Date('2000-01-01T00:00:00Z');

/** A writer blocked in open() until some process opens the FIFO for reading. */
function blockedWriter(fifo: string): ChildProcess {
  return spawn('sh', ['-c', 'printf secret > "$1"', 'sh', fifo], { stdio: 'ignore' });
}

test('R5: files outside the allowed directories (../, symlinks, /etc/shadow, FIFOs) are refused with a reason and never read',
  { timeout: 90_000 }, async (t) => {
    const dir = await tempDir(t);
    const svc = await startService(dir, { ftpListen: '127.0.0.1:0' });
    t.after(() => svc.close());
    const files = join(dir, 'files'); // the allowed directory
    const outside = join(dir, 'outside');
    await mkdir(files);
    await mkdir(outside);
    await mkdir(`${files}-evil`);
    const secrets = [join(dir, 'secret.dump'), join(outside, 'secret.dump'), `${files}-evil/x.dump`];
    for (const f of secrets) await writeFile(f, 'top secret');
    await symlink(join(outside, 'secret.dump'), join(files, 'link.dump'));
    await symlink(outside, join(files, 'linkdir'));
    const fifoOut = join(outside, 'fifo');
    const fifoIn = join(files, 'inside.fifo');
    mkfifo(fifoOut);
    mkfifo(fifoIn);
    await symlink(fifoOut, join(files, 'fifolink.dump'));
    const writers = [fifoOut, fifoIn].map(blockedWriter);
    t.after(() => writers.forEach((w) => w.kill('SIGKILL')));
    const checkAtime = await atimeWorks(dir);
    if (!checkAtime) t.diagnostic('access times do not move on this file system: the atime check is skipped');
    for (const f of secrets) await utimes(f, OLD, new Date());

    const cases: { kind: string; file: string; reason: RegExp }[] = [
      { kind: '../', file: `${files}/../secret.dump`, reason: /not inside the allowed directories/ },
      { kind: '/./../', file: `${files}/./../secret.dump`, reason: /not inside the allowed directories/ },
      { kind: 'symlink out', file: join(files, 'link.dump'), reason: /resolves to .*secret\.dump.* is not inside the allowed directories/ },
      { kind: 'symlinked directory', file: join(files, 'linkdir', 'secret.dump'), reason: /not inside the allowed directories/ },
      { kind: 'sibling with the same prefix', file: `${files}-evil/x.dump`, reason: /not inside the allowed directories/ },
      { kind: '/etc/shadow', file: '/etc/shadow', reason: /"\/etc\/shadow".* not inside the allowed directories/ },
      { kind: 'FIFO outside', file: fifoOut, reason: /not inside the allowed directories/ },
      { kind: 'symlink to a FIFO outside', file: join(files, 'fifolink.dump'), reason: /not inside the allowed directories/ },
      { kind: 'FIFO inside', file: fifoIn, reason: /not a regular file \(a FIFO\)/ },
    ];
    const good = join(files, 'good.dump');
    await writeFile(good, 'DG.JOBID="x"\n');
    const byName = new Map<string, { spool: string; kind: string; reason: RegExp; job: string }>();
    const badJobs = new Set<string>();
    for (const spool of ['dump', 'sandbox']) {
      const root = join(dir, spool);
      await spoolDirs(root);
      const bodies = cases.map((c, i) => {
        const job = jobId(`r5_${spool}_${i}`);
        badJobs.add(job);
        return { ...c, job, body: formatUploadMessage({ jobid: job, file: c.file }) };
      });
      const names = await storeMany(root, bodies.map((b) => b.body));
      names.forEach((n, i) => byName.set(`${spool}/${n}`, { spool, ...(bodies[i] as (typeof bodies)[number]) }));
    }
    await storeMany(join(dir, 'dump'), [formatUploadMessage({ jobid: jobId('r5_good'), file: good })]);

    const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--workers', 'dump,sandbox', '--allow-dir', files]));
    t.after(() => imp.child.kill('SIGKILL'));
    await pollUntil(async () => (await drained(join(dir, 'dump'))) && (await drained(join(dir, 'sandbox')))
      && (await spoolCounts(join(dir, 'dump'))).undeliverable + (await spoolCounts(join(dir, 'sandbox'))).undeliverable === 2 * cases.length
      && (await readCalls(svc.callsFile)).some((c) => c.op === 'CommitUpload' && c.ok),
    30_000, 'every message handled', 100);

    for (const spool of ['dump', 'sandbox']) {
      const reasons = await undeliverableReasons(join(dir, spool));
      assert.equal(reasons.size, cases.length);
      for (const [name, reason] of reasons) {
        const c = byName.get(`${spool}/${name}`);
        assert.ok(c !== undefined, `${spool}/${name} is one of the refused messages`);
        assert.match(reason, c.reason, `${spool} ${c.kind}: ${reason}`);
      }
    }
    const calls = await readCalls(svc.callsFile);
    assert.deepEqual(calls.filter((c) => badJobs.has(String(c.job))), [], 'no call for a refused file');
    assert.equal(calls.filter((c) => c.op === 'CommitUpload' && c.ok).length, 1, 'the good one was uploaded');
    assert.equal(existsSync(good), false, 'the good one was removed after the commit');

    // never read, never removed
    assert.ok(writers.every((w) => w.exitCode === null && w.signalCode === null), 'the FIFO writers are still blocked');
    assert.equal(fifoHasReader(fifoOut), false);
    assert.equal(fifoHasReader(fifoIn), false);
    for (const f of secrets) {
      if (checkAtime) assert.equal((await stat(f)).atimeMs, OLD.getTime(), `${f} never read`);
      assert.equal(await readFile(f, 'utf8'), 'top secret', `${f} kept`); // (this read moves atime: checked first)
    }
    assert.ok(existsSync(join(files, 'link.dump')) && existsSync(fifoOut) && existsSync(fifoIn));
    assert.equal(await stopImporter(imp), 0);
  });
