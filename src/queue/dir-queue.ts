/**
 * A directory queue: the one claim / retry / give-up / recover life cycle
 * of every message the importer consumes, configured by a QueueLayout (the
 * LB maildir of ../maildir/spool.ts, jobman's folders of
 * ../jobman/queue.ts). Each transition is a rename or a link, so a crash
 * at any instant leaves every message in some state directory (at worst
 * delivered twice, never lost):
 *
 *   incoming ─claim→ claimed/<name>:<pid>-<life>@<host>   (one rename: who holds it is in the name)
 *   claimed ─delivered→ removed (with its producer's twin), or moved into done/
 *   claimed ─retry→ retry/<name> (+ .<name>.meta, mtime = next attempt) ─due→ claimed
 *   claimed ─give up→ givenUp/<name> (+ <name><givenUpSuffix>: the retry state with the reason)
 *   claimed of a dead process of this host ─recover→ retry (it has retry state) or incoming
 *   retry, givenUp ─requeue→ claimed (the requeuer's claim) → incoming, retry state dropped
 *   incoming/<a name that cannot be a message> ─refuse→ givenUp with the reason
 *
 * One message the queue cannot touch never stops the others: moves fall
 * back to rename where no link can be made (./move.ts), a due time that
 * cannot be stamped on the file (another user's) stays in the .meta, a
 * message that cannot be read or is not a regular file is given up with
 * the reason (./fs.ts readBounded).
 */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import { describeError, systemCode } from '../core/errors.js';
import type { ClaimedMessage, FailureResult, MessageQueue, QueueMaintenance } from '../core/queue.js';
import { fsyncDir, readBounded, readSidecar, renameIfExists, renameIfExistsSync, unlinkIfExists, unlinkIfExistsSync, writeFileAtomic } from './fs.js';
import { holderAlive, ownLife } from './liveness.js';
import { moveInto, moveNoReplace } from './move.js';
import { sweepRetrySidecars } from './retry-sidecars.js';
import { claimName, isMessageEntry, metaName, parseClaimName, retryMetaName, sanitizeHost } from './names.js';
import {
  afterFailure, DEFAULT_RETRY_POLICY, giveUpMeta, parseMeta, serializeMeta, type MessageMeta, type PayloadCheck, type RetryPolicy,
} from './retry-state.js';

export type { DirQueueOptions, IsAlive, QueueLayout, RequeueResult, SkippedEntry } from './queue-types.js';
import type { DirQueueOptions, IsAlive, QueueLayout, RequeueResult, SkippedEntry } from './queue-types.js';

const MAX_META_BYTES = 64 * 1024;
const FILE_MODE = 0o600;

export class DirQueue<P = unknown> implements MessageQueue<P> {
  readonly root: string;
  readonly host: string;
  readonly pid: number;
  /** Recorded in this process's claims beside the pid; undefined when unknown. */
  readonly life: string | undefined;
  readonly policy: RetryPolicy;
  readonly layout: QueueLayout;
  protected readonly clock: Clock;
  protected readonly random: () => number;
  private readonly payload: PayloadCheck<P> | undefined;
  protected seq = 0;
  /** `<dir>/` of the per-message paths of claim and delivered (a path.join costs more than the rest of their JS). */
  private readonly at: { readonly incoming: string; readonly claimed: string; readonly retry: string; readonly twins: string | undefined };

  constructor(root: string, layout: QueueLayout, opts: DirQueueOptions<P> = {}) {
    this.root = root;
    this.payload = opts.payload;
    this.layout = layout;
    this.clock = opts.clock ?? systemClock;
    this.host = sanitizeHost(opts.host ?? hostname());
    this.pid = opts.pid ?? process.pid;
    this.life = opts.life ?? (opts.pid === undefined || opts.pid === process.pid ? ownLife() : undefined);
    this.policy = opts.policy ?? DEFAULT_RETRY_POLICY;
    this.random = opts.random ?? Math.random;
    this.at = {
      incoming: `${layout.incoming}/`, claimed: `${layout.claimed}/`, retry: `${layout.retry}/`,
      twins: layout.twins === undefined ? undefined : `${layout.twins}/`,
    };
  }

  /** Where arrivals appear (watched by the worker loop). */
  get watchDir(): string {
    return this.layout.incoming;
  }

  /** Create the directories; each configuration knows its own (see Spool, JobmanQueue). */
  async init(): Promise<unknown> {
    return {};
  }

