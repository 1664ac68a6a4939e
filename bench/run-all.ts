/**
 * `npm run bench`: runs every benchmark script (each measures its baseline
 * in the same run) and writes BENCHMARKS.md — per figure the measured value,
 * the baseline, the ratio, the target from targets.md, whether it is met,
 * the machine, and every script's complete output. The figures are the
 * scripts' `FIGURE <json>` lines (lib/figure.ts); which script reports
 * which figure, what it is and its target: lib/figure-table.ts.
 *
 * Environment: BENCH_ONLY=register,upload,… to run some; BENCH_OUT=/path
 * to write elsewhere than the project's BENCHMARKS.md; each script's own
 * variables (BENCH_EXPORT_MB, BENCH_UPLOAD_SCALE, …) pass through. Exits 1
 * when a script printed a malformed or unknown FIGURE line (after writing).
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findProjectFile } from './lib/certs.js';
import { BENCHES, figureRows, TABLE_HEAD, type BenchSpec } from './lib/figure-table.js';

/** Run one script: its stdout (where the FIGURE lines are) and stdout and stderr as they came. */
function run(script: string): Promise<{ stdout: string; out: string; code: number | null; seconds: number }> {
  const t0 = performance.now();
  const path = fileURLToPath(new URL(`./${script}`, import.meta.url));
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => void (stdout += d.toString()));
    for (const s of [child.stdout, child.stderr]) {
      s.on('data', (d: Buffer) => {
        out += d.toString();
        process.stdout.write(d);
      });
    }
    // 'close', not 'exit': the last lines (the FIGURE lines) may still be in the pipes at exit.
    child.on('close', (code) => resolveRun({ stdout, out, code, seconds: (performance.now() - t0) / 1000 }));
  });
}

async function main(): Promise<void> {
  const only = process.env['BENCH_ONLY']?.split(',').map((s) => s.trim());
  const started = new Date();
  const results: { bench: BenchSpec; stdout: string; out: string; code: number | null; seconds: number }[] = [];
  for (const bench of BENCHES) {
    if (only !== undefined && !only.includes(bench.name)) continue;
    process.stdout.write(`\n=== bench:${bench.name}\n`);
    results.push({ bench, ...(await run(bench.script)) });
  }
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const { rows, errors } = figureRows(results);
  const md = [
    '# Benchmarks',
    '',
    `Written by \`npm run bench\` (bench/run-all.ts) on ${started.toISOString()}. Each figure is measured against a baseline run in the same script, in the same run; targets are those of the project's targets.md.`,
    '',
    `Machine: ${availableParallelism()} cores (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, Node ${process.version}, load average at start ${loadavg().map((x) => x.toFixed(2)).join(' ')}.`,
    '',
    ...TABLE_HEAD,
    ...rows,
    '',
    ...(errors.length === 0 ? [] : ['FIGURE lines that could not be used:', '', ...errors.map((e) => `- ${e}`), '']),
    'Notes on figures that miss or need reading:',
    '',
    '- P3 is given against two awk one-liners: one keeping a file open per job (`print > file`, what the one-liner usually is) and one appending and closing per line. The exporter does durability work neither awk does (every job file and message made durable before the run succeeds). Against the close-per-line awk it is just under 1.0× (0.83–0.93× in recent runs). Profile (perf, CPU per contender): two file creates and a link per job (job file, message in tmp/, link into new/) against awk\'s one create per job; a create costs 19–40 µs of system time here, and this ext4 without a journal slows every create after many deletions (`recently_deleted`), which is why contenders write into fresh directories and nothing is deleted between them. Done: messages written while splitting and made durable by the same syncfs, synchronous announce, --max-open 4096, 16 MiB of write buffers, background syncfs every 64 MiB (announce 12 s → 2 s, fsync 1.9 → 0.5 s on 1 GiB).',
    '- P1 sits at the target\'s edge (it missed on earlier runs): the worker spends about 3× the bare client\'s CPU per message (the CPU lines in bench:register\'s output below; on the machine of earlier runs 220–250 µs against 56 µs), and the baseline\'s own rate swings with the machine\'s state (between about 2,700 and 9,600 msg/s on the machines this ran on). Profile (`BENCH_REG_CPU_PROF`, perf): about 105 µs per message is kernel file-system work the bare client never does (claim rename, read, unlinking the message and its tmp/ twin; this root file system has no journal and is mounted with `discard`, so the last unlink issues a discard), the rest is JS, the TLS write, one JSON log line and GC spread thinly. Done: overlapping claims, synchronous claim rename and twin unlink, undici dispatch without request()/body.text(), only undici\'s core modules loaded, canonical RegisterJob replies without the XML parser, cheaper log redaction, V8\'s default young generation, recording an outcome outside the concurrency limit (310 → about 230 µs per message, 2,824 → 3,500 msg/s). The worker\'s main thread is the bottleneck (one process against the bare client\'s one process that does no file work); next: a second registration worker on the same spool (the spool already supports many consumers).',
    '- P7a\'s baseline, `globus-url-copy -fast -f list`, runs in extended block mode (MODE E), keeps one authenticated data channel for the whole list and checks no size afterwards (its commands are printed from a `-dbg` run). The importer now does the same for files up to 8 MiB (MODE E over one cached data channel per control connection; the Globus server\'s CPU per file fell from about 7–9 ms to 1.7 ms, a 64 KiB file from 10.5 to 2.1 ms of GridFTP time), and still checks every file with SIZE. What remains is the importer\'s own per-file work, which globus-url-copy does not do: StartUpload and CommitUpload (SOAP over mutual TLS) and the path checks, about 4.6 ms of client CPU and 1.4 ms in the service per file. 1.5× of -fast would need under about 0.7 ms of CPU per file across all processes on these 2 cores, so the target is out of reach while every file takes two service calls. The output also gives globus-url-copy in stream mode and with `-cc 4`, and the CPU milliseconds per file of each party.',
    '- P4a misses since the path-safety work for R11 (issue 11): every upload now opens its file by walking from the allowed directory through /proc/self/fd and checks what the kernel opened, and after the commit moves it into a private directory and checks its identity before removing it. Measured side by side on this machine, P4a at 500 files, one at a time: before that work (5222f80) 2.04×, after it (973fa13) 1.56×, now 1.74×. The security of that path is worth more than the margin; cheaper ways to the same guarantees (fewer opens per component, one private directory per worker instead of per file) are the next step.',
    '- P1 is measured against the reference service\'s compact replies (`--reply-shape compact`), P1g against a second service answering in the real gSOAP shapes (jp-primary-dev\'s default since issue 14: open and close tags, its namespaces), each with its own baseline in the same run; the importer\'s RegisterJob fast path takes both shapes.',
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
  const outPath = process.env['BENCH_OUT'];
  const file = outPath !== undefined && outPath !== '' ? resolve(outPath) : join(findProjectFile('package.json').replace(/package\.json$/, ''), 'BENCHMARKS.md');
  await writeFile(file, md);
  process.stdout.write(`\nwrote ${file}\n`);
  for (const e of errors) process.stderr.write(`bench runner: ${e}\n`);
  if (errors.length > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench runner failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(2);
});
