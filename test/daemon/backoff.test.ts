import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff, SkipList } from '../../src/daemon/backoff.js';

test('Backoff: base, doubling, capped; reset starts again', () => {
  const b = new Backoff(20, 100);
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [20, 40, 80, 100, 100]);
  assert.equal(b.failures, 5);
  b.reset();
  assert.equal(b.failures, 0);
  assert.equal(b.next(), 20);
  const huge = new Backoff(1000, 60_000);
  for (let i = 0; i < 200; i++) huge.next();
  assert.equal(huge.next(), 60_000, 'no overflow after many failures');
});

test('SkipList: held until its time, the wait doubling per failure up to the cap; cleared on success', () => {
  const s = new SkipList(1000, 3000);
  assert.equal(s.held('new/a', 0), false);
  assert.equal(s.skip('new/a', 0), 1000);
  assert.equal(s.held('new/a', 999), true);
  assert.equal(s.held('new/a', 1000), false);
  assert.equal(s.held('post/a', 500), false, 'keyed by source and name');
  assert.deepEqual([s.skip('new/a', 1000), s.skip('new/a', 3000), s.skip('new/a', 6000)], [2000, 3000, 3000]);
  s.clear('new/a');
  assert.equal(s.size, 0);
  assert.equal(s.skip('new/a', 0), 1000, 'starts again after a success');
});

test('SkipList: bounded, the entry failing longest ago forgotten first', () => {
  const s = new SkipList(1000, 3000, 3);
  for (const k of ['a', 'b', 'c']) s.skip(k, 0);
  s.skip('a', 10); // a failed again: now the newest
  s.skip('d', 20);
  assert.equal(s.size, 3);
  assert.equal(s.held('b', 30), false, 'b forgotten');
  assert.deepEqual(['a', 'c', 'd'].map((k) => s.held(k, 30)), [true, true, true]);
});
