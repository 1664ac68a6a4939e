/**
 * One spool subtree (an LB-compatible maildir) and every state transition of
 * a message in it. Each transition is a rename or link, so a crash at any
 * instant leaves every message in some state directory (at worst delivered
 * twice, never lost).
 *
 *   producer ─store→ tmp/ ─link→ new/ ─claim→ cur/<name>:<pid>-<life>@<host>
 *   cur/ ─delivered→ (removed, with its tmp/ twin)
 *   cur/ ─retry→ post/ (+ .meta, mtime = next attempt) ─due→ cur/
 *   cur/ ─give up→ undeliverable/ (+ .meta with the reason)
 *   cur/ of a dead process ─recover→ new/
 *   post/, undeliverable/ ─requeue→ cur/ (the requeuer's claim) → new/
 *
 * One message the daemon cannot touch never stops the others: a message
 * it may not link (another user's file under fs.protected_hardlinks, a
 * directory, a FIFO) is moved by rename instead; one whose time it may not
 * set keeps its next attempt in the .meta only; one it may not read, or
 * that is not a regular file, is given up with the reason (see
 * ./fsutil.ts). What fails for a single entry is that entry's outcome.
 */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import { describeError, systemCode } from '../core/errors.js';
import {
  ensureDir, forEachLimited, fsyncDir, fsyncFile, moveNoReplace, readBounded, readSidecar, renameIfExists, renameIfExistsSync,
  syncFileSystem, unlinkIfExists, unlinkIfExistsSync, writeFileAtomic, writeNewFile,
} from './fsutil.js';
import { DIR_MODE, FILE_MODE, LEGACY_WORK_DIR, pathOf, SPOOL_DIRS, dirOf, type SpoolDir } from './layout.js';
import { holderAlive, ownLife } from './liveness.js';
import { badMessageName, claimName, generateName, isMetaName, metaName, parseClaimName, sanitizeHost } from './names.js';
import {
  afterFailure, DEFAULT_RETRY_POLICY, giveUpMeta, parseMeta, serializeMeta,
  type MessageMeta, type PendingUpload, type RetryPolicy,
} from './retry-state.js';

export interface SpoolOptions {
  clock?: Clock;
  host?: string;
  pid?: number;
  /** The claimer's life (./liveness.ts); default this process's when `pid` is not given, none otherwise. */
  life?: string;
  policy?: RetryPolicy;
  random?: () => number;
}

/** Liveness of a recorded holder: pid and, when recorded, its life (./liveness.ts). */
export type IsAlive = (pid: number, life?: string) => boolean;

/** An entry recover() or init() could not move, left where it is. */
export interface SkippedEntry {
  readonly entry: string;
  readonly reason: string;
}

export type RequeueResult = 'moved' | 'gone' | 'exists';

import type { ClaimedMessage, FailureResult } from '../core/queue.js';

export type { ClaimedMessage, FailureResult };

export interface StoreOptions {
  /** Keep the tmp/ link as the LB C library does (tests of compatibility). */
  keepTmpLink?: boolean;
}

const MAX_NAME_TRIES = 10;
const MAX_META_BYTES = 64 * 1024;

export class Spool {
  readonly root: string;
  readonly host: string;
  readonly pid: number;
  /** Recorded in this process's claims beside the pid; undefined when unknown. */
  readonly life: string | undefined;
  readonly policy: RetryPolicy;
  private readonly clock: Clock;
  private readonly random: () => number;
  private seq = 0;
  /** `<root>/<dir>/` for the per-message paths of claim and delivered (a path.join costs more than the rest of their JS). */
  private readonly prefix: Readonly<Record<SpoolDir, string>>;

  constructor(root: string, opts: SpoolOptions = {}) {
    this.root = root;
    this.prefix = Object.fromEntries(SPOOL_DIRS.map((d) => [d, `${dirOf(root, d)}/`])) as Record<SpoolDir, string>;
    this.clock = opts.clock ?? systemClock;
    this.host = sanitizeHost(opts.host ?? hostname());
    this.pid = opts.pid ?? process.pid;
    this.life = opts.life ?? (opts.pid === undefined || opts.pid === process.pid ? ownLife() : undefined);
    this.policy = opts.policy ?? DEFAULT_RETRY_POLICY;
    this.random = opts.random ?? Math.random;
  }

