/**
 * Registration benchmarks (targets.md):
 *   P1  N registrations (default 20,000) already in new/, the real importer
 *       started as an operator would, until the reference service has
 *       counted all of them; baseline in the same run: a bare keep-alive
 *       HTTPS client (undici Pool, mutual TLS) sending the same SOAP
 *       RegisterJob requests with the same concurrency, no files involved.
 *       Target: importer ≥ 0.5 × baseline (rate including importer start-up).
 *       Measured against the reference service answering in its compact
 *       shape (`--reply-shape compact`: self-closed empty responses).
 *   P1g P1 against a second service answering in the real gSOAP shapes
 *       (jp-primary-dev's default: open/close tags, its prefixes), with its
 *       own baseline. Same target.
 *   P2  pickup latency: one message at a time stored into the spool of an
 *       idle importer (default -t 2 s poll) → the service has it.
 *       Target: p50 ≤ 50 ms, p99 ≤ 200 ms (baseline: the 2000 ms poll).
 * Each prints its figure as a FIGURE line (lib/figure.ts) for run-all.
 *
 * The service (jp-primary-dev CLI) runs in its own process; the importer is
 * the jp-importer CLI (master + one registration worker). Times are taken
 * from the service's own record of each call (`at` in calls.jsonl).
 *
 * Environment:
 *   BENCH_REG_N=20000            P1 messages
 *   BENCH_REG_CONCURRENCY=16     requests in flight (importer --concurrency and baseline connections)
 *   BENCH_REG_SAMPLES=200        P2 samples
 *   BENCH_REG_ONLY=p1|p1g|p2     run one part only
 *   BENCH_REG_CPU_PROF=/dir      node --cpu-prof for the importer and the service; prints where time goes
 *   BENCH_REG_IMPORTER_ARGS="…"  extra jp-importer options for both parts (blank-separated), e.g. "--log-level warn"
 *   BENCH_REG_NODE_ARGS="…"      extra node options of the importer (P1; the master passes them on to its worker),
 *                                e.g. "--max-semi-space-size=8" to try V8 settings against WORKER_NODE_FLAGS
 *   BENCH_REG_KEEP_DATA=1        keep the data directory (importer logs, spools, service data) instead of removing it
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeLikeLb } from '../src/maildir/lb-writer.js';
import { formatRegistration } from '../src/messages/registration.js';
import { CallsTail, type CallLine } from './lib/calls-tail.js';
import { clientTls, makeDevCerts, type BenchCerts } from './lib/certs.js';
import { processCpuSplit, selfCpu, subCpu, sumCpu, treeCpu, type Cpu } from './lib/cpu.js';
import { formatSummary, summariseDir } from './lib/cpuprofile.js';
import { reportFigure } from './lib/figure.js';
import { logTail, startImporterChild } from './lib/importer-child.js';
import { exitOf, interruptedBy, onCleanup, runCleanups, stopChild } from './lib/procs.js';
import { bareClient, fillSpool, lbSpool, leftInSpool } from './lib/reg-load.js';
import { adminStats, startServiceChild, type ServiceChild } from './lib/service-child.js';
import { envInt, fix, summary, verdict } from './lib/stats.js';

const N = envInt('BENCH_REG_N', 20_000, 1, 10_000_000);
const C = envInt('BENCH_REG_CONCURRENCY', 16, 1, 256);
const SAMPLES = envInt('BENCH_REG_SAMPLES', 200, 1, 100_000);
const ONLY = process.env['BENCH_REG_ONLY'] ?? '';
const PROF = process.env['BENCH_REG_CPU_PROF'];
const EXTRA = (process.env['BENCH_REG_IMPORTER_ARGS'] ?? '').split(/\s+/).filter((a) => a !== '');
const NODE_EXTRA = (process.env['BENCH_REG_NODE_ARGS'] ?? '').split(/\s+/).filter((a) => a !== '');
const WARMUP_CALLS = Math.min(2000, N);
const P2_WARMUP = 3;
const POLL_MS = 2000;
const OWNER = '/DC=org/DC=example/CN=Jane Doe';
const JOB_BASE = 'https://lb.example.org:9000/';
/** Tags in job ids: w = service warm-up, b = baseline, i = importer (P1), l = latency (P2). */
const job = (tag: string, i: number): string => `${JOB_BASE}${tag}_${i}`;
const jobs = (tag: string, n: number): string[] => Array.from({ length: n }, (_, i) => job(tag, i));

