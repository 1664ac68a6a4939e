/**
 * The age of the oldest message per spool state (from the creation time an
 * LB name carries): surveySpool finds it in the same pass as the counts,
 * the sampler turns it into jp_importer_queue_oldest_message_age_seconds,
 * 0 when a state holds nothing (or only names without a time).
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { MetricsSampler, surveySpool } from '../../src/metrics/index.js';
import { tempDir } from '../helpers/tmp.js';
import { captureLogger, scrape, startMetrics } from './helpers.js';
import { valueOf } from './prom-text.js';

async function spoolWith(root: string, files: Record<string, string[]>): Promise<void> {
  for (const [state, names] of Object.entries(files)) {
    await mkdir(join(root, state), { recursive: true });
    for (const n of names) await writeFile(join(root, state, n), 'x');
  }
}

test('surveySpool: the oldest name time per state; sidecars, dot files and names without a time do not count', async (t) => {
  const root = join(await tempDir(t), 'dump');
  await spoolWith(root, {
    new: ['1700000300_000001_12_1.h', '1700000100_999999_12_2.h', '.hidden', 'legacy-name-without-time'],
    cur: ['1700000050_000000_12_3.h:99-1-abcd@h'],
    post: ['1700000200_000000_12_4.h', '1700000200_000000_12_4.h.meta'],
    undeliverable: [],
  });
  await mkdir(join(root, 'post', '1600000000_000000_1_1.dir'));
  const s = await surveySpool(root);
  assert.deepEqual(s.counts, { new: 3, cur: 1, post: 1, undeliverable: 0 });
  assert.deepEqual(s.oldest, { new: 1700000100, cur: 1700000050, post: 1700000200 });
});

test('the sampler exports each state\'s oldest age; 0 for an empty state', async (t) => {
  const dir = await tempDir(t);
  await spoolWith(join(dir, 'reg'), { new: ['1700000000_000000_1_1.h'], post: ['1699990000_000000_1_2.h'] });
  const m = await startMetrics(t);
  const sampler = new MetricsSampler({ spools: [{ subtree: 'reg', root: join(dir, 'reg') }], sink: m, log: captureLogger().log, nowSec: () => 1700003600 });
  await sampler.sampleNow();
  await sampler.stop();
  const text = await scrape(m);
  const age = (state: string): number | undefined => valueOf(text, 'jp_importer_queue_oldest_message_age_seconds', { subtree: 'reg', state });
  assert.equal(age('new'), 3600);
  assert.equal(age('post'), 13_600);
  assert.equal(age('cur'), 0);
  assert.equal(age('undeliverable'), 0);
});