  dir(d: SpoolDir): string {
    return dirOf(this.root, d);
  }

  /** new/ is where arrivals appear (watched by the worker loop). */
  get watchDir(): string {
    return this.dir('new');
  }

  /**
   * Create the directories (0700) and adopt messages left in a legacy work/.
   * An entry that cannot be moved is left there and listed in `skipped`.
   */
  async init(): Promise<{ adopted: number; skipped: SkippedEntry[] }> {
    await ensureDir(this.root, DIR_MODE);
    for (const d of SPOOL_DIRS) await ensureDir(this.dir(d), DIR_MODE);
    let adopted = 0;
    const skipped: SkippedEntry[] = [];
    const work = dirOf(this.root, LEGACY_WORK_DIR);
    try {
      for await (const e of await fsp.opendir(work)) {
        if (e.name.startsWith('.')) continue;
        try {
          if ((await this.moveNoClobber(join(work, e.name), 'new', e.name)) !== undefined) adopted++;
        } catch (err) {
          skipped.push({ entry: `${LEGACY_WORK_DIR}/${e.name}`, reason: describeError(err) });
        }
      }
    } catch (e) {
      if (systemCode(e) !== 'ENOENT') throw e;
    }
    return { adopted, skipped };
  }

  /** Store a message durably: tmp/ (O_EXCL, 0600) → write → fsync → link into new/. */
  async store(body: string | Uint8Array, opts: StoreOptions = {}): Promise<string> {
    const name = await this.writeTmp(body, true);
    const linked = await this.linkIntoNew(name);
    await fsyncDir(this.dir('new'));
    if (opts.keepTmpLink !== true) await unlinkIfExists(pathOf(this.root, 'tmp', name));
    return linked;
  }

  /**
   * Store many messages with the same guarantee as store() at a fraction of
   * the syncs: each chunk's files are written into tmp/, made durable
   * together (one syncfs of the file system, or an fsync per file where that
   * is not available), only then linked into new/, and new/ is fsynced once.
   * `onStored(total)` is called after each chunk is durable in new/. Returns
   * the names in the order of `bodies`.
   */
  async storeMany(bodies: readonly (string | Uint8Array)[], opts: { chunk?: number; concurrency?: number; onStored?: (total: number) => void } = {}): Promise<string[]> {
    const chunk = opts.chunk ?? 4096;
    const concurrency = opts.concurrency ?? 16;
    const out: string[] = [];
    for (let start = 0; start < bodies.length; start += chunk) {
      const part = bodies.slice(start, start + chunk);
      const names: string[] = new Array<string>(part.length);
      try {
        await forEachLimited(part.length, concurrency, async (i) => {
          names[i] = await this.writeTmp(part[i] as string | Uint8Array, false);
        });
        if (!syncFileSystem(this.dir('tmp'))) {
          await forEachLimited(part.length, concurrency, (i) => fsyncFile(pathOf(this.root, 'tmp', names[i] as string)));
        }
        await forEachLimited(part.length, concurrency, async (i) => {
          const tmpName = names[i] as string;
          names[i] = await this.linkIntoNew(tmpName);
          await unlinkIfExists(pathOf(this.root, 'tmp', tmpName));
        });
      } catch (e) {
        // what was not linked stays unannounced: remove its tmp/ files
        await Promise.all(names.map((n) => (n === undefined ? undefined : unlinkIfExists(pathOf(this.root, 'tmp', n)).catch(() => false))));
        throw e;
      }
      await fsyncDir(this.dir('new'));
      out.push(...names);
      opts.onStored?.(out.length);
    }
    return out;
  }

  /** A new file in tmp/ under a fresh unique name (O_EXCL, 0600), written and optionally fsynced. */
  private async writeTmp(body: string | Uint8Array, sync: boolean): Promise<string> {
    for (let i = 0; i < MAX_NAME_TRIES; i++) {
      const name = generateName(this.clock.now(), this.pid, ++this.seq, this.host, Math.floor(this.random() * 1000));
      try {
        await writeNewFile(pathOf(this.root, 'tmp', name), body, FILE_MODE, sync);
        return name;
      } catch (e) {
        if (systemCode(e) !== 'EEXIST') throw e;
      }
    }
    throw new Error(`could not find a free message name in ${this.dir('tmp')} after ${MAX_NAME_TRIES} tries`);
  }

