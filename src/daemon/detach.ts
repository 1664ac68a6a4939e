/**
 * Without -g or --foreground the daemon detaches like the original: the
 * command re-runs itself in a new session with no terminal, waits until that
 * process holds the pidfile and its workers run (or failed), then exits.
 */
import { spawn } from 'node:child_process';

export const DETACHED_ENV = 'JP_IMPORTER_DETACHED';

export type DetachNotice = { type: 'detached-ready'; pid: number } | { type: 'detached-failed'; message: string };

export function isDetachedChild(): boolean {
  return process.env[DETACHED_ENV] === '1';
}

/** Tell the waiting parent how the start went (no-op when not detached). */
export function notifyParent(n: DetachNotice): void {
  if (isDetachedChild() && process.connected) {
    process.send?.(n);
    if (n.type === 'detached-ready') process.disconnect();
  }
}

/** Runs in the parent: returns the exit code for the command. */
export function detach(timeoutMs = 30_000): Promise<number> {
  const args = [...process.execArgv, process.argv[1] as string, ...process.argv.slice(2)];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env: { ...process.env, [DETACHED_ENV]: '1' },
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      process.stderr.write(`jp-importer: the daemon did not report readiness within ${timeoutMs} ms; see its log\n`);
      resolve(1);
    }, timeoutMs);
    child.on('message', (m: DetachNotice) => {
      clearTimeout(timer);
      if (m.type === 'detached-ready') {
        process.stdout.write(`jp-importer: running in the background as pid ${m.pid}\n`);
        child.unref();
        child.disconnect();
        resolve(0);
      } else {
        process.stderr.write(`jp-importer: ${m.message}\n`);
        resolve(1);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code === 0 ? 1 : (code ?? 1));
    });
  });
}