const say = (s: string): void => void process.stdout.write(`${s}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- what the service recorded

interface TagCount {
  ok: number;
  fault: number;
  /** Service time (ms since the epoch) of the first and last successful call. */
  firstAt: number;
  lastAt: number;
}

class Recorded {
  readonly tags = new Map<string, TagCount>();
  /** P2: job → service time and the bench's performance.now() when it saw the line. */
  readonly seen = new Map<string, { at: number; seenAt: number }>();
  other = 0;

  onLine = (c: CallLine, seenAt: number): void => {
    if (c.op !== 'RegisterJob' || typeof c.job !== 'string' || !c.job.startsWith(JOB_BASE)) {
      this.other++;
      return;
    }
    const tag = c.job.slice(JOB_BASE.length, c.job.indexOf('_', JOB_BASE.length));
    const at = Date.parse(c.at);
    const t = this.tag(tag);
    if (!c.ok) {
      t.fault++;
      return;
    }
    t.ok++;
    if (t.ok === 1) t.firstAt = at;
    t.lastAt = Math.max(t.lastAt, at);
    if (tag === 'l') this.seen.set(c.job, { at, seenAt });
  };

  tag(tag: string): TagCount {
    let t = this.tags.get(tag);
    if (t === undefined) {
      t = { ok: 0, fault: 0, firstAt: 0, lastAt: 0 };
      this.tags.set(tag, t);
    }
    return t;
  }
}

async function printProfiles(dir: string, label: string): Promise<void> {
  const profiles = await summariseDir(dir, 14);
  say(`\nCPU profiles of the ${label} (${dir}), busiest first:`);
  for (const p of profiles) say(formatSummary(p, label));
}

// ---------------------------------------------------------------- P1

const cpuDelta = (a: Cpu | undefined, b: Cpu | undefined): Cpu | undefined => (a === undefined || b === undefined ? undefined : subCpu(b, a));
const perMsg = (c: Cpu | undefined): string => {
  if (c === undefined) return 'n/a';
  const us = (s: number): string => fix((s * 1e6) / N, 0);
  return `${us(c.user + c.sys)} µs (user ${us(c.user)} + sys ${us(c.sys)})`;
};

interface Ctx {
  readonly root: string;
  readonly certs: BenchCerts;
  readonly tls: { cert: string; key: string; ca: string };
  readonly service: ServiceChild;
  readonly tail: CallsTail;
  readonly rec: Recorded;
}

/** P1 or P1g: which figure, and the job-id tags of its warm-up, baseline and importer calls. */
interface P1Variant {
  readonly id: 'P1' | 'P1g';
  readonly shape: string;
  readonly w: string;
  readonly b: string;
  readonly i: string;
}

const P1_COMPACT: P1Variant = { id: 'P1', shape: 'compact replies', w: 'w', b: 'b', i: 'i' };
const P1_GSOAP: P1Variant = { id: 'P1g', shape: 'gSOAP-shaped replies', w: 'wg', b: 'bg', i: 'ig' };

async function p1(x: Ctx, v: P1Variant): Promise<boolean> {
  const { rec, tail } = x;
  const spool = join(x.root, `reg-${v.id}`);
  await lbSpool(spool);
  const fillSec = await fillSpool(spool, jobs(v.i, N), OWNER);
  say(`${v.id.padEnd(3)} registrations per second: ${N} messages, concurrency C=${C}, the service answering with ${v.shape} (target: importer ≥ 0.5 × baseline, rate including start-up)`);
  say(`  spool prepared: ${N} messages stored into new/ with storeLikeLb in ${fix(fillSec, 1)} s (not timed)`);

  tail.follow(20, false);
  await bareClient(x.service.origin, x.tls, jobs(v.w, WARMUP_CALLS), OWNER, C);
  await tail.until(() => rec.tag(v.w).ok >= WARMUP_CALLS, 30_000, 'the warm-up calls in calls.jsonl');
  say(`  service warmed up with ${WARMUP_CALLS} calls from the baseline client (not timed)`);

  const svcPid = x.service.child.pid ?? -1;
  let svc0 = processCpuSplit(svcPid);
  const baseJobs = jobs(v.b, N);
  const self0 = selfCpu();
  const bt0 = await bareClient(x.service.origin, x.tls, baseJobs, OWNER, C);
  const clientCpu = subCpu(selfCpu(), self0);
  const baseSvcCpu = cpuDelta(svc0, processCpuSplit(svcPid));
  await tail.until(() => rec.tag(v.b).ok >= N, 60_000, 'the baseline calls in calls.jsonl');
  const b = rec.tag(v.b);
  const baseRate = N / ((b.lastAt - bt0) / 1000);
  const baseRateFirst = (N - 1) / ((b.lastAt - b.firstAt) / 1000);
  say(`  baseline: bare undici Pool, ${C} keep-alive mutual-TLS connections, same SOAP RegisterJob, no files`);
  say(`    ${N} in ${fix((b.lastAt - bt0) / 1000, 2)} s: ${fix(baseRate, 0)} msg/s   (from first delivery: ${fix(baseRateFirst, 0)} msg/s)`);
  say(`    CPU per message: client ${perMsg(clientCpu)}, service ${perMsg(baseSvcCpu)}`);

  const logFile = join(x.root, `importer-${v.id}.log`);
  // --cpu-prof is not allowed in NODE_OPTIONS; the master hands its execArgv to the worker it forks.
  const nodeArgs = [...(PROF !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${join(PROF, 'importer')}`] : []), ...NODE_EXTRA];
  svc0 = processCpuSplit(svcPid);
  const it0 = Date.now();
  const importer = startImporterChild({
    port: x.service.port, certs: x.certs, spool, pidfile: join(x.root, `${v.id}.pid`), logFile, cwd: x.root, extra: ['--concurrency', String(C), ...EXTRA], nodeArgs,
  });
  const died = exitOf(importer).then((code) => {
    throw new Error(`the importer exited (${code}) before delivering everything`);
  });
  died.catch(() => undefined);
  try {
    await Promise.race([tail.until(() => rec.tag(v.i).ok >= N, Math.max(120_000, N * 10), `${N} importer deliveries`), died]);
  } catch (e) {
    throw new Error(`${(e as Error).message} (delivered ${rec.tag(v.i).ok})\n${await logTail(logFile)}`);
  }
  const i = rec.tag(v.i);
  const impCpu = treeCpu(importer.pid ?? -1);
  const masterCpu = impCpu.get(importer.pid ?? -1);
  const impSvcCpu = cpuDelta(svc0, processCpuSplit(svcPid));
  const code = await stopChild(importer);
  const left = await leftInSpool(spool);
  const rate = N / ((i.lastAt - it0) / 1000);
  const rateFirst = (N - 1) / ((i.lastAt - i.firstAt) / 1000);
  const ratio = rate / baseRate;
  const ratioFirst = rateFirst / baseRateFirst;
  say(`  importer: ${NODE_EXTRA.length > 0 ? `node ${NODE_EXTRA.join(' ')} ` : ''}jp-importer --foreground --workers reg --concurrency ${C}${EXTRA.map((a) => ` ${a}`).join('')} (master + 1 worker)`);
  say(`    first delivery ${fix((i.firstAt - it0) / 1000, 2)} s after spawn, all ${N} after ${fix((i.lastAt - it0) / 1000, 2)} s`);
  say(`    including start-up:  ${fix(rate, 0)} msg/s   ratio ${fix(ratio, 2)}  (official; target ≥ 0.50: ${verdict(ratio >= 0.5)})`);
  say(`    from first delivery: ${fix(rateFirst, 0)} msg/s   ratio ${fix(ratioFirst, 2)}  (vs baseline from its first delivery)`);
  say(`    CPU per message: worker ${perMsg(masterCpu === undefined ? undefined : subCpu(sumCpu(impCpu), masterCpu))}, ` +
    `master incl. its start-up ${perMsg(masterCpu)}; service ${perMsg(impSvcCpu)}`);
  const clean = Object.values(left).every((v) => v === 0) && i.fault === 0 && i.ok === N;
  say(`  checks: ${i.ok} accepted by the service, ${i.fault} refused (duplicates would be EEXIST faults); ` +
    `left in spool: ${Object.entries(left).map(([k, v]) => `${k} ${v}`).join(', ')}; importer exit ${code}  ${clean && code === 0 ? 'OK' : 'PROBLEM'}`);
  const figure = { measured: `${fix(rate, 0)} msg/s`, baseline: `${fix(baseRate, 0)} msg/s (bare keep-alive mTLS client)`, ratio: fix(ratio, 2), met: ratio >= 0.5 };
  // Literal ids: test/bench/figure-table.test.ts reads them from this source.
  if (v.id === 'P1') reportFigure({ id: 'P1', ...figure });
  else reportFigure({ id: 'P1g', ...figure });
  if (PROF !== undefined) await printProfiles(join(PROF, 'importer'), 'importer');
  return ratio >= 0.5 && clean;
}