  /** Hard-link tmp/<name> into new/ (a fresh name if, against all odds, it is taken); returns the name in new/. */
  private async linkIntoNew(name: string): Promise<string> {
    let target = name;
    for (let i = 0; i < MAX_NAME_TRIES; i++) {
      try {
        await fsp.link(pathOf(this.root, 'tmp', name), pathOf(this.root, 'new', target));
        return target;
      } catch (e) {
        if (systemCode(e) !== 'EEXIST') throw e;
        target = generateName(this.clock.now(), this.pid, ++this.seq, this.host, Math.floor(this.random() * 1000));
      }
    }
    throw new Error(`could not find a free message name in ${this.dir('new')} after ${MAX_NAME_TRIES} tries`);
  }

  /** Names in new/, read as a stream (never the whole directory at once). */
  async *scanNew(): AsyncGenerator<string> {
    for await (const e of await fsp.opendir(this.dir('new'), { bufferSize: 128 })) {
      if (!e.name.startsWith('.')) yield e.name;
    }
  }

  /**
   * Names in post/ whose next attempt is due, as a stream. The due time is
   * the file's mtime (one lstat per entry); a file whose mtime was not set
   * to it (stamping refused: another user's file; or one the C importer put
   * there) has an mtime no later than its ctime, and then its .meta decides.
   */
  async *scanDue(now = this.clock.now()): AsyncGenerator<string> {
    const post = this.dir('post');
    for await (const e of await fsp.opendir(post, { bufferSize: 128 })) {
      if (e.name.startsWith('.') || isMetaName(e.name)) continue;
      try {
        const st = await fsp.lstat(join(post, e.name));
        if (st.mtimeMs > now) continue;
        if (st.mtimeMs <= st.ctimeMs) {
          const meta = await this.readMeta('post', e.name);
          if (meta !== undefined && meta.nextAttemptAt > now) continue;
        }
        yield e.name;
      } catch (err) {
        if (systemCode(err) !== 'ENOENT') throw err;
      }
    }
  }

  /**
   * Whether claims can work at all (`from` and cur/ are writable
   * directories), to tell a broken spool from one message that cannot be
   * claimed. Throws what is wrong.
   */
  async checkClaim(from: 'new' | 'post' = 'new'): Promise<void> {
    for (const d of [from, 'cur'] as const) {
      const dir = this.dir(d);
      const st = await fsp.stat(dir);
      if (!st.isDirectory()) throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
      await fsp.access(dir, fsConstants.W_OK | fsConstants.X_OK);
    }
  }

  /**
   * Claim a message by renaming it into cur/. Returns undefined when another
   * consumer won the race (ENOENT), which is normal. The rename is
   * synchronous: a few µs of directory work, where a thread-pool round trip
   * would cost more CPU than the rename itself.
   */
  async claim(name: string, from: 'new' | 'post' = 'new'): Promise<ClaimedMessage | undefined> {
    const path = this.prefix.cur + claimName(name, this.pid, this.host, this.life);
    if (!renameIfExistsSync(this.prefix[from] + name, path)) return undefined;
    // Only messages from post/ have retry state (recover() sends a claim with state back to post/).
    return { name, path, from, meta: from === 'post' ? await this.readMeta('post', name) : undefined };
  }

  /**
   * Read a claimed message's body, refusing more than maxBytes (the file is
   * never read whole when it is larger).
   */
  async read(msg: ClaimedMessage, maxBytes: number): Promise<Buffer> {
    return readBounded(msg.path, maxBytes, 'message');
  }

  /**
   * Delivery confirmed: remove the message, its tmp/ twin and any retry state.
   * The twin goes first, synchronously: while the claim exists it is not the
   * file's last link, so its unlink is a few µs of directory work. The claim's
   * unlink frees the file (tens of µs, and it may wait for the journal): it
   * goes through the thread pool so the event loop is never held by it.
   */
  async delivered(msg: ClaimedMessage): Promise<void> {
    this.dropTwin(msg.name);
    if (msg.from === 'post') await Promise.all([unlinkIfExists(msg.path), unlinkIfExists(this.prefix.post + metaName(msg.name))]);
    else await unlinkIfExists(msg.path);
  }

