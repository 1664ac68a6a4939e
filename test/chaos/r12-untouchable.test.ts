/**
 * R12: the daemon is not root (it runs as uid 65534 here, the test is root
 * to set things up) and its registration spool holds messages it cannot
 * touch — owned by another user (fs.protected_hardlinks=1: no hard link,
 * no utimes), mode 0000, a directory, a FIFO, a symlink, a directory of
 * another user it cannot even rename, and a claim of a dead worker on
 * another user's file (recover() cannot link it) — among the good ones.
 * Every attempt of the first round is refused by the service, so every
 * message also takes the retry path (stamping the due time on another
 * user's file is refused). Then the service answers: every good one is
 * registered exactly once, each bad one is kept aside with its reason (or
 * skipped with one, for the one that cannot be moved), no worker ever dies
 * or is restarted, and the log stays at one line per message per attempt.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, chown, lchown, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sanitizeHost } from '../../src/queue/names.js';
import { Spool } from '../../src/maildir/spool.js';
import { storeLikeLb } from '../../src/maildir/lb-writer.js';
import { devCerts } from '../helpers/certs.js';
import { IMPORTER_CLI, jobId, OWNER, spoolDirs, startImporter } from '../helpers/daemon.js';
import { readCalls, startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { okPerJob, pollUntil, registerCounts, sized, storeManyLikeLb } from '../helpers/chaos.js';
import {
  chownTree, DAEMON_GID, DAEMON_UID, openUp, OTHER_GID, OTHER_UID, unprivilegedSkipReason,
} from '../helpers/unprivileged.js';
import { stopImporter, workerDeaths } from './procs.js';

/** targets.md R12: 1,000 good ones (about 15 s), in `npm test` too. */
const GOOD = 1_000;
/** Valid registrations owned by another user but readable: delivered, after a retry whose stamping is refused. */
const OTHERS = 5;

const ls = async (d: string): Promise<string[]> => (await readdir(d)).filter((n) => !n.startsWith('.')).sort();

