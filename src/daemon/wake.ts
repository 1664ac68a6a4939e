/**
 * Sleep until woken: by a file appearing in a watched directory (fs.watch),
 * by an explicit wake(), or by the timeout (the -t poll interval, the
 * fallback when inotify is unavailable or events are lost).
 */
import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from '../core/log.js';

export class Waker {
  private pending = false;
  private resolve: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private watchers: FSWatcher[] = [];

  watch(dirs: readonly string[], log: Logger): void {
    for (const dir of dirs) {
      try {
        const w = watch(dir, { persistent: false }, () => this.wake());
        w.on('error', (err) => {
          log.warn({ dir, err: err.message }, 'directory watch failed; falling back to polling');
          w.close();
        });
        this.watchers.push(w);
      } catch (err) {
        log.warn({ dir, err: (err as Error).message }, 'cannot watch directory; polling only');
      }
    }
  }

  wake(): void {
    this.pending = true;
    const r = this.resolve;
    this.resolve = undefined;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    r?.();
  }

  /** Resolves after `ms`, or at once if woken since the last wait. */
  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((res) => {
      this.resolve = () => {
        this.pending = false;
        res();
      };
      this.timer = setTimeout(() => this.wake(), Math.max(0, ms));
    });
  }

  close(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    this.wake();
  }
}
