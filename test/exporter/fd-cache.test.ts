import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FdCache } from '../../src/exporter/fd-cache.js';
import { defaultMaxOpen } from '../../src/exporter/options.js';

interface Item { slot: number; id: number }
const item = (id: number): Item => ({ slot: -1, id });

/** Open `it` through the cache the way the job writer does; returns the evicted id, if any. */
function use(c: FdCache<Item>, it: Item, fdOf: Map<Item, number>, open: Set<number>): number | undefined {
  if (c.get(it) >= 0) return undefined;
  const old = c.evictIfFull();
  if (old !== undefined) {
    assert.ok(open.delete(old.fd), 'evicted descriptor was open');
    assert.equal(old.fd, fdOf.get(old.item));
  }
  const fd = 1000 + it.id;
  open.add(fd);
  fdOf.set(it, fd);
  c.add(it, fd);
  return old?.item.id;
}

describe('FdCache (CLOCK)', () => {
  it('gives back the descriptor of an open item and -1 for others', () => {
    const c = new FdCache<Item>(2);
    const a = item(1);
    assert.equal(c.get(a), -1);
    c.add(a, 7);
    assert.equal(c.get(a), 7);
    assert.equal(c.size, 1);
  });

  it('evicts an item not used since the hand passed (second chance)', () => {
    const c = new FdCache<Item>(3);
    const [a, b, d, e] = [item(1), item(2), item(3), item(4)];
    const fdOf = new Map<Item, number>();
    const open = new Set<number>();
    for (const x of [a, b, d]) use(c, x, fdOf, open);
    // All referenced: the hand clears every bit, then takes the first slot (a).
    assert.equal(use(c, e, fdOf, open), 1);
    assert.equal(a.slot, -1);
    // b and d lost their bit, e has it: using b gives it a second chance, so d goes next.
    assert.equal(c.get(b), fdOf.get(b));
    assert.equal(use(c, a, fdOf, open), 3);
    assert.equal(c.size, 3);
  });

  it('drain hands every descriptor back and resets the items', () => {
    const c = new FdCache<Item>(4);
    const items = [item(1), item(2), item(3)];
    items.forEach((x, i) => c.add(x, 10 + i));
    assert.deepEqual(c.drain().map((o) => o.fd).sort(), [10, 11, 12]);
    assert.equal(c.size, 0);
    assert.ok(items.every((x) => x.slot === -1));
    c.add(items[0] as Item, 5);
    assert.equal(c.get(items[0] as Item), 5);
  });

  it('shrink gives one descriptor back and lowers the bound to what was held', () => {
    const c = new FdCache<Item>(8);
    const items = [item(1), item(2), item(3), item(4)];
    items.forEach((x, i) => c.add(x, 10 + i));
    const old = c.shrink();
    assert.ok(old !== undefined);
    assert.equal(old.item.slot, -1);
    assert.equal(c.size, 3);
    assert.equal(c.capacity, 4);
    c.add(old.item, 20);
    assert.ok(c.evictIfFull() !== undefined, 'full at the lowered bound');
    assert.equal(new FdCache<Item>(2).shrink(), undefined, 'nothing held, nothing to give back');
  });

  it('refuses to grow past its size', () => {
    const c = new FdCache<Item>(1);
    c.add(item(1), 1);
    assert.throws(() => c.add(item(2), 2), /full/);
  });

  it('any access sequence: never more than max open, every open item maps to its own descriptor (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.array(fc.integer({ min: 0, max: 15 }), { maxLength: 300 }), (max, seq) => {
      const c = new FdCache<Item>(max);
      const items = Array.from({ length: 16 }, (_, i) => item(i));
      const fdOf = new Map<Item, number>();
      const open = new Set<number>();
      for (const i of seq) {
        const it = items[i] as Item;
        use(c, it, fdOf, open);
        assert.ok(c.size <= max);
        assert.equal(open.size, c.size);
        assert.equal(c.get(it), 1000 + i);
        for (const x of items) if (x.slot >= 0) assert.ok(open.has(1000 + x.id));
      }
    }));
  });
});

describe('default --max-open', () => {
  const limits = (soft: string, hard = '1048576'): string =>
    `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                ${hard}                files\n`;
  it('4096, at most a quarter of the soft descriptor limit', () => {
    assert.equal(defaultMaxOpen(limits('1048576')), 4096);
    assert.equal(defaultMaxOpen(limits('unlimited')), 4096);
    assert.equal(defaultMaxOpen(limits('4096')), 1024);
    assert.equal(defaultMaxOpen(limits('1024')), 256);
    assert.equal(defaultMaxOpen(limits('20')), 5);
    assert.equal(defaultMaxOpen('no such line'), 256);
  });
});
