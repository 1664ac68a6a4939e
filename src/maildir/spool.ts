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
 *   work/ (the C importer's claims) ─init→ new/
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describeError, systemCode } from '../core/errors.js';
import type { ClaimedMessage, FailureResult } from '../core/queue.js';
import { DirQueue, type DirQueueOptions, type IsAlive, type QueueLayout, type RequeueResult, type SkippedEntry } from '../queue/dir-queue.js';
import { ensureDir, fsyncDir, unlinkIfExists, writeNewFile } from '../queue/fs.js';
import { DIR_MODE, FILE_MODE, LEGACY_WORK_DIR, pathOf, SPOOL_DIRS, dirOf, type SpoolDir } from '../queue/layout.js';
import { holderAlive } from '../queue/liveness.js';
import { badMessageName, generateName } from '../queue/names.js';
import { parseMeta, type MessageMeta } from '../queue/retry-state.js';
import { parsePendingUpload, type PendingUpload } from '../messages/pending-upload.js';

export type SpoolOptions = DirQueueOptions<PendingUpload>;

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
  /** Keep the tmp/ link as the LB C library does (tests of compatibility). */
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
  constructor(root: string, opts: SpoolOptions = {}) {
    super(root, maildirLayout(root), { payload: parsePendingUpload, ...opts });
  }

  dir(d: SpoolDir): string {
    return dirOf(this.root, d);
  }

  /**
   * Create the directories (0700) and adopt messages left in a legacy work/.
   * An entry that cannot be moved is left there and listed in `skipped`.
   */
  override async init(): Promise<{ adopted: number; skipped: SkippedEntry[] }> {
    await ensureDir(this.root, DIR_MODE);
    for (const d of SPOOL_DIRS) await ensureDir(this.dir(d), DIR_MODE);
    let adopted = 0;
    const skipped: SkippedEntry[] = [];
    const work = dirOf(this.root, LEGACY_WORK_DIR);
    try {
      for await (const e of await fsp.opendir(work)) {
        if (e.name.startsWith('.')) continue;
        try {
          if ((await this.moveNoClobber(join(work, e.name), this.dir('new'), e.name)) !== undefined) adopted++;
        } catch (err) {
          skipped.push({ entry: `${LEGACY_WORK_DIR}/${e.name}`, reason: describeError(err) });
        }
      }
    } catch (e) {
      if (systemCode(e) !== 'ENOENT') throw e;
    }
    return { adopted, skipped };
  }

  /** Store a message durably: tmp/ (O_EXCL, 0600) → write → fsync → link into new/. */
  async store(body: string | Uint8Array, opts: StoreOptions = {}): Promise<string> {
    const name = await this.writeTmp(body);
    const linked = await this.linkIntoNew(name);
    await fsyncDir(this.dir('new'));
    if (opts.keepTmpLink !== true) await unlinkIfExists(pathOf(this.root, 'tmp', name));
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
