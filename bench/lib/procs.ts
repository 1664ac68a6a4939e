/**
 * Child processes of a bench: each is started in its own process group so
 * that it and everything it forks (the importer's workers) can be stopped
 * together. Every child still alive when the bench ends, by success, error
 * or signal, is killed; cleanup hooks (temp dirs) run once.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

const live = new Set<ChildProcess>();
const cleanups: (() => Promise<void> | void)[] = [];
let installed = false;
let signalled: NodeJS.Signals | undefined;

/** The signal that interrupted the bench, if any (errors after it are consequences). */
export function interruptedBy(): NodeJS.Signals | undefined {
  return signalled;
}

function alive(c: ChildProcess): boolean {
  return c.exitCode === null && c.signalCode === null;
}

/** Signal the child's process group (the child and its descendants). */
function signalGroup(c: ChildProcess, sig: NodeJS.Signals): void {
  if (c.pid === undefined) return;
  try {
    process.kill(-c.pid, sig);
  } catch {
    // group already gone
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => {
    for (const c of live) signalGroup(c, 'SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      signalled = sig;
      process.stderr.write(`\nbench: ${sig}, stopping children and removing temporary files\n`);
      void runCleanups().finally(() => process.exit(130));
    });
  }
}

/** Spawn a tracked child in a new process group. */
export function spawnTracked(command: string, args: readonly string[], opts: SpawnOptions): ChildProcess {
  install();
  const child = spawn(command, [...args], { ...opts, detached: true });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Resolves with the exit code (or signal name) once the child has exited. */
export function exitOf(c: ChildProcess): Promise<number | string> {
  if (!alive(c)) return Promise.resolve(c.exitCode ?? c.signalCode ?? -1);
  return new Promise((resolve) => c.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
}

/**
 * Ask the child to stop (SIGTERM to the child only: it stops its own
 * workers), wait up to limitMs, then SIGKILL its whole process group.
 */
export async function stopChild(c: ChildProcess, limitMs = 15_000): Promise<number | string> {
  if (alive(c)) c.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<'limit'>((r) => {
    timer = setTimeout(() => r('limit'), limitMs);
  });
  const res = await Promise.race([exitOf(c), limit]);
  clearTimeout(timer);
  signalGroup(c, 'SIGKILL'); // stragglers of the group (normally none)
  if (res === 'limit') return `killed after ${limitMs} ms`;
  return res;
}

/** Register a cleanup run at the end (in reverse order), also on signals. */
export function onCleanup(fn: () => Promise<void> | void): void {
  install();
  cleanups.push(fn);
}

let cleaning: Promise<void> | undefined;
/** Stop every live child, newest first (clients before the service they use), then run the cleanup hooks (once). */
export function runCleanups(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of [...live].reverse()) await stopChild(c, 5000);
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (e) {
        process.stderr.write(`bench: cleanup failed: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
  })();
  return cleaning;
}
