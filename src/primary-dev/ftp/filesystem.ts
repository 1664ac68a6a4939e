/**
 * The reference FTP endpoint's file system: ftp-srv's FileSystem confined to
 * one root (no '..', no symlink leading out), with writes that
 *  - honour REST + STOR without truncating (ftp-srv's own opens with 'w+'
 *    and leaves a hole of zeros), and APPE as a true append;
 *  - record per path whether the transfer completed and the size it left;
 *  - can be told to break off after N bytes (a dropped data connection);
 *  - answer SIZE of an empty file with a number (ftp-srv does not).
 */
import { close, constants, fstat, openSync, realpathSync, write } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, posix, resolve, sep } from 'node:path';
import { Writable } from 'node:stream';
import { FileSystem, type FtpConnection } from 'ftp-srv';
import type { UploadRecords } from './verifier.js';

/** State shared by every connection of one endpoint. */
export interface EndpointContext {
  readonly records: UploadRecords;
  /** Bytes after which the next STOR/APPE breaks off (consumed by it). */
  takeDropAfter(): number | undefined;
  counters: { stor: number; appe: number; rest: number; completed: number; failed: number };
}

const FILE_MODE = 0o640;
const DIR_MODE = 0o750;

export class EndpointFileSystem extends FileSystem {
  private readonly rootDir: string;
  private readonly realRoot: string;
  private readonly ctx: EndpointContext;

  constructor(connection: FtpConnection, root: string, ctx: EndpointContext) {
    super(connection, { root, cwd: '/' });
    this.rootDir = resolve(root);
    this.realRoot = realpathSync(this.rootDir);
    this.ctx = ctx;
  }

  /** Used by every inherited command (SIZE, LIST, CWD, RETR, DELE, ...). */
  _resolvePath(name = '.'): { clientPath: string; fsPath: string } {
    if (name.includes('\0')) throw new Error('path contains a NUL byte');
    const p = name.replace(/\\/g, '/');
    const clientPath = posix.isAbsolute(p) ? posix.normalize(p) : posix.join('/', this.cwd, p);
    const fsPath = join(this.rootDir, clientPath);
    if (!inside(fsPath, this.rootDir)) throw new Error(`path ${clientPath} is outside the root`);
    // A symlink planted below the root must not lead out of it.
    if (!inside(realpathOfNearest(fsPath), this.realRoot)) throw new Error(`path ${clientPath} leads outside the root`);
    return { clientPath, fsPath };
  }

  /**
   * SIZE replies "213 <size>", but ftp-srv drops a falsy message and sends
   * "213 File status" for an empty file; the string "0" survives.
   */
  get(fileName: string): Promise<unknown> {
    return Promise.resolve(super.get(fileName)).then((st: { size: number | string }) => {
      if (st.size === 0) st.size = '0';
      return st;
    });
  }

  /** MKD: create with parents; answer with the client's path, not the server's. */
  mkdir(path: string): Promise<string> {
    const { fsPath, clientPath } = this._resolvePath(path);
    return mkdir(fsPath, { recursive: true, mode: DIR_MODE }).then(() => clientPath);
  }

  write(fileName: string, { append = false, start }: { append?: boolean; start?: number } = {}): { stream: Writable; clientPath: string } {
    const { fsPath, clientPath } = this._resolvePath(fileName);
    const offset = typeof start === 'number' && start > 0 ? start : 0;
    const base = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW;
    const flags = append ? base | constants.O_APPEND : offset > 0 ? base : base | constants.O_TRUNC;
    let fd: number;
    try {
      fd = openSync(fsPath, flags, FILE_MODE);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      throw new Error(`cannot open ${clientPath} for writing (${code})`);
    }
    const c = this.ctx.counters;
    if (append) c.appe++;
    else c.stor++;
    if (offset > 0 && !append) c.rest++;
    const token = this.ctx.records.begin(clientPath, append ? 'APPE' : 'STOR', offset);
    const stream = new UploadSink(fd, {
      position: append ? null : offset,
      dropAfter: this.ctx.takeDropAfter(),
      onDone: (bytes) => {
        c.completed++;
        this.ctx.records.complete(clientPath, bytes, token);
      },
      onFail: (reason) => {
        c.failed++;
        this.ctx.records.fail(clientPath, reason, token);
      },
    });
    // ftp-srv ends an upload by emitting 'close' on the stream when the
    // stream has 'close' listeners (pipe() adds one); end it then.
    stream.once('close', () => {
      if (!stream.writableEnded && !stream.destroyed) stream.end();
    });
    return { stream, clientPath };
  }
}

interface SinkOptions {
  /** Absolute file offset of the first byte, or null to append. */
  position: number | null;
  dropAfter: number | undefined;
  onDone(bytes: number): void;
  onFail(reason: string): void;
}

/** A file writer that reports how the transfer ended. */
class UploadSink extends Writable {
  private written = 0;
  private finished = false;

  constructor(private readonly fd: number, private readonly opts: SinkOptions) {
    super({ highWaterMark: 256 * 1024 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const limit = this.opts.dropAfter;
    const drop = limit !== undefined && this.written + chunk.length >= limit;
    const data = drop ? chunk.subarray(0, Math.max(0, limit - this.written)) : chunk;
    this.writeAll(data, 0, (err) => {
      if (err) return cb(err);
      this.written += data.length;
      if (drop) return cb(new Error(`data connection dropped by the test hook after ${limit} bytes`));
      return cb();
    });
  }

  override _final(cb: (err?: Error | null) => void): void {
    fstat(this.fd, (err, st) => {
      if (err) return cb(err);
      this.finished = true;
      this.opts.onDone(st.size);
      return cb();
    });
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    close(this.fd, () => {
      if (!this.finished) this.opts.onFail(err?.message ?? 'transfer aborted');
      cb(err);
    });
  }

  private writeAll(data: Buffer, off: number, cb: (err: Error | null) => void): void {
    if (off >= data.length) return cb(null);
    const pos = this.opts.position === null ? null : this.opts.position + this.written + off;
    write(this.fd, data, off, data.length - off, pos, (err, n) => {
      if (err) return cb(err);
      this.writeAll(data, off + n, cb);
    });
  }
}

function inside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** realpath of the path, or of its nearest existing ancestor. */
function realpathOfNearest(path: string): string {
  let probe = path;
  for (;;) {
    try {
      return realpathSync(probe);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const up = dirname(probe);
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || up === probe) throw e;
      probe = up;
    }
  }
}
