/**
 * R7 for uploads: SIGTERM while dump workers are busy with large files over
 * a slow FTP link. The importer exits 0 within 10 s and removes its
 * pidfile; every message in flight was either committed or returned to the
 * queue (nothing left in cur/, nothing lost); started again, it uploads the
 * rest, each file committed exactly once with equal bytes.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatUploadMessage } from '../../src/messages/keyvalue.js';
import { startFtpEndpoint } from '../../src/primary-dev/ftp/index.js';
import { importerArgs, jobId, listMessages, spoolDirs, startImporter } from '../helpers/daemon.js';
import { readCalls, startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { drained, okPerJob, pollUntil, spoolCounts, storeMany } from '../helpers/chaos.js';
import { stopImporter } from './procs.js';
import { startSlowFtp } from './slow-ftp.js';
const RATE = 2 * 1024 * 1024; // bytes/s per data connection
const BIG = 24 * 1024 * 1024; // > (6 s grace + margin) x RATE: cannot finish in the grace period
const SMALL = 64 * 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
test('R7: SIGTERM while large uploads run over a slow FTP link: exit 0 within 10 s, pidfile removed, in-flight committed or returned to new/', { timeout: 120_000 }, async (t) => {
    const dir = await tempDir(t);
    const dataDir = join(dir, 'primary');
    const ftp = await startFtpEndpoint({ listen: '127.0.0.1:0', dataDir });
    t.after(() => ftp.close());
    const slow = await startSlowFtp(ftp.port, RATE);
    t.after(() => slow.close());
    let skew = 0;
    const svc = await startService(dir, { destinationBase: `${slow.url}/`, verifier: ftp.verifier, clock: { now: () => Date.now() + skew } });
    t.after(() => svc.close());
    const files = join(dir, 'files');
    await mkdir(files);
    const dump = join(dir, 'dump');
    await spoolDirs(dump);
    const plan = Array.from({ length: 8 }, (_, i) => ({ job: jobId(`r7_${i}`), path: join(files, `r7_${i}.dump`), data: randomBytes(i % 2 === 0 ? BIG : SMALL) }));
    for (const p of plan)
        await writeFile(p.path, p.data);
    await storeMany(dump, plan.map((p) => formatUploadMessage({ jobid: p.job, file: p.path })));
    const pidfile = join(dir, 'jp-importer.pid');
    const args = importerArgs(svc.httpsPort, dir, ['--workers', 'dump', '-D', '2', '--ftp-connections', '4', '--allow-dir', files,
        '--retry-first', '1s', '--retry-max', '2s']);
    const imp = startImporter(args);
    t.after(() => imp.child.kill('SIGKILL'));
    // transfers of the large files under way
    await pollUntil(async () => {
        const calls = await readCalls(svc.callsFile);
        const started = calls.filter((c) => c.op === 'StartUpload' && c.ok).map((c) => String(c['destination']));
        let moving = 0;
        for (const d of started) {
            const st = await stat(join(svc.filesDir, decodeURIComponent(new URL(d).pathname))).catch(() => undefined);
            if (st !== undefined && st.size > 512 * 1024 && st.size < BIG)
                moving++;
        }
        return moving >= 2;
    }, 60_000, 'two large transfers in progress', 100);
    assert.ok(existsSync(pidfile));
    const t0 = Date.now();
    imp.child.kill('SIGTERM');
    const code = await imp.exited;
    const took = Date.now() - t0;
    t.diagnostic(`stopped in ${took} ms`);
    assert.equal(code, 0);
    assert.ok(took < 10_000, `exit within 10 s (${took} ms)`);
    assert.equal(existsSync(pidfile), false, 'pidfile removed');
    // every message: committed, or back in the queue with its file untouched
    const counts = await spoolCounts(dump);
    assert.equal(counts.cur, 0, 'nothing left claimed');
    assert.equal(counts.undeliverable, 0);
    const commits = okPerJob(await readCalls(svc.callsFile), 'CommitUpload');
    const queued = counts.new + counts.post;
    t.diagnostic(`committed ${commits.size}, returned ${queued}`);
    assert.equal(commits.size + queued, plan.length, 'nothing lost');
    const returned = imp.logs.filter((l) => l['outcome'] === 'released').length;
    assert.ok(returned >= 2, `the large transfers in progress were returned (${returned})`);
    for (const p of plan) {
        if (commits.has(p.job))
            assert.equal(existsSync(p.path), false, `${p.job}: committed, file removed`);
        else
            assert.equal(sha(await readFile(p.path)), sha(p.data), `${p.job}: not committed, file kept whole`);
    }
    const stopped = imp.logs.find((l) => l.msg === 'jp-importer stopped');
    assert.equal(stopped?.['released'], returned);
    // started again at full speed (and after the service's 5-minute upload reservations expired): the rest goes through
    slow.setRate(Infinity);
    skew = 10 * 60_000;
    const again = startImporter(args);
    t.after(() => again.child.kill('SIGKILL'));
    await pollUntil(async () => okPerJob(await readCalls(svc.callsFile), 'CommitUpload').size === plan.length && (await drained(dump)), 60_000, 'everything committed', 100);
    const calls = await readCalls(svc.callsFile);
    const all = okPerJob(calls, 'CommitUpload');
    for (const p of plan) {
        assert.equal(all.get(p.job), 1, `${p.job} committed exactly once`);
        const dest = calls.filter((c) => c.op === 'CommitUpload' && c.ok && c.job === p.job).map((c) => String(c['destination']))[0] ?? '';
        const got = await readFile(join(svc.filesDir, decodeURIComponent(new URL(dest).pathname)));
        assert.equal(sha(got), sha(p.data), `${p.job}: bytes equal`);
        assert.equal(existsSync(p.path), false);
    }
    assert.deepEqual(await listMessages(join(dump, 'undeliverable')), []);
    assert.equal(await stopImporter(again), 0);
});
test('R7: SIGTERM while a CommitUpload waits for its answer: the commit completes and the message is delivered, not left to retry', { timeout: 120_000 }, async (t) => {
    const dir = await tempDir(t);
    // every SOAP answer takes 7 s: longer than the 6 s the workers get to finish at a stop
    const svc = await startService(dir, { ftpListen: '127.0.0.1:0', hooks: { latencyMs: 7_000 } });
    t.after(() => svc.close());
    const files = join(dir, 'files');
    await mkdir(files);
    const dump = join(dir, 'dump');
    await spoolDirs(dump);
    const job = jobId('r7_commit');
    const file = join(files, 'r7_commit.dump');
    const data = randomBytes(10_000);
    await writeFile(file, data);
    // registered beforehand, so the upload is StartUpload, transfer, CommitUpload
    svc.setHooks({ latencyMs: 0 });
    await spoolDirs(join(dir, 'reg'));
    await storeMany(join(dir, 'reg'), [`${job}\n/CN=owner`]);
    const reg = startImporter(importerArgs(svc.httpsPort, dir));
    await pollUntil(() => svc.stats().jobs === 1, 30_000, 'registered', 50);
    assert.equal(await stopImporter(reg), 0);
    svc.setHooks({ latencyMs: 7_000 });
    await storeMany(dump, [formatUploadMessage({ jobid: job, file })]);
    const args = importerArgs(svc.httpsPort, dir, ['--workers', 'dump', '--allow-dir', files, '--retry-first', '1s', '--retry-max', '2s']);
    const imp = startImporter(args);
    t.after(() => imp.child.kill('SIGKILL'));
    // StartUpload answered: the transfer is quick, then CommitUpload waits 7 s for its answer
    await pollUntil(async () => (await readCalls(svc.callsFile)).some((c) => c.op === 'StartUpload' && c.ok), 30_000, 'StartUpload answered', 20);
    const t0 = Date.now();
    imp.child.kill('SIGTERM');
    assert.equal(await imp.exited, 0);
    assert.ok(Date.now() - t0 < 10_000, 'stopped within 10 s');
    // A commit already sent is not aborted by the stop: its answer (after 7 s)
    // arrives before the 9 s hard limit, so the upload ends delivered.
    const outcome = imp.logs.find((l) => l['job'] === job && l['outcome'] !== undefined);
    assert.equal(outcome?.['outcome'], 'delivered', JSON.stringify(outcome));
    assert.equal(svc.stats().filesCommitted, 1);
    assert.equal(okPerJob(await readCalls(svc.callsFile), 'CommitUpload').get(job), 1, 'committed once');
    assert.equal(existsSync(file), false, 'local file removed');
    assert.equal(data.length, 10_000);
    for (const d of ['new', 'cur', 'post', 'undeliverable']) assert.deepEqual(await listMessages(join(dump, d)), [], d);
});
