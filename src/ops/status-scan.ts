/**
 * Read one spool subtree into a SubtreeStatus: counts and bounded
 * aggregates only (oldest message, earliest retry, top errors, the longest
 * held claims), so memory does not grow with the number of files.
 * Read-only: nothing in the spool is changed.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describeError, systemCode } from '../core/errors.js';
import { holderTag, metaName, parseClaimName } from '../queue/names.js';
import type { IsAlive } from '../maildir/spool.js';
import { readDestinationRecords } from '../maildir/destination-file.js';
import { eachMessage } from '../queue/list.js';
import { lstatIfExists, readMetaFile, readRetryMeta } from './dir-stream.js';
import { ErrorTally } from './error-groups.js';
import { SmallestK } from './oldest.js';
import type {
  ClaimInfo, CurSummary, DestinationHold, HolderInfo, HolderState, Oldest, PostSummary, StateSummary, SubtreeStatus, UndeliverableSummary,
} from './status-report.js';
import { nameTimeMs, type OpsSubtree } from './subtrees.js';

export interface ScanOptions {
  readonly now: number;
  /** This host as written in claim names. */
  readonly host: string;
  /** Whether a holder of this host runs: its pid and, when recorded, its life. */
  readonly isAlive: IsAlive;
  /** Claims listed individually (the longest held). */
  readonly claimListLimit: number;
  /** Error groups shown. Default 5. */
  readonly topErrors?: number;
}

const MAX_HOLDERS = 1000;
/** Holders are listed dead first (what the operator must look at), then by claims. */
const HOLDER_ORDER: Readonly<Record<HolderState, number>> = { dead: 0, alive: 1, 'other-host': 2, unknown: 3 };

/** Tracks the entry with the smallest time (ties: the smaller name, so runs agree). */
class OldestTracker {
  private best: { t: number; id: string } | undefined;

  add(t: number, id: string): void {
    if (this.best === undefined || t < this.best.t || (t === this.best.t && id < this.best.id)) this.best = { t, id };
  }

  result(now: number): Oldest | null {
    return this.best === undefined ? null : { id: this.best.id, ageMs: now - this.best.t };
  }
}

function emptyState(): StateSummary {
  return { count: 0, oldest: null, missing: false };
}

export function emptySubtree(t: OpsSubtree, status: SubtreeStatus['status'], error: string | null): SubtreeStatus {
  return {
    name: t.name,
    root: t.root,
    status,
    error,
    states: {
      new: emptyState(),
      cur: { ...emptyState(), claims: [], holders: [], holdersOmitted: 0, deadClaims: 0 },
      post: { ...emptyState(), oldestFailure: null, nextRetryAt: null, nextRetryInMs: null, dueNow: 0, withoutMeta: 0 },
      undeliverable: { ...emptyState(), oldestFailure: null, withoutMeta: 0 },
    },
    destinationDown: [],
    legacyWork: null,
    errors: [],
    errorGroups: 0,
    errorsNotGrouped: 0,
  };
}

async function scanNew(dir: string, now: number): Promise<StateSummary> {
  const s = emptyState();
  const oldest = new OldestTracker();
  s.missing = !(await eachMessage(dir, async (name) => {
    s.count++;
    const t = nameTimeMs(name) ?? (await lstatIfExists(join(dir, name)))?.mtimeMs;
    if (t !== undefined) oldest.add(t, name);
  }));
  s.oldest = oldest.result(now);
  return s;
}

interface Liveness {
  readonly state: HolderState;
  readonly pidReused: boolean;
}

/** alive or dead; dead with pidReused when the pid runs but is not the recorded life. */
export function liveness(isAlive: IsAlive, pid: number, life: string | undefined): Liveness {
  if (isAlive(pid, life)) return { state: 'alive', pidReused: false };
  return { state: 'dead', pidReused: life !== undefined && isAlive(pid) };
}

