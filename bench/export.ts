/**
 * P3 (spec/targets.md): lb-dump-exporter MB/s on a generated interleaved
 * dump of ~1 GiB and >= 100,000 jobs, against awk one-liners that write each
 * line to a file named after its DG.JOBID, all run in this script on the
 * same dump; plus the exporter's peak RSS (target <= 150 MiB).
 *
 * Baselines (both reported, each with its ratio):
 *   open  - gawk `print > (dir "/" j)`: keeps the files open; gawk closes and
 *           reopens them itself past the descriptor limit (mawk would fail).
 *   close - mawk (else gawk) `print >> f; close(f)`: one open per line, no
 *           descriptor limit.
 * The exporter does more than either: it makes every job file durable and
 * stores one maildir message per job (written into tmp/ before the final
 * syncfs, linked into new/ after it); its summary line shows the time of
 * each phase.
 *
 * Every contender writes into a directory of its own and nothing is removed
 * before the end: on ext4 without a journal, inodes freed in the last minute
 * (several if their block is still dirty) are skipped by every create, so
 * removing one contender's 100,000 files just before the next one starts
 * made that one pay for them (the exporter was measured 2x slower right
 * after `rm -r` of awk's output). Disk needed: about 2.5x the dump size per
 * run and contender.
 *
 *   npm run bench:export                      # ~1 GiB, ~102,000 jobs
 *   BENCH_EXPORT_MB=200 npm run bench:export  # quicker, same job size
 * Other knobs: BENCH_EXPORT_ACTIVE (jobs running at once in the generated
 * dump, default 2000), BENCH_EXPORT_RUNS (runs of each, best taken; 1),
 * BENCH_EXPORT_MAX_OPEN (exporter --max-open), BENCH_EXPORT_BASELINES
 * (open,close). Generated data lives in a temporary directory removed at
 * the end. Both figures are printed as FIGURE lines (lib/figure.ts) for run-all.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateDump } from './export-gen.js';
import { reportFigure } from './lib/figure.js';

const MB = Number(process.env['BENCH_EXPORT_MB'] ?? 1024);
const ACTIVE = Number(process.env['BENCH_EXPORT_ACTIVE'] ?? 2000);
const RUNS = Math.max(1, Number(process.env['BENCH_EXPORT_RUNS'] ?? 1));
const MAX_OPEN = process.env['BENCH_EXPORT_MAX_OPEN'];
const AVG_JOB_BYTES = 10_500;
const CLI = fileURLToPath(new URL('../src/cli/lb-dump-exporter.js', import.meta.url));
const TIME = '/usr/bin/time';
const RSS_LIMIT_MIB = 150;

interface Measured {
  readonly seconds: number;
  readonly rssKiB: number | undefined;
  /** User and system CPU, when /usr/bin/time is there. */
  readonly cpu: string | undefined;
  readonly stderr: string;
  readonly code: number | null;
}

/**
 * Run a command; wall time measured here, peak RSS and CPU seconds by
 * /usr/bin/time -f '%M %U %S' when present (else RSS by polling /proc).
 */
