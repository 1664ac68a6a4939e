/** countSpool over a real spool. */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { countSpool } from '../../src/metrics/index.js';
import { tempDir } from '../helpers/tmp.js';
import { filledSpool } from './spool-fixture.js';

test('countSpool counts messages per state, skipping dot files, .meta sidecars, directories and tmp/', async (t) => {
  const root = join(await tempDir(t), 'dump');
  await filledSpool(root);
  assert.deepEqual(await countSpool(root), { new: 3, cur: 1, post: 1, undeliverable: 1 });
});

test('countSpool: a missing spool counts 0; an unreadable path is an error', async (t) => {
  const dir = await tempDir(t);
  assert.deepEqual(await countSpool(join(dir, 'absent')), { new: 0, cur: 0, post: 0, undeliverable: 0 });
  await writeFile(join(dir, 'file'), 'x');
  await mkdir(join(dir, 'odd'));
  await writeFile(join(dir, 'odd', 'new'), 'not a directory');
  await assert.rejects(countSpool(join(dir, 'odd')), /ENOTDIR/);
});

test('countSpool streams a large directory', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'new'));
  const n = 3000;
  for (let i = 0; i < n; i += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, j) => writeFile(join(root, 'new', `${i + j}_000000.h`), '')));
  }
  assert.equal((await countSpool(root)).new, n);
});
