/**
 * R2: the primary service goes down mid-run and comes back on the same
 * port (registrations persist across its restart): everything is delivered
 * after recovery, the backoff is visible in `jp-importer status --json`, and
 * the importer's processes use < 5 % CPU while it is down with retries
 * going on.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Spool } from '../../src/maildir/spool.js';
import { importerArgs, jobId, listMessages, OWNER, spoolDirs, startImporter, type ImporterProc } from '../helpers/daemon.js';
import { readCalls, startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import {
  drained, pollUntil, registerCounts, regStatus, sized, type PostStatus, sleep, spoolCounts, storeManyLikeLb,
} from '../helpers/chaos.js';
import { cpuSeconds, importerPids, stopImporter } from './procs.js';
import type { PrimaryDevHandle } from '../../src/primary-dev/index.js';

const CONCURRENCY = 16;

interface DownRun {
  dir: string;
  reg: string;
  port: number;
  jobs: string[];
  imp: ImporterProc;
  /** The service is closed when this resolves; restart() brings it back on the same port. */
  restart(): Promise<PrimaryDevHandle>;
}

/** N registrations; the service is closed once `downAt` of them are registered and every other one has failed once. */
async function runUntilDown(t: TestContext, n: number, downAt: number, retry: [string, string], tag: string): Promise<DownRun> {
  const dir = await tempDir(t);
  let svc = await startService(dir, { hooks: { latencyMs: 2 } });
  const port = svc.httpsPort;
  let up = true;
  t.after(() => (up ? svc.close() : undefined));
  const reg = join(dir, 'reg');
  await spoolDirs(reg);
  const jobs = Array.from({ length: n }, (_, i) => jobId(`${tag}_${i}`));
  await storeManyLikeLb(reg, jobs.map((j) => `${j}\n${OWNER}`));
  const imp = startImporter(importerArgs(port, dir, ['--concurrency', String(CONCURRENCY), '--retry-first', retry[0], '--retry-max', retry[1]]));
  t.after(() => imp.child.kill('SIGKILL'));
  await pollUntil(() => svc.stats().jobs >= downAt, 120_000, `${downAt} of ${n} registered`, 10);
  await svc.close();
  up = false;
  // every message still queued has failed at least once and waits in post/
  await pollUntil(async () => {
    const c = await spoolCounts(reg);
    return c.new === 0 && c.cur === 0 && c.post > 0;
  }, sized(60_000, 300_000), 'the rest waiting in post/', 50);
  return {
    dir, reg, port, jobs, imp,
    async restart() {
      svc = await startService(dir, { listen: `127.0.0.1:${port}` });
      up = true;
      return svc;
    },
  };
}

async function assertAllDelivered(t: TestContext, run: DownRun, svc: PrimaryDevHandle): Promise<void> {
  const n = run.jobs.length;
  await pollUntil(async () => svc.stats().jobs === n && (await drained(run.reg)), sized(120_000, 600_000), `all ${n} registered after recovery`);
  const counts = registerCounts(await readCalls(svc.callsFile));
  t.diagnostic(`duplicates (EEXIST) ${counts.eexist}`);
  assert.equal(counts.ok.size, n);
  for (const j of run.jobs) assert.ok(counts.ok.has(j), `${j} registered`);
  assert.deepEqual(counts.otherFaults, []);
  assert.ok(counts.eexist <= CONCURRENCY, `duplicates ${counts.eexist} only from calls in flight at the close`);
  const left = await spoolCounts(run.reg);
  assert.deepEqual([left.new, left.cur, left.post, left.undeliverable], [0, 0, 0, 0]);
  assert.equal(await stopImporter(run.imp), 0);
}

const N = sized(1_000, 10_000);
// A wave of first failures must end before the first retries are due, so
// that status can be read between waves (full size: a longer wave).
const RETRY: [string, string] = sized(['4s', '8s'], ['40s', '60s']);
const RETRY_MAX_MS = sized(8_000, 60_000);

