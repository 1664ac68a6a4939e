/**
 * Processes of the chaos tests: the importer's workers found from the
 * master's log lines (`worker started` / `worker …; restarting`, field
 * workerPid), random SIGKILLs, whole-importer crashes, CPU time from
 * /proc/<pid>/stat, FIFOs that show whether anyone opened them.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync } from 'node:fs';
import type { ImporterProc, LogLine } from '../helpers/daemon.js';

/** true while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const isStarted = (l: LogLine): boolean => l.msg === 'worker started' && typeof l['workerPid'] === 'number';
const isDied = (l: LogLine): boolean => /^worker .*; restarting$/.test(String(l.msg)) && typeof l['workerPid'] === 'number';

/**
 * The workers of an importer that the master started and has not reported
 * dead, from its log lines (`worker started` / `worker …; restarting`, field
 * workerPid): worker id → pid.
 */
export function liveWorkers(imp: ImporterProc): Map<string, number> {
  const live = new Map<string, number>();
  const dead = new Set<number>();
  for (const l of imp.logs) if (isDied(l)) dead.add(l['workerPid'] as number);
  for (const l of imp.logs) {
    if (!isStarted(l)) continue;
    const pid = l['workerPid'] as number;
    if (!dead.has(pid)) live.set(String(l['worker']), pid);
  }
  return live;
}

/** The worker process logged `worker running` (it is initialised and claiming). */
export function workerRunning(imp: ImporterProc, pid: number): boolean {
  return imp.logs.some((l) => l.msg === 'worker running' && l['pid'] === pid);
}

/** Master and live workers. */
export function importerPids(imp: ImporterProc): number[] {
  const master = imp.child.pid;
  return [...(master !== undefined ? [master] : []), ...liveWorkers(imp).values()];
}

/** SIGKILL the master and its live workers at once (a crash of the whole importer). */
export function killImporter(imp: ImporterProc): void {
  const pids = importerPids(imp);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

export interface Killer {
  /** Stop killing; resolves with the number of kills once the loop has ended. */
  stop(): Promise<number>;
  readonly kills: number;
  /** Messages in cur/ just before each kill. */
  readonly inCurAtKill: number[];
}

export interface KillerOptions {
  /** Which worker (id as in the logs, e.g. 'reg'). */
  worker: string;
  minMs: number;
  maxMs: number;
  random: () => number;
  /** Stop after this many kills. */
  maxKills?: number;
  /** Counted just before each kill (e.g. messages in cur/). */
  probe?: () => Promise<number>;
  /** Called after each kill (e.g. to note how far the run had got). */
  onKill?: (pid: number) => void;
  /**
   * Kill a process only once this holds for it (e.g. it has delivered
   * something): checked every 50 ms, the random delay counts from then.
   */
  armed?: (pid: number) => boolean | Promise<boolean>;
}

/**
 * Every minMs–maxMs (random), SIGKILL the worker's current process if it is
 * initialised (`worker running`): a worker in its restart delay is not
 * there to be killed, so the next tick waits for its successor. With
 * `armed`, a process is killed minMs–maxMs after the condition first held
 * for it.
 */
export function startKiller(imp: ImporterProc, o: KillerOptions): Killer {
  let stopped = false;
  let kills = 0;
  const inCurAtKill: number[] = [];
  let wake: (() => void) | undefined;
  let armedPid: number | undefined;
  // A killed process stays in the master's log as live until its death is
  // reported (and alive() while it is a zombie): never kill, or count, it twice.
  const killed = new Set<number>();
  const loop = (async () => {
    while (!stopped && (o.maxKills === undefined || kills < o.maxKills)) {
      const waiting = o.armed !== undefined && armedPid === undefined;
      await new Promise<void>((r) => {
        const timer = setTimeout(r, waiting ? 50 : o.minMs + Math.floor(o.random() * (o.maxMs - o.minMs + 1)));
        wake = () => {
          clearTimeout(timer);
          r();
        };
      });
      if (stopped) break;
      const pid = liveWorkers(imp).get(o.worker);
      if (pid === undefined || killed.has(pid) || !workerRunning(imp, pid) || !alive(pid)) {
        armedPid = undefined;
        continue;
      }
      if (o.armed !== undefined && armedPid !== pid) {
        armedPid = (await o.armed(pid)) ? pid : undefined;
        continue;
      }
      const inCur = o.probe !== undefined ? await o.probe() : 0;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        continue;
      }
      kills++;
      killed.add(pid);
      armedPid = undefined;
      inCurAtKill.push(inCur);
      o.onKill?.(pid);
    }
  })();
  return {
    get kills() {
      return kills;
    },
    inCurAtKill,
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      return kills;
    },
  };
}

let clkTck: number | undefined;
/** Clock ticks per second of /proc/<pid>/stat times. */
export function clockTicks(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** utime + stime of a process in seconds (0 when it is gone). */
export function cpuSeconds(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // fields after the command name (which may hold blanks) in parentheses
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): utime is field 14, stime field 15
  return (Number(rest[11]) + Number(rest[12])) / clockTicks();
}

export function mkfifo(path: string): void {
  execFileSync('mkfifo', ['-m', '0600', path]);
}

/**
 * Whether some process has the FIFO open for reading: a non-blocking open
 * for writing fails with ENXIO when there is no reader.
 */
export function fifoHasReader(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENXIO') return false;
    throw e;
  }
  closeSync(fd);
  return true;
}

/** SIGTERM and wait for the exit (SIGKILL after ms). */
export async function stopImporter(imp: ImporterProc, ms = 15_000): Promise<number | string> {
  if (imp.child.exitCode !== null || imp.child.signalCode !== null) return imp.exited;
  imp.child.kill('SIGTERM');
  const timer = setTimeout(() => imp.child.kill('SIGKILL'), ms);
  try {
    return await imp.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Lines of the importer's log that report a dead worker (a crash, unless the test killed it). */
export function workerDeaths(imp: ImporterProc): LogLine[] {
  return imp.logs.filter(isDied);
}