// ---------------------------------------------------------------- P2

async function p2(x: Ctx): Promise<boolean> {
  const { rec, tail } = x;
  const spool = join(x.root, 'reg-p2');
  await lbSpool(spool);
  // Low-latency observation: inotify on calls.jsonl, a timer as fallback.
  tail.follow(50, true);
  const logFile = join(x.root, 'importer-p2.log');
  const importer = startImporterChild({ port: x.service.port, certs: x.certs, spool, pidfile: join(x.root, 'p2.pid'), logFile, cwd: x.root, extra: EXTRA });
  const service: number[] = [];
  const observed: number[] = [];
  const store: number[] = [];
  const fromCall: number[] = [];
  const warm: string[] = [];
  try {
    for (let s = -P2_WARMUP; s < SAMPLES; s++) {
      if (importer.exitCode !== null) throw new Error(`the importer exited (${importer.exitCode}); log tail:\n${await logTail(logFile)}`);
      await sleep(20 + Math.random() * 30);
      const id = job('l', s + P2_WARMUP);
      const before = performance.now();
      const callWall = Date.now();
      await storeLikeLb(spool, formatRegistration({ jobid: id, owner: OWNER }));
      const storedWall = Date.now();
      const storedPerf = performance.now();
      try {
        await tail.until(() => rec.seen.has(id), s < 0 ? 30_000 : 10_000, `P2 sample ${s} in calls.jsonl`);
      } catch (e) {
        throw new Error(`${(e as Error).message}\n${await logTail(logFile)}`);
      }
      const got = rec.seen.get(id) as { at: number; seenAt: number };
      if (s < 0) {
        warm.push(fix(got.at - storedWall, 0));
        continue;
      }
      service.push(got.at - storedWall);
      fromCall.push(got.at - callWall);
      observed.push(got.seenAt - storedPerf);
      store.push(storedPerf - before);
    }
  } finally {
    const code = await stopChild(importer);
    if (code !== 0) say(`  importer exit ${code}`);
  }
  const sv = summary(service);
  const ob = summary(observed);
  const st = summary(store);
  const fc = summary(fromCall);
  const ok = sv.p50 <= 50 && sv.p99 <= 200;
  say(`\nP2  pickup latency: ${SAMPLES} messages, one at a time, 20–50 ms apart, into the spool of an idle importer (-t default ${POLL_MS} ms)`);
  say('  latency = service time of the call (its `at` in calls.jsonl) − wall time when storeLikeLb returned (hard link in new/);');
  say('  both are Date.now() on this machine (±1 ms); a value ≤ 0 means the importer was faster than the bench was rescheduled.');
  say(`  warm-up (first messages after start, not counted): ${warm.join(', ')} ms`);
  say(`  service-side:  p50 ${fix(sv.p50)} ms   p90 ${fix(sv.p90)} ms   p99 ${fix(sv.p99)} ms   max ${fix(sv.max)} ms   (min ${fix(sv.min)}, mean ${fix(sv.mean)})`);
  say(`  from the start of storeLikeLb (adds the LB's own write+fsync; an upper bound): p50 ${fix(fc.p50)} ms   p99 ${fix(fc.p99)} ms   max ${fix(fc.max)} ms`);
  say(`  as seen by the bench (inotify on calls.jsonl; an upper bound): p50 ${fix(ob.p50)} ms   p99 ${fix(ob.p99)} ms   max ${fix(ob.max)} ms`);
  say(`  storeLikeLb itself (write + fsync + link, info): p50 ${fix(st.p50)} ms   p99 ${fix(st.p99)} ms`);
  say(`  vs the poll interval baseline ${POLL_MS} ms: p50 is ${fix(POLL_MS / Math.max(sv.p50, 1), 0)}× shorter`);
  say(`  targets p50 ≤ 50 ms: ${verdict(sv.p50 <= 50)}, p99 ≤ 200 ms: ${verdict(sv.p99 <= 200)}`);
  reportFigure({
    id: 'P2', measured: `p50 ${fix(sv.p50)} ms, p99 ${fix(sv.p99)} ms`, baseline: `${POLL_MS} ms poll interval`,
    ratio: `${fix(POLL_MS / Math.max(sv.p50, 1), 0)}× faster (p50)`, met: ok,
  });
  return ok;
}

