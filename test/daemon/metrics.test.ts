/** --metrics against the real daemon: counters reflect a run with deliveries, retries and give-ups. */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { storeLikeLb } from '../../src/maildir/lb-writer.js';
import { devCerts } from '../helpers/certs.js';
import { importerArgs, jobId, OWNER, spoolDirs, startImporter, until } from '../helpers/daemon.js';
import { startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const ls = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => ls[k] === v)) return Number(m[3]);
  }
  return undefined;
}

test('metrics: delivered, retried and given-up counters, latency histogram, certificate expiry, /healthz', async (t) => {
  const dir = await tempDir(t);
  const svc = await startService(dir, { hooks: { failNext: 2 } });
  t.after(() => svc.close());
  const reg = join(dir, 'reg');
  await spoolDirs(reg);
  for (let i = 0; i < 5; i++) await storeLikeLb(reg, `${jobId(`m${i}`)}\n${OWNER}`);
  await storeLikeLb(reg, 'malformed');
  const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--metrics', '127.0.0.1:0', '--retry-first', '100ms', '--concurrency', '1']));
  t.after(() => imp.child.kill('SIGKILL'));
  const serving = await imp.waitForLog((l) => l.msg === 'serving Prometheus metrics and /healthz');
  const base = String(serving['metrics']).replace(/\/metrics$/, '');
  let text = '';
  const scrape = async () => {
    text = await (await fetch(`${base}/metrics`)).text();
    return text;
  };
  await until(async () => {
    await scrape();
    return sample(text, 'jp_importer_messages_total', { kind: 'reg', outcome: 'delivered' }) === 5
      && sample(text, 'jp_importer_messages_total', { kind: 'reg', outcome: 'gave_up' }) === 1;
  }, 30_000, 'counters');
  assert.equal(sample(text, 'jp_importer_messages_total', { kind: 'reg', outcome: 'retried' }), 2);
  assert.equal(sample(text, 'jp_importer_delivery_seconds_count', { kind: 'reg' }), 5);
  assert.equal(sample(text, 'jp_importer_in_flight', { kind: 'reg' }), 0);
  const notAfter = new X509Certificate(readFileSync(devCerts().client)).validTo;
  assert.equal(sample(text, 'jp_importer_certificate_expiry_timestamp_seconds'), Math.floor(Date.parse(notAfter) / 1000));
  const health = await fetch(`${base}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(((await health.json()) as { ok: boolean }).ok, true);
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0);
});
