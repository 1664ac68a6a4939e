/** The HTTP endpoint: /metrics, /healthz, 404/405, address validation and binding, close. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { isJpError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { createMetrics } from '../../src/metrics/index.js';
import { request, scrape, startMetrics } from './helpers.js';
import { parseExposition, valueOf } from './prom-text.js';

test('GET /metrics answers Prometheus text with the registry content type, also with a query string', async (t) => {
  const m = await startMetrics(t);
  m.queueDepth('reg', 'new', 4);
  const r = await request(m, '/metrics?name[]=x');
  assert.equal(r.status, 200);
  assert.equal(r.type, Registry.PROMETHEUS_CONTENT_TYPE);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  assert.equal(valueOf(parseExposition(r.body), 'jp_importer_queue_messages', { subtree: 'reg', state: 'new' }), 4);
  assert.equal(await m.text(), r.body);
  const head = await request(m, '/metrics', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
});

test('GET /healthz: 200 with the detail when healthy, 503 when not, when it throws, when it hangs', async (t) => {
  let state: 'ok' | 'bad' | 'throw' | 'hang' = 'ok';
  const m = await startMetrics(t, {
    healthTimeoutMs: 100,
    health: async () => {
      if (state === 'throw') throw new Error('spool unreadable');
      if (state === 'hang') return new Promise(() => undefined);
      return { ok: state === 'ok', detail: { workers: [{ id: 'reg', alive: state === 'ok' }] } };
    },
  });
  let r = await request(m, '/healthz');
  assert.equal(r.status, 200);
  assert.match(r.type ?? '', /^application\/json/);
  assert.deepEqual(JSON.parse(r.body), { ok: true, detail: { workers: [{ id: 'reg', alive: true }] } });
  state = 'bad';
  r = await request(m, '/healthz');
  assert.equal(r.status, 503);
  assert.deepEqual(JSON.parse(r.body), { ok: false, detail: { workers: [{ id: 'reg', alive: false }] } });
  state = 'throw';
  r = await request(m, '/healthz');
  assert.equal(r.status, 503);
  assert.match((JSON.parse(r.body) as { detail: { error: string } }).detail.error, /spool unreadable/);
  state = 'hang';
  r = await request(m, '/healthz');
  assert.equal(r.status, 503);
  assert.match((JSON.parse(r.body) as { detail: { error: string } }).detail.error, /within 100 ms/);
});

test('other paths answer 404, other methods 405 with Allow', async (t) => {
  const m = await startMetrics(t);
  for (const path of ['/', '/metrics/', '/metricsx', '/health', '/favicon.ico', '/../metrics%00']) {
    const r = await request(m, path);
    assert.equal(r.status, 404, path);
  }
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const r = await request(m, '/metrics', method);
    assert.equal(r.status, 405, method);
    assert.equal(r.headers.get('allow'), 'GET, HEAD');
  }
});

test('an invalid listen address is refused with JP_CONFIG naming the option and the value', async () => {
  for (const listen of ['', '9464', ':9464', '127.0.0.1', '127.0.0.1:', '127.0.0.1:65536', '127.0.0.1:-1', '127.0.0.1:80a',
    '::1:9464', '[::1]', '[::1]9464', '[127.0.0.1]:80', '256.1.1.1:80', '1.2.3:80', 'host name:80', ' 127.0.0.1:80',
    'a_b:80', '-bad:80', 'http://127.0.0.1:80', '127.0.0.1:80/metrics']) {
    await assert.rejects(
      createMetrics({ listen, listenOption: '--metrics-listen', log: silentLogger, health: async () => ({ ok: true, detail: {} }), defaultMetrics: false }),
      (e: unknown) => isJpError(e, 'JP_CONFIG') && e.message.startsWith(`--metrics-listen ${JSON.stringify(listen)}: `),
      listen,
    );
  }
});

test('an address already in use is refused with JP_CONFIG naming it', async (t) => {
  const first = await startMetrics(t);
  const listen = `127.0.0.1:${first.port}`;
  await assert.rejects(
    createMetrics({ listen, log: silentLogger, health: async () => ({ ok: true, detail: {} }), defaultMetrics: false }),
    (e: unknown) => isJpError(e, 'JP_CONFIG') && e.message.includes(JSON.stringify(listen)) && /EADDRINUSE/.test(e.message),
  );
});

test('binds exactly the given loopback address; close() is idempotent and stops serving', async (t) => {
  const m = await startMetrics(t);
  assert.equal(m.host, '127.0.0.1');
  assert.ok(m.port > 0);
  await request(m, '/metrics');
  await Promise.all([m.close(), m.close()]);
  await m.close();
  await assert.rejects(request(m, '/metrics'));
});

test('default process metrics of this process carry the jp_importer_ prefix', async (t) => {
  const m = await startMetrics(t, { defaultMetrics: true });
  const e = await scrape(m);
  assert.ok((valueOf(e, 'jp_importer_process_cpu_user_seconds_total') ?? -1) >= 0);
  assert.equal(e.types.get('jp_importer_nodejs_heap_size_used_bytes'), 'gauge');
  assert.ok(!e.samples.some((s) => s.name.startsWith('process_')), 'no unprefixed names');
});