test(`R12: messages the daemon cannot touch among ${GOOD} good ones, daemon not root: every good one delivered once, the bad ones kept aside with a reason, no worker dies, bounded log`,
  { skip: unprivilegedSkipReason({ protectedHardlinks: true, module: IMPORTER_CLI }), timeout: sized(240_000, 900_000) }, async (t) => {
    const dir = await tempDir(t);
    await openUp(dir);
    // every RegisterJob refused (EAGAIN, the service answers) until the hook is lifted
    const svc = await startService(dir, { hooks: { failNext: 1_000_000 } });
    t.after(() => svc.close());

    // the daemon's credentials, readable by the daemon's user
    const c = devCerts();
    const certs = join(dir, 'certs');
    await mkdir(certs);
    execFileSync('cp', ['-a', c.client, c.clientKey, c.caDir, certs]);
    const reg = join(dir, 'reg');
    for (const s of ['reg', 'dump', 'sandbox']) await spoolDirs(join(dir, s));
    await mkdir(join(dir, 'run'));

    const jobs = Array.from({ length: GOOD }, (_, i) => jobId(`r12_${i}`));
    await storeManyLikeLb(reg, jobs.map((j) => `${j}\n${OWNER}`));
    await chownTree(dir, DAEMON_UID, DAEMON_GID);
    // svc's data stays root's
    await chownTree(join(dir, 'primary'), 0, 0);

    const put = async (name: string, make: (p: string) => Promise<void>, uid: number, mode?: number) => {
      const p = join(reg, 'new', name);
      await make(p);
      await lchown(p, uid, uid);
      if (mode !== undefined) await chmod(p, mode);
    };
    const otherJobs = Array.from({ length: OTHERS }, (_, i) => jobId(`r12_other_${i}`));
    for (const j of otherJobs) {
      // as the LB library writes it (tmp/ twin kept), then owned by another user, readable
      const name = await storeLikeLb(reg, `${j}\n${OWNER}`);
      await chown(join(reg, 'new', name), OTHER_UID, OTHER_GID);
      await chmod(join(reg, 'new', name), 0o644);
    }
    const bad: Record<string, RegExp> = {
      '1700000003_000000.other-unreadable': /cannot be read.*EACCES/,
      '1700000003_000001.mode-0000': /cannot be read.*EACCES/,
      '1700000003_000002.a-directory': /not a regular file/,
      '1700000003_000003.a-fifo': /not a regular file/,
      '1700000003_000004.a-symlink': /symbolic link/,
      '1700000003_000005.a-symlink-of-another-user': /symbolic link/,
    };
    await put('1700000003_000000.other-unreadable', (p) => writeFile(p, `${jobId('r12_secret')}\n${OWNER}`), OTHER_UID, 0o600);
    await put('1700000003_000001.mode-0000', (p) => writeFile(p, `${jobId('r12_mode0000')}\n${OWNER}`), DAEMON_UID, 0o000);
    await put('1700000003_000002.a-directory', (p) => mkdir(p), DAEMON_UID, 0o700);
    await put('1700000003_000003.a-fifo', async (p) => { execFileSync('mkfifo', [p]); }, DAEMON_UID, 0o600);
    await put('1700000003_000004.a-symlink', (p) => symlink('/etc/passwd', p), DAEMON_UID);
    await put('1700000003_000005.a-symlink-of-another-user', (p) => symlink('/etc/hostname', p), OTHER_UID);
    const unclaimable = '1700000004_000000.dir-of-another-user';
    await put(unclaimable, (p) => mkdir(p), OTHER_UID, 0o755);
    // a dead worker's claim on another user's registration: recover() cannot hard-link it
    const deadJob = jobId('r12_dead_claim');
    const deadName = '1700000005_000000.dead-claim';
    const dead = join(reg, 'cur', `${deadName}:999999@${sanitizeHost(hostname())}`);
    await writeFile(dead, `${deadJob}\n${OWNER}`);
    await chown(dead, OTHER_UID, OTHER_GID);
    await chmod(dead, 0o644);
    const allGood = [...jobs, ...otherJobs, deadJob];

    const imp = startImporter(['--foreground', '-p', `127.0.0.1:${svc.httpsPort}`, '-c', join(certs, 'client.pem'), '-k', join(certs, 'client-key.pem'),
      '-C', join(certs, 'ca'), '-r', reg, '-d', join(dir, 'dump'), '-s', join(dir, 'sandbox'), '-i', join(dir, 'run', 'jp-importer.pid'),
      '--workers', 'reg', '-t', '200ms', '--retry-first', '1s', '--retry-max', '2s'], {}, { uid: DAEMON_UID, gid: DAEMON_GID });
    t.after(() => imp.child.kill('SIGKILL'));
    await imp.waitForLog((l) => l.msg === 'jp-importer running', 30_000);

    // first round: every message refused once and put into post/ — also the other user's files (stamping refused)
    const spool = new Spool(reg);
    await pollUntil(async () => {
      for (const j of [...otherJobs, deadJob]) {
        if (!imp.logs.some((l) => l['outcome'] === 'retry' && l['job'] === j)) return false;
      }
      return true;
    }, sized(120_000, 300_000), "the other user's messages retried once", 200);
    assert.deepEqual(workerDeaths(imp), [], 'no worker died on the retry of a message it may not stamp');
    svc.setHooks({ failNext: 0 });

    await pollUntil(async () => {
      if (svc.stats().jobs < allGood.length) return false;
      return (await ls(join(reg, 'cur'))).length === 0 && (await ls(join(reg, 'post'))).length === 0;
    }, sized(180_000, 600_000), `all ${allGood.length} good messages registered`, 300);

    assert.deepEqual(workerDeaths(imp), [], 'no worker died or was restarted');
    assert.equal(imp.logs.filter((l) => l['level'] === 60).length, 0, 'no fatal log line');
    assert.equal(imp.child.exitCode, null, 'the daemon runs');

    // every good one registered exactly once, none of the bad ones sent
    const calls = await readCalls(svc.callsFile);
    const regs = okPerJob(calls, 'RegisterJob');
    for (const j of allGood) assert.equal(regs.get(j), 1, `${j} registered once`);
    assert.equal(registerCounts(calls).eexist, 0, 'no duplicate registration');
    assert.equal(regs.get(jobId('r12_secret')), undefined);
    assert.equal(regs.get(jobId('r12_mode0000')), undefined);
    assert.equal(regs.size, allGood.length);

    // the bad ones kept aside with their reasons; the one that cannot be moved stays, skipped with a reason
    const und = (await ls(join(reg, 'undeliverable'))).filter((n) => !n.endsWith('.meta'));
    assert.deepEqual(und, Object.keys(bad).sort());
    for (const [name, why] of Object.entries(bad)) {
      assert.match((await spool.readMeta('undeliverable', name))?.gaveUpReason ?? '', why, name);
    }
    assert.deepEqual(await ls(join(reg, 'new')), [unclaimable]);
    const skipLines = imp.logs.filter((l) => l['id'] === unclaimable);
    assert.ok(skipLines.length >= 1 && skipLines.length <= 3, `the unclaimable directory: ${skipLines.length} lines`);
    assert.match(String(skipLines[0]?.['err']), /EACCES/);
    assert.equal(skipLines[0]?.['outcome'], 'skipped');

    // one line per message per attempt: the service's record counts the attempts of each good one; the bad ones had one each
    for (const name of Object.keys(bad)) assert.equal(imp.logs.filter((l) => l['id'] === name).length, 1, `${name}: one line`);
    const attempts = new Map<string, number>();
    for (const call of calls) if (call.op === 'RegisterJob') attempts.set(String(call.job), (attempts.get(String(call.job)) ?? 0) + 1);
    const linesPerJob = new Map<string, number>();
    for (const l of imp.logs) if (typeof l['id'] === 'string' && typeof l['job'] === 'string') linesPerJob.set(l['job'], (linesPerJob.get(l['job']) ?? 0) + 1);
    for (const j of allGood) {
      assert.ok((linesPerJob.get(j) ?? 0) <= (attempts.get(j) ?? 0), `${j}: ${linesPerJob.get(j)} lines for ${attempts.get(j)} attempts`);
    }
    const totalAttempts = [...attempts.values()].reduce((a, b) => a + b, 0);
    t.diagnostic(`${imp.logs.length} log lines for ${allGood.length} good messages (${totalAttempts} attempts) and ${Object.keys(bad).length + 1} bad ones`);
    assert.ok(imp.logs.length <= totalAttempts + Object.keys(bad).length + skipLines.length + 60, `${imp.logs.length} log lines`);

    assert.equal(await stopImporter(imp), 0);
  });
