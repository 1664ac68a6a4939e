/**
 * `npm run bench`: runs every benchmark script (each measures its baseline
 * in the same run) and writes BENCHMARKS.md — per figure the measured value,
 * the baseline, the ratio, the target from targets.md, whether it is met,
 * the machine, and every script's complete output.
 *
 * Environment: BENCH_ONLY=register,upload,… to run some; each script's own
 * variables (BENCH_EXPORT_MB, BENCH_UPLOAD_SCALE, …) pass through.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findProjectFile } from './lib/certs.js';

interface Figure {
  readonly id: string;
  readonly what: string;
  readonly target: string;
  /** From the script's output: measured, baseline, ratio, met. */
  extract(out: string): { measured: string; baseline: string; ratio: string; met: boolean | undefined };
}

interface Bench {
  readonly name: string;
  readonly script: string;
  readonly figures: readonly Figure[];
}

const m = (out: string, re: RegExp): string | undefined => re.exec(out)?.[1];
const num = (s: string | undefined): number => (s === undefined ? Number.NaN : Number(s));
const show = (s: string | undefined, unit = ''): string => (s === undefined ? 'n/a' : `${s}${unit}`);

const BENCHES: Bench[] = [
  { name: 'register', script: 'register.js', figures: [
    { id: 'P1', what: 'registrations/s, 20,000 in new/, importer start-up included', target: '≥ 0.5 × baseline', extract: (o) => {
      const ratio = m(o, /including start-up:\s+\S+ msg\/s\s+ratio ([\d.]+)/);
      return { measured: show(m(o, /including start-up:\s+(\d+) msg\/s/), ' msg/s'), baseline: show(m(o, /baseline:[^\n]*\n\s+\d+ in [\d.]+ s: (\d+) msg\/s/), ' msg/s (bare keep-alive mTLS client)'),
        ratio: show(ratio), met: ratio === undefined ? undefined : num(ratio) >= 0.5 };
    } },
    { id: 'P2', what: 'pickup latency, idle spool → service', target: 'p50 ≤ 50 ms, p99 ≤ 200 ms', extract: (o) => {
      const p50 = m(o, /service-side:\s+p50 ([\d.]+) ms/);
      const p99 = m(o, /service-side:.*?p99 ([\d.]+) ms/);
      return { measured: `p50 ${show(p50, ' ms')}, p99 ${show(p99, ' ms')}`, baseline: '2000 ms poll interval', ratio: p50 === undefined ? 'n/a' : `${Math.round(2000 / Math.max(num(p50), 1))}× faster (p50)`,
        met: p50 === undefined ? undefined : num(p50) <= 50 && num(p99) <= 200 };
    } },
  ] },
  { name: 'export', script: 'export.js', figures: [
    { id: 'P3', what: 'lb-dump-exporter MB/s, generated interleaved dump', target: '≥ 1.0 × awk (aim 2×)', extract: (o) => {
      const open = m(o, /P3 ratio vs awk open: ([\d.]+)x/);
      const close = m(o, /P3 ratio vs awk close: ([\d.]+)x/);
      const ratios = [open, close].filter((x): x is string => x !== undefined).map(Number);
      return { measured: show(m(o, /exporter\s+: [\d.]+ s, ([\d.]+) MB\/s/), ' MB/s'),
        baseline: `awk keeping files open ${show(m(o, /awk open\s+: [\d.]+ s, ([\d.]+) MB\/s/), ' MB/s')}; awk closing per line ${show(m(o, /awk close\s+: [\d.]+ s, ([\d.]+) MB\/s/), ' MB/s')}`,
        ratio: `${show(open, '×')} / ${show(close, '×')}`, met: ratios.length === 0 ? undefined : ratios.every((r) => r >= 1) };
    } },
    { id: 'P3 RSS', what: 'exporter peak RSS', target: '≤ 150 MiB', extract: (o) => {
      const rss = m(o, /P3 peak RSS: (\d+) MiB/);
      return { measured: show(rss, ' MiB'), baseline: '—', ratio: '—', met: rss === undefined ? undefined : num(rss) <= 150 };
    } },
  ] },
  { name: 'upload', script: 'upload.js', figures: [
    { id: 'P4a', what: '2,000 × 64 KiB through StartUpload/FTP/CommitUpload', target: '≥ 2 × curl', extract: (o) => {
      const ratio = m(o, /handler, 1 message at a time:\s+[\d.]+ files\/s\s+ratio ([\d.]+)/);
      return { measured: `${show(m(o, /handler, 1 message at a time:\s+([\d.]+) files\/s/), ' files/s')} (one at a time)`, baseline: show(m(o, /baseline curl -T, sequential:\s+([\d.]+) files\/s/), ' files/s (curl -T per file)'),
        ratio: show(ratio, '×'), met: ratio === undefined ? undefined : num(ratio) >= 2 };
    } },
    { id: 'P4b', what: 'one large file', target: '≥ 0.8 × curl', extract: (o) => {
      const ratio = m(o, /P4b[\s\S]*?handler:\s+[\d.]+ MB\/s\s+ratio ([\d.]+)/);
      return { measured: show(m(o, /P4b[\s\S]*?handler:\s+([\d.]+) MB\/s/), ' MB/s'), baseline: show(m(o, /baseline curl -T:\s+([\d.]+) MB\/s/), ' MB/s (curl -T)'),
        ratio: show(ratio, '×'), met: ratio === undefined ? undefined : num(ratio) >= 0.8 };
    } },
  ] },
  { name: 'gridftp', script: 'gridftp.js', figures: [
    { id: 'P7a', what: '2,000 × 64 KiB through StartUpload/GridFTP (GSI)/CommitUpload, real Globus server, 4 in flight', target: '≥ 1.5 × globus-url-copy -fast', extract: (o) => {
      const ratio = m(o, /handler, \d+ messages in flight:\s+[\d.]+ files\/s\s+ratio ([\d.]+)/);
      const inFlight = m(o, /handler, (\d+) messages in flight:/);
      return { measured: `${show(m(o, /handler, \d+ messages in flight:\s+([\d.]+) files\/s/), ' files/s')} (${inFlight ?? '?'} in flight)`,
        baseline: show(m(o, /baseline globus-url-copy -fast[^:]*:\s+([\d.]+) files\/s/), ' files/s (globus-url-copy -fast -f list, one process)'),
        ratio: show(ratio, '×'), met: ratio === undefined ? undefined : num(ratio) >= 1.5 };
    } },
    { id: 'P7b', what: 'one 1 GiB gsiftp:// upload', target: '≥ 0.8 × globus-url-copy', extract: (o) => {
      const ratio = m(o, /P7b[\s\S]*?handler:\s+[\d.]+ MB\/s\s+ratio ([\d.]+)/);
      return { measured: show(m(o, /P7b[\s\S]*?handler:\s+([\d.]+) MB\/s/), ' MB/s'), baseline: show(m(o, /baseline globus-url-copy \(stream mode\):\s+([\d.]+) MB\/s/), ' MB/s (globus-url-copy, stream mode)'),
        ratio: show(ratio, '×'), met: ratio === undefined ? undefined : num(ratio) >= 0.8 };
    } },
  ] },
  { name: 'idle', script: 'idle.js', figures: [
    { id: 'P5', what: 'idle daemon (master + 3 workers); 100,000 waiting', target: '< 1 % CPU, < 250 MiB, rise ≤ 50 MiB', extract: (o) => {
      const cpu = m(o, /CPU ([\d.]+) % of one core/);
      const pss = m(o, /PSS ([\d.]+) MiB\s+target/);
      const rise = m(o, /rise ([\d.]+) MiB \(VmRSS/);
      return { measured: `CPU ${show(cpu, ' %')}, PSS ${show(pss, ' MiB')}, rise ${show(rise, ' MiB')}`, baseline: '— (absolute limits)', ratio: '—',
        met: cpu === undefined ? undefined : /target ≤ 50 MiB: MET/.test(o) && /target < 1 %: MET/.test(o) && /target < 250 MiB: MET/.test(o) };
    } },
  ] },
  { name: 'jobman', script: 'jobman.js', figures: [
    { id: 'P6', what: 'jobman 1,000 requests × 10 rows on SQLite', target: '≥ 0.5 × plain loop', extract: (o) => {
      const ratio = m(o, /P6 ratio \([^)]*\) ([\d.]+)/);
      return { measured: 'see output (rows/s per variant)', baseline: 'the same statements in one plain better-sqlite3 loop', ratio: show(ratio), met: ratio === undefined ? undefined : num(ratio) >= 0.5 };
    } },
  ] },
];

