/**
 * Storing many messages at once, synchronously, for a one-shot producer
 * (the dump exporter): no thread-pool round trip per file operation, and the
 * syncs shared. Same protocol and guarantee as Spool.store with keepTmpLink:
 *
 *   write(body)   tmp/<name> created (O_EXCL, 0600) and written; neither
 *                 durable nor visible to consumers yet
 *   sync()        every file written made durable: one syncfs of the file
 *                 system (none when the caller flushed it after the
 *                 writes), else an fsync per file
 *   linkNext()    tmp/<name> hard-linked into new/<name>; the tmp/ link is
 *                 kept, as the LB C library does (the reader removes it
 *                 after delivery), so no inode is freed on the way
 *   syncNew()     new/ fsynced once
 *   discard()     after a failure: the tmp/ files not linked are removed
 *
 * Names are `<sec>_<usec>_<pid>_<seq>.<host>` (names.ts) with one time for
 * the batch, so only each message's seq is kept (4 bytes per message).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, constants, fsyncSync, linkSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { systemCode } from '../core/errors.js';
import { FILE_MODE, dirOf } from '../queue/layout.js';
import { generateName, sanitizeHost } from '../queue/names.js';

/** The file operations of a batch (tests make any of them fail). */
export interface BatchFs {
  /** Create a new file for writing (O_EXCL); throws EEXIST if taken. */
  openNew(path: string, mode: number): number;
  /** write; may write less than asked (the caller loops). */
  write(fd: number, data: Uint8Array, offset: number): number;
  close(fd: number): void;
  link(from: string, to: string): void;
  unlink(path: string): void;
  /** Open read-only, fsync, close. */
  fsyncFile(path: string): void;
  /** fsync a directory (file systems that refuse it are accepted). */
  fsyncDir(path: string): void;
  /** syncfs(2) of the file system holding `path`; true when it succeeded. */
  syncFs(path: string): boolean;
}

const NEW_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const MAX_NAME_TRIES = 10;
/** Sequence numbers are unique in the process, so two batches made in the same microsecond never collide. */
let processSeq = 0;

export const nodeBatchFs: BatchFs = {
  openNew: (path, mode) => openSync(path, NEW_FLAGS, mode),
  write: (fd, data, offset) => writeSync(fd, data, offset),
  close: (fd) => closeSync(fd),
  link: (from, to) => linkSync(from, to),
  unlink: (path) => unlinkSync(path),
  fsyncFile(path) {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  },
  fsyncDir(path) {
    const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      fsyncSync(fd);
    } catch (e) {
      // Some file systems refuse fsync on directories; durability is then theirs.
      if (systemCode(e) !== 'EINVAL' && systemCode(e) !== 'EISDIR') throw e;
    } finally {
      closeSync(fd);
    }
  },
  // `sync -f` (GNU coreutils) calls syncfs(2), which reports write-back errors (Linux >= 5.8).
  syncFs: (path) => spawnSync('sync', ['-f', path], { stdio: 'ignore', timeout: 600_000 }).status === 0,
};

export interface MessageBatchOptions {
  host?: string;
  pid?: number;
  /** Wall clock in ms (the names' time). */
  now?: () => number;
  fs?: BatchFs;
}

/** Messages written, made durable and linked together; see the file comment. */
export class MessageBatch {
  readonly tmpDir: string;
  readonly newDir: string;
  private readonly fs: BatchFs;
  private readonly host: string;
  private readonly pid: number;
  /** The names' time (ms, whole) and microseconds within that ms. */
  private readonly timeMs: number;
  private readonly usecFraction: number;
  private seqs = new Uint32Array(1024);
  private count = 0;
  /** Messages [0, linked) are in new/. */
  private linked = 0;

  constructor(root: string, opts: MessageBatchOptions = {}) {
    this.tmpDir = dirOf(root, 'tmp');
    this.newDir = dirOf(root, 'new');
    this.fs = opts.fs ?? nodeBatchFs;
    this.host = sanitizeHost(opts.host ?? hostname());
    this.pid = opts.pid ?? process.pid;
    const now = (opts.now ?? (() => performance.timeOrigin + performance.now()))();
    this.timeMs = Math.floor(now);
    this.usecFraction = Math.floor((now - this.timeMs) * 1000);
  }

