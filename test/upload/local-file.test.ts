import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isJpError } from '../../src/core/errors.js';
import { disposeUploaded } from '../../src/upload/local-file.js';
import { tempDir } from '../helpers/tmp.js';

async function fileAt(path: string, text: string): Promise<{ realPath: string; dev: number; ino: number }> {
  await writeFile(path, text);
  const st = await lstat(path);
  return { realPath: path, dev: st.dev, ino: st.ino };
}

describe('disposeUploaded', { timeout: 30_000 }, () => {
  it('removes the file without a store directory', async (t) => {
    const dir = await tempDir(t);
    const f = await fileAt(join(dir, 'd'), 'x');
    assert.deepEqual(await disposeUploaded(f, undefined), { action: 'removed' });
    assert.equal(existsSync(f.realPath), false);
  });

  it('moves into the store directory, creating it 0750, never overwriting', async (t) => {
    const dir = await tempDir(t);
    const store = join(dir, 'a', 'store');
    const one = await fileAt(join(dir, 'd'), 'one');
    assert.deepEqual(await disposeUploaded(one, store), { action: 'stored', to: join(store, 'd') });
    assert.equal((await stat(store)).mode & 0o777, 0o750);
    const two = await fileAt(join(dir, 'd'), 'two');
    assert.deepEqual(await disposeUploaded(two, store), { action: 'stored', to: join(store, 'd.1') });
    assert.equal(await readFile(join(store, 'd'), 'utf8'), 'one');
    assert.equal(await readFile(join(store, 'd.1'), 'utf8'), 'two');
    assert.equal(existsSync(join(dir, 'd')), false);
  });

  it('copies across file systems (EXDEV): durable copy, then the original is removed', { skip: !existsSync('/dev/shm') && 'no /dev/shm' }, async (t) => {
    const dir = await tempDir(t);
    const store = await mkdtemp('/dev/shm/jp-store-');
    t.after(() => rm(store, { recursive: true, force: true }));
    if ((await stat(store)).dev === (await stat(dir)).dev) {
      t.skip('/dev/shm is on the same file system as the temp dir');
      return;
    }
    const f = await fileAt(join(dir, 'cross'), 'data across');
    assert.deepEqual(await disposeUploaded(f, store), { action: 'stored', to: join(store, 'cross') });
    assert.equal(await readFile(join(store, 'cross'), 'utf8'), 'data across');
    assert.equal(existsSync(f.realPath), false);
    assert.deepEqual((await readdir(store)).sort(), ['cross'], 'no temporary copy left');
  });

  it('leaves a file that was replaced after the upload', async (t) => {
    const dir = await tempDir(t);
    const f = await fileAt(join(dir, 'd'), 'uploaded');
    await writeFile(join(dir, 'other'), 'new content');
    await rename(join(dir, 'other'), join(dir, 'd'));
    await assert.rejects(disposeUploaded(f, undefined), (e: unknown) => isJpError(e, 'JP_LOCAL_FILE') && /replaced/.test(e.message));
    assert.equal(await readFile(join(dir, 'd'), 'utf8'), 'new content');
  });
});
