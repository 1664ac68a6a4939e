import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, readdir, realpath, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { isJpError } from '../../src/core/errors.js';
import { resolveAllowedFile, type AllowedFile } from '../../src/upload/allowed-paths.js';
import { disposeUploaded } from '../../src/upload/local-file.js';
import { tempDir } from '../helpers/tmp.js';

/** A file written at `path`, opened the way the upload handler opens it (closed when the test ends). */
async function fileAt(t: TestContext, allowed: string, path: string, text: string): Promise<AllowedFile> {
  await writeFile(path, text);
  const f = await resolveAllowedFile(path, [allowed]);
  t.after(() => f.handle.close().catch(() => undefined));
  return f;
}

const dirOf = async (t: TestContext): Promise<string> => realpath(await tempDir(t));
const kept = (re: RegExp) => (e: unknown): boolean => isJpError(e, 'JP_LOCAL_FILE') && re.test(e.message);

describe('disposeUploaded', { timeout: 30_000 }, () => {
  it('removes the file without a store directory, and leaves no private directory behind', async (t) => {
    const dir = await dirOf(t);
    const f = await fileAt(t, dir, join(dir, 'd'), 'x');
    assert.deepEqual(await disposeUploaded(f, [dir], undefined), { action: 'removed' });
    assert.deepEqual(await readdir(dir), []);
  });

  it('moves into the store directory, creating it 0750, never overwriting', async (t) => {
    const dir = await dirOf(t);
    const store = join(dir, 'a', 'store');
    const one = await fileAt(t, dir, join(dir, 'd'), 'one');
    assert.deepEqual(await disposeUploaded(one, [dir], store), { action: 'stored', to: join(store, 'd') });
    assert.equal((await stat(store)).mode & 0o777, 0o750);
    const two = await fileAt(t, dir, join(dir, 'd'), 'two');
    assert.deepEqual(await disposeUploaded(two, [dir], store), { action: 'stored', to: join(store, 'd.1') });
    assert.equal(await readFile(join(store, 'd'), 'utf8'), 'one');
    assert.equal(await readFile(join(store, 'd.1'), 'utf8'), 'two');
    assert.deepEqual(await readdir(dir), ['a']);
  });

  it('copies across file systems (EXDEV): durable copy, then the original is removed', { skip: !existsSync('/dev/shm') && 'no /dev/shm' }, async (t) => {
    const dir = await dirOf(t);
    const store = await mkdtemp('/dev/shm/jp-store-');
    t.after(() => rm(store, { recursive: true, force: true }));
    if ((await stat(store)).dev === (await stat(dir)).dev) {
      t.skip('/dev/shm is on the same file system as the temp dir');
      return;
    }
    const f = await fileAt(t, dir, join(dir, 'cross'), 'data across');
    assert.deepEqual(await disposeUploaded(f, [dir], store), { action: 'stored', to: join(store, 'cross') });
    assert.equal(await readFile(join(store, 'cross'), 'utf8'), 'data across');
    assert.deepEqual(await readdir(dir), []);
    assert.deepEqual((await readdir(store)).sort(), ['cross'], 'no temporary copy left');
  });

  it('a file that cannot be stored is put back at its name, with the reason', async (t) => {
    const dir = await dirOf(t);
    const store = join(dir, 'store');
    await mkdir(store);
    for (let i = 0; i < 100; i++) await writeFile(join(store, i === 0 ? 'd' : `d.${i}`), 'taken');
    const f = await fileAt(t, dir, join(dir, 'd'), 'mine');
    await assert.rejects(disposeUploaded(f, [dir], store), kept(/could not be stored in .*no free name for d.*; left in place/));
    assert.equal(await readFile(join(dir, 'd'), 'utf8'), 'mine');
    assert.deepEqual((await readdir(dir)).sort(), ['d', 'store'], 'no private directory left');
  });

  it('leaves a file that was replaced after the upload', async (t) => {
    const dir = await dirOf(t);
    const f = await fileAt(t, dir, join(dir, 'd'), 'uploaded');
    await writeFile(join(dir, 'other'), 'new content');
    await rename(join(dir, 'other'), join(dir, 'd'));
    await assert.rejects(disposeUploaded(f, [dir], undefined), kept(/removed by someone else/));
    assert.equal(await readFile(join(dir, 'd'), 'utf8'), 'new content');
  });

  it('leaves a file that grew after its upload began (the appended bytes were never sent)', async (t) => {
    const dir = await dirOf(t);
    const f = await fileAt(t, dir, join(dir, 'd'), 'uploaded');
    await appendFile(join(dir, 'd'), ' and more');
    await assert.rejects(disposeUploaded(f, [dir], undefined), kept(/changed size from 8 to 17 bytes since its upload began .*left in place/));
    assert.equal(await readFile(join(dir, 'd'), 'utf8'), 'uploaded and more');
  });

  it('leaves a file rewritten in place with the same size (mtime moved)', async (t) => {
    const dir = await dirOf(t);
    const f = await fileAt(t, dir, join(dir, 'd'), 'uploaded');
    await writeFile(join(dir, 'd'), 'UPLOADED');
    await utimes(join(dir, 'd'), new Date(), new Date(Date.now() + 5000));
    await assert.rejects(disposeUploaded(f, [dir], undefined), kept(/was modified since its upload began/));
    assert.equal(await readFile(join(dir, 'd'), 'utf8'), 'UPLOADED');
  });

  it('removes the uploaded file where it is now when it was renamed inside the allowed directory', async (t) => {
    const dir = await dirOf(t);
    await mkdir(join(dir, 'sub'));
    const f = await fileAt(t, dir, join(dir, 'd'), 'x');
    await rename(join(dir, 'd'), join(dir, 'sub', 'moved'));
    assert.deepEqual(await disposeUploaded(f, [dir], undefined), { action: 'removed' });
    assert.deepEqual(await readdir(join(dir, 'sub')), []);
  });

  it('never touches a file whose directory was moved out of the allowed directories', async (t) => {
    const top = await dirOf(t);
    const allowed = join(top, 'allowed');
    await mkdir(join(allowed, 'sub'), { recursive: true });
    const f = await fileAt(t, allowed, join(allowed, 'sub', 'd'), 'x');
    await rename(join(allowed, 'sub'), join(top, 'elsewhere'));
    await assert.rejects(disposeUploaded(f, [allowed], undefined), kept(/moved out of the allowed directories/));
    assert.equal(await readFile(join(top, 'elsewhere', 'd'), 'utf8'), 'x');
  });

  it('never follows a parent swapped for a symlink: the same-named file outside stays', async (t) => {
    const top = await dirOf(t);
    const allowed = join(top, 'allowed');
    await mkdir(join(allowed, 'sub'), { recursive: true });
    await mkdir(join(top, 'outside'));
    await writeFile(join(top, 'outside', 'd'), 'outside');
    const f = await fileAt(t, allowed, join(allowed, 'sub', 'd'), 'x');
    // The uploaded file stays open (the daemon holds it); its directory is renamed away and a symlink put in its place.
    await rename(join(allowed, 'sub'), join(allowed, 'sub-real'));
    await symlink(join(top, 'outside'), join(allowed, 'sub'));
    assert.deepEqual(await disposeUploaded(f, [allowed], undefined), { action: 'removed' });
    assert.equal(await readFile(join(top, 'outside', 'd'), 'utf8'), 'outside', 'the file outside is untouched');
    assert.deepEqual(await readdir(join(allowed, 'sub-real')), [], 'the uploaded file was removed where it really is');
  });
});
