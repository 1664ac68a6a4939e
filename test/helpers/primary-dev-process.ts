/**
 * The reference primary service as its own process (the jp-primary-dev
 * CLI), optionally inside a network namespace and as another account (as a
 * real service runs beside its FTP server under the account that owns the
 * stored files). Reads its ready line; SIGTERM in the after-hook.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { inNs } from './netns.js';

export const PRIMARY_DEV_CLI = fileURLToPath(new URL('../../src/cli/jp-primary-dev.js', import.meta.url));

export interface PrimaryDevProcOptions {
  /** Network namespace to run in. */
  readonly netns?: string;
  /** Run as this account (setpriv from util-linux; needs root). */
  readonly as?: { readonly uid: number; readonly gid: number };
  /** jp-primary-dev flags (--listen, -c, -k, -C, --data-dir, …). */
  readonly args: readonly string[];
  readonly dataDir: string;
}

export interface PrimaryDevProc {
  readonly pid: number;
  readonly httpsPort: number;
  readonly callsFile: string;
  /** Its log lines (stderr), for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

type AfterHook = { after: (fn: () => Promise<void> | void) => void };

export async function startPrimaryDevProcess(t: AfterHook, o: PrimaryDevProcOptions): Promise<PrimaryDevProc> {
  let argv: string[] = [process.execPath, PRIMARY_DEV_CLI, ...o.args];
  if (o.as !== undefined) argv = ['setpriv', `--reuid=${o.as.uid}`, `--regid=${o.as.gid}`, '--clear-groups', '--', ...argv];
  if (o.netns !== undefined) {
    const [file, args] = inNs(o.netns, argv[0] as string, argv.slice(1));
    argv = [file, ...args];
  }
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
  let out = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out = (out + d).slice(-8000); });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  t.after(stop);
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`jp-primary-dev did not start within 30 s: ${out}`)), 30_000);
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as Record<string, unknown>);
      } catch {
        reject(new Error(`jp-primary-dev's first line is not its ready line: ${line} ${out}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`jp-primary-dev exited (${code}) before it was ready: ${out}`));
    });
  });
  const https = String((ready['listening'] as Record<string, unknown> | undefined)?.['https'] ?? '');
  const port = Number(/:(\d+)$/.exec(https)?.[1]);
  if (!(port > 0)) throw new Error(`jp-primary-dev's ready line names no HTTPS port: ${JSON.stringify(ready)}`);
  return { pid: Number(ready['pid']), httpsPort: port, callsFile: join(o.dataDir, 'calls.jsonl'), output: () => out, stop };
}