  /**
   * A temporary failure: schedule a retry in post/, or give up past the
   * limit. `upload` (upload workers) is kept in the retry state for the next attempt.
   */
  async failed(msg: ClaimedMessage, reason: string, upload?: PendingUpload): Promise<FailureResult> {
    const now = this.clock.now();
    const decision = afterFailure(msg.meta, reason, now, this.policy, this.random, upload);
    if (decision.action === 'giveup') {
      return this.moveToUndeliverable(msg, decision.meta);
    }
    const meta = decision.meta;
    await writeFileAtomic(pathOf(this.root, 'post', metaName(msg.name)), serializeMeta(meta), FILE_MODE);
    const due = new Date(meta.nextAttemptAt);
    try {
      // lutimes: a symlink's own time, never its target's
      await fsp.lutimes(msg.path, due, due);
    } catch (e) {
      // Only the owner may set a file's times (another user's message): the .meta keeps the due time (see scanDue).
      if (systemCode(e) !== 'EPERM' && systemCode(e) !== 'EACCES') throw e;
    }
    await fsp.rename(msg.path, pathOf(this.root, 'post', msg.name));
    return { state: 'post', nextAttemptAt: meta.nextAttemptAt, attempts: meta.attempts };
  }

  /** A permanent failure: keep the message in undeliverable/ with the reason beside it. */
  async giveUp(msg: ClaimedMessage, reason: string): Promise<FailureResult> {
    return this.moveToUndeliverable(msg, giveUpMeta(msg.meta, reason, this.clock.now()));
  }

  /** Put a claimed message back into new/ untouched (shutdown, lost lease). */
  async release(msg: ClaimedMessage): Promise<void> {
    const to = msg.from === 'post' ? 'post' : 'new';
    await this.moveNoClobber(msg.path, to, msg.name);
  }

  /**
   * Claims in cur/ held by processes of this host that are no longer alive
   * (gone, or their pid now names another process: see ./liveness.ts) go
   * back to the queue: to post/ (due at once) when the message has retry
   * state there, else to new/. Claims of live processes and of other hosts
   * are left alone; a claim that cannot be moved is listed in `skipped`.
   */
  async recover(isAlive: IsAlive = holderAlive): Promise<{ recovered: string[]; foreign: number; skipped: SkippedEntry[] }> {
    const recovered: string[] = [];
    const skipped: SkippedEntry[] = [];
    let foreign = 0;
    for await (const e of await fsp.opendir(this.dir('cur'), { bufferSize: 128 })) {
      if (e.name.startsWith('.')) continue;
      const c = parseClaimName(e.name);
      if (c === undefined || c.host !== this.host) {
        foreign++;
        continue;
      }
      if (isAlive(c.pid, c.life)) continue;
      try {
        const hasState = (await this.readMeta('post', c.name)) !== undefined;
        if ((await this.moveNoClobber(pathOf(this.root, 'cur', e.name), hasState ? 'post' : 'new', c.name)) !== undefined) recovered.push(c.name);
      } catch (err) {
        skipped.push({ entry: `cur/${e.name}`, reason: describeError(err) });
      }
    }
    return { recovered, foreign, skipped };
  }

  /**
   * Operator's requeue: move a message from post/ or undeliverable/ back to
   * new/ with its retry state dropped (attempts start again). Safe while
   * workers run: the message is first claimed (renamed into cur/ under this
   * process's claim), so a worker claiming it from post/ at the same moment
   * finds nothing and it cannot end up in two places; then it is moved into
   * new/ without replacing anything there. 'gone' when it is not there
   * (already requeued, or a worker claimed it), 'exists' when new/ holds a
   * message of that name (it then stays where it was). A crash in between
   * leaves an ordinary claim of a dead process, which recover() returns.
   */
  async requeueMessage(name: string, from: 'post' | 'undeliverable'): Promise<RequeueResult> {
    if (badMessageName(name) !== undefined) return 'gone';
    const src = pathOf(this.root, from, name);
    const claimed = pathOf(this.root, 'cur', claimName(name, this.pid, this.host, this.life));
    const into = pathOf(this.root, 'new', name);
    if ((await fsp.lstat(into).catch(() => undefined)) !== undefined) return 'exists';
    if (!(await renameIfExists(src, claimed))) return 'gone';
    // The retry state goes while the message is ours: once in new/, a worker may claim it and write a new one.
    await unlinkIfExists(pathOf(this.root, from, metaName(name)));
    if (from === 'undeliverable') await unlinkIfExists(pathOf(this.root, 'post', metaName(name)));
    const moved = await moveNoReplace(claimed, into).catch(async (e: unknown) => {
      await this.moveNoClobber(claimed, from, name); // put it back; the error is the caller's
      throw e;
    });
    if (moved === 'exists') {
      await this.moveNoClobber(claimed, from, name); // new/ got that name meanwhile: back where it was (without retry state)
      return 'exists';
    }
    if (moved === 'gone') return 'gone';
    await fsyncDir(this.dir('new'));
    return 'moved';
  }

