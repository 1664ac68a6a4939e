/**
 * The source of one STOR/APPE: bytes [start, end) of an open file, read by
 * position.
 *
 * Piped into one destination (basic-ftp pipes its source into the data
 * connection), it writes to that destination itself, from a few buffers
 * that are reused once the destination's write callback reports them
 * written, and pushes nothing but the end; the pipe still ends the
 * destination after the last chunk, and errors still travel through it.
 * A stream pushing a fresh buffer per chunk made V8 mark the whole heap for
 * every 64 MiB of such external memory: about 16 full collections per GiB,
 * most of the importer's CPU in a large upload (BENCHMARKS.md P4b). Read any
 * other way, it pushes its chunks like any Readable (a fresh buffer each).
 *
 * destroy() (basic-ftp's pipeline calls it on errors) stops the reading
 * and leaves the handle open: the file is read again on a resumed try and
 * is closed by its owner. A file that shrank ends the stream early; the
 * caller compares bytesRead with what it expected.
 */
import type { FileHandle } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';

export interface FileSenderOptions {
  /** Bytes per read and per write at most (default 512 KiB). */
  chunk?: number;
  /** Buffers read ahead or queued on the destination at most, when piped (default 4). */
  buffers?: number;
}

const DEFAULT_CHUNK = 512 * 1024;
const DEFAULT_BUFFERS = 4;

export class FileSender extends Readable {
  /** Bytes read from the file so far (handed on, or about to be). */
  bytesRead = 0;
  private pos: number;
  private readonly chunk: number;
  private readonly buffers: number;
  private readonly sinks: Writable[] = [];
  private mode: 'unstarted' | 'direct' | 'push' = 'unstarted';
  /** Wakes the direct pump waiting for a buffer (or for destroy). */
  private wake: (() => void) | undefined;

  constructor(private readonly handle: FileHandle, start: number, private readonly end: number, opts: FileSenderOptions = {}) {
    const chunk = opts.chunk ?? DEFAULT_CHUNK;
    super({ highWaterMark: chunk });
    this.pos = start;
    this.chunk = chunk;
    this.buffers = Math.max(2, opts.buffers ?? DEFAULT_BUFFERS);
  }

  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
    this.sinks.push(destination as unknown as Writable);
    return super.pipe(destination, options);
  }

  override _read(): void {
    if (this.mode === 'unstarted') {
      const sink = this.sinks.length === 1 ? this.sinks[0] : undefined;
      this.mode = sink !== undefined && this.readableFlowing === true ? 'direct' : 'push';
      if (sink !== undefined && this.mode === 'direct') {
        this.pump(sink).then(() => {
          if (!this.destroyed) this.push(null);
        }, (e: unknown) => this.destroy(asError(e)));
        return;
      }
    }
    if (this.mode === 'push') this.readOne();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.wake?.();
    cb(err);
  }

  /** Push mode: one chunk in a fresh buffer. */
  private readOne(): void {
    const want = Math.min(this.chunk, this.end - this.pos);
    if (want <= 0) {
      this.push(null);
      return;
    }
    this.handle.read(Buffer.allocUnsafe(want), 0, want, this.pos).then(({ bytesRead, buffer }) => {
      if (this.destroyed) return;
      if (bytesRead === 0) {
        this.push(null);
        return;
      }
      this.pos += bytesRead;
      this.bytesRead += bytesRead;
      this.push(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead));
    }, (e: unknown) => this.destroy(asError(e)));
  }

  /**
   * Direct mode: read into a free buffer, write it to the sink; the write
   * callback gives the buffer back. A failed write keeps its buffer (the
   * sink may still hold it) and ends the pumping with that error.
   */
  private async pump(sink: Writable): Promise<void> {
    const size = Math.max(1, Math.min(this.chunk, this.end - this.pos));
    const free: Buffer[] = [];
    let made = 0;
    let failed: Error | undefined;
    while (this.pos < this.end && !this.destroyed) {
      if (failed !== undefined) throw failed;
      let buf = free.pop();
      if (buf === undefined && made < this.buffers) {
        buf = Buffer.allocUnsafeSlow(size);
        made++;
      }
      if (buf === undefined) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
        continue;
      }
      const want = Math.min(buf.length, this.end - this.pos);
      const { bytesRead } = await this.handle.read(buf, 0, want, this.pos);
      if (this.destroyed || bytesRead === 0) return;
      this.pos += bytesRead;
      this.bytesRead += bytesRead;
      const taken = buf;
      sink.write(bytesRead === taken.length ? taken : taken.subarray(0, bytesRead), (err) => {
        if (err === null || err === undefined) free.push(taken);
        else failed ??= err;
        this.wake?.();
      });
    }
    if (failed !== undefined) throw failed;
  }
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
