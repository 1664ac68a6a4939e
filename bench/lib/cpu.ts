/**
 * CPU time (user + system) of a process and its descendants, read from
 * /proc (Linux). Elsewhere every figure is undefined and the bench says so.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticks: number | undefined;
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

export interface Cpu {
  readonly user: number;
  readonly sys: number;
}

/** Seconds of CPU (user, system) used so far by one live process, or undefined. */
export function processCpuSplit(pid: number): Cpu | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name (which may contain blanks) in parentheses
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]) / clockTicks(), sys: Number(f[12]) / clockTicks() }; // utime, stime
  } catch {
    return undefined;
  }
}

/** Seconds of CPU (user + system) used so far by one live process, or undefined. */
export function processCpu(pid: number): number | undefined {
  const c = processCpuSplit(pid);
  return c === undefined ? undefined : c.user + c.sys;
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((s) => s !== '').map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds of pid and every live descendant, by pid. */
export function treeCpu(pid: number): Map<number, Cpu> {
  const out = new Map<number, Cpu>();
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop() as number;
    const s = processCpuSplit(p);
    if (s === undefined) continue;
    out.set(p, s);
    todo.push(...childrenOf(p));
  }
  return out;
}

export const addCpu = (a: Cpu, b: Cpu): Cpu => ({ user: a.user + b.user, sys: a.sys + b.sys });
export const subCpu = (a: Cpu, b: Cpu): Cpu => ({ user: a.user - b.user, sys: a.sys - b.sys });
export const sumCpu = (m: Map<number, Cpu>): Cpu => [...m.values()].reduce(addCpu, { user: 0, sys: 0 });

/** This process's CPU seconds. */
export function selfCpu(): Cpu {
  const u = process.cpuUsage();
  return { user: u.user / 1e6, sys: u.system / 1e6 };
}

/** CPU seconds (user + system) of this process's children that have been waited for (cutime + cstime). */
export function reapedChildrenCpu(pid: number | 'self' = 'self'): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / clockTicks(); // cutime + cstime
}

/**
 * CPU seconds of a server that forks a process per session: the process,
 * its live descendants and the children it has reaped. Differences of
 * two readings count every session in between once, ended or not.
 */
export function serverTreeCpu(pid: number): number {
  const c = sumCpu(treeCpu(pid));
  let reaped = 0;
  try {
    reaped = reapedChildrenCpu(pid);
  } catch {
    return Number.NaN;
  }
  return c.user + c.sys + reaped;
}
