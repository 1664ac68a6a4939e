/**
 * jobman's own queue layout as a directory queue (../queue/dir-queue.ts
 * holds the claim / retry / give-up / recover life cycle), so existing
 * jobman deployments go through the importer's loop:
 *
 *   iqueue/<sub>/<uid>.req ─claim→ <statedir>/<sub>/work/<uid>.req:<pid>-<life>@<host>
 *   work/ ─delivered→ oqueue/<sub>/<uid>.req
 *   work/ ─give up→   equeue/<sub>/<uid>.req  + <uid>.req.reason (JSON, reason inside)
 *   work/ ─retry→     <statedir>/<sub>/retry/<uid>.req (+ .meta, mtime = next attempt) ─due→ work/
 *   work/ of a dead process of this host ─recover→ retry/ (with retry state) or iqueue/<sub>/
 *   iqueue/<sub>/<other name> ─scan→ equeue/<sub>/ with a reason (wrong type)
 *   iqueue/<sub>/com.daphne.jobman.{quit,restart} ─scan→ oqueue/<sub>/<name>_YYYY-MM-DD_HH:MM:SS + onControl()
 *
 * The state directory (default `<parent of iqueue>/.jp-jobman`) is outside
 * the folders jobman reads, so jobman itself never trips over it; it must be
 * on the same file system as iqueue (claims are renames).
 *
 * As in the maildir spool, one request the importer cannot touch (another
 * user's, mode 0000, a directory…) is that request's outcome, never a stop
 * of the queue (../queue/dir-queue.ts). What is jobman's own: the layout,
 * the control files, the refusal of what is not a request while scanning.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { JpError } from '../core/errors.js';
import { DirQueue, type DirQueueOptions, type QueueLayout } from '../queue/dir-queue.js';
import { ensureDir, renameIfExists } from '../queue/fs.js';
import type { MessageMeta } from '../queue/retry-state.js';
import { claimName } from '../queue/names.js';
import type { JobmanConfig } from './config-types.js';
import { mkdirKeep, moveInto, REASON_SUFFIX } from './queue-fs.js';
import { REQUEST_SUFFIX } from './request.js';

export type ControlKind = 'quit' | 'restart';
export const CONTROL_FILES: Readonly<Record<string, ControlKind>> = {
  'com.daphne.jobman.quit': 'quit',
  'com.daphne.jobman.restart': 'restart',
};

export interface JobmanQueueOptions extends DirQueueOptions {
  readonly iqueue: string;
  readonly oqueue: string;
  readonly equeue: string;
  readonly sub: string;
  readonly statedir: string;
  /** Called after a control file was moved to oqueue (by this process). */
  readonly onControl?: (kind: ControlKind, movedTo: string) => void;
  /** Leave files younger than this for a later scan (producers writing in place). Default 0. */
  readonly minAgeMs?: number;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** jobman's control-file suffix: `_YYYY-MM-DD_HH:MM:SS`, local time. */
