/** --metrics against the real daemon: counters reflect a run with deliveries, retries and give-ups. */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readdir, rename, rm, writeFile } from 'node:fs/promises';
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

test('/healthz: 50 pairs of simultaneous probes on a healthy daemon all answer 200 and leave no probe file; tmp/ unusable → 503 naming the spool and the reason', async (t) => {
  const dir = await tempDir(t);
  const svc = await startService(dir);
  t.after(() => svc.close());
  const reg = join(dir, 'reg');
  await spoolDirs(reg);
  const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--metrics', '127.0.0.1:0']));
  t.after(() => imp.child.kill('SIGKILL'));
  const serving = await imp.waitForLog((l) => l.msg === 'serving Prometheus metrics and /healthz');
  await imp.waitForLog((l) => l.msg === 'jp-importer running');
  const healthz = `${String(serving['metrics']).replace(/\/metrics$/, '')}/healthz`;
  const probe = async (): Promise<{ status: number; body: { ok: boolean; detail: { spoolsNotWritable?: Record<string, string> } } }> => {
    const res = await fetch(healthz, { signal: AbortSignal.timeout(15_000) });
    return { status: res.status, body: (await res.json()) as { ok: boolean; detail: { spoolsNotWritable?: Record<string, string> } } };
  };
  const failed: string[] = [];
  for (let i = 0; i < 50; i++) {
    for (const r of await Promise.all([probe(), probe()])) {
      if (r.status !== 200) failed.push(`pair ${i}: ${r.status} ${JSON.stringify(r.body.detail)}`);
    }
  }
  assert.deepEqual(failed, [], `${failed.length} of 100 probes failed`);
  assert.deepEqual((await readdir(join(reg, 'tmp'))).filter((n) => n.startsWith('.healthz')), [], 'no probe file is left in tmp/');

  // tmp/ replaced by a regular file (root may write anywhere, so not a chmod): unhealthy, with the reason
  await rename(join(reg, 'tmp'), join(reg, 'tmp.away'));
  await writeFile(join(reg, 'tmp'), '');
  const bad = await probe();
  assert.equal(bad.status, 503);
  assert.equal(bad.body.ok, false);
  assert.match(bad.body.detail.spoolsNotWritable?.[reg] ?? '', /ENOTDIR/);
  await rm(join(reg, 'tmp'));
  await rename(join(reg, 'tmp.away'), join(reg, 'tmp'));
  assert.equal((await probe()).status, 200, 'healthy again once tmp/ is back');
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0);
});