  /** Names in incoming, read as a stream (never the whole directory at once); what cannot be a message is refused by the loop. */
  async *scanNew(): AsyncGenerator<string> {
    for await (const e of await fsp.opendir(this.layout.incoming, { bufferSize: 128 })) {
      if (!e.name.startsWith('.')) yield e.name;
    }
  }

  /**
   * Names in retry whose next attempt is due, as a stream. The due time is
   * the file's mtime (one lstat per entry); a file whose mtime was not set
   * to it (stamping refused: another user's file; or one the C importer put
   * there) has an mtime no later than its ctime, and then its .meta decides.
   */
  async *scanDue(now = this.clock.now()): AsyncGenerator<string> {
    for await (const e of await fsp.opendir(this.layout.retry, { bufferSize: 128 })) {
      if (!isMessageEntry(e.name)) continue;
      try {
        const st = await fsp.lstat(this.at.retry + e.name);
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
   * Whether claims can work at all (`from` and the claimed directory are
   * writable directories), to tell a broken queue from one message that
   * cannot be claimed. Throws what is wrong.
   */
  async checkClaim(from: 'new' | 'post' = 'new'): Promise<void> {
    for (const dir of [from === 'new' ? this.layout.incoming : this.layout.retry, this.layout.claimed]) {
      const st = await fsp.stat(dir);
      if (!st.isDirectory()) throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
      await fsp.access(dir, fsConstants.W_OK | fsConstants.X_OK);
    }
  }

  /**
   * Claim a message by renaming it into the claimed directory. Returns
   * undefined when another consumer won the race (ENOENT), which is normal.
   * The rename is synchronous: a few µs of directory work, where a
   * thread-pool round trip would cost more CPU than the rename itself.
   */
  async claim(name: string, from: 'new' | 'post' = 'new'): Promise<ClaimedMessage<P> | undefined> {
    const path = this.at.claimed + claimName(name, this.pid, this.host, this.life);
    if (!renameIfExistsSync((from === 'new' ? this.at.incoming : this.at.retry) + name, path)) return undefined;
    // Only messages from retry have retry state (recover() sends a claim with state back there).
    return { name, path, from, meta: from === 'post' ? await this.readMeta('post', name) : undefined };
  }

  /** Read a claimed message's body, refusing more than maxBytes (never read whole when larger). */
  async read(msg: ClaimedMessage<P>, maxBytes: number): Promise<Buffer> {
    return readBounded(msg.path, maxBytes, this.layout.what);
  }

  /**
   * Delivery confirmed: remove the message (or move it into done/), its
   * producer's twin and any retry state. The twin goes first,
   * synchronously: while the claim exists it is not the file's last link,
   * so its unlink is a few µs of directory work. The claim's unlink frees
   * the file: it goes through the thread pool so the event loop is never
   * held by it.
   */
  async delivered(msg: ClaimedMessage<P>): Promise<void> {
    this.dropTwin(msg.name);
    const done = this.layout.done;
    if (done === undefined) {
      const drop = unlinkIfExists(msg.path);
      if (msg.from === 'post') await Promise.all([drop, this.dropRetryState(msg.name)]);
      else await drop;
      return;
    }
    // Kept in done/: its retry state goes only once the move is made (a failed move leaves the claim with its state).
    await moveInto(msg.path, done, msg.name, { now: this.clock.now(), acrossDevices: true });
    if (msg.from === 'post') await this.dropRetryState(msg.name);
  }

  /**
   * A temporary failure: schedule a retry, or give up past the limit.
   * `payload` (upload workers: the upload to finish) is kept in the retry
   * state for the next attempt.
   */
  async failed(msg: ClaimedMessage<P>, reason: string, payload?: P): Promise<FailureResult> {
    const now = this.clock.now();
    const decision = afterFailure(msg.meta, reason, now, this.policy, this.random, payload);
    // the payload in it is `payload`: a P
    const meta = decision.meta as MessageMeta<P>;
    if (decision.action === 'giveup') return this.keepGivenUp(msg, meta);
    await writeFileAtomic(this.at.retry + retryMetaName(msg.name), serializeMeta(meta), FILE_MODE);
    // An earlier version's visible sidecar would be taken by a C importer's retry scan as a message.
    if (msg.from === 'post') await unlinkIfExists(this.at.retry + metaName(msg.name));
    const due = new Date(meta.nextAttemptAt);
    try {
      // lutimes: a symlink's own time, never its target's
      await fsp.lutimes(msg.path, due, due);
    } catch (e) {
      // Only the owner may set a file's times (another user's message): the .meta keeps the due time (see scanDue).
      if (systemCode(e) !== 'EPERM' && systemCode(e) !== 'EACCES') throw e;
    }
    await fsp.rename(msg.path, this.at.retry + msg.name);
    return { state: 'post', nextAttemptAt: meta.nextAttemptAt, attempts: meta.attempts };
  }

  /** A permanent failure: keep the message given up, with the reason beside it. */
  async giveUp(msg: ClaimedMessage<P>, reason: string): Promise<FailureResult> {
    return this.keepGivenUp(msg, giveUpMeta(msg.meta, reason, this.clock.now()) as MessageMeta<P>);
  }

  /** Put a claimed message back where it came from, untouched (shutdown, lost lease). */
  async release(msg: ClaimedMessage<P>): Promise<void> {
    await this.moveNoClobber(msg.path, msg.from === 'post' ? this.layout.retry : this.layout.incoming, msg.name);
  }

  /**
   * Claims held by processes of this host that are no longer alive (gone,
   * or their pid now names another process: see ./liveness.ts) go back to
   * the queue: to retry (due at once) when the message has retry state
   * there, else to incoming. Claims of live processes and of other hosts
   * are left alone; a claim that cannot be moved is listed in `skipped`.
   */
  async recover(isAlive: IsAlive = holderAlive): Promise<{ recovered: string[]; foreign: number; skipped: SkippedEntry[] }> {
    const recovered: string[] = [];
    const skipped: SkippedEntry[] = [];
    let foreign = 0;
    for await (const e of await fsp.opendir(this.layout.claimed, { bufferSize: 128 })) {
      if (e.name.startsWith('.')) continue;
      const c = parseClaimName(e.name);
      if (c === undefined || c.host !== this.host) {
        foreign++;
        continue;
      }
      if (isAlive(c.pid, c.life)) continue;
      try {
        const hasState = (await this.readMeta('post', c.name)) !== undefined;
        const to = hasState ? this.layout.retry : this.layout.incoming;
        if ((await this.moveNoClobber(this.at.claimed + e.name, to, c.name)) !== undefined) recovered.push(c.name);
      } catch (err) {
        skipped.push({ entry: `${this.layout.claimedLabel}/${e.name}`, reason: describeError(err) });
      }
    }
    return { recovered, foreign, skipped };
  }

  /** Housekeeping: the retry-state sidecars of retry (./retry-sidecars.ts). */
  async maintain(now = this.clock.now()): Promise<QueueMaintenance> {
    const sweep = await sweepRetrySidecars(this.layout.retry, now, { claimedDir: this.layout.claimed, elsewhere: this.sidecarOwners() });
    return { adopted: [], held: 0, sidecars: { renamed: sweep.renamed, orphansRemoved: sweep.orphansRemoved }, skipped: sweep.skipped };
  }

  /** Directories besides retry and claimed where a message keeps its name (its retry state stays while it is there). */
  protected sidecarOwners(): string[] {
    return [this.layout.incoming];
  }

  /**
   * Operator's requeue: move a message from retry or given-up back to
   * incoming with its retry state dropped (attempts start again). Safe
   * while workers run: the message is first claimed (renamed under this
   * process's claim), so a worker claiming it from retry at the same moment
   * finds nothing and it cannot end up in two places; then it is moved into
   * incoming without replacing anything there. 'gone' when it is not there
   * (already requeued, or a worker claimed it), 'exists' when incoming holds
   * a message of that name (it then stays where it was). A crash in between
   * leaves an ordinary claim of a dead process, which recover() returns.
   */
  async requeueMessage(name: string, from: 'post' | 'undeliverable'): Promise<RequeueResult> {
    if (this.layout.nameProblem(name) !== undefined) return 'gone';
    const fromDir = from === 'post' ? this.layout.retry : this.layout.givenUp;
    const sidecar = from === 'post' ? retryMetaName(name) : name + this.layout.givenUpSuffix;
    const claimed = this.at.claimed + claimName(name, this.pid, this.host, this.life);
    const into = this.at.incoming + name;
    if ((await fsp.lstat(into).catch(() => undefined)) !== undefined) return 'exists';
    if (!(await renameIfExists(join(fromDir, name), claimed))) return 'gone';
    // The retry state goes while the message is ours: once in incoming, a worker may claim it and write a new one.
    await unlinkIfExists(join(fromDir, sidecar));
    await this.dropRetryState(name);
    const moved = await moveNoReplace(claimed, into).catch(async (e: unknown) => {
      await this.moveNoClobber(claimed, fromDir, name); // put it back; the error is the caller's
      throw e;
    });
    if (moved === 'exists') {
      await this.moveNoClobber(claimed, fromDir, name); // incoming got that name meanwhile: back where it was (without retry state)
      return 'exists';
    }
    if (moved === 'gone') return 'gone';
    await fsyncDir(this.layout.incoming);
    return 'moved';
  }

  /** requeueMessage, answering whether it moved. */
  async requeue(name: string, from: 'post' | 'undeliverable'): Promise<boolean> {
    return (await this.requeueMessage(name, from)) === 'moved';
  }

  /** A name in incoming that cannot be a message: keep it aside at once, with the reason; the name it was kept under. */
  async refuseName(name: string): Promise<string | undefined> {
    const why = this.layout.nameProblem(name);
    if (why === undefined) return undefined;
    return this.refuse(name, this.layout.refusal(name, why));
  }

  /**
   * The retry state of a message waiting in retry (`post`), or the record
   * kept beside a given-up one (`undeliverable`); undefined when there is
   * none or it cannot be used (absent, unreadable, not valid: attempts then
   * start again, nothing is lost but the history).
   */
  async readMeta(state: 'post' | 'undeliverable', name: string): Promise<MessageMeta<P> | undefined> {
    // In post/: the hidden sidecar, else one an earlier version left visible.
    const paths = state === 'post'
      ? [this.at.retry + retryMetaName(name), this.at.retry + metaName(name)]
      : [join(this.layout.givenUp, name + this.layout.givenUpSuffix)];
    for (const path of paths) {
      try {
        const text = await readSidecar(path, MAX_META_BYTES);
        if (text !== undefined) return parseMeta(text, this.payload);
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  /** Claim `name` straight out of incoming and keep it given up with `reason`; the name it was kept under. */
  protected async refuse(name: string, reason: string): Promise<string | undefined> {
    const safe = this.layout.refusedName(name, `${this.clock.now()}_${this.pid}_${++this.seq}.${this.host}`);
    const claimed = this.at.claimed + claimName(safe, this.pid, this.host, this.life);
    if (!(await renameIfExists(this.at.incoming + name, claimed))) return undefined;
    return this.moveGivenUp(claimed, safe, giveUpMeta(undefined, reason, this.clock.now()));
  }

  private async keepGivenUp(msg: ClaimedMessage<P>, meta: MessageMeta<P>): Promise<FailureResult> {
    await this.moveGivenUp(msg.path, msg.name, meta);
    return { state: 'undeliverable', reason: meta.gaveUpReason ?? meta.lastError };
  }

  /**
   * Into givenUp with the record beside it (written before the message
   * appears there); the twin and the retry state go. The name it was kept
   * under; undefined when `path` was gone.
   */
  private async moveGivenUp(path: string, name: string, meta: MessageMeta): Promise<string | undefined> {
    const kept = await moveInto(path, this.layout.givenUp, name, {
      now: this.clock.now(), acrossDevices: true, sidecar: { suffix: this.layout.givenUpSuffix, text: serializeMeta(meta) },
    });
    this.dropTwin(name);
    await this.dropRetryState(name);
    return kept;
  }

  /** Remove a message's retry state in retry: the hidden sidecar and an earlier version's visible one. */
  private async dropRetryState(name: string): Promise<void> {
    await Promise.all([unlinkIfExists(this.at.retry + retryMetaName(name)), unlinkIfExists(this.at.retry + metaName(name))]);
  }

  /**
   * Remove the twin a producer leaves (the LB tmp/ link): best effort, the
   * message is done either way (something that is not a file of ours, such
   * as a directory, is left there).
   */
  private dropTwin(name: string): void {
    if (this.at.twins === undefined) return;
    try {
      unlinkIfExistsSync(this.at.twins + name);
    } catch {
      /* kept */
    }
  }

  /**
   * Move `from` to `<dir>/<name>` (or `<name>.<ms>_<n>` when taken) without
   * overwriting anything there (./move.ts). Returns the name used, or
   * undefined when the source is gone (another process moved it).
   */
  protected moveNoClobber(from: string, dir: string, name: string): Promise<string | undefined> {
    return moveInto(from, dir, name, { now: this.clock.now(), acrossDevices: true });
  }
}
