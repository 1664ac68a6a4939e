/**
 * One spool subtree (an LB-compatible maildir) and every state transition of
 * a message in it. Each transition is a rename or link, so a crash at any
 * instant leaves every message in some state directory (at worst delivered
 * twice, never lost).
 *
 *   producer ─store→ tmp/ ─link→ new/ ─claim→ cur/<name>:<pid>@<host>
 *   cur/ ─delivered→ (removed, with its tmp/ twin)
 *   cur/ ─retry→ post/ (+ .meta, mtime = next attempt) ─due→ cur/
 *   cur/ ─give up→ undeliverable/ (+ .meta with the reason)
 *   cur/ of a dead process ─recover→ new/
 */
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import { systemCode } from '../core/errors.js';
import {
  ensureDir, forEachLimited, fsyncDir, fsyncFile, readBounded, renameIfExists, renameIfExistsSync, syncFileSystem, unlinkIfExists,
  unlinkIfExistsSync, writeFileAtomic, writeNewFile,
} from './fsutil.js';
import { DIR_MODE, FILE_MODE, LEGACY_WORK_DIR, pathOf, SPOOL_DIRS, dirOf, type SpoolDir } from './layout.js';
import { badMessageName, claimName, generateName, isMetaName, metaName, parseClaimName, sanitizeHost } from './names.js';
import {
  afterFailure, DEFAULT_RETRY_POLICY, giveUpMeta, parseMeta, serializeMeta,
  type MessageMeta, type PendingUpload, type RetryPolicy,
} from './retry-state.js';

export interface SpoolOptions {
  clock?: Clock;
  host?: string;
  pid?: number;
  policy?: RetryPolicy;
  random?: () => number;
}

export interface ClaimedMessage {
  /** Message name (the id shown in logs and by `status`/`show`). */
  readonly name: string;
  /** Path of the claimed file in cur/. */
  readonly path: string;
  /** Where it was claimed from. */
  readonly from: 'new' | 'post';
  /** Retry state from earlier attempts, if any. */
  readonly meta: MessageMeta | undefined;
}

export type FailureResult = { readonly state: 'post'; readonly nextAttemptAt: number; readonly attempts: number }
  | { readonly state: 'undeliverable'; readonly reason: string };

export interface StoreOptions {
  /** Keep the tmp/ link as the LB C library does (tests of compatibility). */
  keepTmpLink?: boolean;
}

const MAX_NAME_TRIES = 10;

export class Spool {
  readonly root: string;
  readonly host: string;
  readonly pid: number;
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