  /** requeueMessage, answering whether it moved. */
  async requeue(name: string, from: 'post' | 'undeliverable'): Promise<boolean> {
    return (await this.requeueMessage(name, from)) === 'moved';
  }

  /** A name in new/ that cannot be a message: keep it aside at once. */
  async refuseName(name: string): Promise<string | undefined> {
    const why = badMessageName(name);
    if (why === undefined) return undefined;
    const safe = `refused_${this.clock.now()}_${this.pid}_${++this.seq}.${this.host}`;
    const claimed = pathOf(this.root, 'cur', claimName(safe, this.pid, this.host, this.life));
    if (!(await renameIfExists(pathOf(this.root, 'new', name), claimed))) return undefined;
    const reason = `bad message file name ${JSON.stringify(name)}: ${why}`;
    await this.moveToUndeliverable({ name: safe, path: claimed, from: 'new', meta: undefined },
      giveUpMeta(undefined, reason, this.clock.now()));
    return safe;
  }

  /** The retry state beside a message; undefined when there is none or it cannot be used (absent, unreadable, not valid). */
  async readMeta(dir: 'post' | 'undeliverable', name: string): Promise<MessageMeta | undefined> {
    try {
      const text = await readSidecar(pathOf(this.root, dir, metaName(name)), MAX_META_BYTES);
      return text === undefined ? undefined : parseMeta(text);
    } catch {
      return undefined; // attempts start again: nothing is lost but the history
    }
  }

  private async moveToUndeliverable(msg: ClaimedMessage, meta: MessageMeta): Promise<FailureResult> {
    const text = serializeMeta(meta);
    await writeFileAtomic(pathOf(this.root, 'undeliverable', metaName(msg.name)), text, FILE_MODE);
    const kept = await this.moveNoClobber(msg.path, 'undeliverable', msg.name);
    // the name was taken: the reason goes beside the name it was kept under
    if (kept !== undefined && kept !== msg.name) {
      await writeFileAtomic(pathOf(this.root, 'undeliverable', metaName(kept)), text, FILE_MODE);
      await unlinkIfExists(pathOf(this.root, 'undeliverable', metaName(msg.name)));
    }
    await fsyncDir(this.dir('undeliverable'));
    this.dropTwin(msg.name);
    await unlinkIfExists(pathOf(this.root, 'post', metaName(msg.name)));
    return { state: 'undeliverable', reason: meta.gaveUpReason ?? meta.lastError };
  }

  /**
   * Remove the tmp/ twin the LB library leaves: best effort, the message is
   * done either way (something that is not a file of ours, such as a
   * directory, is left there).
   */
  private dropTwin(name: string): void {
    try {
      unlinkIfExistsSync(this.prefix.tmp + name);
    } catch {
      /* kept */
    }
  }

  /**
   * Move `from` to `<dir>/<name>` (or `<name>.<ms>_<n>` when that is taken)
   * without overwriting anything there (./fsutil.ts moveNoReplace: link and
   * unlink, or rename where no link can be made). Returns the name used, or
   * undefined when the source is gone (another process moved it).
   */
  private async moveNoClobber(from: string, dir: SpoolDir, name: string): Promise<string | undefined> {
    for (let i = 0; i < MAX_NAME_TRIES; i++) {
      const target = i === 0 ? name : `${name}.${this.clock.now()}_${i}`;
      const r = await moveNoReplace(from, pathOf(this.root, dir, target));
      if (r === 'moved') return target;
      if (r === 'gone') return undefined;
    }
    throw new Error(`could not move ${from} into ${dir}/: names taken`);
  }
}

/**
 * true while the recorded holder runs: the pid, and its life when recorded
 * (./liveness.ts holderAlive; kept under this name for its importers).
 */
export const pidAlive: IsAlive = holderAlive;