async function measure(cmd: string, args: string[], dir: string): Promise<Measured> {
  const useTime = existsSync(TIME);
  const timeOut = join(dir, `time-${Date.now()}.txt`);
  const argv = useTime ? ['-f', '%M %U %S', '-o', timeOut, cmd, ...args] : args;
  const started = performance.now();
  const child = spawn(useTime ? TIME : cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let polledKiB = 0;
  const poll = useTime ? undefined : setInterval(() => {
    const m = /VmHWM:\s+(\d+)/.exec(spawnSync('cat', [`/proc/${child.pid}/status`]).stdout?.toString() ?? '');
    if (m !== null) polledKiB = Math.max(polledKiB, Number(m[1]));
  }, 50);
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  const seconds = (performance.now() - started) / 1000;
  if (poll !== undefined) clearInterval(poll);
  let rssKiB: number | undefined = polledKiB > 0 ? polledKiB : undefined;
  let cpu: string | undefined;
  if (useTime) {
    const m = /(\d+) ([\d.]+) ([\d.]+)\s*$/.exec(await readFile(timeOut, 'utf8'));
    rssKiB = m !== null ? Number(m[1]) : undefined;
    if (m !== null) cpu = `cpu ${(Number(m[2]) + Number(m[3])).toFixed(2)} s (user ${m[2]}, sys ${m[3]})`;
  }
  return { seconds, rssKiB, cpu, stderr, code };
}

interface Baseline {
  readonly id: 'open' | 'close';
  readonly awk: string;
  readonly program: string;
  readonly note: string;
}

function which(names: string[]): string | undefined {
  for (const n of names) for (const d of ['/usr/bin', '/bin', '/usr/local/bin']) if (existsSync(join(d, n))) return join(d, n);
  return undefined;
}

/**
 * Two awk one-liners: `open` keeps every output file open (the obvious one;
 * gawk closes and reopens files itself past the descriptor limit, mawk
 * fails there, so gawk is used); `close` appends and closes after every
 * line (works with any number of jobs; mawk preferred, it is faster).
 */
function baselines(): Baseline[] {
  const want = (process.env['BENCH_EXPORT_BASELINES'] ?? 'open,close').split(',');
  const out: Baseline[] = [];
  const gawk = which(['gawk']);
  const fast = which(['mawk', 'gawk', 'awk']);
  const pick = '{ if (match($0, /DG\\.JOBID="[^"]*"/)) { j = substr($0, RSTART + 10, RLENGTH - 11); sub(/.*\\//, "", j); ';
  if (want.includes('open')) {
    out.push({
      id: 'open', awk: gawk ?? fast ?? 'awk', program: `${pick}print > (dir "/" j) } }`,
      note: gawk !== undefined ? 'gawk, files kept open (gawk multiplexes past the descriptor limit)' : 'awk, files kept open (no gawk: may fail past the descriptor limit)',
    });
  }
  if (want.includes('close')) {
    out.push({
      id: 'close', awk: fast ?? 'awk', program: `${pick}f = dir "/" j; print >> f; close(f) } }`,
      note: `${(fast ?? 'awk').split('/').pop()}, append and close after every line (no descriptor limit)`,
    });
  }
  return out;
}

function mbps(bytes: number, s: number): number {
  return bytes / 1e6 / s;
}

function syncAll(): void {
  spawnSync('sync', { stdio: 'ignore' });
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'jp-bench-export-'));
  try {
    const jobs = Math.max(1000, Math.ceil((MB * 1024 * 1024) / AVG_JOB_BYTES));
    const dump = join(root, 'dump.log');
    const g0 = performance.now();
    const gen = generateDump({ path: dump, jobs, active: ACTIVE });
    console.log(`P3 dump exporter benchmark`);
    console.log(`  dump: ${(gen.bytes / 1048576).toFixed(0)} MiB, ${gen.jobs} jobs, ${gen.lines} lines, ${ACTIVE} jobs running at once ` +
      `(generated in ${((performance.now() - g0) / 1000).toFixed(1)} s)`);
    const ulimit = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim();
    console.log(`  ulimit -n = ${ulimit}; exporter: ${CLI} (--max-open ${MAX_OPEN ?? 'default'})`);
    const bls = baselines();
    for (const b of bls) console.log(`  baseline ${b.id}: ${b.note}\n    ${b.awk} -v dir=OUT '${b.program}' dump`);

    const best = new Map<string, Measured>();
    let bestExp: Measured | undefined;
    for (let run = 1; run <= RUNS; run++) {
      for (const b of bls) {
        const out = join(root, `awk-${b.id}-${run}`);
        await mkdir(out);
        syncAll();
        const a = await measure(b.awk, ['-v', `dir=${out}`, b.program, dump], root);
        const awkFiles = (await readdir(out)).length;
        const ok = a.code === 0 && awkFiles === gen.jobs;
        console.log(`  run ${run} awk ${b.id}: ${a.seconds.toFixed(2)} s${a.cpu !== undefined ? `, ${a.cpu}` : ''}` +
          `${ok ? '' : ` FAILED: exit ${a.code}, ${awkFiles} files (expected ${gen.jobs}) ${a.stderr.slice(0, 200)}`}`);
        const prev = best.get(b.id);
        if (ok && (prev === undefined || a.seconds < prev.seconds)) best.set(b.id, a);
      }

      const store = join(root, `store-${run}`);
      const maildir = join(root, `maildir-${run}`);
      await mkdir(store);
      syncAll();
      const args = [CLI, '-d', dump, '-s', store, '-m', maildir, ...(MAX_OPEN !== undefined ? ['--max-open', MAX_OPEN] : [])];
      const e = await measure(process.execPath, args, root);
      const files = (await readdir(store)).length;
      const msgs = (await readdir(join(maildir, 'new')).catch(() => [])).length;
      if (e.code !== 0 || files !== gen.jobs || msgs !== gen.jobs) {
        throw new Error(`exporter run ${run} failed: exit ${e.code}, ${files} files, ${msgs} messages (expected ${gen.jobs}): ${e.stderr}`);
      }
      console.log(`  run ${run} exporter: ${e.seconds.toFixed(2)} s${e.cpu !== undefined ? `, ${e.cpu}` : ''} — ${e.stderr.trim().replace(/^lb-dump-exporter: /, '')}`);
      if (bestExp === undefined || e.seconds < bestExp.seconds) bestExp = e;
    }
    if (bestExp === undefined) throw new Error('no exporter run');
    const expRate = mbps(gen.bytes, bestExp.seconds);
    const rss = bestExp.rssKiB === undefined ? undefined : bestExp.rssKiB / 1024;
    console.log('');
    console.log(`  exporter       : ${bestExp.seconds.toFixed(2)} s, ${expRate.toFixed(1)} MB/s, peak RSS ${rss?.toFixed(0) ?? '?'} MiB ` +
      `(job files fsynced, ${gen.jobs} messages stored)`);
    /** Per baseline: its MB/s and the exporter's ratio to it (P3's FIGURE line). */
    const awk = new Map<Baseline['id'], { rate: number; ratio: number }>();
    for (const b of bls) {
      const a = best.get(b.id);
      if (a === undefined) {
        console.log(`  awk ${b.id.padEnd(6)}     : failed in every run`);
        continue;
      }
      const awkRate = mbps(gen.bytes, a.seconds);
      const ratio = expRate / awkRate;
      awk.set(b.id, { rate: awkRate, ratio });
      console.log(`  awk ${b.id.padEnd(6)}     : ${a.seconds.toFixed(2)} s, ${awkRate.toFixed(1)} MB/s, peak RSS ${((a.rssKiB ?? 0) / 1024).toFixed(0)} MiB (no fsync, no messages)`);
      console.log(`  P3 ratio vs awk ${b.id}: ${ratio.toFixed(2)}x (target >= 1.0x, aim 2x): ${ratio >= 1 ? 'PASS' : 'FAIL'}`);
    }
    console.log(`  P3 peak RSS: ${rss?.toFixed(0) ?? '?'} MiB (target <= ${RSS_LIMIT_MIB} MiB): ${rss !== undefined && rss <= RSS_LIMIT_MIB ? 'PASS' : 'FAIL'}`);
    const awkRate = (id: Baseline['id']): string => {
      const r = awk.get(id)?.rate;
      return r === undefined ? 'n/a' : `${r.toFixed(1)} MB/s`;
    };
    const awkRatio = (id: Baseline['id']): string => {
      const r = awk.get(id)?.ratio;
      return r === undefined ? 'n/a' : `${r.toFixed(2)}×`;
    };
    const ratios = [...awk.values()].map((a) => a.ratio);
    reportFigure({
      id: 'P3', measured: `${expRate.toFixed(1)} MB/s`,
      baseline: `awk keeping files open ${awkRate('open')}; awk closing per line ${awkRate('close')}`,
      ratio: `${awkRatio('open')} / ${awkRatio('close')}`, met: ratios.length === 0 ? null : ratios.every((r) => r >= 1),
    });
    reportFigure({
      id: 'P3 RSS', measured: rss === undefined ? 'n/a' : `${rss.toFixed(0)} MiB`, baseline: '—', ratio: '—', met: rss === undefined ? null : rss <= RSS_LIMIT_MIB,
    });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});
