/**
 * Follows the reference service's call log (`<data-dir>/calls.jsonl`, one
 * JSON line per SOAP call, appended by the service) from another process:
 * reads what was appended since the last read and hands each complete line
 * to a callback with the moment the bench saw it (performance.now()).
 * Reads are driven by a timer, and optionally by fs.watch for low latency.
 */
import { watch, type FSWatcher } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

export interface CallLine {
  readonly op: string;
  readonly ok: boolean;
  readonly job?: string;
  /** Service time of the call, ISO 8601 with milliseconds. */
  readonly at: string;
  readonly fault?: number | null;
}

interface Waiter {
  cond: () => boolean;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class CallsTail {
  private offset = 0;
  private partial: Buffer = Buffer.alloc(0);
  private reading: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private readonly waiters = new Set<Waiter>();
  private readonly buf = Buffer.alloc(1 << 20);
  private failure: Error | undefined;

  private constructor(readonly file: string, private readonly fh: FileHandle, private readonly onLine: (c: CallLine, seenAt: number) => void) {}

  static async open(file: string, onLine: (c: CallLine, seenAt: number) => void): Promise<CallsTail> {
    return new CallsTail(file, await open(file, 'r'), onLine);
  }

  /**
   * Read on a timer every intervalMs and, with watch, also on every change
   * event of the file (inotify on Linux).
   */
  follow(intervalMs: number, useWatch: boolean): void {
    this.unfollow();
    this.timer = setInterval(() => void this.poll(), intervalMs);
    if (useWatch) {
      this.watcher = watch(this.file, { persistent: false }, () => void this.poll());
      this.watcher.on('error', () => this.watcher?.close());
    }
  }

  unfollow(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** Read everything appended so far (calls never overlap). */
  poll(): Promise<void> {
    if (this.reading !== undefined) {
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.again = false;
        await this.readAppended();
      } while (this.again);
    })()
      .catch((e: unknown) => {
        this.failure = e instanceof Error ? e : new Error(String(e));
      })
      .finally(() => {
        this.reading = undefined;
        this.check();
      });
    return this.reading;
  }

  /** Resolves when cond() holds after some read; rejects after timeoutMs. */
  until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        cond,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(w);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs),
      };
      this.waiters.add(w);
    });
  }

  async close(): Promise<void> {
    this.unfollow();
    await this.reading;
    await this.fh.close();
  }

  private check(): void {
    for (const w of [...this.waiters]) {
      if (this.failure !== undefined) w.reject(this.failure);
      else if (!w.cond()) continue;
      else w.resolve();
      clearTimeout(w.timer);
      this.waiters.delete(w);
    }
  }

  private async readAppended(): Promise<void> {
    for (;;) {
      const { bytesRead } = await this.fh.read(this.buf, 0, this.buf.length, this.offset);
      if (bytesRead === 0) return;
      const seenAt = performance.now();
      this.offset += bytesRead;
      // Only complete lines are decoded (a read may end inside a line or a UTF-8 sequence).
      const data = Buffer.concat([this.partial, this.buf.subarray(0, bytesRead)]);
      const end = data.lastIndexOf(0x0a);
      this.partial = Buffer.from(data.subarray(end + 1));
      if (end < 0) continue;
      for (const l of data.toString('utf8', 0, end).split('\n')) if (l.length > 0) this.onLine(JSON.parse(l) as CallLine, seenAt);
    }
  }
}