async function scanCur(dir: string, o: ScanOptions): Promise<CurSummary> {
  const s: CurSummary = { ...emptyState(), claims: [], holders: [], holdersOmitted: 0, deadClaims: 0 };
  const oldest = new OldestTracker();
  const listed = new SmallestK<ClaimInfo>(o.claimListLimit);
  const holders = new Map<string, HolderInfo>();
  const known = new Map<string, Liveness>();
  const stateOf = (pid: number, host: string, life: string | undefined): Liveness => {
    if (host !== o.host) return { state: 'other-host', pidReused: false };
    const key = holderTag(pid, life);
    let a = known.get(key);
    if (a === undefined) {
      a = liveness(o.isAlive, pid, life);
      if (known.size < MAX_HOLDERS) known.set(key, a);
    }
    return a;
  };
  s.missing = !(await eachMessage(dir, async (entry) => {
    s.count++;
    const c = parseClaimName(entry);
    const id = c?.name ?? entry;
    const { state: holderState, pidReused } = c === undefined ? { state: 'unknown' as const, pidReused: false } : stateOf(c.pid, c.host, c.life);
    if (holderState === 'dead') s.deadClaims++;
    const holder = c === undefined ? null : `${c.pid}@${c.host}`;
    const life = c?.life ?? null;
    // one holder per process life: a dead one and a live one under the same pid are two
    const key = c === undefined ? '(no claim in the name)' : `${holderTag(c.pid, c.life)}@${c.host}`;
    const h = holders.get(key);
    if (h !== undefined) h.claims++;
    else if (holders.size < MAX_HOLDERS) {
      holders.set(key, { holder: holder ?? key, pid: c?.pid ?? null, host: c?.host ?? null, life, state: holderState, pidReused, claims: 1 });
    } else s.holdersOmitted++;
    const st = await lstatIfExists(join(dir, entry));
    const t = nameTimeMs(id) ?? st?.mtimeMs;
    if (t !== undefined) oldest.add(t, id);
    if (st === undefined) return;
    listed.add(st.ctimeMs, {
      id, entry, holder, pid: c?.pid ?? null, host: c?.host ?? null, life, holderState, pidReused,
      heldForMs: Math.round(o.now - st.ctimeMs),
      ageMs: t === undefined ? null : o.now - t,
    });
  }));
  s.oldest = oldest.result(o.now);
  s.claims = listed.sorted();
  s.holders = [...holders.values()].sort((a, b) =>
    HOLDER_ORDER[a.state] - HOLDER_ORDER[b.state] || b.claims - a.claims || (a.holder < b.holder ? -1 : a.holder > b.holder ? 1 : 0));
  return s;
}

async function scanPost(dir: string, o: ScanOptions, errors: ErrorTally): Promise<PostSummary> {
  const s: PostSummary = { ...emptyState(), oldestFailure: null, nextRetryAt: null, nextRetryInMs: null, dueNow: 0, withoutMeta: 0 };
  const oldest = new OldestTracker();
  const failing = new OldestTracker();
  let next: number | undefined;
  s.missing = !(await eachMessage(dir, async (name) => {
    s.count++;
    const [st, meta] = await Promise.all([lstatIfExists(join(dir, name)), readRetryMeta(dir, name)]);
    if (st !== undefined) {
      if (next === undefined || st.mtimeMs < next) next = st.mtimeMs;
      if (st.mtimeMs <= o.now) s.dueNow++;
    }
    if (meta === undefined) s.withoutMeta++;
    else {
      failing.add(meta.firstFailureAt, name);
      errors.add(meta.lastError, 'post', meta.lastAttemptAt);
    }
    const t = nameTimeMs(name) ?? meta?.firstFailureAt;
    if (t !== undefined) oldest.add(t, name);
  }));
  s.oldest = oldest.result(o.now);
  s.oldestFailure = failing.result(o.now);
  if (next !== undefined) {
    s.nextRetryAt = Math.round(next);
    s.nextRetryInMs = s.nextRetryAt - o.now;
  }
  return s;
}

