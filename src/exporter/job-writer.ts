/**
 * Per-job files of the dump exporter: `<store>/<unique>.<sec>_<usec>`
 * (O_EXCL, mode 0640), each holding its job's lines in input order.
 *
 * Lines are copied into one fixed arena (`bufferBytes`); each job with
 * pending data keeps (start, end) pairs into it, and consecutive lines of
 * one job are merged into one pair. When the arena is full, every pending
 * job gets one writev. Open descriptors are bounded by `maxOpen`: a Map in
 * use order serves as the LRU, the least recently used file is closed first
 * and reopened (O_APPEND, never O_CREAT) when needed again. Memory is the
 * arena plus a small record per job, whatever the input size.
 */
import { join } from 'node:path';
import { describeError, JpError, systemCode } from '../core/errors.js';
import type { ExportFs } from './fsops.js';

export const JOB_FILE_MODE = 0o640;
const NL = Buffer.from('\n');
/** Flush early when this many (start, end) pairs are pending, whatever the arena holds. */
const MAX_PENDING_SEGMENTS = 1 << 20;
const IOV_BATCH = 1024;
const MAX_NAME_TRIES = 1000;

/** Kept for every job until the end, so kept small (about 150 bytes). */
export interface JobRecord {
  readonly jobid: string;
  /** Unique part (a slice of jobid when possible). */
  readonly unique: string;
  /** Microseconds since the epoch in the file name, -1 until created. */
  usec: number;
  /** Bytes written to the file so far. */
  bytes: number;
  /** Pending (start, end) pairs into the arena, or undefined. */
  segs: number[] | undefined;
}

export interface JobWriterOptions {
  readonly store: string;
  readonly maxOpen: number;
  readonly bufferBytes: number;
  readonly fs: ExportFs;
  /** Wall clock in milliseconds (fractions give microseconds). */
  readonly now: () => number;
}

export function newJob(jobid: string, unique: string): JobRecord {
  const u = jobid.endsWith(unique) ? jobid.slice(jobid.length - unique.length) : unique;
  return { jobid, unique: u, usec: -1, bytes: 0, segs: undefined };
}

/** `<unique>.<sec>_<usec>` */
export function jobFileName(unique: string, usec: number): string {
  return `${unique}.${Math.floor(usec / 1e6)}_${String(usec % 1e6).padStart(6, '0')}`;
}

export class JobWriter {
  private readonly o: JobWriterOptions;
  private readonly arena: Buffer;
  private pos = 0;
  private pending: JobRecord[] = [];
  private pendingSegs = 0;
  private readonly open = new Map<JobRecord, number>();
  private lastUsec = 0;
  /** Job files created so far (they stay if the run fails). */
  filesCreated = 0;
  /** Bytes written to job files so far. */
  bytesWritten = 0;

  constructor(opts: JobWriterOptions) {
    this.o = opts;
    this.arena = Buffer.allocUnsafe(opts.bufferBytes);
  }

  pathOf(job: JobRecord): string {
    if (job.usec < 0) throw new Error(`job ${job.jobid} has no file yet`);
    return join(this.o.store, jobFileName(job.unique, job.usec));
  }

  /** Queue one line of a job; a newline is added. */
  append(job: JobRecord, line: Buffer): void {
    const need = line.length + 1;
    if (need > this.arena.length) {
      this.flush();
      this.writeJob(job, [line, NL], need);
      return;
    }
    if (this.pos + need > this.arena.length || this.pendingSegs >= MAX_PENDING_SEGMENTS) this.flush();
    const start = this.pos;
    line.copy(this.arena, start);
    this.arena[start + line.length] = 0x0a;
    this.pos = start + need;
    const segs = job.segs;
    if (segs === undefined) {
      job.segs = [start, this.pos];
      this.pending.push(job);
      this.pendingSegs++;
    } else if (segs[segs.length - 1] === start) {
      segs[segs.length - 1] = this.pos;
    } else {
      segs.push(start, this.pos);
      this.pendingSegs++;
    }
  }

  /** Write every pending line to its file. */
  flush(): void {
    const pending = this.pending;
    this.pending = [];
    this.pendingSegs = 0;
    for (const job of pending) {
      const segs = job.segs ?? [];
      job.segs = undefined;
      const bufs: Buffer[] = [];
      let total = 0;
      for (let i = 0; i < segs.length; i += 2) {
        const s = segs[i] as number;
        const e = segs[i + 1] as number;
        bufs.push(this.arena.subarray(s, e));
        total += e - s;
      }
      this.writeJob(job, bufs, total);
    }
    this.pos = 0;
  }

  /** Close every open descriptor (errors are reported, the rest still closed). */
  closeAll(): void {
    let first: unknown;
    for (const [job, fd] of this.open) {
      try {
        this.o.fs.close(fd);
      } catch (e) {
        first ??= fileError('close', this.pathOf(job), e);
      }
    }
    this.open.clear();
    if (first !== undefined) throw first;
  }

