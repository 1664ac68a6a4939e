import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { bucketIndex, DELIVERY_BUCKETS_SECONDS } from '../../src/metrics/buckets.js';
import { isWorkerStatsReport, WorkerStats, type WorkerStatsReport } from '../../src/metrics/worker-stats.js';

test('record counts every outcome cumulatively and times deliveries only', () => {
  const s = new WorkerStats();
  s.record({ outcome: 'delivered', ms: 12 });
  s.record({ outcome: 'retry', ms: 5000 });
  s.record({ outcome: 'giveup', ms: 3 });
  s.record({ outcome: 'released', ms: 1 });
  s.record({ outcome: 'delivered', ms: 40 });
  s.setInFlight(3);
  assert.deepEqual(s.take(), {
    counts: { delivered: 2, retried: 1, gaveUp: 1, released: 1 }, inFlight: 3, latenciesMs: [12, 40], foldedLatencies: [], destinationDown: false,
  });
  s.record({ outcome: 'delivered', ms: 7 });
  s.setInFlight(0);
  s.setDestinationDown(true);
  assert.deepEqual(s.take(), {
    counts: { delivered: 3, retried: 1, gaveUp: 1, released: 1 }, inFlight: 0, latenciesMs: [7], foldedLatencies: [], destinationDown: true,
  }, 'counts stay cumulative, samples start again');
  assert.deepEqual(s.take().latenciesMs, []);
});

test('a taken report is not changed by later records', () => {
  const s = new WorkerStats();
  s.record({ outcome: 'delivered', ms: 1 });
  const r = s.take();
  s.record({ outcome: 'delivered', ms: 2 });
  assert.equal(r.counts.delivered, 1);
  assert.deepEqual(r.latenciesMs, [1]);
});

test('odd values: negative ms count as 0, NaN/Infinity are not timed, bad in-flight is 0', () => {
  const s = new WorkerStats();
  s.observe(-5);
  s.observe(NaN);
  s.observe(Infinity);
  s.setInFlight(-1);
  let r = s.take();
  assert.deepEqual(r.latenciesMs, [0]);
  assert.equal(r.inFlight, 0);
  s.setInFlight(2.5);
  r = s.take();
  assert.equal(r.inFlight, 0);
  assert.throws(() => new WorkerStats({ maxSamples: -1 }), RangeError);
  assert.throws(() => new WorkerStats({ maxSamples: 1.5 }), RangeError);
});

test('beyond maxSamples, samples are folded per bucket with their mean', () => {
  const s = new WorkerStats({ maxSamples: 2 });
  for (const ms of [1, 2, 6, 8, 9, 3, 1e6, 2e6]) s.observe(ms);
  const r = s.take();
  assert.deepEqual(r.latenciesMs, [1, 2]);
  assert.deepEqual(r.foldedLatencies, [
    { ms: 3, count: 1 }, // le=0.005
    { ms: 23 / 3, count: 3 }, // le=0.01
    { ms: 1.5e6, count: 2 }, // +Inf
  ]);
  assert.deepEqual(s.take().foldedLatencies, [], 'folds are handed over once');
});

test('bucketIndex matches the histogram rule value ≤ bound', () => {
  const cases: [number, number][] = [[0, 0], [5, 0], [5.000001, 1], [10, 1], [10.5, 2], [100, 4], [299_999, 14], [300_000, 14], [300_001, 15]];
  for (const [ms, i] of cases) assert.equal(bucketIndex(ms), i, String(ms));
  assert.equal(DELIVERY_BUCKETS_SECONDS.length, 15);
});

/** Per-bucket counts and total of a report, as the master's histogram would see them. */
function histogramOf(r: WorkerStatsReport): { buckets: number[]; count: number; sum: number } {
  const buckets = new Array<number>(DELIVERY_BUCKETS_SECONDS.length + 1).fill(0);
  let sum = 0;
  let count = 0;
  for (const ms of r.latenciesMs) { buckets[bucketIndex(ms)]!++; sum += ms; count++; }
  for (const f of r.foldedLatencies) { buckets[bucketIndex(f.ms)]! += f.count; sum += f.ms * f.count; count += f.count; }
  return { buckets, count, sum };
}

test('property: folding keeps bucket counts and count exact, the sum within rounding, the report bounded', () => {
  fc.assert(fc.property(
    fc.array(fc.oneof(fc.double({ min: 0, max: 400_000, noNaN: true }), fc.integer({ min: 0, max: 400_000 }), fc.constantFrom(5, 10, 25, 300_000)), { maxLength: 400 }),
    fc.integer({ min: 0, max: 50 }),
    (values, maxSamples) => {
      const s = new WorkerStats({ maxSamples });
      for (const v of values) s.observe(v);
      const r = s.take();
      const exact = new WorkerStats({ maxSamples: values.length });
      for (const v of values) exact.observe(v);
      const a = histogramOf(r);
      const b = histogramOf(exact.take());
      assert.deepEqual(a.buckets, b.buckets);
      assert.equal(a.count, values.length);
      assert.ok(Math.abs(a.sum - b.sum) <= 1e-9 * Math.max(1, b.sum), `${a.sum} vs ${b.sum}`);
      assert.ok(r.latenciesMs.length <= maxSamples && r.foldedLatencies.length <= DELIVERY_BUCKETS_SECONDS.length + 1);
    },
  ), { numRuns: 300 });
});

test('isWorkerStatsReport accepts a real report (after JSON) and refuses malformed ones', () => {
  const s = new WorkerStats({ maxSamples: 1 });
  s.record({ outcome: 'delivered', ms: 3 });
  s.record({ outcome: 'delivered', ms: 4 });
  const good = JSON.parse(JSON.stringify(s.take())) as Record<string, unknown>;
  assert.ok(isWorkerStatsReport(good));
  const counts = { delivered: 1, retried: 0, gaveUp: 0, released: 0 };
  const base = { counts, inFlight: 0, latenciesMs: [], foldedLatencies: [] };
  assert.ok(isWorkerStatsReport(base));
  assert.ok(isWorkerStatsReport({ ...base, destinationDown: true }));
  const bad: unknown[] = [
    { ...base, destinationDown: 'yes' },
    { ...base, destinationDown: 1 },
    null, undefined, 42, 'report', [],
    { ...base, counts: undefined },
    { ...base, counts: { ...counts, delivered: -1 } },
    { ...base, counts: { ...counts, retried: 1.5 } },
    { ...base, counts: { delivered: 1, retried: 0, gaveUp: 0 } },
    { ...base, counts: { ...counts, released: '1' } },
    { ...base, inFlight: -1 },
    { ...base, inFlight: undefined },
    { ...base, latenciesMs: 'x' },
    { ...base, latenciesMs: [1, null] },
    { ...base, latenciesMs: [-1] },
    { ...base, latenciesMs: [1, '2'] },
    { ...base, latenciesMs: new Array(1_000_001).fill(0) },
    { ...base, foldedLatencies: undefined },
    { ...base, foldedLatencies: [{ ms: 1, count: 0 }] },
    { ...base, foldedLatencies: [{ ms: 1, count: 1.5 }] },
    { ...base, foldedLatencies: [{ ms: -1, count: 1 }] },
    { ...base, foldedLatencies: [{ ms: 1, count: 10_000_001 }] },
    { ...base, foldedLatencies: [null] },
    { ...base, foldedLatencies: new Array(65).fill({ ms: 1, count: 1 }) },
  ];
  for (const [i, v] of bad.entries()) assert.equal(isWorkerStatsReport(v), false, `case ${i}`);
});
