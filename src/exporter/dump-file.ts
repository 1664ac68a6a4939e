/**
 * A dump file as the exporter reads it: opened once, locked through that
 * descriptor (locks.ts), read in chunks, and checked for changes against
 * what fstat said when the read began. A dump that grows, shrinks or is
 * modified while it is read is refused with DumpChanged: what was read is
 * not a state the file was ever in as a whole, and the rest may still be
 * coming. Files that are not regular (a FIFO, a terminal) are read as a
 * stream, without lock or change check, like standard input.
 */
import { constants, type BigIntStats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { JpError } from '../core/errors.js';
import { lockDump } from './locks.js';

/** What the file looked like when the read began. */
export interface DumpStamp {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
}

/** The dump changed while it was read (or after, for changedSinceRead): refused, try again when it is finished. */
export class DumpChanged extends JpError {
  constructor(message: string) {
    super('JP_LOCAL_FILE', message, { temporary: true });
    this.name = 'DumpChanged';
  }
}

export interface OpenDumpOptions {
  /** Refuse a symlink as the last component (the scheduled task). */
  noFollow?: boolean;
  /** Refuse anything but a regular file, and never block opening one (the scheduled task). */
  regularOnly?: boolean;
}

function stampOf(st: BigIntStats): DumpStamp {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs };
}

function isoOf(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString().replace('Z', `${String(ns % 1_000_000n).padStart(6, '0')}Z`);
}

export class DumpFile {
  /** Bytes handed out by chunks() so far. */
  bytesRead = 0;
  private closed = false;

  private constructor(
    readonly path: string,
    /** `dump file <path>`, for messages. */
    readonly name: string,
    private readonly fh: FileHandle,
    /** undefined for a file that is not regular (no lock, no checks). */
    readonly start: DumpStamp | undefined,
  ) {}

  /**
   * Open and lock the dump. Throws the open error (ENOENT, ...) as it is,
   * ExportLocked when another process holds its lock, JP_LOCAL_FILE for a
   * file that is not regular when `regularOnly`.
   */
  static async open(path: string, o: OpenDumpOptions = {}): Promise<DumpFile> {
    const name = `dump file ${path}`;
    const flags = constants.O_RDONLY | (o.noFollow === true ? constants.O_NOFOLLOW : 0) | (o.regularOnly === true ? constants.O_NONBLOCK : 0);
    const fh = await open(path, flags);
    try {
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) {
        if (o.regularOnly === true) throw new JpError('JP_LOCAL_FILE', `${name} is not a regular file`);
        return new DumpFile(path, name, fh, undefined);
      }
      await lockDump(fh.fd, st, name);
      return new DumpFile(path, name, fh, stampOf(st));
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
  }

  /**
   * The content in chunks of at most `chunkBytes`, in ONE reused buffer (the
   * consumer copies what it keeps). Throws DumpChanged as soon as more than
   * the size at the start was read, and at the end when the size or mtime
   * differ from the start.
   */
  async *chunks(chunkBytes = 1024 * 1024): AsyncGenerator<Buffer> {
    const buf = Buffer.allocUnsafe(chunkBytes);
    const limit = this.start === undefined ? undefined : Number(this.start.size);
    for (;;) {
      const { bytesRead } = await this.fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      this.bytesRead += bytesRead;
      if (limit !== undefined && this.bytesRead > limit) {
        throw new DumpChanged(`${this.name} changed while being read: it had ${limit} bytes at the start, and more were read (it is still being written)`);
      }
      yield buf.subarray(0, bytesRead);
    }
    const why = await this.changedSinceRead();
    if (why !== undefined) throw new DumpChanged(`${this.name} changed while being read: ${why}`);
  }

  /**
   * undefined when the file is as it was when the read began and all of it
   * was read; otherwise how it differs. Used at the end of the read and
   * again before the dump is moved away after its export.
   */
  async changedSinceRead(): Promise<string | undefined> {
    const s = this.start;
    if (s === undefined) return undefined;
    const now = await this.fh.stat({ bigint: true });
    if (BigInt(this.bytesRead) !== s.size) return `it had ${s.size} bytes at the start, ${this.bytesRead} were read, it has ${now.size} now`;
    if (now.size !== s.size) return `it had ${s.size} bytes at the start and has ${now.size} now`;
    if (now.mtimeNs !== s.mtimeNs) return `modified at ${isoOf(now.mtimeNs)} (at ${isoOf(s.mtimeNs)} when the read began)`;
    return undefined;
  }

  /** Close the file, which releases its lock (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}
