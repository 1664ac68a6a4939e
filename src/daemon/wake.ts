/**
 * Sleep until woken: by a file appearing in a watched directory (fs.watch),
 * by an explicit wake(), or by the timeout (the -t poll interval, the
 * fallback when inotify is unavailable or events are lost).
 *
 * A watch follows an inode, not a path: when the watched directory is
 * removed, renamed or replaced (inotify IN_DELETE_SELF / IN_MOVE_SELF arrive
 * as a 'rename' event naming the directory itself), or the watcher fails,
 * the directory at the path is watched again, retried with a backoff while
 * it is missing. One log line when the watch is lost, one when it is back.
 */
import { lstatSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, join } from 'node:path';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';

/** Re-watch backoff while the directory is missing or cannot be watched. */
export const REWATCH_MIN_MS = 50;
export const REWATCH_MAX_MS = 5000;

export class Waker {
  private pending = false;
  private resolve: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private watches: DirWatch[] = [];
  /** How often a lost watch was set up again (a directory that came back ends a backoff early). */
  rewatches = 0;

  watch(dirs: readonly string[], log: Logger): void {
    for (const dir of dirs) {
      const w = new DirWatch(dir, log, () => this.wake(), () => {
        this.rewatches++;
      });
      this.watches.push(w);
      w.start();
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
      this.timer = setTimeout(() => {
        // A poll: also the moment to notice a replaced directory whose events were lost.
        for (const w of this.watches) w.verify();
        this.wake();
      }, Math.max(0, ms));
    });
  }

  close(): void {
    for (const w of this.watches) w.close();
    this.watches = [];
    this.wake();
  }
}

/** One directory's watch, re-established when the directory at its path changes. */
class DirWatch {
  private watcher: FSWatcher | undefined;
  private identity: DirIdentity | undefined;
  private retry: NodeJS.Timeout | undefined;
  private delay = REWATCH_MIN_MS;
  /** When the current watch was set up (a watch lost soon after is set up again only after the backoff). */
  private since = 0;
  /** Why the watch is not in place (logged once), undefined while watching or before the first try. */
  private lost: string | undefined;
  private closed = false;
  private readonly name: string;

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
    private readonly onEvent: () => void,
    private readonly onBack: () => void = () => undefined,
  ) {
    this.name = basename(dir);
  }

  start(): void {
    this.establish(false);
  }

  /** Is the watched inode still the directory at the path? If not, watch again (a belt for lost events). */
  verify(): void {
    if (this.watcher === undefined || this.identity === undefined) return;
    const now = identityOf(this.dir);
    if (typeof now === 'string') this.lose(`directory gone: ${now}`);
    else if (!sameDir(now, this.identity)) this.lose('directory replaced');
  }

  close(): void {
    this.closed = true;
    if (this.retry !== undefined) clearTimeout(this.retry);
    this.retry = undefined;
    this.stopWatcher();
  }

  private establish(again: boolean): void {
    this.retry = undefined;
    if (this.closed) return;
    const before = identityOf(this.dir);
    if (typeof before === 'string') return this.failed(before);
    let w: FSWatcher;
    try {
      w = watch(this.dir, { persistent: false }, (event, file) => this.event(event, file));
    } catch (err) {
      return this.failed(`cannot watch: ${describeError(err)}`);
    }
    w.on('error', (err) => {
      if (this.watcher === w) this.lose(`watch failed: ${describeError(err)}`);
    });
    // Replaced between the stat and the watch: the watch may be on the old inode.
    const after = identityOf(this.dir);
    if (typeof after === 'string' || !sameDir(after, before)) {
      w.close();
      return this.failed(typeof after === 'string' ? after : 'directory replaced while starting its watch');
    }
    this.watcher = w;
    this.identity = after;
    this.since = Date.now();
    if (this.lost !== undefined) {
      this.log.info({ dir: this.dir, was: this.lost }, 'watching the directory again');
      this.lost = undefined;
    }
    // Files may have arrived while nothing watched: one pass to find them.
    if (again) {
      this.onBack();
      this.onEvent();
    }
  }

  /**
   * An arrival wakes the loop. A loss of the directory does not: a pass then
   * would only fail to scan a missing directory; the loop is woken once the
   * directory at the path is watched again (and scanned for what came meanwhile).
   */
  private event(event: string, file: string | null): void {
    // The directory itself was removed or renamed (IN_DELETE_SELF, IN_MOVE_SELF,
    // IN_IGNORED), or a file inside has the directory's own name.
    if (event !== 'rename' || (file !== null && file !== this.name) || this.identity === undefined) {
      this.onEvent();
      return;
    }
    const now = identityOf(this.dir);
    if (typeof now === 'string') this.lose(`directory gone: ${now}`);
    else if (!sameDir(now, this.identity)) this.lose('directory replaced');
    else if (existsNoFollow(join(this.dir, this.name))) this.onEvent();
    else {
      // The same inode and birth time: a file named like the directory came and
      // went, or the directory was replaced within one timestamp tick and its
      // inode number reused. Watching again costs little and is right for both.
      this.lose('', true);
    }
  }

  /**
   * The watch is gone: say so once (unless quiet), and watch the path again:
   * at once after a watch that lasted, else after the growing backoff (a watch
   * that keeps failing costs a line pair per REWATCH_MAX_MS at most).
   */
  private lose(reason: string, quiet = false): void {
    this.stopWatcher();
    if (this.closed) return;
    if (!quiet) this.noteLost(reason);
    if (Date.now() - this.since >= REWATCH_MAX_MS) {
      this.delay = REWATCH_MIN_MS;
      if (this.retry !== undefined) clearTimeout(this.retry);
      this.establish(true);
    } else {
      this.failed(quiet ? undefined : reason);
    }
  }

  private noteLost(reason: string): void {
    if (this.lost !== undefined) return;
    this.log.warn({ dir: this.dir, reason }, 'lost the watch of the directory: polling only until it is watched again');
    this.lost = reason;
  }

  /** Try again after the backoff; `reason` undefined: a quiet re-watch (nothing logged). */
  private failed(reason: string | undefined): void {
    if (reason !== undefined) this.noteLost(reason);
    if (this.closed || this.retry !== undefined) return;
    const delay = this.delay;
    this.delay = Math.min(REWATCH_MAX_MS, this.delay * 2);
    this.retry = setTimeout(() => this.establish(true), delay);
    this.retry.unref();
  }

  private stopWatcher(): void {
    const w = this.watcher;
    this.watcher = undefined;
    this.identity = undefined;
    w?.close();
  }
}

/** Tells a directory from a later one at the same path (inode numbers are reused at once on ext4). */
interface DirIdentity {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly birth: bigint;
}

function sameDir(a: DirIdentity, b: DirIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.birth === b.birth;
}

/** The directory at `dir`, or why there is none. */
function identityOf(dir: string): DirIdentity | string {
  try {
    const st = statSync(dir, { bigint: true });
    return st.isDirectory() ? { dev: st.dev, ino: st.ino, birth: st.birthtimeNs } : 'not a directory';
  } catch (err) {
    return describeError(err);
  }
}

function existsNoFollow(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