export function controlSuffix(ms: number): string {
  const d = new Date(ms);
  return `_${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}_${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Why a name in iqueue/<sub>/ is not a request, or undefined when it is one. */
export function wrongRequestName(name: string): string | undefined {
  if (!name.endsWith(REQUEST_SUFFIX)) return `wrong type: jobman requests are named <uid>${REQUEST_SUFFIX}`;
  if (name === REQUEST_SUFFIX) return 'empty uid';
  if (name.includes('/') || name.includes('\0')) return 'name contains a path separator or NUL';
  if (Buffer.byteLength(name) > 200) return 'name longer than 200 bytes';
  return undefined;
}

/** jobman's folders as a queue layout: iqueue/<sub> in, oqueue/<sub> done, equeue/<sub> given up, claims and retries under the statedir. */
export function jobmanLayout(o: Pick<JobmanQueueOptions, 'iqueue' | 'oqueue' | 'equeue' | 'sub' | 'statedir'>): QueueLayout {
  const state = join(o.statedir, o.sub);
  return {
    incoming: join(o.iqueue, o.sub),
    claimed: join(state, 'work'),
    retry: join(state, 'retry'),
    givenUp: join(o.equeue, o.sub),
    done: join(o.oqueue, o.sub),
    givenUpSuffix: REASON_SUFFIX,
    claimedLabel: 'work',
    what: 'request',
    nameProblem: wrongRequestName,
    refusal: (name, why) => `bad request file name ${JSON.stringify(name)}: ${why}`,
    refusedName: (name) => name.replace(/[/\0]/g, '_'),
  };
}

export class JobmanQueue extends DirQueue {
  readonly dirs: { readonly in: string; readonly out: string; readonly err: string; readonly work: string; readonly retry: string };
  private readonly o: JobmanQueueOptions;

  constructor(opts: JobmanQueueOptions) {
    const layout = jobmanLayout(opts);
    super(layout.incoming, layout, opts);
    this.o = opts;
    this.dirs = { in: layout.incoming, out: layout.done as string, err: layout.givenUp, work: layout.claimed, retry: layout.retry };
  }

  static fromConfig(config: JobmanConfig, opts: Partial<JobmanQueueOptions> = {}): JobmanQueue {
    const { iqueue, oqueue, equeue, sub, statedir } = config;
    return new JobmanQueue({ iqueue, oqueue, equeue, sub, statedir, ...opts });
  }

  override async init(): Promise<{ adopted: number }> {
    for (const d of [this.dirs.in, this.dirs.out, this.dirs.err]) await mkdirKeep(d, 0o700);
    await ensureDir(this.o.statedir, 0o700);
    await ensureDir(join(this.o.statedir, this.o.sub), 0o700);
    await ensureDir(this.dirs.work, 0o700);
    await ensureDir(this.dirs.retry, 0o700);
    const [a, b] = await Promise.all([fsp.stat(this.dirs.in), fsp.stat(this.dirs.work)]);
    if (a.dev !== b.dev) {
      throw new JpError('JP_CONFIG', `jobman statedir ${this.o.statedir} is not on the same file system as ${this.dirs.in}; set statedir = … in [DEFAULT]`);
    }
    return { adopted: 0 };
  }

  /**
   * Requests in iqueue/<sub>/; on the way, control files are acted upon and
   * what is not a request (another name, not a regular file) is refused on
   * the spot. Folders and hidden files are left alone.
   */
  override async *scanNew(): AsyncGenerator<string> {
    const minAge = this.o.minAgeMs ?? 0;
    for await (const e of await fsp.opendir(this.dirs.in, { bufferSize: 128 })) {
      const name = e.name;
      if (name.startsWith('.') || e.isDirectory()) continue;
      const kind = CONTROL_FILES[name];
      if (kind !== undefined) {
        // one that cannot be moved is tried again on the next scan
        await this.control(name, kind).catch(() => undefined);
        continue;
      }
      const badName = e.isFile() ? wrongRequestName(name) : undefined;
      const why = !e.isFile() ? 'not a regular file (symbolic links and devices are not read)'
        : badName === undefined ? undefined : `bad request file name ${JSON.stringify(name)}: ${badName}`;
      if (why !== undefined) {
        // Refused on the spot; one that cannot be moved (e.g. another user's under a sticky iqueue) is handed to
        // the loop, whose claim fails for it alone: logged and held back, the others go on.
        if ((await this.refuse(name, why).then(() => true, () => false)) === false) yield name;
        continue;
      }
      if (minAge > 0) {
        const st = await fsp.stat(join(this.dirs.in, name)).catch(() => undefined);
        if (st === undefined || this.clock.now() - st.mtimeMs < minAge) continue;
      }
      yield name;
    }
  }

  /** The give-up record kept beside a file in equeue/<sub>/. */
  readReason(name: string): Promise<MessageMeta | undefined> {
    return this.readMeta('undeliverable', name);
  }

  private async control(name: string, kind: ControlKind): Promise<void> {
    const target = name + controlSuffix(this.clock.now());
    const path = join(this.dirs.work, claimName(name, this.pid, this.host, this.life));
    if (!(await renameIfExists(join(this.dirs.in, name), path))) return;
    const moved = await moveInto(path, this.dirs.out, target, this.clock.now());
    if (moved !== undefined) this.o.onControl?.(kind, join(this.dirs.out, moved));
  }
}