test(`R2: ${N} registrations, service down mid-run: retried with backoff shown by status; back on the same port: all delivered`,
  { timeout: sized(180_000, 900_000) }, async (t) => {
    const run = await runUntilDown(t, N, N / 2, RETRY, 'r2');
    const reg = run.reg;
    const waiting = (await spoolCounts(reg)).post;
    assert.ok(waiting > 0 && waiting <= N / 2 + CONCURRENCY, `${waiting} waiting`);

    // backoff visible in status: the waiting messages and a next retry time in the
    // future (read until a moment between two retry scans of the worker)
    let post: PostStatus | undefined;
    let now = 0;
    await pollUntil(async () => {
      const { status } = await regStatus(reg);
      const sub = status.subtrees.find((s) => s.name === 'reg');
      assert.equal(sub?.states.undeliverable.count, 0);
      post = sub?.states.post;
      now = status.now;
      return post !== undefined && post.count > 0 && post.nextRetryAt !== null && post.nextRetryAt > now;
    }, RETRY_MAX_MS * 3, 'status showing waiting messages and a next retry in the future', 200);
    t.diagnostic(`status: post ${JSON.stringify(post)}`);
    assert.ok(post !== undefined && post.count > 0 && post.count <= waiting);
    assert.ok((post.nextRetryAt as number) - now <= RETRY_MAX_MS * 1.1, 'next retry within --retry-max plus jitter');
    const last = run.imp.logs.filter((l) => l['outcome'] === 'retry').at(-1);
    assert.match(String(last?.['reason']), /ECONNREFUSED|connect/i, 'the log says why');

    // retried while down: a message with two failed attempts, the second delay longer
    const spool = new Spool(reg);
    let attempts = 0;
    await pollUntil(async () => {
      const name = (await listMessages(join(reg, 'post')))[0];
      const meta = name === undefined ? undefined : await spool.readMeta('post', name);
      attempts = meta?.attempts ?? 0;
      return attempts >= 2;
    }, RETRY_MAX_MS * 4, 'a second failed attempt while down', 100);
    assert.ok(attempts >= 2);

    await assertAllDelivered(t, run, await run.restart());
  });

const CPU_BUG = 'bug: every retry while the service is down costs ~4 ms CPU (a new TLS SecureContext per connection, '
  + 'src/primary/client.ts buildPool) and every queued message is retried on its own (no per-destination backoff): '
  + '~30-60 % CPU with hundreds of messages in post/ and --retry-max 2s; see the chaos report. JP_CHAOS_KNOWN_BUGS=1 runs it';

test('R2: CPU of the importer processes while the service is down, retries going on every 1–2 s, is < 5 %',
  { timeout: 120_000, skip: process.env['JP_CHAOS_KNOWN_BUGS'] === '1' ? false : CPU_BUG }, async (t) => {
    const n = 300;
    const run = await runUntilDown(t, n, 100, ['1s', '2s'], 'r2cpu');
    const pids = importerPids(run.imp);
    assert.ok(pids.length >= 2, `master and worker found: ${pids.join(', ')}`);
    const retriesBefore = run.imp.logs.filter((l) => l['outcome'] === 'retry').length;
    const cpu0 = pids.map(cpuSeconds);
    const t0 = performance.now();
    await sleep(5_000); // the measurement window itself, not a synchronisation
    const cpu1 = pids.map(cpuSeconds);
    const wall = (performance.now() - t0) / 1000;
    const used = cpu1.reduce((a, b) => a + b, 0) - cpu0.reduce((a, b) => a + b, 0);
    const retries = run.imp.logs.filter((l) => l['outcome'] === 'retry').length - retriesBefore;
    const percent = (100 * used) / wall;
    t.diagnostic(`while down: ${used.toFixed(2)} s CPU in ${wall.toFixed(1)} s = ${percent.toFixed(1)} % (${pids.length} processes), ${retries} retries`);
    assert.ok(retries > 0, 'retries happened during the window');
    assert.ok(percent < 5, `CPU while down ${percent.toFixed(1)} % < 5 %`);
    await assertAllDelivered(t, run, await run.restart());
  });
