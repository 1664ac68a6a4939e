import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseNameTime } from '../../src/queue/names.js';
import { Spool } from '../../src/maildir/spool.js';
import { MessageBatch, nodeBatchFs, type BatchFs } from '../../src/maildir/store-many-sync.js';
import { tempDir } from '../helpers/tmp.js';

async function ls(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
}

async function spoolRoot(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const root = join(await tempDir(t), 'dump');
  await new Spool(root).init();
  return root;
}

function errno(code: string): Error {
  return Object.assign(new Error(`${code}: injected`), { code });
}

/** Real file operations, counted; `fail` may throw instead of one of them. */
function countingFs(fail: (op: keyof BatchFs, n: number) => Error | undefined = () => undefined) {
  const calls = new Map<string, number>();
  const hit = (op: keyof BatchFs): void => {
    const n = (calls.get(op) ?? 0) + 1;
    calls.set(op, n);
    const e = fail(op, n);
    if (e !== undefined) throw e;
  };
  const fs: BatchFs = {
    openNew: (p, m) => (hit('openNew'), nodeBatchFs.openNew(p, m)),
    write: (fd, d, o) => (hit('write'), nodeBatchFs.write(fd, d, o)),
    close: (fd) => (hit('close'), nodeBatchFs.close(fd)),
    link: (a, b) => (hit('link'), nodeBatchFs.link(a, b)),
    unlink: (p) => (hit('unlink'), nodeBatchFs.unlink(p)),
    fsyncFile: (p) => (hit('fsyncFile'), nodeBatchFs.fsyncFile(p)),
    fsyncDir: (p) => (hit('fsyncDir'), nodeBatchFs.fsyncDir(p)),
    syncFs: (p) => (hit('syncFs'), nodeBatchFs.syncFs(p)),
  };
  return { fs, calls };
}

function storeAll(batch: MessageBatch, bodies: readonly string[], how: 'syncfs' | 'fsync' | 'flushed' = 'syncfs'): string[] {
  for (const b of bodies) batch.write(b);
  batch.sync(how);
  const names: string[] = [];
  while (batch.stored < batch.size) names.push(batch.linkNext());
  batch.syncNew();
  return names;
}

