/**
 * Per-job files of the dump exporter: `<store>/<unique>.<sec>_<usec>`
 * (O_EXCL, mode 0640), each holding its job's lines in input order.
 *
 * Lines are copied into one fixed arena (`bufferBytes`); each job with
 * pending data has a chain of (start, end) segments into it, kept in typed
 * arrays (no per-job arrays: nothing for the garbage collector to promote),
 * and consecutive lines of one job are merged into one segment. When the
 * arena is full, every pending job gets one writev. Open descriptors are
 * bounded by `maxOpen` (FdCache: a file not used lately is closed first and
 * reopened with O_APPEND, never O_CREAT, when needed again); when the system
 * refuses a descriptor below that bound (EMFILE, ENFILE), one is closed and
 * the bound lowered to what was held. Memory is the arena plus a small
 * record per job, whatever the input size.
 */
import { describeError, JpError, systemCode } from '../core/errors.js';
import { FdCache } from './fd-cache.js';
import type { ExportFs } from './fsops.js';

export const JOB_FILE_MODE = 0o640;
const NL = Buffer.from('\n');
/** Flush early when this many segments are pending, whatever the arena holds. */
const MAX_SEGMENTS = 1 << 18;
const IOV_BATCH = 1024;
const MAX_NAME_TRIES = 1000;

/** Kept for every job until the end, so kept small (about 150 bytes). */
export interface JobRecord {
  readonly jobid: string;
  /** Unique part (a slice of jobid when possible). */
  readonly unique: string;
  /**
   * File name time, microseconds after the writer's base time (small, so
   * stored unboxed); -1 until the file is created.
   */
  usec: number;
  /** Bytes written to the file so far. */
  bytes: number;
  /** First and last pending segment (indexes into the writer's segment arrays), -1 when none. */
  firstSeg: number;
  lastSeg: number;
  /** Slot in the descriptor cache, -1 when the file is not open. */
  slot: number;
}

export interface JobWriterOptions {
  readonly store: string;
  readonly maxOpen: number;
  readonly bufferBytes: number;
  readonly fs: ExportFs;
  /** Wall clock in milliseconds (fractions give microseconds). */
  readonly now: () => number;
  /** Called when a job's file has been created (and is open); may throw to stop the run. */
  readonly onCreate?: (job: JobRecord, path: string) => void;
  /** Start a background syncfs (fs.startSyncFs) after each this many bytes written; 0: never. */
  readonly writebackBytes?: number;
}

export function newJob(jobid: string, unique: string): JobRecord {
  const u = jobid.endsWith(unique) ? jobid.slice(jobid.length - unique.length) : unique;
  return { jobid, unique: u, usec: -1, bytes: 0, firstSeg: -1, lastSeg: -1, slot: -1 };
}

/** `<unique>.<sec>_<usec>` */
export function jobFileName(unique: string, usec: number): string {
  return `${unique}.${Math.floor(usec / 1e6)}_${String(usec % 1e6).padStart(6, '0')}`;
}

export class JobWriter {
  private readonly o: JobWriterOptions;
  private readonly arena: Buffer;
  private pos = 0;
  /** Jobs with pending segments (the array is reused). */
  private readonly pending: JobRecord[] = [];
  private readonly segStart = new Int32Array(MAX_SEGMENTS);
  private readonly segEnd = new Int32Array(MAX_SEGMENTS);
  private readonly segNext = new Int32Array(MAX_SEGMENTS);
  private segCount = 0;
  private readonly open: FdCache<JobRecord>;
  /** `<store>/` */
  private readonly prefix: string;
  private lastUsec = 0;
  private readonly baseUsec: number;
  /** Bytes written since the last background syncfs started. */
  private sinceWriteback = 0;
  /** The background syncfs running, if any. */
  private writeback: Promise<void> | undefined;
  private writebackFailed = false;
  /** syncAll has begun: no more background syncfs. */
  private finishing = false;
  /** Job files created so far (they stay if the run fails). */
  filesCreated = 0;
  /** Bytes written to job files so far. */
  bytesWritten = 0;

  constructor(opts: JobWriterOptions) {
    this.o = opts;
    this.arena = Buffer.allocUnsafe(opts.bufferBytes);
    this.open = new FdCache<JobRecord>(opts.maxOpen);
    this.prefix = opts.store.endsWith('/') ? opts.store : `${opts.store}/`;
    this.baseUsec = Math.floor(opts.now() * 1000);
  }

  pathOf(job: JobRecord): string {
    if (job.usec < 0) throw new Error(`job ${job.jobid} has no file yet`);
    return this.prefix + jobFileName(job.unique, this.baseUsec + job.usec);
  }

  /** Queue one line of a job; a newline is added. */
  append(job: JobRecord, line: Buffer): void {
    const need = line.length + 1;
    if (need > this.arena.length) {
      this.flush();
      this.writeJob(job, [line, NL], need);
      return;
    }
    if (this.pos + need > this.arena.length || this.segCount >= MAX_SEGMENTS) this.flush();
    const start = this.pos;
    line.copy(this.arena, start);
    this.arena[start + line.length] = 0x0a;
    const end = start + need;
    this.pos = end;
    const last = job.lastSeg;
    if (last >= 0 && this.segEnd[last] === start) {
      this.segEnd[last] = end;
      return;
    }
    const i = this.segCount++;
    this.segStart[i] = start;
    this.segEnd[i] = end;
    this.segNext[i] = -1;
    if (last < 0) {
      job.firstSeg = i;
      this.pending.push(job);
    } else {
      this.segNext[last] = i;
    }
    job.lastSeg = i;
  }