  /** Create the directories (0700) and adopt messages left in a legacy work/. */
  async init(): Promise<{ adopted: number }> {
    await ensureDir(this.root, DIR_MODE);
    for (const d of SPOOL_DIRS) await ensureDir(this.dir(d), DIR_MODE);
    let adopted = 0;
    const work = dirOf(this.root, LEGACY_WORK_DIR);
    try {
      for await (const e of await fsp.opendir(work)) {
        if (e.name.startsWith('.')) continue;
        if (await this.moveNoClobber(join(work, e.name), 'new', e.name)) adopted++;
      }
    } catch (e) {
      if (systemCode(e) !== 'ENOENT') throw e;
    }
    return { adopted };
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

  /** Names in post/ whose next attempt is due (mtime ≤ now), as a stream. */
  async *scanDue(now = this.clock.now()): AsyncGenerator<string> {
    const post = this.dir('post');
    for await (const e of await fsp.opendir(post, { bufferSize: 128 })) {
      if (e.name.startsWith('.') || isMetaName(e.name)) continue;
      try {
        const st = await fsp.stat(join(post, e.name));
        if (st.mtimeMs <= now) yield e.name;
      } catch (err) {
        if (systemCode(err) !== 'ENOENT') throw err;
      }
    }
  }

  /**
   * Claim a message by renaming it into cur/. Returns undefined when another
   * consumer won the race (ENOENT), which is normal. The rename is
   * synchronous: a few µs of directory work, where a thread-pool round trip
   * would cost more CPU than the rename itself.
   */
  async claim(name: string, from: 'new' | 'post' = 'new'): Promise<ClaimedMessage | undefined> {
    const path = this.prefix.cur + claimName(name, this.pid, this.host);
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
    unlinkIfExistsSync(this.prefix.tmp + msg.name);
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
    await fsp.utimes(msg.path, due, due);
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
   * go back to the queue: to post/ (due at once) when the message has retry
   * state there, else to new/. Claims of live processes and of other hosts
   * are left alone.
   */
  async recover(isAlive: (pid: number) => boolean = pidAlive): Promise<{ recovered: string[]; foreign: number }> {
    const recovered: string[] = [];
    let foreign = 0;
    for await (const e of await fsp.opendir(this.dir('cur'), { bufferSize: 128 })) {
      if (e.name.startsWith('.')) continue;
      const c = parseClaimName(e.name);
      if (c === undefined || c.host !== this.host) {
        foreign++;
        continue;
      }
      if (isAlive(c.pid)) continue;
      const hasState = (await this.readMeta('post', c.name)) !== undefined;
      if (await this.moveNoClobber(pathOf(this.root, 'cur', e.name), hasState ? 'post' : 'new', c.name)) recovered.push(c.name);
    }
    return { recovered, foreign };
  }

  /**
   * Operator's requeue: move a message from post/ or undeliverable/ back to
   * new/ with its retry state dropped (attempts start again). Safe while
   * workers run; false when the message is not there (already requeued, or
   * a worker claimed it from post/) or new/ holds a message of that name.
   */
  async requeue(name: string, from: 'post' | 'undeliverable'): Promise<boolean> {
    if (badMessageName(name) !== undefined) return false;
    const src = pathOf(this.root, from, name);
    try {
      // link, not rename: a message of the same name in new/ is never overwritten
      await fsp.link(src, pathOf(this.root, 'new', name));
    } catch (e) {
      const code = systemCode(e);
      if (code === 'ENOENT' || code === 'EEXIST') return false;
      throw e;
    }
    await unlinkIfExists(src);
    await unlinkIfExists(pathOf(this.root, from, metaName(name)));
    if (from === 'undeliverable') await unlinkIfExists(pathOf(this.root, 'post', metaName(name)));
    await fsyncDir(this.dir('new'));
    return true;
  }

  /** A name in new/ that cannot be a message: keep it aside at once. */
  async refuseName(name: string): Promise<string | undefined> {
    const why = badMessageName(name);
    if (why === undefined) return undefined;
    const safe = `refused_${this.clock.now()}_${this.pid}_${++this.seq}.${this.host}`;
    const claimed = pathOf(this.root, 'cur', claimName(safe, this.pid, this.host));
    if (!(await renameIfExists(pathOf(this.root, 'new', name), claimed))) return undefined;
    const reason = `bad message file name ${JSON.stringify(name)}: ${why}`;
    await this.moveToUndeliverable({ name: safe, path: claimed, from: 'new', meta: undefined },
      giveUpMeta(undefined, reason, this.clock.now()));
    return safe;
  }

  async readMeta(dir: 'post' | 'undeliverable', name: string): Promise<MessageMeta | undefined> {
    try {
      return parseMeta(await fsp.readFile(pathOf(this.root, dir, metaName(name)), 'utf8'));
    } catch (e) {
      if (systemCode(e) === 'ENOENT') return undefined;
      throw e;
    }
  }

  private async moveToUndeliverable(msg: ClaimedMessage, meta: MessageMeta): Promise<FailureResult> {
    await writeFileAtomic(pathOf(this.root, 'undeliverable', metaName(msg.name)), serializeMeta(meta), FILE_MODE);
    await this.moveNoClobber(msg.path, 'undeliverable', msg.name);
    await fsyncDir(this.dir('undeliverable'));
    await unlinkIfExists(pathOf(this.root, 'tmp', msg.name));
    await unlinkIfExists(pathOf(this.root, 'post', metaName(msg.name)));
    return { state: 'undeliverable', reason: meta.gaveUpReason ?? meta.lastError };
  }

  /**
   * Move `from` to `<dir>/<name>` without overwriting anything there: link,
   * then unlink the source. If the target is the same file already (a crash
   * between the two steps), only the source is removed. Returns false when
   * the source is gone (another process moved it).
   */
  private async moveNoClobber(from: string, dir: SpoolDir, name: string): Promise<boolean> {
    let target = name;
    for (let i = 0; i < MAX_NAME_TRIES; i++) {
      const to = pathOf(this.root, dir, target);
      try {
        await fsp.link(from, to);
        await unlinkIfExists(from);
        return true;
      } catch (e) {
        const code = systemCode(e);
        if (code === 'ENOENT') return false;
        if (code !== 'EEXIST') throw e;
        const [a, b] = await Promise.all([fsp.stat(from).catch(() => undefined), fsp.stat(to).catch(() => undefined)]);
        if (a === undefined) return false;
        if (b !== undefined && a.ino === b.ino && a.dev === b.dev) {
          await unlinkIfExists(from);
          return true;
        }
        target = `${name}.${this.clock.now()}_${i}`;
      }
    }
    throw new Error(`could not move ${from} into ${dir}/: names taken`);
  }
}

/** true while a process with this pid exists (EPERM means it exists). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return systemCode(e) === 'EPERM';
  }
}
