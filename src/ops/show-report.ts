/**
 * `show`: gather everything known about one message (read-only): where it
 * is, its body, its retry state, the claim holding it.
 */
import { constants, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describeError, systemCode } from '../core/errors.js';
import { metaName, parseClaimName } from '../queue/names.js';
import type { IsAlive } from '../maildir/spool.js';
import type { MessageMeta } from '../queue/retry-state.js';
import { readMetaFile, readRetryMeta } from './dir-stream.js';
import { HEX_BYTES, viewBody, type BodyView } from './body.js';
import { baseName, type Location } from './locate.js';
import type { HolderState } from './status-report.js';
import { liveness } from './status-scan.js';
import { nameTimeMs } from './subtrees.js';

export const SHOW_VERSION = 1;

export interface ShowClaim {
  /** `<pid>@<host>` (the life, when recorded, is in `life`). */
  readonly holder: string;
  readonly pid: number;
  readonly host: string;
  /** The holder's life when the claim records it. */
  readonly life: string | null;
  readonly holderState: HolderState;
  /** dead because the pid now names another process. */
  readonly pidReused: boolean;
  /** Since the rename into cur/ (the file's ctime). */
  readonly heldForMs: number;
}

export interface ShowReport {
  readonly version: typeof SHOW_VERSION;
  readonly id: string;
  readonly found: true;
  /** The message name (base name for a claim). */
  readonly name: string;
  /** Where it is (new, cur, post, undeliverable; work/tmp only when nowhere else). */
  readonly location: Location;
  /** Other links or copies of the same name (e.g. the LB library's tmp/ twin). */
  readonly otherLocations: Location[];
  readonly now: number;
  /** Creation time from the name (null for names without one). */
  readonly createdAt: number | null;
  readonly ageMs: number | null;
  /** The file's mtime (in post/: the next attempt time). */
  readonly modifiedAt: number;
  readonly size: number;
  readonly claim: ShowClaim | null;
  /** The retry state on disk (.meta), null when none. */
  readonly retry: MessageMeta | null;
  /** post/: the next attempt (the file's mtime); null elsewhere. */
  readonly nextAttemptAt: number | null;
  readonly nextAttemptInMs: number | null;
  /** undeliverable/: when and why it was given up. */
  readonly gaveUp: { readonly at: number | null; readonly reason: string } | null;
  readonly body: BodyView | null;
  /** Why the body could not be read (null when it was). */
  readonly bodyError: string | null;
}

export interface GatherOptions {
  readonly now: number;
  readonly host: string;
  readonly isAlive: IsAlive;
  /** Bytes of body shown (text), at least 512. */
  readonly maxBodyBytes: number;
}

async function readHead(path: string, limit: number): Promise<{ head: Buffer; size: number; mtimeMs: number; ctimeMs: number }> {
  // never follows a symlink, never waits on a FIFO (it is then refused as not a regular file)
  const fh = await fsp.open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error('not a regular file');
    const want = Math.min(st.size, Math.max(limit, HEX_BYTES));
    const head = Buffer.alloc(want);
    let off = 0;
    while (off < want) {
      const { bytesRead } = await fh.read(head, off, want - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return { head: head.subarray(0, off), size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
  } finally {
    await fh.close();
  }
}

/** The record beside a given-up message, or the retry state (kept in post/ while the message is anywhere else). */
function readRecord(loc: Location, name: string): Promise<MessageMeta | undefined> {
  if (loc.state === 'undeliverable') return readMetaFile(join(loc.root, 'undeliverable', metaName(name)));
  if (loc.state === 'post' || loc.state === 'cur' || loc.state === 'new') return readRetryMeta(join(loc.root, 'post'), name);
  return Promise.resolve(undefined);
}

/**
 * Report on the message at `loc`; undefined when the file vanished
 * meanwhile (a worker moved it: the caller searches again).
 */
export async function gather(id: string, loc: Location, others: Location[], o: GatherOptions): Promise<ShowReport | undefined> {
  const name = baseName(loc.entry);
  let file: Awaited<ReturnType<typeof readHead>> | undefined;
  let bodyError: string | null = null;
  try {
    file = await readHead(loc.path, o.maxBodyBytes);
  } catch (e) {
    if (systemCode(e) === 'ENOENT') return undefined;
    bodyError = systemCode(e) === 'ELOOP' ? 'a symbolic link (not followed)' : describeError(e);
  }
  const st = file ?? (await fsp.lstat(loc.path).catch(() => undefined));
  if (st === undefined) return undefined;
  const retry = await readRecord(loc, name);
  const c = loc.state === 'cur' ? parseClaimName(loc.entry) : undefined;
  const live = c === undefined || c.host !== o.host ? { state: 'other-host' as const, pidReused: false } : liveness(o.isAlive, c.pid, c.life);
  const claim: ShowClaim | null = c === undefined ? null : {
    holder: `${c.pid}@${c.host}`, pid: c.pid, host: c.host, life: c.life ?? null,
    holderState: live.state, pidReused: live.pidReused,
    heldForMs: Math.round(o.now - st.ctimeMs),
  };
  const createdAt = nameTimeMs(name) ?? null;
  const next = loc.state === 'post' ? Math.round(st.mtimeMs) : null;
  return {
    version: SHOW_VERSION, id, found: true, name, location: loc, otherLocations: others, now: o.now,
    createdAt, ageMs: createdAt === null ? null : o.now - createdAt,
    modifiedAt: Math.round(st.mtimeMs),
    size: st.size,
    claim,
    retry: retry ?? null,
    nextAttemptAt: next,
    nextAttemptInMs: next === null ? null : next - o.now,
    gaveUp: loc.state !== 'undeliverable' ? null
      : { at: retry?.gaveUpAt ?? null, reason: retry?.gaveUpReason ?? retry?.lastError ?? 'unknown (no .meta beside the message)' },
    body: file === undefined ? null : viewBody(file.head, file.size, o.maxBodyBytes),
    bodyError,
  };
}
