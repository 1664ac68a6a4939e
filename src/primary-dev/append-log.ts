/**
 * An append-only line file with group writes: append() resolves once the
 * line is in the file (written to the kernel, so it survives the process
 * being killed). Lines appended while a write runs go out together in the
 * next write.
 */
import { promises as fsp } from 'node:fs';

interface Waiter {
  resolve(): void;
  reject(e: unknown): void;
}

export class AppendLog {
  private buf: string[] = [];
  private waiters: Waiter[] = [];
  private draining: Promise<void> | undefined;

  private constructor(readonly path: string, private fh: fsp.FileHandle) {}

  static async open(path: string, mode = 0o600): Promise<AppendLog> {
    return new AppendLog(path, await fsp.open(path, 'a', mode));
  }

  /** Append one line (a newline is added). */
  append(line: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.buf.push(`${line}\n`);
      this.waiters.push({ resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.draining !== undefined || this.buf.length === 0) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      this.kick(); // lines appended between the last write and this point
    });
  }

  private async drain(): Promise<void> {
    while (this.buf.length > 0) {
      const data = this.buf.join('');
      const waiters = this.waiters;
      this.buf = [];
      this.waiters = [];
      try {
        await this.fh.appendFile(data);
        for (const w of waiters) w.resolve();
      } catch (e) {
        for (const w of waiters) w.reject(e);
      }
    }
  }

  /** Wait for pending lines, then empty the file. */
  async truncate(): Promise<void> {
    await this.idle();
    await this.fh.truncate(0);
  }

  /** Resolves when every appended line is written. */
  async idle(): Promise<void> {
    while (this.draining !== undefined) await this.draining;
  }

  async close(): Promise<void> {
    await this.idle();
    await this.fh.close();
  }
}