  /** Close without reporting (after a failure). */
  abandon(): void {
    for (const fd of this.open.values()) {
      try {
        this.o.fs.close(fd);
      } catch {
        // already failing
      }
    }
    this.open.clear();
    this.pending = [];
    this.pos = 0;
  }

  /**
   * Make every job file durable: optional syncfs, then each file reopened,
   * fsynced and its size checked against what was written (at most
   * `maxOpen` at once), then the store directory fsynced.
   */
  async syncAll(jobs: Iterable<JobRecord>, onSynced?: (done: number) => void): Promise<void> {
    this.flush();
    this.closeAll();
    try {
      this.o.fs.syncFs?.(this.o.store);
    } catch {
      // only an accelerator
    }
    const it = jobs[Symbol.iterator]();
    let synced = 0;
    const worker = async (): Promise<void> => {
      for (let r = it.next(); r.done !== true; r = it.next()) {
        const job = r.value;
        const path = this.pathOf(job);
        let size: number;
        try {
          size = await this.o.fs.syncFile(path);
        } catch (e) {
          throw fileError('fsync', path, e);
        }
        if (size !== job.bytes) {
          throw new JpError('JP_LOCAL_FILE', `job file ${path} is ${size} bytes but ${job.bytes} were written (changed by another process?)`);
        }
        synced++;
        onSynced?.(synced);
      }
    };
    const workers: Promise<void>[] = [];
    for (let i = 0; i < Math.max(1, Math.min(this.o.maxOpen, 32)); i++) workers.push(worker());
    const results = await Promise.allSettled(workers);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    try {
      await this.o.fs.syncDir(this.o.store);
    } catch (e) {
      throw new JpError('JP_LOCAL_FILE', `cannot fsync store directory ${this.o.store}: ${describeError(e)}`, { cause: e });
    }
  }

  private writeJob(job: JobRecord, bufs: Buffer[], total: number): void {
    const fd = this.fdFor(job);
    try {
      for (let i = 0; i < bufs.length; i += IOV_BATCH) writeAll(this.o.fs, fd, bufs.slice(i, i + IOV_BATCH));
    } catch (e) {
      throw fileError('write to', this.pathOf(job), e);
    }
    job.bytes += total;
    this.bytesWritten += total;
  }

  private fdFor(job: JobRecord): number {
    const cached = this.open.get(job);
    if (cached !== undefined) {
      this.open.delete(job);
      this.open.set(job, cached);
      return cached;
    }
    if (this.open.size >= this.o.maxOpen) {
      const lru = this.open.entries().next();
      if (lru.done !== true) {
        const [old, oldFd] = lru.value;
        this.open.delete(old);
        try {
          this.o.fs.close(oldFd);
        } catch (e) {
          throw fileError('close', this.pathOf(old), e);
        }
      }
    }
    const fd = job.usec < 0 ? this.create(job) : this.reopen(job);
    this.open.set(job, fd);
    return fd;
  }

  private reopen(job: JobRecord): number {
    const path = this.pathOf(job);
    try {
      return this.o.fs.openAppend(path);
    } catch (e) {
      throw fileError('reopen', path, e);
    }
  }

  private create(job: JobRecord): number {
    for (let i = 0; i < MAX_NAME_TRIES; i++) {
      const usec = this.nextUsec();
      const path = join(this.o.store, jobFileName(job.unique, usec));
      try {
        const fd = this.o.fs.openNew(path, JOB_FILE_MODE);
        job.usec = usec;
        this.filesCreated++;
        return fd;
      } catch (e) {
        if (systemCode(e) !== 'EEXIST') throw fileError('create', path, e);
      }
    }
    throw new JpError('JP_LOCAL_FILE', `cannot create a job file for ${job.unique} in ${this.o.store}: every name tried exists`);
  }

  /** Microseconds now, strictly increasing within this process. */
  private nextUsec(): number {
    let usec = Math.floor(this.o.now() * 1000);
    if (usec <= this.lastUsec) usec = this.lastUsec + 1;
    this.lastUsec = usec;
    return usec;
  }
}

function writeAll(fs: ExportFs, fd: number, bufs: Buffer[]): void {
  let rest = bufs;
  for (;;) {
    let n = fs.writev(fd, rest);
    if (n <= 0) throw new Error('write made no progress (0 bytes written)');
    let i = 0;
    while (i < rest.length && n >= (rest[i] as Buffer).length) {
      n -= (rest[i] as Buffer).length;
      i++;
    }
    if (i >= rest.length) return;
    const partial = (rest[i] as Buffer).subarray(n);
    rest = [partial, ...rest.slice(i + 1)];
  }
}

function fileError(op: string, path: string, e: unknown): JpError {
  if (e instanceof JpError) return e;
  return new JpError('JP_LOCAL_FILE', `cannot ${op} job file ${path}: ${describeError(e)}`, { cause: e });
}
