/**
 * jobman's own queue layout as a MessageQueue, so existing jobman
 * deployments go through the importer's claim / retry / give-up loop:
 *
 *   iqueue/<sub>/<uid>.req ─claim→ <statedir>/<sub>/work/<uid>.req:<pid>-<life>@<host>
 *   work/ ─delivered→ oqueue/<sub>/<uid>.req
 *   work/ ─give up→   equeue/<sub>/<uid>.req  + <uid>.req.reason (JSON, reason inside)
 *   work/ ─retry→     <statedir>/<sub>/retry/<uid>.req (+ .meta, mtime = next attempt) ─due→ work/
 *   work/ of a dead process of this host ─recover→ iqueue/<sub>/
 *   iqueue/<sub>/<other name> ─scan→ equeue/<sub>/ with a reason (wrong type)
 *   iqueue/<sub>/com.daphne.jobman.{quit,restart} ─scan→ oqueue/<sub>/<name>_YYYY-MM-DD_HH:MM:SS + onControl()
 *
 * The state directory (default `<parent of iqueue>/.jp-jobman`) is outside
 * the folders jobman reads, so jobman itself never trips over it; it must be
 * on the same file system as iqueue (claims are renames).
 *
 * As in the maildir spool, one request the importer cannot touch (another
 * user's, mode 0000, a directory…) is that request's outcome, never a stop
 * of the queue: moves fall back to rename where no link can be made, an
 * unstampable due time stays in the .meta, an unreadable request is given up
 * with the reason.
 */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import { describeError, JpError, systemCode } from '../core/errors.js';
import type { ClaimedMessage, FailureResult, MessageQueue } from '../core/queue.js';
import { ensureDir, readSidecar, renameIfExists, unlinkIfExists, writeFileAtomic } from '../maildir/fsutil.js';
import { holderAlive, ownLife } from '../maildir/liveness.js';
import { claimName, metaName, parseClaimName, sanitizeHost } from '../maildir/names.js';
import {
  afterFailure, DEFAULT_RETRY_POLICY, giveUpMeta, parseMeta, serializeMeta, type MessageMeta, type RetryPolicy,
} from '../maildir/retry-state.js';
import type { IsAlive, SkippedEntry } from '../maildir/spool.js';
import type { JobmanConfig } from './config-types.js';
import { mkdirKeep, moveInto, readLimited, REASON_SUFFIX } from './queue-fs.js';
import { REQUEST_SUFFIX } from './request.js';

export type ControlKind = 'quit' | 'restart';
export const CONTROL_FILES: Readonly<Record<string, ControlKind>> = {
  'com.daphne.jobman.quit': 'quit',
  'com.daphne.jobman.restart': 'restart',
};