async function scanUndeliverable(dir: string, o: ScanOptions, errors: ErrorTally): Promise<UndeliverableSummary> {
  const s: UndeliverableSummary = { ...emptyState(), oldestFailure: null, withoutMeta: 0 };
  const oldest = new OldestTracker();
  const failing = new OldestTracker();
  s.missing = !(await eachMessage(dir, async (name) => {
    s.count++;
    const meta = await readMetaFile(join(dir, metaName(name)));
    if (meta === undefined) s.withoutMeta++;
    else {
      failing.add(meta.firstFailureAt, name);
      errors.add(meta.lastError, 'undeliverable', meta.lastAttemptAt);
    }
    const t = nameTimeMs(name) ?? meta?.firstFailureAt ?? (await lstatIfExists(join(dir, name)))?.mtimeMs;
    if (t !== undefined) oldest.add(t, name);
  }));
  s.oldest = oldest.result(o.now);
  s.oldestFailure = failing.result(o.now);
  return s;
}

/** Destination records of live workers (or of other hosts), oldest outage first. */
async function scanDestination(root: string, o: ScanOptions): Promise<DestinationHold[]> {
  const holds: DestinationHold[] = [];
  for (const r of await readDestinationRecords(root)) {
    const d = r.record;
    if (d === undefined) continue;
    const sameHost = r.host === o.host;
    if (sameHost && !o.isAlive(r.pid, d.life)) continue;
    holds.push({
      worker: d.worker, holder: `${r.pid}@${r.host}`, holderState: sameHost ? 'alive' : 'other-host',
      since: d.since, downForMs: o.now - d.since, nextProbeAt: d.nextProbeAt, nextProbeInMs: d.nextProbeAt - o.now,
      failures: d.failures, reason: d.reason,
    });
  }
  return holds.sort((a, b) => a.since - b.since);
}

/** work/ of the C importer: entries (not starting with '.') and the longest held; null without work/. */
async function scanLegacyWork(dir: string, now: number): Promise<SubtreeStatus['legacyWork']> {
  let count = 0;
  let oldestCtime: number | undefined;
  const found = await eachMessage(dir, async (name) => {
    count++;
    const st = await lstatIfExists(join(dir, name));
    if (st !== undefined && (oldestCtime === undefined || st.ctimeMs < oldestCtime)) oldestCtime = st.ctimeMs;
  });
  if (!found) return null;
  return { count, longestHeldMs: oldestCtime === undefined ? null : Math.max(0, Math.round(now - oldestCtime)) };
}

/** Status of one subtree; a missing root or an unreadable directory is reported, never thrown. */
export async function scanSubtree(t: OpsSubtree, o: ScanOptions): Promise<SubtreeStatus> {
  try {
    const st = await fsp.stat(t.root);
    if (!st.isDirectory()) return emptySubtree(t, 'error', 'not a directory');
  } catch (e) {
    return systemCode(e) === 'ENOENT' ? emptySubtree(t, 'missing', null) : emptySubtree(t, 'error', describeError(e));
  }
  const s = emptySubtree(t, 'ok', null);
  const errors = new ErrorTally();
  try {
    s.states.new = await scanNew(join(t.root, 'new'), o.now);
    s.states.cur = await scanCur(join(t.root, 'cur'), o);
    s.states.post = await scanPost(join(t.root, 'post'), o, errors);
    s.states.undeliverable = await scanUndeliverable(join(t.root, 'undeliverable'), o, errors);
    s.destinationDown = await scanDestination(t.root, o);
    s.legacyWork = await scanLegacyWork(join(t.root, 'work'), o.now);
  } catch (e) {
    s.status = 'error';
    s.error = describeError(e);
  }
  s.errors = errors.top(o.topErrors ?? 5);
  s.errorGroups = errors.size;
  s.errorsNotGrouped = errors.other;
  return s;
}
