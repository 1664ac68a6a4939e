/**
 * A bounded set of open file descriptors with CLOCK (second chance)
 * replacement, an approximation of least-recently-used that allocates
 * nothing per access: slots live in fixed arrays and each item records its
 * slot. (A Map re-ordered on every use leaves megabytes of garbage hash
 * tables behind on a large dump.)
 */
export interface Slotted {
  /** Index in the cache, -1 when not open. */
  slot: number;
}

export class FdCache<T extends Slotted> {
  private readonly items: (T | null)[];
  private readonly fds: Int32Array;
  private readonly ref: Uint8Array;
  private used = 0;
  private count = 0;
  /** Descriptors allowed now: `max`, lowered by shrink() when the system refuses more. */
  private limit: number;
  private hand = 0;
  /** The slot freed by the last eviction. */
  private freed = -1;

  constructor(readonly max: number) {
    this.items = new Array<T | null>(max).fill(null);
    this.fds = new Int32Array(max);
    this.ref = new Uint8Array(max);
    this.limit = max;
  }

  /** Descriptors allowed now (at most `max`). */
  get capacity(): number {
    return this.limit;
  }

  /** Descriptors held now. */
  get size(): number {
    return this.count;
  }

  /** The item's descriptor (marked as used), or -1. */
  get(item: T): number {
    const s = item.slot;
    if (s < 0) return -1;
    this.ref[s] = 1;
    return this.fds[s] as number;
  }

  /**
   * When full, take one item out (the first not used since the hand last
   * passed) and return it with its descriptor for the caller to close.
   */
  evictIfFull(): { item: T; fd: number } | undefined {
    if (this.count < this.limit) return undefined;
    return this.evictOne();
  }

  /**
   * The system refused one more descriptor (EMFILE): take one item out for
   * the caller to close and allow from now on only as many as were held.
   * Undefined when nothing is held.
   */
  shrink(): { item: T; fd: number } | undefined {
    if (this.count === 0) return undefined;
    this.limit = this.count;
    return this.evictOne();
  }

  private evictOne(): { item: T; fd: number } {
    for (;;) {
      const s = this.hand;
      this.hand = (s + 1) % this.max;
      const item = this.items[s];
      if (item === null || item === undefined) continue;
      if (this.ref[s] === 1) {
        this.ref[s] = 0;
        continue;
      }
      this.items[s] = null;
      item.slot = -1;
      this.count--;
      this.freed = s;
      return { item, fd: this.fds[s] as number };
    }
  }

  /** Record an open descriptor; call evictIfFull() first. */
  add(item: T, fd: number): void {
    if (this.count >= this.limit) throw new Error('fd cache full');
    // Slots fill up in order; once all are used, only eviction frees one.
    const s = this.used < this.max ? this.used++ : this.freed;
    this.items[s] = item;
    this.fds[s] = fd;
    this.ref[s] = 1;
    item.slot = s;
    this.count++;
  }

  /** Take every item out; returns them with their descriptors for closing. */
  drain(): { item: T; fd: number }[] {
    const out: { item: T; fd: number }[] = [];
    for (let s = 0; s < this.used; s++) {
      const item = this.items[s];
      if (item === null || item === undefined) continue;
      out.push({ item, fd: this.fds[s] as number });
      item.slot = -1;
      this.items[s] = null;
    }
    this.used = 0;
    this.count = 0;
    this.hand = 0;
    this.freed = -1;
    return out;
  }
}
