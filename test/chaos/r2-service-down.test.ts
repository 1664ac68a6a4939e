/**
 * R2: the primary service goes down mid-run and comes back on the same
 * port (registrations persist across its restart): everything is delivered
 * after recovery, the backoff is visible in `jp-importer status --json`, and
 * the importer's processes use < 5 % CPU while it is down with retries
 * going on.
 *
 * While the service does not answer, the worker's destination gate holds the
 * queued messages where they are (new/ untouched, post/ not retried one by
 * one) and probes with one message on a growing delay; status shows the
 * outage, the probe count and the next probe time.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Spool } from '../../src/maildir/spool.js';
import { importerArgs, jobId, listMessages, OWNER, spoolDirs, startImporter, type ImporterProc } from '../helpers/daemon.js';
import { readCalls, startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import {
  drained, pollUntil, registerCounts, regStatus, sized, type DestinationHoldStatus, sleep, spoolCounts, storeManyLikeLb,
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

/** N registrations; the service is closed once `downAt` of them are registered; returns once the worker holds the rest. */
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
  // the calls in flight at the close have failed (nothing claimed) and status shows the destination down
  await pollUntil(async () => {
    const c = await spoolCounts(reg);
    if (c.cur !== 0 || c.post === 0) return false;
    return (await destination(reg)) !== undefined;
  }, sized(60_000, 300_000), 'the worker holding the rest, status showing the destination down', 50);
  return {
    dir, reg, port, jobs, imp,
    async restart() {
      svc = await startService(dir, { listen: `127.0.0.1:${port}` });
      up = true;
      return svc;
    },
  };
}

/** The registration worker's destination record as `status --json` shows it. */
async function destination(reg: string): Promise<(DestinationHoldStatus & { now: number }) | undefined> {
  const { status } = await regStatus(reg);
  const d = status.subtrees.find((s) => s.name === 'reg')?.destinationDown[0];
  return d === undefined ? undefined : { ...d, now: status.now };
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
  assert.equal(await destination(run.reg), undefined, 'status no longer shows the destination down');
  assert.ok(run.imp.logs.some((l) => l['destination'] === 'reachable'), 'the log says the destination answers again');
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
    const c0 = await spoolCounts(reg);
    const d0 = await destination(reg);
    assert.ok(d0 !== undefined);
    t.diagnostic(`held: new ${c0.new}, post ${c0.post}; destination ${JSON.stringify(d0)}`);
    assert.ok(c0.new + c0.post > 0 && c0.new + c0.post <= N / 2 + CONCURRENCY, `${c0.new + c0.post} waiting`);
    // only the calls in flight at the close (and the probes) failed; the rest are untouched in new/
    assert.ok(c0.post <= CONCURRENCY + d0.failures, `post/ ${c0.post} ≤ ${CONCURRENCY} in flight + ${d0.failures} probes`);
    assert.match(d0.reason, /ECONNREFUSED|connect|closed/i, 'status says why');
    assert.equal(d0.worker, 'reg');

    // backoff visible in status: the next probe in the future, within --retry-max (plus nothing: probes have no jitter)
    let d: (DestinationHoldStatus & { now: number }) | undefined;
    await pollUntil(async () => {
      d = await destination(reg);
      return d !== undefined && d.nextProbeAt > d.now;
    }, RETRY_MAX_MS * 3, 'status showing the next probe in the future', 200);
    assert.ok(d !== undefined && d.nextProbeInMs > 0 && d.nextProbeInMs <= RETRY_MAX_MS, `next probe in ${d?.nextProbeInMs} ms`);
    const last = run.imp.logs.filter((l) => l['outcome'] === 'retry').at(-1);
    assert.match(String(last?.['reason']), /ECONNREFUSED|connect|closed/i, 'the log says why');

    // probes go on with a growing delay (capped at --retry-max), one message each
    await pollUntil(async () => ((await destination(reg))?.failures ?? 0) >= 3, RETRY_MAX_MS * 4, 'three failed probes', 200);
    const gateLines = run.imp.logs.filter((l) => l['destination'] === 'unreachable');
    const delays = gateLines.slice(0, 3).map((l) => Date.parse(String(l['nextProbe'])) - Number(l['time']));
    t.diagnostic(`probe delays ${delays.join(', ')} ms`);
    assert.deepEqual(gateLines.slice(0, 3).map((l) => l['failures']), [1, 2, 3]);
    assert.ok((delays[1] as number) > (delays[0] as number), 'the second delay is longer');
    assert.ok(delays.every((x) => x <= RETRY_MAX_MS + 50), 'capped at --retry-max');
    const retries = run.imp.logs.filter((l) => l['outcome'] === 'retry').length;
    const failures = (await destination(reg))?.failures ?? 0;
    assert.ok(retries <= CONCURRENCY + failures, `${retries} failed attempts while down: the wave in flight at the close plus one per probe`);

    // every failed attempt is recorded with its message: the attempts in post/ add up to the retries logged
    const spool = new Spool(reg);
    let recorded = 0;
    let logged = 0;
    await pollUntil(async () => {
      if ((await spoolCounts(reg)).cur !== 0) return false;
      recorded = 0;
      for (const name of await listMessages(join(reg, 'post'))) recorded += (await spool.readMeta('post', name))?.attempts ?? 0;
      logged = run.imp.logs.filter((l) => l['outcome'] === 'retry').length;
      return recorded === logged;
    }, RETRY_MAX_MS * 2, 'attempts in post/ equal to the retries logged', 100);
    t.diagnostic(`${logged} failed attempts while down, all recorded in post/`);

    await assertAllDelivered(t, run, await run.restart());
  });

test('R2: CPU of the importer processes while the service is down, retries going on every 1–2 s, is < 5 %',
  { timeout: 120_000 }, async (t) => {
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
