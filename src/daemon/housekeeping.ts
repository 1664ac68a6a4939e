/**
 * A worker's periodic housekeeping of its queue (MessageQueue.maintain): at
 * start, then every HOUSEKEEPING_EVERY_MS, one pass at a time and never
 * holding up the claims. What it did is logged: one line per message taken
 * over from the C importer's work/ (with how long it had been held there),
 * one line per pass that tidied sidecars, one line per entry it could not
 * handle — once, not again at every pass while it stays so.
 */
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { MessageQueue } from '../core/queue.js';

export const HOUSEKEEPING_EVERY_MS = 60_000;

export class Housekeeping {
  private running: Promise<void> | undefined;
  private nextAt = 0;
  /** Entries reported as impossible to handle, so that each is logged once. */
  private reported = new Set<string>();
  private lastError: string | undefined;

  constructor(private readonly queue: MessageQueue, private readonly log: Logger, private readonly everyMs = HOUSEKEEPING_EVERY_MS) {}

  /** Start a pass when one is due and none runs; returns at once. */
  tick(now: number): void {
    if (this.queue.maintain === undefined || this.running !== undefined || now < this.nextAt) return;
    this.nextAt = now + this.everyMs;
    this.running = this.pass(now).finally(() => {
      this.running = undefined;
    });
  }

  /** Wait for the pass in progress, if any. */
  async settled(): Promise<void> {
    await this.running;
  }

  private async pass(now: number): Promise<void> {
    const { queue, log } = this;
    if (queue.maintain === undefined) return;
    try {
      const r = await queue.maintain(now);
      this.lastError = undefined;
      for (const a of r.adopted) {
        log.warn({ id: a.name, spool: queue.root, heldMs: a.heldMs, outcome: 'adopted' },
          "took over a message the C importer had held in work/ longer than --legacy-work-age: moved to new/");
      }
      const { renamed, orphansRemoved } = r.sidecars;
      if (renamed > 0 || orphansRemoved > 0) {
        log.info({ spool: queue.root, renamed, orphansRemoved }, 'retry-state files tidied in post/ (hidden from the C importer, those without a message removed)');
      }
      const current = new Set(r.skipped.map((k) => `${k.entry}\0${k.reason}`));
      for (const k of r.skipped) {
        if (!this.reported.has(`${k.entry}\0${k.reason}`)) log.error({ file: k.entry, spool: queue.root, err: k.reason }, 'housekeeping cannot handle this entry; left where it is');
      }
      this.reported = current;
    } catch (err) {
      const why = describeError(err);
      if (why !== this.lastError) log.error({ spool: queue.root, err: why }, 'housekeeping of the spool failed; tried again at the next pass');
      this.lastError = why;
    }
  }
}
