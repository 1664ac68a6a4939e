/**
 * R9: the FTP data connection breaks off in the middle of uploads. The
 * importer resumes each transfer where the server stopped (SIZE + APPE),
 * commits each file exactly once, and the server's bytes equal the local
 * file's. Also a break the server mistakes for the end of the file (the
 * link closes the server's side cleanly): the importer must notice the
 * short file before committing.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { formatUploadMessage } from '../../src/messages/keyvalue.js';
import { startFtpEndpoint, type FtpEndpoint } from '../../src/primary-dev/ftp/index.js';
import type { PrimaryDevHandle } from '../../src/primary-dev/index.js';
import { importerArgs, jobId, listMessages, spoolDirs, startImporter, type ImporterProc } from '../helpers/daemon.js';
import { readCalls, startService, type Call } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { okPerJob, pollUntil, rng, seedFromEnv, sized, storeMany } from '../helpers/chaos.js';
import { stopImporter } from './procs.js';
import { startSlowFtp } from './slow-ftp.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Planned {
  job: string;
  path: string;
  data: Buffer;
}

interface Setup {
  dir: string;
  ftp: FtpEndpoint;
  svc: PrimaryDevHandle;
  plan: Planned[];
  imp: ImporterProc;
}

/** Own FTP endpoint (for its hooks and counters), optionally behind a proxy; n dumps of random sizes; one upload at a time. */
async function setup(t: TestContext, n: number, rand: () => number, base?: (ftp: FtpEndpoint) => Promise<string>): Promise<Setup> {
  const dir = await tempDir(t);
  const ftp = await startFtpEndpoint({ listen: '127.0.0.1:0', dataDir: join(dir, 'primary') });
  t.after(() => ftp.close());
  const destinationBase = base !== undefined ? await base(ftp) : `${ftp.url}/`;
  // 50 ms per SOAP answer: between one file's last transfer and the next file's STOR
  // (CommitUpload, then StartUpload with the failsafe registration) the test has
  // time to arm the next drop
  const svc = await startService(dir, { destinationBase, verifier: ftp.verifier, hooks: { latencyMs: 50 } });
  t.after(() => svc.close());
  const files = join(dir, 'files');
  await mkdir(files);
  const dump = join(dir, 'dump');
  await spoolDirs(dump);
  const plan: Planned[] = [];
  for (let i = 0; i < n; i++) {
    // at least 1 MB: a resume after a drop (at most 200 kB in) still sends more than
    // the next drop's offset, so a drop armed for two transfers in a row gets both
    const size = 1_000_000 + Math.floor(rand() * sized(2_000_000, 8_000_000));
    plan.push({ job: jobId(`r9_${i}`), path: join(files, `r9_${i}.dump`), data: randomBytes(size) });
  }
  for (const p of plan) await writeFile(p.path, p.data);
  await storeMany(dump, plan.map((p) => formatUploadMessage({ jobid: p.job, file: p.path })));
  // one transfer at a time: a drop and the resumes it causes follow each other
  const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--workers', 'dump', '--ftp-connections', '1', '--allow-dir', files,
    '--retry-first', '1s', '--retry-max', '2s']));
  t.after(() => imp.child.kill('SIGKILL'));
  return { dir, ftp, svc, plan, imp };
}

async function assertCommittedOnce(s: Setup): Promise<Call[]> {
  const calls = await readCalls(s.svc.callsFile);
  const commits = okPerJob(calls, 'CommitUpload');
  for (const p of s.plan) {
    assert.equal(commits.get(p.job), 1, `${p.job} committed exactly once`);
    const c = calls.find((x) => x.op === 'CommitUpload' && x.ok && x.job === p.job) as Call;
    assert.equal(c['bytes'], p.data.length, `${p.job}: the service verified ${String(c['bytes'])} bytes`);
    const got = await readFile(join(s.svc.filesDir, decodeURIComponent(new URL(String(c['destination'])).pathname)));
    assert.equal(sha(got), sha(p.data), `${p.job}: bytes equal`);
    assert.equal(existsSync(p.path), false, `${p.job}: local file removed after the commit`);
  }
  assert.deepEqual(await listMessages(join(s.dir, 'dump', 'undeliverable')), []);
  return calls;
}

