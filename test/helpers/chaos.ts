/**
 * Helpers of the reliability suite (test/chaos, targets.md R1–R9): sizes
 * (CI by default, full with JP_CHAOS_FULL=1), bulk message storing, the
 * service's record, spool counts, the `status` tool. Processes, signals,
 * CPU time and FIFOs: test/chaos/procs.ts.
 */
import { rng } from './rng.js';
import { execFile } from 'node:child_process';
import { readdir, readFile, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Spool } from '../../src/maildir/spool.js';
import { storeLikeLb } from '../../src/maildir/lb-writer.js';
import { IMPORTER_CLI } from './daemon.js';
import type { Call } from './service.js';

/** JP_CHAOS_FULL=1 (`npm run test:chaos`) runs the sizes of targets.md. */
export const FULL = process.env['JP_CHAOS_FULL'] === '1';

/** `ci` in `npm test`, `full` with JP_CHAOS_FULL=1. */
export function sized<T>(ci: T, full: T): T {
  return FULL ? full : ci;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Poll a condition every `everyMs` until it holds, failing after `ms`
 * (for conditions that are costly to check, e.g. reading a big directory).
 */
export async function pollUntil(cond: () => Promise<boolean> | boolean, ms: number, what: string, everyMs = 200): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}


export function seedFromEnv(): number {
  const s = Number(process.env['JP_CHAOS_SEED']);
  return Number.isSafeInteger(s) && s > 0 ? s : (Date.now() % 1_000_000_007);
}

/** Run `fn` over `items` with at most `parallel` at once; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], parallel: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(parallel, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  });
  await Promise.all(runners);
  return out;
}

/** Store bodies as the C LB library does (tmp/ link kept), 32 at a time. Returns the names in order. */
export function storeManyLikeLb(root: string, bodies: readonly (string | Uint8Array)[]): Promise<string[]> {
  return mapLimit(bodies, 32, (b) => storeLikeLb(root, b));
}

/** Store bodies with this port's Spool.store, 32 at a time. */
export function storeMany(root: string, bodies: readonly (string | Uint8Array)[]): Promise<string[]> {
  const spool = new Spool(root);
  return mapLimit(bodies, 32, (b) => spool.store(b));
}

// ---- the service's record -------------------------------------------------

export interface RegisterCounts {
  /** Jobs registered ok (each at most once by construction of the service). */
  readonly ok: Set<string>;
  /** RegisterJob answered EEXIST (17): duplicates. */
  readonly eexist: number;
  /** Faults other than EEXIST (with their codes). */
  readonly otherFaults: number[];
  readonly total: number;
}

export function registerCounts(calls: readonly Call[]): RegisterCounts {
  const reg = calls.filter((c) => c.op === 'RegisterJob');
  return {
    ok: new Set(reg.filter((c) => c.ok).map((c) => String(c.job))),
    eexist: reg.filter((c) => !c.ok && c.fault === 17).length,
    otherFaults: reg.filter((c) => !c.ok && c.fault !== 17).map((c) => Number(c.fault)),
    total: reg.length,
  };
}

/** ok calls of `op` per job. */
export function okPerJob(calls: readonly Call[], op: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const c of calls) if (c.op === op && c.ok) m.set(String(c.job), (m.get(String(c.job)) ?? 0) + 1);
  return m;
}

// ---- spools ----------------------------------------------------------------

export const STATE_DIRS = ['tmp', 'new', 'cur', 'post', 'undeliverable'] as const;
export type StateDir = (typeof STATE_DIRS)[number];

/** Messages per state directory (dot files and .meta sidecars not counted). */
export async function spoolCounts(root: string): Promise<Record<StateDir, number>> {
  const out = {} as Record<StateDir, number>;
  for (const d of STATE_DIRS) {
    try {
      out[d] = (await readdir(join(root, d))).filter((n) => !n.startsWith('.') && !n.endsWith('.meta')).length;
    } catch {
      out[d] = 0;
    }
  }
  return out;
}

/** new/, cur/ and post/ all empty: nothing waits or is claimed. */
export async function drained(root: string): Promise<boolean> {
  const c = await spoolCounts(root);
  return c.new === 0 && c.cur === 0 && c.post === 0;
}

/** Given-up messages and the reason in their .meta (empty string when it has none). */
export async function undeliverableReasons(root: string): Promise<Map<string, string>> {
  const spool = new Spool(root);
  const out = new Map<string, string>();
  let names: string[] = [];
  try {
    names = (await readdir(join(root, 'undeliverable'))).filter((n) => !n.startsWith('.') && !n.endsWith('.meta'));
  } catch {
    return out;
  }
  for (const n of names) out.set(n, (await spool.readMeta('undeliverable', n))?.gaveUpReason ?? '');
  return out;
}

// ---- the operator tools ----------------------------------------------------------

const run = promisify(execFile);

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a compiled CLI module with this node; a non-zero exit is a result, not an error. */
export async function runNodeCli(module: string, args: string[], timeoutMs = 60_000): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [module, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? String(e) };
  }
}

export interface PostStatus {
  count: number;
  nextRetryAt: number | null;
  nextRetryInMs: number | null;
  dueNow: number;
}

export interface DestinationHoldStatus {
  worker: string;
  since: number;
  nextProbeAt: number;
  nextProbeInMs: number;
  failures: number;
  reason: string;
}

export interface StatusJson {
  now: number;
  exitCode: number;
  subtrees: {
    name: string;
    states: { new: { count: number }; cur: { count: number }; post: PostStatus; undeliverable: { count: number } };
    destinationDown: DestinationHoldStatus[];
  }[];
}

/** `jp-importer status --json` for a registration spool. */
export async function regStatus(reg: string): Promise<{ code: number; status: StatusJson }> {
  const r = await runNodeCli(IMPORTER_CLI, ['status', '--json', '-r', reg]);
  return { code: r.code, status: JSON.parse(r.stdout) as StatusJson };
}

/** Deterministic PRNG (mulberry32); the seed is printed by tests that use it. */
export { rng };

/** Whether reading a file moves its access time here (relatime with atime < mtime), checked on a probe in `dir`. */
export async function atimeWorks(dir: string): Promise<boolean> {
  const old = new Date('2000-01-01T00:00:00Z');
  const probe = join(dir, 'atime-probe');
  await writeFile(probe, 'x');
  await utimes(probe, old, new Date());
  await readFile(probe);
  const moved = (await stat(probe)).atimeMs !== old.getTime();
  await unlink(probe);
  return moved;
}