  /** Write every pending line to its file. */
  flush(): void {
    const pending = this.pending;
    for (let k = 0; k < pending.length; k++) {
      const job = pending[k] as JobRecord;
      const bufs: Buffer[] = [];
      let total = 0;
      for (let i = job.firstSeg; i >= 0; i = this.segNext[i] as number) {
        const s = this.segStart[i] as number;
        const e = this.segEnd[i] as number;
        bufs.push(this.arena.subarray(s, e));
        total += e - s;
      }
      job.firstSeg = -1;
      job.lastSeg = -1;
      this.writeJob(job, bufs, total);
    }
    pending.length = 0;
    this.segCount = 0;
    this.pos = 0;
    this.startWriteback();
  }

  /** Every `writebackBytes`, a syncfs in the background: the final one then finds little left to write. */
  private startWriteback(): void {
    const every = this.o.writebackBytes ?? 0;
    const start = this.o.fs.startSyncFs;
    if (every <= 0 || start === undefined || this.sinceWriteback < every || this.writeback !== undefined || this.finishing) return;
    this.sinceWriteback = 0;
    this.writeback = start(this.o.store).then(
      (ok) => {
        if (!ok) this.writebackFailed = true;
        this.writeback = undefined;
      },
      () => {
        this.writebackFailed = true;
        this.writeback = undefined;
      },
    );
  }

  /** Close every open descriptor (errors are reported, the rest still closed). */
  closeAll(): void {
    let first: unknown;
    for (const { item, fd } of this.open.drain()) {
      try {
        this.o.fs.close(fd);
      } catch (e) {
        first ??= fileError('close', this.pathOf(item), e);
      }
    }
    if (first !== undefined) throw first;
  }

  /** Close without reporting (after a failure). */
  abandon(): void {
    for (const { fd } of this.open.drain()) {
      try {
        this.o.fs.close(fd);
      } catch {
        // already failing
      }
    }
    this.pending.length = 0;
    this.segCount = 0;
    this.pos = 0;
  }

  /**
   * Make every job file durable: one syncfs of the store's file system when
   * available and no background one failed (then each file's size is
   * checked), else each file reopened and fsynced with its size checked
   * against what was written (at most `maxOpen` at once); then the store
   * directory fsynced. Resolves to true
   * when a syncfs flushed the store's file system (after everything
   * written on it before the call, job files or not).
   */
  async syncAll(jobs: Iterable<JobRecord>, onSynced?: (done: number) => void): Promise<boolean> {
    this.finishing = true;
    this.flush();
    this.closeAll();
    await this.writeback;
    let flushed = false;
    try {
      flushed = !this.writebackFailed && this.o.fs.syncFs?.(this.o.store) === true && this.o.fs.sizeOf !== undefined;
    } catch {
      // fall back to an fsync per file
    }
    const fs = this.o.fs;
    const it = jobs[Symbol.iterator]();
    let synced = 0;
    const worker = async (): Promise<void> => {
      for (let r = it.next(); r.done !== true; r = it.next()) {
        const job = r.value;
        const path = this.pathOf(job);
        let size: number;
        try {
          size = flushed && fs.sizeOf !== undefined ? await fs.sizeOf(path) : await fs.syncFile(path);
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
    return flushed;
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
    this.sinceWriteback += total;
  }

  private fdFor(job: JobRecord): number {
    const cached = this.open.get(job);
    if (cached >= 0) return cached;
    this.closeEvicted(this.open.evictIfFull());
    const created = job.usec < 0;
    const fd = created ? this.create(job) : this.reopen(job);
    this.open.add(job, fd);
    if (created) this.o.onCreate?.(job, this.pathOf(job));
    return fd;
  }

  private closeEvicted(old: { item: JobRecord; fd: number } | undefined): void {
    if (old === undefined) return;
    try {
      this.o.fs.close(old.fd);
    } catch (e) {
      throw fileError('close', this.pathOf(old.item), e);
    }
  }

  /** Run an open; on EMFILE/ENFILE close one held descriptor, lower the bound and try again. */
  private openShedding(open: () => number): number {
    for (;;) {
      try {
        return open();
      } catch (e) {
        const code = systemCode(e);
        if (code !== 'EMFILE' && code !== 'ENFILE') throw e;
        const old = this.open.shrink();
        if (old === undefined) throw e;
        this.closeEvicted(old);
      }
    }
  }

  private reopen(job: JobRecord): number {
    const path = this.pathOf(job);
    try {
      return this.openShedding(() => this.o.fs.openAppend(path));
    } catch (e) {
      throw fileError('reopen', path, e);
    }
  }

  private create(job: JobRecord): number {
    for (let i = 0; i < MAX_NAME_TRIES; i++) {
      const usec = this.nextUsec();
      const path = this.prefix + jobFileName(job.unique, usec);
      try {
        const fd = this.openShedding(() => this.o.fs.openNew(path, JOB_FILE_MODE));
        job.usec = usec - this.baseUsec;
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
