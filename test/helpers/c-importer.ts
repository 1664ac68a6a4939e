/**
 * A consumer that takes from an LB maildir exactly as the original C
 * importer does (CESNET/glite-lb maildir.c, read for behaviour; spec
 * maildir.md §2 and §5), to run beside the daemon on one spool in the
 * migration tests:
 *
 *  - claim: readdir(new/), skip names starting with '.', rename new/X →
 *    work/X; ENOENT: another consumer won, next name;
 *  - retry scan over post/: every name not starting with '.'; mtime older
 *    than `removeS` → undeliverable/ (tmp/X unlinked); ctime newer than
 *    `retryS` → skipped; else rename post/X → work/X and process it;
 *  - it alternates: one message from new/, one from post/;
 *  - end OK: unlink work/X and tmp/X; end failed-retry: unlink work/X, then
 *    stat tmp/X — missing: an error and the message is gone (as in C) —
 *    and link tmp/X → post/X.
 *
 * The transaction is `deliver` (the test's RegisterJob), held open for
 * `holdMs()` more, and failed on purpose when `failNow()` says so (before
 * anything is sent). Every file it took is recorded, so a test can tell
 * whether it ever read something that is not a message (a sidecar).
 * Synchronous file calls, as the C code makes them.
 */
import { linkSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { systemCode } from '../../src/core/errors.js';

export interface CImporterOptions {
  readonly root: string;
  /** The transaction: resolves when delivered; throws to end it failed-retry. */
  readonly deliver: (body: string, name: string) => Promise<void>;
  /** Retry interval (C: 300 s for registrations). */
  readonly retryS: number;
  /** Give-up limit on the mtime (C: 3000 s for registrations). */
  readonly removeS: number;
  /** Extra time a transaction stays open after its delivery (ms). */
  readonly holdMs?: () => number;
  /** Fail this transaction before sending anything. */
  readonly failNow?: () => boolean;
}

export interface CImporterStats {
  /** Every name taken, with where from and what happened. */
  readonly taken: { name: string; from: 'new' | 'post'; outcome: 'ok' | 'retry' | 'lost' }[];
  readonly givenUp: string[];
  /** Errors of the kind the C code prints (lbm_errdesc), e.g. a missing tmp/ twin on failed-retry. */
  readonly errors: string[];
}

export class CImporter {
  readonly stats: CImporterStats = { taken: [], givenUp: [], errors: [] };
  private stopped = false;
  private loop: Promise<void> | undefined;
  /** Messages inside a transaction right now (in work/). */
  busy = 0;

  constructor(private readonly o: CImporterOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Finish the transaction in progress, then stop. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  /**
   * Die inside a transaction: claim one message from new/ into work/ and
   * never end it (what a killed C importer leaves). The name, or undefined
   * when new/ held nothing.
   */
  abandonOne(): string | undefined {
    return this.claimFromNew();
  }

  private dir(d: string): string {
    return join(this.o.root, d);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const a = this.claimFromNew();
      if (a !== undefined) await this.transaction(a, 'new');
      const b = this.claimFromPost();
      if (b !== undefined) await this.transaction(b, 'post');
      if (a === undefined && b === undefined) await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** glite_lbu_MaildirTransStart. */
  private claimFromNew(): string | undefined {
    for (const name of readdirSync(this.dir('new'))) {
      if (name.startsWith('.')) continue;
      try {
        renameSync(join(this.dir('new'), name), join(this.dir('work'), name));
        return name;
      } catch (e) {
        if (systemCode(e) === 'ENOENT') continue;
        throw e;
      }
    }
    return undefined;
  }

  /** glite_lbu_MaildirRetryTransStart. */
  private claimFromPost(): string | undefined {
    const nowS = Date.now() / 1000;
    for (const name of readdirSync(this.dir('post'))) {
      if (name.startsWith('.')) continue;
      const from = join(this.dir('post'), name);
      let st;
      try {
        st = statSync(from);
      } catch {
        this.stats.errors.push(`Can't stat file '${from}'`);
        return undefined; // C: goto err
      }
      const remove = Math.floor(st.mtimeMs / 1000) < Math.floor(nowS - this.o.removeS);
      if (!remove && Math.floor(st.ctimeMs / 1000) > Math.floor(nowS - this.o.retryS)) continue;
      try {
        renameSync(from, join(this.dir(remove ? 'undeliverable' : 'work'), name));
      } catch (e) {
        if (systemCode(e) === 'ENOENT') continue;
        throw e;
      }
      if (remove) {
        this.stats.givenUp.push(name);
        try {
          unlinkSync(join(this.dir('tmp'), name));
        } catch {
          /* C ignores it */
        }
        continue;
      }
      return name;
    }
    return undefined;
  }

  private async transaction(name: string, from: 'new' | 'post'): Promise<void> {
    this.busy++;
    try {
      const body = readFileSync(join(this.dir('work'), name), 'utf8');
      let ok = false;
      if (this.o.failNow?.() !== true) {
        try {
          await this.o.deliver(body, name);
          ok = true;
        } catch {
          ok = false;
        }
      }
      const hold = this.o.holdMs?.() ?? 0;
      if (hold > 0) await new Promise((r) => setTimeout(r, hold));
      this.stats.taken.push({ name, from, outcome: this.end(name, ok) });
    } finally {
      this.busy--;
    }
  }

  /** glite_lbu_MaildirTransEnd with LBMD_TRANS_OK or LBMD_TRANS_FAILED_RETRY. */
  private end(name: string, ok: boolean): 'ok' | 'retry' | 'lost' {
    try {
      unlinkSync(join(this.dir('work'), name));
    } catch {
      /* C ignores a failed unlink of work/X */
    }
    const orig = join(this.dir('tmp'), name);
    if (ok) {
      try {
        unlinkSync(orig);
      } catch {
        /* ignored */
      }
      return 'ok';
    }
    try {
      statSync(orig);
      linkSync(orig, join(this.dir('post'), name));
      return 'retry';
    } catch {
      this.stats.errors.push(`Can't stat file '${orig}' (failed-retry: the message is lost)`);
      return 'lost';
    }
  }
}
