/** The exporter's locks and dump reader in one process: taken, refused, released, checked. */
import assert from 'node:assert/strict';
import { appendFile, chmod, link, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DumpChanged, DumpFile, ExportLocked, lockSpool, SPOOL_LOCK_NAME } from '../../src/exporter/index.js';
import { tempDir } from './helpers.js';

async function drain(d: DumpFile): Promise<number> {
  let n = 0;
  for await (const c of d.chunks(4096)) n += c.length;
  return n;
}

describe('exporter locks', () => {
  it('lockSpool: a second holder is refused with the lock path and the record; released, it is free again', async (t) => {
    const root = join(await tempDir(t), 'md');
    const a = await lockSpool(root, 'dump file /x/a.log');
    const path = join(root, SPOOL_LOCK_NAME);
    assert.equal(a.path, path);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.match(await readFile(path, 'utf8'), new RegExp(`^pid ${process.pid}\nhost .+\nsince \\d{4}-.+Z\ninput dump file /x/a.log\n$`));
    const e = await lockSpool(root, 'standard input').then(() => undefined, (x: unknown) => x);
    assert.ok(e instanceof ExportLocked, String(e));
    assert.equal(e.lockPath, path);
    assert.deepEqual(e.holders, [process.pid]);
    assert.match(e.message, new RegExp(`is held by pid ${process.pid} .*, exporting dump file /x/a.log since `));
    a.setInput('dump file /x/b.log');
    assert.match(await readFile(path, 'utf8'), /input dump file \/x\/b\.log\n$/);
    a.release();
    a.release();
    const b = await lockSpool(root, 'standard input');
    b.release();
  });

  it('lockSpool: a lock file with group/other bits is made 0600; one with two links is refused', async (t) => {
    const root = join(await tempDir(t), 'md');
    await mkdir(root);
    const path = join(root, SPOOL_LOCK_NAME);
    await writeFile(path, '');
    await chmod(path, 0o666);
    (await lockSpool(root, 'x')).release();
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    await link(path, join(root, 'other'));
    await assert.rejects(lockSpool(root, 'x'), new RegExp(`lock file ${path} has 2 hard links`));
  });

  it('DumpFile: a second open of the same dump is refused until the first is closed', async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'd.log');
    await writeFile(path, 'a\nb\n');
    const a = await DumpFile.open(path);
    await assert.rejects(DumpFile.open(path), (e: unknown) => e instanceof ExportLocked && e.message.startsWith(`dump file ${path} is being exported by another process`));
    await a.close();
    const b = await DumpFile.open(path, { noFollow: true, regularOnly: true });
    assert.equal(await drain(b), 4);
    assert.equal(await b.changedSinceRead(), undefined);
    await b.close();
  });

  it('DumpFile: changes after the read are reported by changedSinceRead; growth during the read fails it', async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'd.log');
    await writeFile(path, 'x'.repeat(10_000));
    const a = await DumpFile.open(path);
    assert.equal(await drain(a), 10_000);
    await appendFile(path, 'more\n');
    assert.equal(await a.changedSinceRead(), 'it had 10000 bytes at the start and has 10005 now');
    await a.close();

    const b = await DumpFile.open(path);
    const it = b.chunks(4096)[Symbol.asyncIterator]();
    await it.next();
    await appendFile(path, 'y'.repeat(9000));
    await assert.rejects(async () => {
      for (let r = await it.next(); r.done !== true; r = await it.next());
    }, (e: unknown) => e instanceof DumpChanged && /had 10005 bytes at the start, and more were read/.test(e.message));
    await b.close();
  });

  it('DumpFile: regularOnly refuses a directory; noFollow refuses a symlink', async (t) => {
    const dir = await tempDir(t);
    await assert.rejects(DumpFile.open(dir, { regularOnly: true }), /is not a regular file/);
    const target = join(dir, 't.log');
    await writeFile(target, 'a\n');
    await import('node:fs/promises').then((f) => f.symlink(target, join(dir, 'l.log')));
    await assert.rejects(DumpFile.open(join(dir, 'l.log'), { noFollow: true }), /ELOOP/);
  });
});