const N = sized(12, 60);

test(`R9: ${N} uploads with the data connection dropped mid-transfer (once or twice in a row): resumed, committed once, bytes equal`,
  { timeout: sized(120_000, 600_000) }, async (t) => {
    const seed = seedFromEnv();
    t.diagnostic(`seed ${seed}`);
    const rand = rng(seed);
    const s = await setup(t, N, rand);
    // Arm one drop (or two in a row) at a random offset. Transfers run one at a
    // time, so the next transfer to complete after the drops is the resume of the
    // file they hit: only then arm the next (a file never loses its 3 tries in one go).
    for (let k = 0; k < N; k++) {
      const before = s.ftp.stats();
      const count = 1 + (k % 2);
      s.ftp.setHooks({ dropAfterBytes: 50_000 + Math.floor(rand() * 150_000), dropCount: count });
      await pollUntil(() => s.ftp.stats().failed >= before.failed + count, 30_000, `drop ${k} happened`, 5).catch((e: unknown) => {
        throw new Error(`${String(e)}; FTP ${JSON.stringify(s.ftp.stats())}; last log lines:\n${s.imp.logs.slice(-8).map((l) => JSON.stringify(l)).join('\n')}`);
      });
      const dropped = s.ftp.stats();
      await pollUntil(() => s.ftp.stats().completed > dropped.completed, 30_000, `the transfer after drop ${k} completed`, 5);
    }
    s.ftp.setHooks({ dropAfterBytes: 0 });
    await pollUntil(async () => okPerJob(await readCalls(s.svc.callsFile), 'CommitUpload').size === N, 60_000, `${N} committed`, 100);
    const st = s.ftp.stats();
    const drops = st.failed;
    t.diagnostic(`FTP: ${JSON.stringify(st)}`);
    assert.equal(drops, N + Math.floor(N / 2), 'every file dropped once or twice in a row, as armed');
    assert.equal(st.stor, N, 'one STOR per file');
    assert.equal(st.appe, drops, 'each drop resumed with one APPE');
    assert.equal(st.completed, N, 'one complete transfer per file');
    const resumed = s.imp.logs.filter((l) => l.msg === 'upload resumed after a broken connection');
    assert.ok(resumed.length >= Math.ceil(drops / 2), `resumes logged (${resumed.length})`);
    assert.ok(resumed.every((l) => Array.isArray(l['resumedFrom']) && (l['resumedFrom'] as number[]).every((b) => b > 0)),
      'resumed from where the server stopped, not from 0');
    const calls = await assertCommittedOnce(s);
    assert.equal(calls.filter((c) => c.op === 'StartUpload' && c.ok).length, N, 'one StartUpload per file: no retry later was needed');
    assert.equal(s.imp.logs.filter((l) => l['outcome'] === 'retry').length, 0);
    assert.equal(await stopImporter(s.imp), 0);
  });


test('R9: a data connection cut that the server takes for the end of the file: the importer does not commit the short file',
  { timeout: 120_000 }, async (t) => {
    let link: Awaited<ReturnType<typeof startSlowFtp>> | undefined;
    const s = await setup(t, 4, rng(7), async (ftp) => {
      link = await startSlowFtp(ftp.port, Infinity);
      link.truncateNext(100_000);
      t.after(() => link?.close());
      return `${link.url}/`;
    });
    await pollUntil(async () => okPerJob(await readCalls(s.svc.callsFile), 'CommitUpload').size === s.plan.length, 60_000, 'all committed', 100);
    assert.equal(link?.truncated, 1, 'one transfer was cut');
    await assertCommittedOnce(s);
    assert.equal(await stopImporter(s.imp), 0);
  });
