/** Shared helpers of the exporter tests: generated dumps, temp dirs, reading results. */
import { rng } from '../helpers/rng.js';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseUploadMessage, type UploadMessage } from '../../src/messages/keyvalue.js';


export interface GenJob {
  readonly jobid: string;
  readonly unique: string;
  readonly lines: Buffer[];
}

/** One event line of job `j`, event `k`, with the awkward things real dumps contain. */
function eventLine(jobid: string, j: number, k: number, other: string): Buffer {
  const jobField = k % 5 === 3 ? `DG.JOBID=${jobid}` : `DG.JOBID="${jobid}"`;
  const parts = [
    `DG.ARRIVED=20080928052442.${String(k).padStart(6, '0')}`,
    `DATE=20080928052442.410059 HOST="devel19.example.org" PROG=edg-wms LVL=SYSTEM DG.PRIORITY=0`,
  ];
  if (k === 0) {
    parts.push(`DG.REGJOB.JDL="[ edg_jobid = \\"${other}\\"; DG.JOBID=\\"${other}\\"; Arguments = \\"a\\\\b\\"; ]"`);
  }
  parts.push(jobField, `DG.EVNT="Ev${k}"\tDG.SEQCODE="UI=000000:NS=${String(k).padStart(10, '0')}"`);
  let line = Buffer.from(parts.join(' '), 'latin1');
  if ((j + k) % 7 === 2) line = Buffer.concat([line, Buffer.from(' DG.X="bad utf8 \xff\xfe\xc3 here"', 'latin1')]);
  if ((j + k) % 4 === 1) line = Buffer.concat([line, Buffer.from(' DG.NOTE="raw\ttab, CR\r and \\"quotes\\""', 'latin1')]);
  if ((j + k) % 6 === 5) line = Buffer.concat([line, Buffer.from('\r', 'latin1')]);
  return line;
}

export function makeJobs(n: number, events: (j: number) => number, prefix = 'Job'): GenJob[] {
  const jobs: GenJob[] = [];
  for (let j = 0; j < n; j++) {
    const unique = `${prefix}${j}_x-${(j * 7919).toString(36)}`;
    const jobid = `https://lb${j % 3}.example.org:9000/${unique}`;
    const other = `https://lb.example.org:9000/Other${j}`;
    const lines: Buffer[] = [];
    for (let k = 0; k < events(j); k++) lines.push(eventLine(jobid, j, k, other));
    jobs.push({ jobid, unique, lines });
  }
  return jobs;
}

export function sortedLines(jobs: readonly GenJob[]): Buffer[] {
  return jobs.flatMap((j) => j.lines);
}

/** A random merge that keeps each job's own order. */
export function interleavedLines(jobs: readonly GenJob[], seed: number): Buffer[] {
  const rand = rng(seed);
  const pos = jobs.map(() => 0);
  const live = jobs.map((_, i) => i).filter((i) => (jobs[i] as GenJob).lines.length > 0);
  const out: Buffer[] = [];
  while (live.length > 0) {
    const k = Math.floor(rand() * live.length);
    const i = live[k] as number;
    const job = jobs[i] as GenJob;
    out.push(job.lines[pos[i] as number] as Buffer);
    pos[i] = (pos[i] as number) + 1;
    if ((pos[i] as number) >= job.lines.length) live.splice(k, 1);
  }
  return out;
}

/** What the job's file must hold: its lines, each newline-terminated. */
export function expectedContent(job: GenJob): Buffer {
  return Buffer.concat(job.lines.flatMap((l) => [l, Buffer.from('\n')]));
}

export function joinLines(lines: readonly Buffer[]): Buffer {
  return Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
}

/** Feed a buffer in chunks of varying sizes. */
export async function* chunks(data: Buffer, sizes: readonly number[] = [4096]): AsyncGenerator<Buffer> {
  let off = 0;
  for (let i = 0; off < data.length; i++) {
    const n = sizes[i % sizes.length] as number;
    yield data.subarray(off, off + n);
    off += n;
  }
}

export async function tempDir(t: { after(fn: () => Promise<void>): void }, prefix = 'jp-exp-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Messages in `<maildir>/new`, parsed. */
export async function readMessages(maildir: string): Promise<UploadMessage[]> {
  const out: UploadMessage[] = [];
  for (const name of await listDir(join(maildir, 'new'))) {
    out.push(parseUploadMessage(await readFile(join(maildir, 'new', name))));
  }
  return out;
}

/** Store files by unique part (`<unique>.<sec>_<usec>`). */
export async function storeFiles(store: string): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const name of await listDir(store)) {
    const match = /^(.+)\.(\d+)_(\d{6})$/.exec(name);
    if (match === null) throw new Error(`unexpected file in store: ${name}`);
    if (m.has(match[1] as string)) throw new Error(`two files for ${match[1]}`);
    m.set(match[1] as string, join(store, name));
  }
  return m;
}

/** The shared 101-job fixture, or undefined (the caller skips with a reason). */
export function fixturePath(name = 'perf_collection_avg_events.log'): string | undefined {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [
    resolve(process.cwd(), '..', 'shared', 'fixtures', 'lb-events', name),
    resolve(here, '..', '..', '..', '..', 'shared', 'fixtures', 'lb-events', name),
  ];
  return candidates.find((p) => existsSync(p));
}

/** Group lines by the first DG.JOBID="..." (true for the fixture), in input order. */
export function groupByJobid(data: Buffer): Map<string, Buffer[]> {
  const m = new Map<string, Buffer[]>();
  let start = 0;
  while (start < data.length) {
    let nl = data.indexOf(0x0a, start);
    if (nl === -1) nl = data.length;
    const line = data.subarray(start, nl);
    const id = /DG\.JOBID="([^"]*)"/.exec(line.toString('latin1'))?.[1];
    if (id === undefined) throw new Error(`fixture line without DG.JOBID at byte ${start}`);
    const list = m.get(id) ?? [];
    list.push(line);
    m.set(id, list);
    start = nl + 1;
  }
  return m;
}

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Spawn a compiled CLI module with this node, feed stdin, bounded time. */
export function runCli(
  module: URL,
  args: string[],
  opts: { stdin?: Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(module), ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI timed out; stderr: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.stdin ?? Buffer.alloc(0));
  });
}

export { rng };