function run(script: string): Promise<{ out: string; code: number | null; seconds: number }> {
  const t0 = performance.now();
  const path = fileURLToPath(new URL(`./${script}`, import.meta.url));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    for (const s of [child.stdout, child.stderr]) {
      s.on('data', (d: Buffer) => {
        out += d.toString();
        process.stdout.write(d);
      });
    }
    child.on('exit', (code) => resolve({ out, code, seconds: (performance.now() - t0) / 1000 }));
  });
}

async function main(): Promise<void> {
  const only = process.env['BENCH_ONLY']?.split(',').map((s) => s.trim());
  const started = new Date();
  const results: { bench: Bench; out: string; code: number | null; seconds: number }[] = [];
  for (const bench of BENCHES) {
    if (only !== undefined && !only.includes(bench.name)) continue;
    process.stdout.write(`\n=== bench:${bench.name}\n`);
    results.push({ bench, ...(await run(bench.script)) });
  }
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const rows = results.flatMap(({ bench, out }) => bench.figures.map((f) => ({ f, r: f.extract(out) })));
  const md = [
    '# Benchmarks',
    '',
    `Written by \`npm run bench\` (bench/run-all.ts) on ${started.toISOString()}. Each figure is measured against a baseline run in the same script, in the same run; targets are those of the project's targets.md.`,
    '',
    `Machine: ${availableParallelism()} cores (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, Node ${process.version}, load average at start ${loadavg().map((x) => x.toFixed(2)).join(' ')}.`,
    '',
    '| id | what | measured | baseline (same run) | ratio | target | met |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(({ f, r }) => `| ${f.id} | ${f.what} | ${r.measured} | ${r.baseline} | ${r.ratio} | ${f.target} | ${r.met === undefined ? 'no figure' : r.met ? 'yes' : '**no**'} |`),
    '',
    'Notes on figures that miss or need reading:',
    '',
    '- P3 is given against two awk one-liners: one keeping a file open per job (`print > file`, what the one-liner usually is) and one appending and closing per line. The exporter does durability work neither awk does (every job file and message made durable before the run succeeds). Against the close-per-line awk it is just under 1.0× (0.83–0.93× in recent runs). Profile (perf, CPU per contender): two file creates and a link per job (job file, message in tmp/, link into new/) against awk\'s one create per job; a create costs 19–40 µs of system time here, and this ext4 without a journal slows every create after many deletions (`recently_deleted`), which is why contenders write into fresh directories and nothing is deleted between them. Done: messages written while splitting and made durable by the same syncfs, synchronous announce, --max-open 4096, 16 MiB of write buffers, background syncfs every 64 MiB (announce 12 s → 2 s, fsync 1.9 → 0.5 s on 1 GiB).',
    '- P1 misses on this machine: the worker spends about 220–250 µs of CPU per message against the bare client\'s 56 µs, and the baseline\'s own rate swings between about 5,900 and 9,600 msg/s with the machine\'s state. Profile (`BENCH_REG_CPU_PROF`, perf): about 105 µs per message is kernel file-system work the bare client never does (claim rename, read, unlinking the message and its tmp/ twin; this root file system has no journal and is mounted with `discard`, so the last unlink issues a discard), the rest is JS, the TLS write, one JSON log line and GC spread thinly. Done: overlapping claims, synchronous claim rename and twin unlink, undici dispatch without request()/body.text(), only undici\'s core modules loaded, canonical RegisterJob replies without the XML parser, cheaper log redaction, V8\'s default young generation, recording an outcome outside the concurrency limit (310 → about 230 µs per message, 2,824 → 3,500 msg/s). The worker\'s main thread is the bottleneck (one process against the bare client\'s one process that does no file work); next: a second registration worker on the same spool (the spool already supports many consumers).',
    '- P7a\'s baseline, `globus-url-copy -fast -f list`, runs in extended block mode (MODE E) and keeps one authenticated data channel for the whole list, with no size check afterwards (its commands are printed from a `-dbg` run). The importer uploads in stream mode (a cut upload resumes from the server\'s size), so every file opens a data connection with its own GSI handshake (DCAU A) and is checked with SIZE, and StartUpload/CommitUpload go to the service per file. The output also gives globus-url-copy in stream mode (the importer\'s per-file protocol) and with `-cc 4`, and the CPU milliseconds per file of each party (client, service, GridFTP server).',
    '- P5 memory is PSS summed over the processes: the node binary\'s pages are shared by the four processes; the sum of VmRSS (which counts them four times) is printed in the output too.',
    '',
    ...results.flatMap(({ bench, out, code, seconds }) => [
      `## bench:${bench.name} (exit ${code}, ${seconds.toFixed(0)} s)`,
      '',
      '```',
      out.trimEnd(),
      '```',
      '',
    ]),
  ].join('\n');
  const file = join(findProjectFile('package.json').replace(/package\.json$/, ''), 'BENCHMARKS.md');
  await writeFile(file, md);
  process.stdout.write(`\nwrote ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench runner failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(2);
});