  /** Messages written so far. */
  get size(): number {
    return this.count;
  }

  /** Messages linked into new/ so far. */
  get stored(): number {
    return this.linked;
  }

  /** Name of message `i` (in tmp/, and in new/ once linked unless that name was taken there). */
  nameOf(i: number): string {
    return this.nameFor(this.seqs[i] as number);
  }

  /** Write one body into tmp/ under a fresh name; returns its index. */
  write(body: string | Uint8Array): number {
    const data = typeof body === 'string' ? Buffer.from(body) : body;
    for (let t = 0; t < MAX_NAME_TRIES; t++) {
      const seq = processSeq++;
      const path = `${this.tmpDir}/${this.nameFor(seq)}`;
      let fd: number;
      try {
        fd = this.fs.openNew(path, FILE_MODE);
      } catch (e) {
        if (systemCode(e) === 'EEXIST') continue;
        throw e;
      }
      try {
        for (let off = 0; off < data.length;) {
          const n = this.fs.write(fd, data, off);
          if (n <= 0) throw new Error(`write to ${path} made no progress`);
          off += n;
        }
      } catch (e) {
        this.closeQuietly(fd);
        this.unlinkQuietly(path);
        throw e;
      }
      try {
        this.fs.close(fd);
      } catch (e) {
        this.unlinkQuietly(path);
        throw e;
      }
      if (this.count === this.seqs.length) {
        const bigger = new Uint32Array(this.seqs.length * 2);
        bigger.set(this.seqs);
        this.seqs = bigger;
      }
      this.seqs[this.count] = seq;
      return this.count++;
    }
    throw new Error(`could not find a free message name in ${this.tmpDir} after ${MAX_NAME_TRIES} tries`);
  }

  /**
   * Make every file written durable: `syncfs` one syncfs of tmp/'s file
   * system (an fsync per file if that fails), `fsync` an fsync per file,
   * `flushed` nothing (the caller ran a syncfs of this file system after the
   * last write and it succeeded). Use `fsync` when a syncfs of this file
   * system failed since the writes: the error was reported to that call
   * only, a later syncfs may succeed without the files being on disk.
   */
  sync(how: 'syncfs' | 'fsync' | 'flushed' = 'syncfs'): void {
    if (how === 'flushed' || this.count === 0) return;
    if (how === 'syncfs' && this.fs.syncFs(this.tmpDir)) return;
    for (let i = 0; i < this.count; i++) this.fs.fsyncFile(`${this.tmpDir}/${this.nameOf(i)}`);
  }

  /**
   * Link the next message into new/ (in the order written); returns its name
   * there. Call only after sync(). A name taken in new/ gets a fresh one, and
   * then the tmp/ link is removed (the reader could not find it as a twin).
   */
  linkNext(): string {
    const i = this.linked;
    if (i >= this.count) throw new Error('every message is linked already');
    const name = this.nameOf(i);
    const from = `${this.tmpDir}/${name}`;
    let target = name;
    for (let t = 0; t < MAX_NAME_TRIES; t++) {
      try {
        this.fs.link(from, `${this.newDir}/${target}`);
        this.linked++;
        if (target !== name) this.unlinkQuietly(from);
        return target;
      } catch (e) {
        if (systemCode(e) !== 'EEXIST') throw e;
        target = this.nameFor(processSeq++);
      }
    }
    throw new Error(`could not find a free message name in ${this.newDir} after ${MAX_NAME_TRIES} tries`);
  }

  /** fsync new/ (after linking). */
  syncNew(): void {
    this.fs.fsyncDir(this.newDir);
  }

  /** After a failure: remove the tmp/ files of the messages not linked (best effort); returns how many. */
  discard(): number {
    let n = 0;
    for (let i = this.linked; i < this.count; i++) if (this.unlinkQuietly(`${this.tmpDir}/${this.nameOf(i)}`)) n++;
    this.count = this.linked;
    return n;
  }

  private nameFor(seq: number): string {
    return generateName(this.timeMs, this.pid, seq, this.host, this.usecFraction);
  }

  private closeQuietly(fd: number): void {
    try {
      this.fs.close(fd);
    } catch {
      // already failing
    }
  }

  private unlinkQuietly(path: string): boolean {
    try {
      this.fs.unlink(path);
      return true;
    } catch {
      return false;
    }
  }
}
