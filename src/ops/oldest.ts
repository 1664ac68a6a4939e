/**
 * Keep the `k` items with the smallest keys out of a stream of any length
 * (a bounded max-heap): memory stays O(k) however large the directory.
 */
interface Entry<T> {
  readonly key: number;
  readonly item: T;
}

export class SmallestK<T> {
  private readonly heap: Entry<T>[] = [];
  /** Items offered so far. */
  seen = 0;

  constructor(readonly k: number) {}

  add(key: number, item: T): void {
    this.seen++;
    if (this.k <= 0) return;
    if (this.heap.length < this.k) {
      this.heap.push({ key, item });
      this.up(this.heap.length - 1);
    } else if (key < this.keyAt(0)) {
      this.heap[0] = { key, item };
      this.down(0);
    }
  }

  /** The kept items, smallest key first. */
  sorted(): T[] {
    return [...this.heap].sort((a, b) => a.key - b.key).map((e) => e.item);
  }

  get size(): number {
    return this.heap.length;
  }

  private keyAt(i: number): number {
    return (this.heap[i] as Entry<T>).key;
  }

  private swap(i: number, j: number): void {
    const h = this.heap;
    const t = h[i] as Entry<T>;
    h[i] = h[j] as Entry<T>;
    h[j] = t;
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.keyAt(p) >= this.keyAt(i)) return;
      this.swap(p, i);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      let m = i;
      if (l < n && this.keyAt(l) > this.keyAt(m)) m = l;
      if (l + 1 < n && this.keyAt(l + 1) > this.keyAt(m)) m = l + 1;
      if (m === i) return;
      this.swap(m, i);
      i = m;
    }
  }
}
