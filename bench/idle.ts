/**
 * P5 (targets.md): the idle daemon — master and all workers — uses < 1 % CPU
 * and < 250 MiB RSS together; 100,000 messages waiting in new/ do not raise
 * the RSS by more than 50 MiB (directories are read as a stream).
 *
 * The importer (all three LB workers) runs as an operator would; the
 * reference service runs in its own process and answers every call after a
 * 10-minute delay, so the stored messages stay waiting (at most
 * --concurrency of them claimed). There is no baseline to run: the figures
 * are absolute limits.
 *
 * Environment: BENCH_IDLE_SECONDS=30 (idle CPU window), BENCH_IDLE_N=100000.
 * The figure is printed as a FIGURE line (lib/figure.ts) for run-all.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { makeDevCerts } from './lib/certs.js';
import { sumCpu, subCpu, treeCpu } from './lib/cpu.js';
import { reportFigure } from './lib/figure.js';
import { IMPORTER_CLI } from './lib/importer-child.js';
import { onCleanup, runCleanups, spawnTracked, stopChild } from './lib/procs.js';
import { fillSpool, lbSpool, leftInSpool } from './lib/reg-load.js';
import { startServiceChild } from './lib/service-child.js';
import { envInt, fix, verdict } from './lib/stats.js';

const IDLE_S = envInt('BENCH_IDLE_SECONDS', 30, 5, 600);
const N = envInt('BENCH_IDLE_N', 100_000, 1000, 1_000_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Mem {
  /** Sum of VmRSS: counts pages shared between the processes (the node binary) once per process. */
  rss: number;
  /** Sum of PSS: shared pages divided among the processes sharing them = what the daemon costs the machine. */
  pss: number;
}

function memTreeMiB(pid: number): Mem {
  let rss = 0;
  let pss = 0;
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop() as number;
    try {
      rss += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
      pss += Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
      todo.push(...readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter((x) => x !== '').map(Number));
    } catch {
      /* exited */
    }
  }
  return { rss: rss / 1024, pss: pss / 1024 };
}

async function main(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'jp-bench-idle-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  const certs = await makeDevCerts(join(dir, 'certs'));
  const svc = await startServiceChild({ certs, dataDir: join(dir, 'primary'), logFile: join(dir, 'primary.log'), extraArgs: ['--latency-ms', '600000'] });
  onCleanup(async () => void (await stopChild(svc.child)));
  const spools = { reg: join(dir, 'reg'), dump: join(dir, 'dump'), sandbox: join(dir, 'sandbox') };
  for (const s of Object.values(spools)) await mkdir(s, { recursive: true });
  const importer = spawnTracked(process.execPath, [IMPORTER_CLI, '--foreground', '-p', `127.0.0.1:${svc.port}`, '-c', certs.client, '-k', certs.clientKey,
    '-C', certs.caDir, '-r', spools.reg, '-d', spools.dump, '-s', spools.sandbox, '-i', join(dir, 'jp-importer.pid'), '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  onCleanup(async () => void (await stopChild(importer)));
  const pid = importer.pid as number;
  process.stdout.write(`idle bench: node ${process.version}, ${availableParallelism()} CPUs, ${fix(totalmem() / 2 ** 30)} GiB, load ${loadavg().map((x) => fix(x, 2)).join(' ')}\n`);
  await sleep(5000); // start-up and first scans
  const workers = treeCpu(pid).size - 1;
  const c0 = sumCpu(treeCpu(pid));
  const samples: Mem[] = [];
  for (let i = 0; i < IDLE_S; i++) {
    await sleep(1000);
    samples.push(memTreeMiB(pid));
  }
  const cpuS = subCpu(sumCpu(treeCpu(pid)), c0);
  const idleCpuPct = ((cpuS.user + cpuS.sys) / IDLE_S) * 100;
  const idleRss = Math.max(...samples.map((m) => m.rss));
  const idlePss = Math.max(...samples.map((m) => m.pss));
  process.stdout.write(`P5  idle daemon: master + ${workers} workers (reg, dump, sandbox), default -t 2 s, ${IDLE_S} s window\n`);
  process.stdout.write(`  CPU ${fix(idleCpuPct, 2)} % of one core (user ${fix(cpuS.user, 2)} s + sys ${fix(cpuS.sys, 2)} s)   target < 1 %: ${verdict(idleCpuPct < 1)}\n`);
  process.stdout.write(`  memory of all processes together: PSS ${fix(idlePss)} MiB   target < 250 MiB: ${verdict(idlePss < 250)}\n`);
  process.stdout.write(`    (sum of VmRSS ${fix(idleRss)} MiB counts the node binary's shared pages once per process; PSS divides them among the sharers)\n`);

  await lbSpool(spools.reg);
  let peak = idlePss;
  let peakRss = idleRss;
  const watcher = setInterval(() => {
    const m = memTreeMiB(pid);
    peak = Math.max(peak, m.pss);
    peakRss = Math.max(peakRss, m.rss);
  }, 200);
  const jobs = Array.from({ length: N }, (_, i) => `https://lb.example.org:9000/idle_${i}`);
  const fillS = await fillSpool(spools.reg, jobs, '/CN=bench');
  await sleep(10_000); // the worker scans new/ while the service keeps the claimed ones waiting
  clearInterval(watcher);
  const left = await leftInSpool(spools.reg);
  process.stdout.write(`  spool during the hold: new ${left['new']}, cur ${left['cur']} (claimed by the worker, waiting for the service), post ${left['post']}\n`);
  const last = memTreeMiB(pid);
  peak = Math.max(peak, last.pss);
  peakRss = Math.max(peakRss, last.rss);
  const rise = peak - idlePss;
  process.stdout.write(`  ${N} messages stored into new/ in ${fix(fillS)} s while the service holds every call: peak PSS ${fix(peak)} MiB, rise ${fix(rise)} MiB` +
    ` (VmRSS sum rise ${fix(peakRss - idleRss)} MiB)   target ≤ 50 MiB: ${verdict(rise <= 50 && peakRss - idleRss <= 50)}\n`);
  const ok = idleCpuPct < 1 && idlePss < 250 && rise <= 50 && peakRss - idleRss <= 50;
  reportFigure({
    id: 'P5', measured: `CPU ${fix(idleCpuPct, 2)} %, PSS ${fix(idlePss)} MiB, rise ${fix(rise)} MiB`, baseline: '— (absolute limits)', ratio: '—', met: ok,
  });
  return ok ? 0 : 1;
}

main()
  .then(async (code) => {
    await runCleanups();
    process.exit(code);
  })
  .catch(async (err: unknown) => {
    process.stderr.write(`idle bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    await runCleanups();
    process.exit(2);
  });
