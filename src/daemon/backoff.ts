/**
 * Doubling waits for the worker loop: one for the queue as a whole (a pass
 * in which claiming or scanning failed), one per message that cannot be
 * claimed or recorded. Pure bookkeeping over times passed in: no timers.
 */

/** base, 2·base, 4·base, … capped; reset() starts again at base. */
export class Backoff {
  private n = 0;

  constructor(private readonly baseMs: number, private readonly capMs: number) {}

  /** Consecutive failures so far. */
  get failures(): number {
    return this.n;
  }

  /** Record one more failure; returns the wait before the next try. */
  next(): number {
    this.n++;
    return Math.min(this.capMs, Math.max(1, this.baseMs) * 2 ** Math.min(this.n - 1, 30));
  }

  reset(): void {
    this.n = 0;
  }
}

interface Skip {
  until: number;
  delayMs: number;
}

/**
 * Messages held back after a failure that is theirs alone (a claim refused
 * for that entry, an outcome that could not be recorded): each is left alone
 * until its time, the wait doubling with each failure up to the cap. At most
 * `limit` are remembered (the oldest entry is forgotten first), so a spool
 * full of such entries costs bounded memory; a forgotten one is merely tried
 * (and logged) again sooner.
 */
export class SkipList {
  private readonly skips = new Map<string, Skip>();

  constructor(private readonly firstMs: number, private readonly capMs: number, private readonly limit = 10_000) {}

  get size(): number {
    return this.skips.size;
  }

  /** true while `key` is held back at `now`. */
  held(key: string, now: number): boolean {
    const s = this.skips.get(key);
    return s !== undefined && now < s.until;
  }

  /** Hold `key` back (again); returns the wait. */
  skip(key: string, now: number): number {
    const prev = this.skips.get(key);
    const delayMs = prev === undefined ? this.firstMs : Math.min(this.capMs, prev.delayMs * 2);
    this.skips.delete(key); // re-inserted last: the map's order is the order of the latest failure
    this.skips.set(key, { until: now + delayMs, delayMs });
    while (this.skips.size > this.limit) {
      const oldest = this.skips.keys().next();
      if (oldest.done === true) break;
      this.skips.delete(oldest.value);
    }
    return delayMs;
  }

  /** Forget `key` (claimed after all, or gone). */
  clear(key: string): void {
    this.skips.delete(key);
  }
}
