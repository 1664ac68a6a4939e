/**
 * One spool subtree: an LB-compatible maildir, as a directory queue
 * (../queue/dir-queue.ts holds the claim / retry / give-up / recover life
 * cycle) with the LB layout, plus the producer's side: storing a message
 * as the LB C library does.
 *
 *   producer ─store→ tmp/ ─link→ new/ ─claim→ cur/<name>:<pid>-<life>@<host>
 *   cur/ ─delivered→ (removed, with its tmp/ twin)
 *   cur/ ─retry→ post/ (+ .meta, mtime = next attempt) ─due→ cur/
 *   cur/ ─give up→ undeliverable/ (+ .meta with the reason)
 *   cur/ of a dead process ─recover→ post/ (with retry state) or new/
 *   post/, undeliverable/ ─requeue→ cur/ (the requeuer's claim) → new/
 *   work/ (the C importer's claims) ─older than --legacy-work-age, or requeue --adopt-legacy→ new/
 *
 * init() only makes the directories: producers call it too, and none of
 * them may touch work/ while a C consumer works there (./legacy-work.ts).
 */
import { promises as fsp } from 'node:fs';
import { systemCode } from '../core/errors.js';
import type { ClaimedMessage, FailureResult, QueueMaintenance } from '../core/queue.js';
import { DirQueue, type DirQueueOptions, type IsAlive, type QueueLayout, type RequeueResult, type SkippedEntry } from '../queue/dir-queue.js';
import { ensureDir, fsyncDir, unlinkIfExists, writeNewFile } from '../queue/fs.js';
import { DIR_MODE, FILE_MODE, LEGACY_WORK_DIR, pathOf, SPOOL_DIRS, dirOf, type SpoolDir } from '../queue/layout.js';
import { holderAlive } from '../queue/liveness.js';
import { badMessageName, generateName, isMessageEntry } from '../queue/names.js';
import { parseMeta, type MessageMeta } from '../queue/retry-state.js';
import { parsePendingUpload, type PendingUpload } from '../messages/pending-upload.js';
import { adoptLegacyWork, DEFAULT_LEGACY_WORK_AGE_MS, type LegacyAdoption } from './legacy-work.js';

export { DEFAULT_LEGACY_WORK_AGE_MS };


export interface SpoolOptions extends DirQueueOptions<PendingUpload> {
  /** Take over work/ messages held this long (default DEFAULT_LEGACY_WORK_AGE_MS); null: only when an operator says so. */
  legacyWorkAgeMs?: number | null;
}

/**
 * The retry state of a dump or sandbox message may carry the upload its
 * last attempt left (../messages/pending-upload.ts): the LB spools check it
 * when they read it, and a sidecar holding an invalid one is not used.
 */
export function parseSpoolMeta(text: string): MessageMeta<PendingUpload> | undefined {
  return parseMeta(text, parsePendingUpload);
}
export type { ClaimedMessage, FailureResult, IsAlive, RequeueResult, SkippedEntry };

export interface StoreOptions {
  /** Keep the tmp/ link as the LB C library does (default: yes; false only where no C importer can read the spool). */
  keepTmpLink?: boolean;
}

const MAX_NAME_TRIES = 10;

/** The LB maildir as a queue layout: tmp/ new/ cur/ post/ undeliverable/ under `root`. */
export function maildirLayout(root: string): QueueLayout {
  return {
    incoming: dirOf(root, 'new'),
    claimed: dirOf(root, 'cur'),
    retry: dirOf(root, 'post'),
    givenUp: dirOf(root, 'undeliverable'),
    twins: dirOf(root, 'tmp'),
    givenUpSuffix: '.meta',
    claimedLabel: 'cur',
    what: 'message',
    nameProblem: badMessageName,
    refusal: (name, why) => `bad message file name ${JSON.stringify(name)}: ${why}`,
    refusedName: (_name, unique) => `refused_${unique}`,
  };
}

export class Spool extends DirQueue<PendingUpload> {
  private readonly legacyWorkAgeMs: number | null;

  constructor(root: string, opts: SpoolOptions = {}) {
    const { legacyWorkAgeMs, ...queueOpts } = opts;
    super(root, maildirLayout(root), { payload: parsePendingUpload, ...queueOpts });
    this.legacyWorkAgeMs = legacyWorkAgeMs === undefined ? DEFAULT_LEGACY_WORK_AGE_MS : legacyWorkAgeMs;
  }

