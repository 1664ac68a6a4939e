/**
 * Runs the real jp-importer CLI as a child process (as an operator would,
 * with --foreground JSON logs) and gives tests its log lines as events.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { devCerts } from './certs.js';

export const IMPORTER_CLI = fileURLToPath(new URL('../../src/cli/jp-importer.js', import.meta.url));

export type LogLine = Record<string, unknown> & { msg?: string };

export interface ImporterProc {
  readonly child: ChildProcess;
  readonly logs: LogLine[];
  /** Resolves with the first log line matching, or rejects after ms. */
  waitForLog(pred: (l: LogLine) => boolean, ms?: number): Promise<LogLine>;
  /** Resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>;
}

/**
 * `via`: a command prefix that execs node in the end, e.g. `ip netns exec NS`
 * (test/helpers/netns.ts inNs), so that the child is still the importer's master.
 */
export function startImporter(
  args: string[], env: NodeJS.ProcessEnv = {}, as: { uid?: number; gid?: number } = {}, via: readonly string[] = [],
): ImporterProc {
  const argv = [...via, process.execPath, IMPORTER_CLI, ...args];
  const child = spawn(argv[0] as string, argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
    ...as, // run as another user (tests of a daemon that is not root)
  });
  const logs: LogLine[] = [];
  const waiters = new Set<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  const onLine = (line: string) => {
    let parsed: LogLine;
    try {
      parsed = JSON.parse(line) as LogLine;
    } catch {
      parsed = { msg: line, raw: true };
    }
    logs.push(parsed);
    for (const w of [...waiters]) {
      if (w.pred(parsed)) {
        waiters.delete(w);
        w.resolve(parsed);
      }
    }
  };
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', onLine);
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', onLine);
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  return {
    child,
    logs,
    exited,
    waitForLog(pred, ms = 20_000) {
      const found = logs.find(pred);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (l: LogLine) => { clearTimeout(timer); resolve(l); } };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`no matching log line within ${ms} ms; last lines:\n${logs.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`));
        }, ms);
        waiters.add(w);
      });
    },
  };
}

/** Standard flags for a registration-only importer against a dev service. */
export function importerArgs(port: number, dir: string, extra: string[] = []): string[] {
  const c = devCerts();
  return ['--foreground', '-p', `127.0.0.1:${port}`, '-c', c.client, '-k', c.clientKey, '-C', c.caDir,
    '-r', join(dir, 'reg'), '-d', join(dir, 'dump'), '-s', join(dir, 'sandbox'), '-i', join(dir, 'jp-importer.pid'),
    '--workers', 'reg', '-t', '200ms', ...extra];
}

export async function listMessages(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => !n.startsWith('.') && !n.endsWith('.meta')).sort();
  } catch {
    return [];
  }
}

export async function spoolDirs(root: string): Promise<void> {
  for (const d of ['tmp', 'new', 'cur', 'post', 'undeliverable']) await mkdir(join(root, d), { recursive: true, mode: 0o700 });
}

/** Poll an async condition (for file-system state that has no event) with a deadline. */
export async function until(cond: () => Promise<boolean> | boolean, ms = 20_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const jobId = (i: number | string): string => `https://lb.example.org:9000/job_${i}`;
export const OWNER = '/DC=org/DC=example/CN=Jane Doe';
