/** Outcome counters, restarts, in-flight and certificate expiry, asserted from a real scrape. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { captureLogger, scrape, startMetrics } from './helpers.js';
import { valueOf } from './prom-text.js';

const M = 'jp_importer_messages_total';
const R = 'jp_importer_worker_restarts_total';
const c = (delivered: number, retried = 0, gaveUp = 0, released = 0) => ({ delivered, retried, gaveUp, released });

test('cumulative worker counts become monotonic counters per kind and outcome, across a restart', async (t) => {
  const m = await startMetrics(t);
  m.workerCounts('dump-1', 'dump', c(3, 1));
  m.workerCounts('dump-2', 'dump', c(2));
  m.workerCounts('reg', 'reg', c(4, 0, 1));
  let e = await scrape(m);
  assert.equal(e.types.get(M), 'counter');
  assert.equal(valueOf(e, M, { kind: 'dump', outcome: 'delivered' }), 5);
  assert.equal(valueOf(e, M, { kind: 'dump', outcome: 'retried' }), 1);
  assert.equal(valueOf(e, M, { kind: 'dump', outcome: 'gave_up' }), 0, 'known outcomes are exported at 0');
  assert.equal(valueOf(e, M, { kind: 'dump', outcome: 'released' }), 0);
  assert.equal(valueOf(e, M, { kind: 'reg', outcome: 'gave_up' }), 1);
  assert.equal(valueOf(e, R, { worker: 'dump-1', kind: 'dump' }), 0, 'restart counter exported at 0');

  m.workerCounts('dump-1', 'dump', c(5, 1, 1));
  m.workerCounts('dump-1', 'dump', c(5, 1, 1)); // the same report again adds nothing
  e = await scrape(m);
  assert.equal(valueOf(e, M, { kind: 'dump', outcome: 'delivered' }), 7);
  assert.equal(valueOf(e, M, { kind: 'dump', outcome: 'gave_up' }), 1);

  m.workerRestarted('dump-1', 'dump');
  m.workerCounts('dump-1', 'dump', c(1, 0, 0, 2)); // the new process counts from 0
  e = await scrape(m);
  assert.equal(valueOf(e, M, { kind: 'dump', outcome: 'delivered' }), 8, 'counter keeps increasing after the restart');
  assert.equal(valueOf(e, M, { kind: 'dump', outcome: 'retried' }), 1, 'never goes backwards');
  assert.equal(valueOf(e, M, { kind: 'dump', outcome: 'released' }), 2);
  assert.equal(valueOf(e, R, { worker: 'dump-1', kind: 'dump' }), 1);
  assert.equal(valueOf(e, R, { worker: 'dump-2', kind: 'dump' }), 0);
  assert.equal(valueOf(e, M, { kind: 'reg', outcome: 'delivered' }), 4, 'other kinds untouched');
});

test('counts that go down without workerRestarted are a new incarnation counted from 0', async (t) => {
  const { log, lines } = captureLogger();
  const m = await startMetrics(t, { log });
  m.workerCounts('reg', 'reg', c(10, 2));
  m.workerCounts('reg', 'reg', c(1, 3));
  const e = await scrape(m);
  assert.equal(valueOf(e, M, { kind: 'reg', outcome: 'delivered' }), 11);
  assert.equal(valueOf(e, M, { kind: 'reg', outcome: 'retried' }), 5);
  assert.equal(valueOf(e, R, { worker: 'reg', kind: 'reg' }), 0, 'not counted as a restart: the master did not say so');
  assert.ok(lines.some((l) => String(l['msg']).includes('new incarnation')));
});

test('with an incarnation key, a late report of the replaced process is still counted once', async (t) => {
  const m = await startMetrics(t);
  m.workerCounts('sandbox', 'sandbox', c(4), 1001);
  m.workerRestarted('sandbox', 'sandbox');
  m.workerCounts('sandbox', 'sandbox', c(1), 1002);
  m.workerCounts('sandbox', 'sandbox', c(6), 1001); // final report of pid 1001, after its successor's
  m.workerCounts('sandbox', 'sandbox', c(3), 1002);
  const e = await scrape(m);
  assert.equal(valueOf(e, M, { kind: 'sandbox', outcome: 'delivered' }), 6 + 3);
  assert.equal(valueOf(e, R, { worker: 'sandbox', kind: 'sandbox' }), 1);
});

test('malformed counts are ignored with a warning', async (t) => {
  const { log, lines } = captureLogger();
  const m = await startMetrics(t, { log });
  m.workerCounts('reg', 'reg', c(2));
  for (const bad of [c(-1), c(1.5), c(NaN), { delivered: 1 }, null]) {
    m.workerCounts('reg', 'reg', bad as ReturnType<typeof c>);
  }
  const e = await scrape(m);
  assert.equal(valueOf(e, M, { kind: 'reg', outcome: 'delivered' }), 2);
  assert.equal(lines.filter((l) => l['level'] === 40).length, 5);
});

test('in-flight gauge is the sum over the workers of a kind; a restart clears the worker share', async (t) => {
  const m = await startMetrics(t);
  m.inFlight('dump-1', 'dump', 3);
  m.inFlight('dump-2', 'dump', 2);
  m.inFlight('reg', 'reg', 1);
  let e = await scrape(m);
  assert.equal(e.types.get('jp_importer_in_flight'), 'gauge');
  assert.equal(valueOf(e, 'jp_importer_in_flight', { kind: 'dump' }), 5);
  assert.equal(valueOf(e, 'jp_importer_in_flight', { kind: 'reg' }), 1);
  m.inFlight('dump-2', 'dump', 0);
  m.workerRestarted('dump-1', 'dump');
  m.inFlight('reg', 'reg', -4);
  e = await scrape(m);
  assert.equal(valueOf(e, 'jp_importer_in_flight', { kind: 'dump' }), 0);
  assert.equal(valueOf(e, 'jp_importer_in_flight', { kind: 'reg' }), 0, 'a negative value counts as 0');
});

test('certificate expiry gauge holds the notAfter time in seconds', async (t) => {
  const m = await startMetrics(t);
  const notAfter = new Date('2031-05-04T03:02:01Z');
  m.certificateExpiry(notAfter.getTime() / 1000);
  m.certificateExpiry(NaN); // ignored
  const e = await scrape(m);
  assert.equal(valueOf(e, 'jp_importer_certificate_expiry_timestamp_seconds'), 1935630121);
});