export interface JobmanQueueOptions {
  readonly iqueue: string;
  readonly oqueue: string;
  readonly equeue: string;
  readonly sub: string;
  readonly statedir: string;
  /** Called after a control file was moved to oqueue (by this process). */
  readonly onControl?: (kind: ControlKind, movedTo: string) => void;
  readonly clock?: Clock;
  readonly host?: string;
  readonly pid?: number;
  /** Recorded in claims beside the pid; default this process's when `pid` is not given. */
  readonly life?: string;
  readonly policy?: RetryPolicy;
  readonly random?: () => number;
  /** Leave files younger than this for a later scan (producers writing in place). Default 0. */
  readonly minAgeMs?: number;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** jobman's control-file suffix: `_YYYY-MM-DD_HH:MM:SS`, local time. */
export function controlSuffix(ms: number): string {
  const d = new Date(ms);
  return `_${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}_${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Why a name in iqueue/<sub>/ is not a request, or undefined when it is one. */
export function wrongRequestName(name: string): string | undefined {
  if (!name.endsWith(REQUEST_SUFFIX)) return `wrong type: jobman requests are named <uid>${REQUEST_SUFFIX}`;
  if (name === REQUEST_SUFFIX) return 'empty uid';
  if (name.includes('/') || name.includes('\0')) return 'name contains a path separator or NUL';
  if (Buffer.byteLength(name) > 200) return 'name longer than 200 bytes';
  return undefined;
}

export class JobmanQueue implements MessageQueue {
  readonly root: string;
  readonly watchDir: string;
  readonly host: string;
  readonly pid: number;
  readonly life: string | undefined;
  readonly dirs: { readonly in: string; readonly out: string; readonly err: string; readonly work: string; readonly retry: string };
  private readonly o: JobmanQueueOptions;
  private readonly clock: Clock;
  private readonly policy: RetryPolicy;
  private readonly random: () => number;

  constructor(opts: JobmanQueueOptions) {
    this.o = opts;
    this.clock = opts.clock ?? systemClock;
    this.host = sanitizeHost(opts.host ?? hostname());
    this.pid = opts.pid ?? process.pid;
    this.life = opts.life ?? (opts.pid === undefined || opts.pid === process.pid ? ownLife() : undefined);
    this.policy = opts.policy ?? DEFAULT_RETRY_POLICY;
    this.random = opts.random ?? Math.random;
    const state = join(opts.statedir, opts.sub);
    this.dirs = {
      in: join(opts.iqueue, opts.sub),
      out: join(opts.oqueue, opts.sub),
      err: join(opts.equeue, opts.sub),
      work: join(state, 'work'),
      retry: join(state, 'retry'),
    };
    this.root = this.dirs.in;
    this.watchDir = this.dirs.in;
  }

  static fromConfig(config: JobmanConfig, opts: Partial<JobmanQueueOptions> = {}): JobmanQueue {
    const { iqueue, oqueue, equeue, sub, statedir } = config;
    return new JobmanQueue({ iqueue, oqueue, equeue, sub, statedir, ...opts });
  }

  async init(): Promise<{ adopted: number }> {
    for (const d of [this.dirs.in, this.dirs.out, this.dirs.err]) await mkdirKeep(d, 0o700);
    await ensureDir(this.o.statedir, 0o700);
    await ensureDir(join(this.o.statedir, this.o.sub), 0o700);
    await ensureDir(this.dirs.work, 0o700);
    await ensureDir(this.dirs.retry, 0o700);
    const [a, b] = await Promise.all([fsp.stat(this.dirs.in), fsp.stat(this.dirs.work)]);
    if (a.dev !== b.dev) {
      throw new JpError('JP_CONFIG', `jobman statedir ${this.o.statedir} is not on the same file system as ${this.dirs.in}; set statedir = … in [DEFAULT]`);
    }
    return { adopted: 0 };
  }

  async *scanNew(): AsyncGenerator<string> {
    const minAge = this.o.minAgeMs ?? 0;
    for await (const e of await fsp.opendir(this.dirs.in, { bufferSize: 128 })) {
      const name = e.name;
      if (name.startsWith('.') || e.isDirectory()) continue;
      const kind = CONTROL_FILES[name];
      if (kind !== undefined) {
        // one that cannot be moved is tried again on the next scan
        await this.control(name, kind).catch(() => undefined);
        continue;
      }
      const badName = e.isFile() ? wrongRequestName(name) : undefined;
      const why = !e.isFile() ? 'not a regular file (symbolic links and devices are not read)'
        : badName === undefined ? undefined : `bad request file name ${JSON.stringify(name)}: ${badName}`;
      if (why !== undefined) {
        // Refused on the spot; one that cannot be moved (e.g. another user's under a sticky iqueue) is handed to
        // the loop, whose claim fails for it alone: logged and held back, the others go on.
        if ((await this.refuse(name, why).then(() => true, () => false)) === false) yield name;
        continue;
      }
      if (minAge > 0) {
        const st = await fsp.stat(join(this.dirs.in, name)).catch(() => undefined);
        if (st === undefined || this.clock.now() - st.mtimeMs < minAge) continue;
      }
      yield name;
    }
  }

  /** Due retries: by mtime, or by the .meta where the mtime could not be stamped (see Spool.scanDue). */
  async *scanDue(now = this.clock.now()): AsyncGenerator<string> {
    for await (const e of await fsp.opendir(this.dirs.retry, { bufferSize: 128 })) {
      if (e.name.startsWith('.') || e.name.endsWith('.meta')) continue;
      try {
        const st = await fsp.lstat(join(this.dirs.retry, e.name));
        if (st.mtimeMs > now) continue;
        if (st.mtimeMs <= st.ctimeMs) {
          const meta = await this.readMeta(e.name);
          if (meta !== undefined && meta.nextAttemptAt > now) continue;
        }
        yield e.name;
      } catch (err) {
        if (systemCode(err) !== 'ENOENT') throw err;
      }
    }
  }

  /** Whether claims can work at all (the source folder and work/ are writable directories); throws what is wrong. */
  async checkClaim(from: 'new' | 'post' = 'new'): Promise<void> {
    for (const dir of [from === 'new' ? this.dirs.in : this.dirs.retry, this.dirs.work]) {
      const st = await fsp.stat(dir);
      if (!st.isDirectory()) throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
      await fsp.access(dir, fsConstants.W_OK | fsConstants.X_OK);
    }
  }

  async claim(name: string, from: 'new' | 'post' = 'new'): Promise<ClaimedMessage | undefined> {
    const src = join(from === 'new' ? this.dirs.in : this.dirs.retry, name);
    const path = join(this.dirs.work, claimName(name, this.pid, this.host, this.life));
    if (!(await renameIfExists(src, path))) return undefined;
    return { name, path, from, meta: await this.readMeta(name) };
  }

  read(msg: ClaimedMessage, maxBytes: number): Promise<Buffer> {
    return readLimited(msg.path, maxBytes);
  }

  async delivered(msg: ClaimedMessage): Promise<void> {
    await moveInto(msg.path, this.dirs.out, msg.name, this.clock.now());
    if (msg.meta !== undefined) await unlinkIfExists(join(this.dirs.retry, metaName(msg.name)));
  }

  async failed(msg: ClaimedMessage, reason: string): Promise<FailureResult> {
    const now = this.clock.now();
    const decision = afterFailure(msg.meta, reason, now, this.policy, this.random);
    if (decision.action === 'giveup') return this.toEqueue(msg, decision.meta);
    const meta = decision.meta;
    await writeFileAtomic(join(this.dirs.retry, metaName(msg.name)), serializeMeta(meta), 0o600);
    const due = new Date(meta.nextAttemptAt);
    try {
      await fsp.lutimes(msg.path, due, due);
    } catch (e) {
      // another user's request: only its owner may set its times; the .meta keeps the due time (scanDue)
      if (systemCode(e) !== 'EPERM' && systemCode(e) !== 'EACCES') throw e;
    }
    await fsp.rename(msg.path, join(this.dirs.retry, msg.name));
    return { state: 'post', nextAttemptAt: meta.nextAttemptAt, attempts: meta.attempts };
  }

  giveUp(msg: ClaimedMessage, reason: string): Promise<FailureResult> {
    return this.toEqueue(msg, giveUpMeta(msg.meta, reason, this.clock.now()));
  }

  async release(msg: ClaimedMessage): Promise<void> {
    await moveInto(msg.path, msg.from === 'post' ? this.dirs.retry : this.dirs.in, msg.name, this.clock.now());
  }

  /** Claims of processes of this host that are gone (or whose pid was reused) back to iqueue; unmovable ones listed in `skipped`. */
  async recover(isAlive: IsAlive = holderAlive): Promise<{ recovered: string[]; foreign: number; skipped: SkippedEntry[] }> {
    const recovered: string[] = [];
    const skipped: SkippedEntry[] = [];
    let foreign = 0;
    for await (const e of await fsp.opendir(this.dirs.work, { bufferSize: 128 })) {
      if (e.name.startsWith('.')) continue;
      const c = parseClaimName(e.name);
      if (c === undefined || c.host !== this.host) {
        foreign++;
        continue;
      }
      if (isAlive(c.pid, c.life)) continue;
      try {
        if ((await moveInto(join(this.dirs.work, e.name), this.dirs.in, c.name, this.clock.now())) !== undefined) recovered.push(c.name);
      } catch (err) {
        skipped.push({ entry: `work/${e.name}`, reason: describeError(err) });
      }
    }
    return { recovered, foreign, skipped };
  }

  async refuseName(name: string): Promise<string | undefined> {
    const why = wrongRequestName(name);
    if (why === undefined) return undefined;
    return this.refuse(name, `bad request file name ${JSON.stringify(name)}: ${why}`);
  }

  /** The give-up record kept beside a file in equeue/<sub>/. */
  async readReason(name: string): Promise<MessageMeta | undefined> {
    try {
      const text = await readSidecar(join(this.dirs.err, name + REASON_SUFFIX), 64 * 1024);
      return text === undefined ? undefined : parseMeta(text);
    } catch (e) {
      if (systemCode(e) === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** Retry state; undefined when absent or unusable (attempts then start again). */
  private async readMeta(name: string): Promise<MessageMeta | undefined> {
    try {
      const text = await readSidecar(join(this.dirs.retry, metaName(name)), 64 * 1024);
      return text === undefined ? undefined : parseMeta(text);
    } catch {
      return undefined;
    }
  }

  private async toEqueue(msg: ClaimedMessage, meta: MessageMeta): Promise<FailureResult> {
    await moveInto(msg.path, this.dirs.err, msg.name, this.clock.now(), serializeMeta(meta));
    await unlinkIfExists(join(this.dirs.retry, metaName(msg.name)));
    return { state: 'undeliverable', reason: meta.gaveUpReason ?? meta.lastError };
  }

  /** Claim a non-request straight out of iqueue and keep it in equeue with the reason. */
  private async refuse(name: string, reason: string): Promise<string | undefined> {
    const safe = name.replace(/[/\0]/g, '_');
    const path = join(this.dirs.work, claimName(safe, this.pid, this.host, this.life));
    if (!(await renameIfExists(join(this.dirs.in, name), path))) return undefined;
    const meta = giveUpMeta(undefined, reason, this.clock.now());
    return moveInto(path, this.dirs.err, safe, this.clock.now(), serializeMeta(meta));
  }

  private async control(name: string, kind: ControlKind): Promise<void> {
    const target = name + controlSuffix(this.clock.now());
    const path = join(this.dirs.work, claimName(name, this.pid, this.host, this.life));
    if (!(await renameIfExists(join(this.dirs.in, name), path))) return;
    const moved = await moveInto(path, this.dirs.out, target, this.clock.now());
    if (moved !== undefined) this.o.onControl?.(kind, join(this.dirs.out, moved));
  }
}