  dir(d: SpoolDir): string {
    return dirOf(this.root, d);
  }

  /** Create the directories (0700). Nothing else: producers call this too. */
  override async init(): Promise<Record<string, never>> {
    await ensureDir(this.root, DIR_MODE);
    for (const d of SPOOL_DIRS) await ensureDir(this.dir(d), DIR_MODE);
    return {};
  }

  /**
   * Take over the C importer's claims in work/ held at least `minAgeMs`
   * (0: all of them — only when no C consumer runs on this spool).
   */
  adoptLegacyWork(minAgeMs: number, now = this.clock.now()): Promise<LegacyAdoption> {
    return adoptLegacyWork(dirOf(this.root, LEGACY_WORK_DIR), this.dir('new'), minAgeMs, now, (from, dir, name) => this.moveNoClobber(from, dir, name));
  }

  /** new/, and the C importer's work/: a message it holds there may come back to post/ with our retry state. */
  protected override sidecarOwners(): string[] {
    return [this.dir('new'), dirOf(this.root, LEGACY_WORK_DIR)];
  }

  /** The daemon's housekeeping: work/ claims past --legacy-work-age (unless off), then the retry sidecars. */
  override async maintain(now = this.clock.now()): Promise<QueueMaintenance> {
    const legacy = this.legacyWorkAgeMs === null ? undefined : await this.adoptLegacyWork(this.legacyWorkAgeMs, now);
    const rest = await super.maintain(now);
    return legacy === undefined ? rest : { ...rest, adopted: legacy.adopted, held: legacy.held, skipped: [...legacy.skipped, ...rest.skipped] };
  }

  /** Neither new/ nor post/ holds a message (due or not): the destination gate's idle test. */
  async isEmpty(): Promise<boolean> {
    for (const dir of [this.dir('new'), this.dir('post')]) {
      for await (const e of await fsp.opendir(dir, { bufferSize: 32 })) {
        if (isMessageEntry(e.name, e.isDirectory())) return false;
      }
    }
    return true;
  }

  /**
   * Store a message durably: tmp/ (O_EXCL, 0600) → write → fsync → link
   * into new/. The tmp/ link is kept, as the LB C library keeps it: a C
   * importer on the same spool links it back into post/ when an attempt
   * fails, and loses the message when it is missing (spec/maildir.md §5);
   * every consumer removes it on delivery.
   */
  async store(body: string | Uint8Array, opts: StoreOptions = {}): Promise<string> {
    const name = await this.writeTmp(body);
    const linked = await this.linkIntoNew(name);
    await fsyncDir(this.dir('new'));
    // Under another name in new/ it is no twin any more: no reader would remove it.
    if (opts.keepTmpLink === false || linked !== name) await unlinkIfExists(pathOf(this.root, 'tmp', name));
    return linked;
  }

  /** A new file in tmp/ under a fresh unique name (O_EXCL, 0600), written and fsynced. */
  private async writeTmp(body: string | Uint8Array): Promise<string> {
    for (let i = 0; i < MAX_NAME_TRIES; i++) {
      const name = generateName(this.clock.now(), this.pid, ++this.seq, this.host, Math.floor(this.random() * 1000));
      try {
        await writeNewFile(pathOf(this.root, 'tmp', name), body, FILE_MODE);
        return name;
      } catch (e) {
        if (systemCode(e) !== 'EEXIST') throw e;
      }
    }
    throw new Error(`could not find a free message name in ${this.dir('tmp')} after ${MAX_NAME_TRIES} tries`);
  }

  /** Hard-link tmp/<name> into new/ (a fresh name if, against all odds, it is taken); returns the name in new/. */
  private async linkIntoNew(name: string): Promise<string> {
    let target = name;
    for (let i = 0; i < MAX_NAME_TRIES; i++) {
      try {
        await fsp.link(pathOf(this.root, 'tmp', name), pathOf(this.root, 'new', target));
        return target;
      } catch (e) {
        if (systemCode(e) !== 'EEXIST') throw e;
        target = generateName(this.clock.now(), this.pid, ++this.seq, this.host, Math.floor(this.random() * 1000));
      }
    }
    throw new Error(`could not find a free message name in ${this.dir('new')} after ${MAX_NAME_TRIES} tries`);
  }
}

/**
 * true while the recorded holder runs: the pid, and its life when recorded
 * (../queue/liveness.ts holderAlive; kept under this name for its importers).
 */
export const pidAlive: IsAlive = holderAlive;
