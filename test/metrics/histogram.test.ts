/** Delivery-time histogram: buckets, counts, sums, folded samples, WorkerStats end to end. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DELIVERY_BUCKETS_SECONDS, isWorkerStatsReport, WorkerStats } from '../../src/metrics/index.js';
import { scrape, startMetrics } from './helpers.js';
import { bucketsOf, valueOf } from './prom-text.js';

const H = 'jp_importer_delivery_seconds';

test('buckets run from 5 ms to 5 min and are exported for a kind from its first mention', async (t) => {
  const m = await startMetrics(t);
  assert.equal(DELIVERY_BUCKETS_SECONDS[0], 0.005);
  assert.equal(DELIVERY_BUCKETS_SECONDS.at(-1), 300);
  m.workerCounts('reg', 'reg', { delivered: 0, retried: 0, gaveUp: 0, released: 0 });
  const e = await scrape(m);
  assert.equal(e.types.get(H), 'histogram');
  assert.deepEqual(bucketsOf(e, H, { kind: 'reg' }), [...DELIVERY_BUCKETS_SECONDS.map((b) => [String(b), 0]), ['+Inf', 0]]);
  assert.equal(valueOf(e, `${H}_count`, { kind: 'reg' }), 0);
});

test('observed milliseconds land in the right buckets with exact count and sum', async (t) => {
  const m = await startMetrics(t);
  m.observeLatencies('dump', [1, 5, 7, 100, 400_000, -3, NaN, Infinity]);
  m.observeLatencies('dump', [20], [{ ms: 12.5, count: 1000 }]);
  const e = await scrape(m);
  const b = new Map(bucketsOf(e, H, { kind: 'dump' }));
  assert.equal(b.get('0.005'), 3, '-3 (as 0), 1 and 5 ms (≤ is inclusive)');
  assert.equal(b.get('0.01'), 4);
  assert.equal(b.get('0.025'), 4 + 1 + 1000);
  assert.equal(b.get('0.1'), 1006, '100 ms is in le=0.1');
  assert.equal(b.get('300'), 1006);
  assert.equal(b.get('+Inf'), 1007, '400 s only in +Inf');
  assert.equal(valueOf(e, `${H}_count`, { kind: 'dump' }), 1007, 'NaN and Infinity dropped');
  const sum = valueOf(e, `${H}_sum`, { kind: 'dump' }) ?? NaN;
  assert.ok(Math.abs(sum - (0 + 1 + 5 + 7 + 100 + 400_000 + 20 + 12.5 * 1000) / 1000) < 1e-9, String(sum));
});

test('WorkerStats reports, sent as JSON over IPC, give a histogram count equal to the delivered count', async (t) => {
  const m = await startMetrics(t);
  const stats = new WorkerStats({ maxSamples: 50 });
  let delivered = 0;
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 120; i++) {
      const outcome = i % 4 === 0 ? 'retry' : 'delivered';
      if (outcome === 'delivered') delivered++;
      stats.record({ outcome, ms: (i * 37) % 2000 });
    }
    stats.setInFlight(round);
    const wire: unknown = JSON.parse(JSON.stringify(stats.take()));
    assert.ok(isWorkerStatsReport(wire));
    m.workerCounts('reg', 'reg', wire.counts, 4242);
    m.inFlight('reg', 'reg', wire.inFlight);
    m.observeLatencies('reg', wire.latenciesMs, wire.foldedLatencies);
  }
  const e = await scrape(m);
  assert.equal(valueOf(e, `${H}_count`, { kind: 'reg' }), delivered);
  assert.equal(valueOf(e, 'jp_importer_messages_total', { kind: 'reg', outcome: 'delivered' }), delivered);
  assert.equal(valueOf(e, 'jp_importer_messages_total', { kind: 'reg', outcome: 'retried' }), 90);
  assert.equal(valueOf(e, 'jp_importer_in_flight', { kind: 'reg' }), 2);
});