// ---------------------------------------------------------------- main

/** A reference service in its own process, with the record of its calls; `shape` its --reply-shape. */
async function serviceCtx(root: string, certs: BenchCerts, tls: Ctx['tls'], shape: 'compact' | 'gsoap'): Promise<Ctx> {
  const service = await startServiceChild({
    certs, dataDir: join(root, `service-${shape}`), logFile: join(root, `service-${shape}.log`), extraArgs: ['--reply-shape', shape],
    ...(PROF !== undefined ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${join(PROF, `service-${shape}`)}`] } : {}),
  });
  const rec = new Recorded();
  const tail = await CallsTail.open(service.callsFile, rec.onLine);
  onCleanup(() => tail.close());
  return { root, certs, tls, service, tail, rec };
}

/** Cross-check with the service's own counters (mutual-TLS admin endpoint), then stop it. */
async function closeService(x: Ctx, shape: string): Promise<boolean> {
  const st = await adminStats(x.service.origin, x.tls);
  const expected = [...x.rec.tags.values()].reduce((a, t) => a + t.ok, 0);
  const reg = st.calls['RegisterJob'] ?? { ok: -1, fault: -1 };
  const consistent = reg.ok === expected && reg.fault === 0;
  say(`\nservice (${shape}) /admin/stats: RegisterJob ok ${reg.ok}, fault ${reg.fault}, jobs ${st.jobs}, TLS refused ${st.tlsRefused}` +
    ` (calls.jsonl: ${expected} ok)  ${consistent ? 'consistent' : 'INCONSISTENT'}`);
  const code = await stopChild(x.service.child);
  if (code !== 0) say(`jp-primary-dev exit ${code}`);
  if (PROF !== undefined) await printProfiles(join(PROF, `service-${shape}`), `service (${shape})`);
  return consistent && code === 0;
}

async function main(): Promise<number> {
  const root = await mkdtemp(join(tmpdir(), 'jp-bench-reg-'));
  if (process.env['BENCH_REG_KEEP_DATA'] !== '1') onCleanup(() => rm(root, { recursive: true, force: true }));
  const certs = await makeDevCerts(join(root, 'certs'));
  const tls = await clientTls(certs);
  say(`register bench: node ${process.version}, ${availableParallelism()} CPUs (load average ${loadavg().map((l) => fix(l, 2)).join(' ')}), data in ${root}`);
  let ok = true;
  if (ONLY === '' || ONLY === 'p1' || ONLY === 'p2') {
    const x = await serviceCtx(root, certs, tls, 'compact');
    say(`jp-primary-dev --reply-shape compact: child pid ${x.service.child.pid} on ${x.service.origin}`);
    if (ONLY === '' || ONLY === 'p1') ok = (await p1(x, P1_COMPACT)) && ok;
    if (ONLY === '' || ONLY === 'p2') ok = (await p2(x)) && ok;
    ok = (await closeService(x, 'compact')) && ok;
  }
  if (ONLY === '' || ONLY === 'p1g') {
    const x = await serviceCtx(root, certs, tls, 'gsoap');
    say(`\njp-primary-dev --reply-shape gsoap (the real service's shapes): child pid ${x.service.child.pid} on ${x.service.origin}`);
    ok = (await p1(x, P1_GSOAP)) && ok;
    ok = (await closeService(x, 'gsoap')) && ok;
  }
  return ok ? 0 : 1;
}

main()
  .then((code) => {
    process.exitCode = code;
  }, (e: unknown) => {
    if (interruptedBy() !== undefined) return;
    process.stderr.write(`register bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 2;
  })
  .finally(() => runCleanups());