describe('MessageBatch', () => {
  it('stores as the LB library does: new/ and a kept tmp/ link of the same name, mode 0600, names unique with the batch time', async (t) => {
    const root = await spoolRoot(t);
    const now = 1_732_180_000_123.456;
    const batch = new MessageBatch(root, { now: () => now, host: 'exporter.example.org', pid: 4242 });
    const bodies = Array.from({ length: 300 }, (_, i) => `jobid\thttps://lb.example.org:9000/J${i}\n`);
    const names = storeAll(batch, bodies);
    assert.equal(new Set(names).size, 300);
    assert.deepEqual(await ls(join(root, 'new')), [...names].sort());
    assert.deepEqual(await ls(join(root, 'tmp')), [...names].sort());
    assert.match(names[0] as string, /^1732180000_123456_4242_\d+\.exporter\.example\.org$/);
    for (const [i, name] of names.entries()) {
      assert.deepEqual(parseNameTime(name), { sec: 1732180000, usec: 123456 });
      if (i % 50 !== 0) continue;
      assert.equal(await readFile(join(root, 'new', name), 'utf8'), bodies[i]);
      const st = await stat(join(root, 'new', name));
      assert.equal(st.mode & 0o777, 0o600);
      assert.equal(st.nlink, 2, 'tmp/ twin kept');
    }
    assert.equal(batch.stored, 300);
  });

  it('one syncfs for the whole batch, none when the caller flushed after the writes, an fsync per file when syncfs fails or is not to be trusted', async (t) => {
    const cases = [['syncfs', true, 1, 0], ['flushed', true, 0, 0], ['syncfs', false, 1, 5], ['fsync', true, 0, 5]] as const;
    for (const [how, syncFsWorks, syncFs, fsyncFile] of cases) {
      const root = await spoolRoot(t);
      const { fs, calls } = countingFs();
      const batch = new MessageBatch(root, { fs: { ...fs, syncFs: (p) => (fs.syncFs(p), syncFsWorks) } });
      storeAll(batch, ['a', 'b', 'c', 'd', 'e'], how);
      assert.equal(calls.get('syncFs') ?? 0, syncFs, `syncFs calls (${how})`);
      assert.equal(calls.get('fsyncFile') ?? 0, fsyncFile, `fsyncFile calls (${how}, syncfs works ${syncFsWorks})`);
      assert.equal(calls.get('fsyncDir'), 1, 'new/ fsynced once');
      assert.equal((await ls(join(root, 'new'))).length, 5);
    }
  });

  it('a name taken in tmp/ is skipped (O_EXCL), one taken in new/ is replaced by a fresh one and its tmp/ link removed', async (t) => {
    const root = await spoolRoot(t);
    // learn the next sequence number from a first batch, then take the names the second one will try
    const probe = new MessageBatch(root, { now: () => 1_700_000_000_000, host: 'h', pid: 7 });
    probe.write('probe');
    const next = Number(/_(\d+)\.h$/.exec(probe.nameOf(0))?.[1]) + 1;
    probe.discard();
    const name = (seq: number): string => `1700000000_000000_7_${seq}.h`;
    await writeFile(join(root, 'tmp', name(next)), 'someone else');
    await writeFile(join(root, 'new', name(next + 2)), 'someone else too');
    const batch = new MessageBatch(root, { now: () => 1_700_000_000_000, host: 'h', pid: 7 });
    const names = storeAll(batch, ['one', 'two']);
    assert.deepEqual(names, [name(next + 1), name(next + 3)]);
    assert.equal(await readFile(join(root, 'new', name(next + 1)), 'utf8'), 'one');
    assert.equal(await readFile(join(root, 'new', name(next + 3)), 'utf8'), 'two');
    assert.equal(await readFile(join(root, 'new', name(next + 2)), 'utf8'), 'someone else too');
    assert.equal(await readFile(join(root, 'tmp', name(next)), 'utf8'), 'someone else');
    assert.deepEqual(await ls(join(root, 'tmp')), [name(next), name(next + 1)].sort());
  });

  it('two batches made in the same microsecond never take the same names', async (t) => {
    const root = await spoolRoot(t);
    const a = new MessageBatch(root, { now: () => 1_700_000_000_000, host: 'h', pid: 7 });
    const b = new MessageBatch(root, { now: () => 1_700_000_000_000, host: 'h', pid: 7 });
    // with a counter per batch, b would meet a's 20 names and give up after 10 tries
    for (let i = 0; i < 20; i++) a.write(`a${i}`);
    for (let i = 0; i < 20; i++) b.write(`b${i}`);
    assert.equal((await ls(join(root, 'tmp'))).length, 40);
  });

  it('a failed write leaves no file behind and the error goes to the caller', async (t) => {
    const root = await spoolRoot(t);
    const { fs } = countingFs((op, n) => (op === 'write' && n === 3 ? errno('ENOSPC') : undefined));
    const batch = new MessageBatch(root, { fs });
    batch.write('a');
    batch.write('b');
    assert.throws(() => batch.write('c'), /ENOSPC: injected/);
    assert.equal(batch.size, 2);
    assert.equal((await ls(join(root, 'tmp'))).length, 2);
    assert.equal(batch.discard(), 2);
    assert.deepEqual(await ls(join(root, 'tmp')), []);
    assert.deepEqual(await ls(join(root, 'new')), []);
  });

  it('partial writes are completed', async (t) => {
    const root = await spoolRoot(t);
    const fs: BatchFs = { ...nodeBatchFs, write: (fd, d, o) => nodeBatchFs.write(fd, d.subarray(0, o + 3), o) };
    const batch = new MessageBatch(root, { fs });
    const [name] = storeAll(batch, ['jobid\thttps://lb.example.org:9000/x\nfile\t/a/b\n']);
    assert.equal(await readFile(join(root, 'new', name as string), 'utf8'), 'jobid\thttps://lb.example.org:9000/x\nfile\t/a/b\n');
  });

  it('after a link fails, discard removes the tmp/ files of the messages not linked and keeps the linked ones', async (t) => {
    const root = await spoolRoot(t);
    const { fs } = countingFs((op, n) => (op === 'link' && n === 4 ? errno('EIO') : undefined));
    const batch = new MessageBatch(root, { fs });
    for (let i = 0; i < 6; i++) batch.write(`m${i}`);
    batch.sync();
    const linked: string[] = [];
    assert.throws(() => {
      for (;;) linked.push(batch.linkNext());
    }, /EIO: injected/);
    assert.equal(batch.stored, 3);
    assert.equal(batch.discard(), 3);
    assert.deepEqual(await ls(join(root, 'new')), [...linked].sort());
    assert.deepEqual(await ls(join(root, 'tmp')), [...linked].sort());
  });

  it('the tmp/ directory missing is an error naming it, not a crash later', async (t) => {
    const root = join(await tempDir(t), 'md');
    await mkdir(join(root, 'new'), { recursive: true });
    const batch = new MessageBatch(root);
    assert.throws(() => batch.write('x'), (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT');
    assert.equal(batch.size, 0);
  });
});
