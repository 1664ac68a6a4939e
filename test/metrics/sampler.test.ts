/** MetricsSampler: spool depths and certificate expiry into the gauges, periodic passes, stop. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { isJpError } from '../../src/core/errors.js';
import { Spool } from '../../src/maildir/spool.js';
import { certificateExpirySeconds, MetricsSampler, type SpoolCounts } from '../../src/metrics/index.js';
import { tempDir } from '../helpers/tmp.js';
import { captureLogger, scrape, startMetrics } from './helpers.js';
import { valueOf } from './prom-text.js';
import { filledSpool } from './spool-fixture.js';

const run = promisify(execFile);

/** A self-signed certificate valid for `days`, and its notAfter as openssl prints it (seconds). */
async function makeCert(dir: string, days: number): Promise<{ certFile: string; notAfter: number } | undefined> {
  const certFile = join(dir, `cert-${days}.pem`);
  try {
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', String(days),
      '-subj', '/CN=metrics test', '-keyout', join(dir, `key-${days}.pem`), '-out', certFile], { timeout: 20_000 });
    const { stdout } = await run('openssl', ['x509', '-in', certFile, '-noout', '-enddate'], { timeout: 20_000 });
    return { certFile, notAfter: Date.parse(stdout.trim().replace(/^notAfter=/, '')) / 1000 };
  } catch {
    return undefined;
  }
}

test('one pass puts every subtree and the certificate expiry into the gauges', async (t) => {
  const dir = await tempDir(t);
  const cert = await makeCert(dir, 30);
  if (cert === undefined) {
    t.skip('openssl is not available to make a test certificate');
    return;
  }
  await filledSpool(join(dir, 'reg'));
  const sandbox = new Spool(join(dir, 'sandbox'));
  await sandbox.init();
  await sandbox.store('one');
  const m = await startMetrics(t);
  const sampler = new MetricsSampler({
    spools: [{ subtree: 'reg', root: join(dir, 'reg') }, { subtree: 'sandbox', root: join(dir, 'sandbox') }],
    certFile: cert.certFile,
    sink: m,
    log: captureLogger().log,
  });
  await sampler.sampleNow();
  await sampler.stop();
  const e = await scrape(m);
  const q = (subtree: string, state: string) => valueOf(e, 'jp_importer_queue_messages', { subtree, state });
  assert.equal(e.types.get('jp_importer_queue_messages'), 'gauge');
  assert.deepEqual([q('reg', 'new'), q('reg', 'cur'), q('reg', 'post'), q('reg', 'undeliverable')], [3, 1, 1, 1]);
  assert.deepEqual([q('sandbox', 'new'), q('sandbox', 'cur'), q('sandbox', 'post'), q('sandbox', 'undeliverable')], [1, 0, 0, 0]);
  assert.equal(valueOf(e, 'jp_importer_certificate_expiry_timestamp_seconds'), cert.notAfter);
  assert.ok(cert.notAfter > Date.now() / 1000 + 29 * 86400);
});

test('certificateExpirySeconds refuses missing, empty and damaged files with JP_CREDENTIALS naming the file', async (t) => {
  const dir = await tempDir(t);
  const empty = join(dir, 'empty.pem');
  await writeFile(empty, 'no certificate here\n');
  const damaged = join(dir, 'damaged.pem');
  await writeFile(damaged, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  for (const [file, why] of [[join(dir, 'absent.pem'), /cannot read/], [empty, /no PEM CERTIFICATE/], [damaged, /damaged/], [dir, /not a regular file/]] as const) {
    await assert.rejects(certificateExpirySeconds(file), (e: unknown) => isJpError(e, 'JP_CREDENTIALS') && e.message.includes(file) && why.test(e.message));
  }
});

test('passes repeat every interval and never overlap; a failing source is logged once; stop ends them', async () => {
  const { log, lines } = captureLogger();
  let calls = 0;
  let active = 0;
  let maxActive = 0;
  let fail = true;
  const seen: number[] = [];
  let reached: () => void = () => undefined;
  const fifth = new Promise<void>((res) => { reached = res; });
  const sampler = new MetricsSampler({
    spools: [{ subtree: 'reg', root: '/nonexistent/reg' }],
    certFile: '/nonexistent/cert.pem',
    intervalMs: 5,
    log,
    sink: {
      queueDepth: (_s, state, n) => { if (state === 'new') seen.push(n); },
      certificateExpiry: () => assert.fail('no certificate to read'),
    },
    count: async (): Promise<SpoolCounts> => {
      active++;
      maxActive = Math.max(maxActive, active);
      calls++;
      await new Promise((r) => setImmediate(r));
      active--;
      if (calls >= 5) reached();
      if (calls === 3) fail = false;
      if (fail) throw new Error('EACCES: permission denied');
      return { new: calls, cur: 0, post: 0, undeliverable: 0 };
    },
  });
  sampler.start();
  sampler.start(); // a second start is a no-op
  const timeout = setTimeout(() => reached(), 10_000);
  await fifth;
  clearTimeout(timeout);
  await sampler.stop();
  const after = calls;
  assert.ok(after >= 5, `sampled ${after} times`);
  assert.equal(maxActive, 1);
  assert.deepEqual(seen.slice(0, 2), [3, 4]);
  const msgs = lines.map((l) => l['msg']);
  assert.equal(msgs.filter((m) => m === 'metrics: cannot count the spool').length, 1, 'logged once while failing');
  assert.equal(msgs.filter((m) => m === 'metrics: can count the spool again').length, 1);
  assert.equal(msgs.filter((m) => m === 'metrics: cannot read the certificate expiry').length, 1);
  await new Promise((r) => setTimeout(r, 30)); // not a synchronisation: checks that nothing more happens
  assert.equal(calls, after, 'no pass after stop()');
});

test('intervalMs must be positive', () => {
  for (const intervalMs of [0, -1, NaN]) {
    assert.throws(() => new MetricsSampler({ spools: [], sink: { queueDepth: () => undefined, certificateExpiry: () => undefined }, log: captureLogger().log, intervalMs }), RangeError);
  }
});
