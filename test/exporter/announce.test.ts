/**
 * Announcing through a MessageBatch (the default): messages are written into
 * tmp/ before the final syncfs, linked into new/ only after every job file
 * is durable, and a failure anywhere before leaves no message, not even in
 * tmp/.
 */
import assert from 'node:assert/strict';
import { readdirSync, renameSync } from 'node:fs';
import { mkdir, rm, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkedJobMessage, jobMessage } from '../../src/exporter/announce-store.js';
import { ExportFailure, nodeExportFs, runExport, type ExportFs } from '../../src/exporter/index.js';
import { Spool } from '../../src/maildir/spool.js';
import { MessageBatch, nodeBatchFs } from '../../src/maildir/store-many-sync.js';
import { chunks, interleavedLines, joinLines, listDir, makeJobs, readMessages, storeFiles, tempDir } from './helpers.js';

async function setup(t: Parameters<typeof tempDir>[0]) {
  const root = await tempDir(t);
  const store = join(root, 'store');
  await mkdir(store);
  const jobs = makeJobs(30, (j) => 1 + (j % 5));
  return { store, maildir: join(root, 'md'), jobs, data: joinLines(interleavedLines(jobs, 7)) };
}

async function failing(p: Promise<unknown>): Promise<ExportFailure> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  assert.ok(e instanceof ExportFailure, `expected ExportFailure, got ${String(e)}`);
  return e;
}

describe('checkedJobMessage', () => {
  it('writes what jobMessage writes (and reads back) for the values the exporter gives it', () => {
    const cases: [string, string, string | undefined][] = [
      ['https://lb.example.org:9000/AbCdEf', '/var/spool/jp/dump-files/AbCdEf.1732180000_000123', undefined],
      ['https://lb.example.org:9000/AbCdEf', '/var/spool/jp/dump-files/AbCdEf.1732180000_000123', 'jp.example.org:8901'],
      ['http://[::1]:9000/a/b/x-y_z.~%2B=', '/tmp/a store with blanks/x-y_z.~%2B=.1_999999', '[::1]:8901'],
      ['https://lb.example.org:9000/jpps', '/srv/jpps 1/jpps.1700000000_000001', 'h:1'],
    ];
    for (const [jobid, file, jpps] of cases) assert.equal(checkedJobMessage(jobid, file, jpps), jobMessage(jobid, file, jpps));
  });
});

describe('exporter announcing through a MessageBatch', () => {
  it('messages wait in tmp/ while the job files are flushed, then appear in new/ with their tmp/ link kept', async (t) => {
    const { store, maildir, jobs, data } = await setup(t);
    let atSync: { tmp: number; new: number } | undefined;
    const fs: ExportFs = {
      ...nodeExportFs,
      syncFs(path) {
        atSync = { tmp: readdirSync(join(maildir, 'tmp')).length, new: readdirSync(join(maildir, 'new')).length };
        return nodeExportFs.syncFs?.(path);
      },
    };
    const s = await runExport(chunks(data), { store, maildir, fs, maxOpen: 4, bufferBytes: 4096 });
    assert.deepEqual(atSync, { tmp: jobs.length, new: 0 });
    assert.equal(s.announced, jobs.length);
    const files = await storeFiles(store);
    const msgs = await readMessages(maildir);
    assert.deepEqual(msgs.map((m) => m.file).sort(), [...files.values()].sort());
    const names = await listDir(join(maildir, 'new'));
    assert.deepEqual(await listDir(join(maildir, 'tmp')), names);
    for (const n of names) assert.equal((await stat(join(maildir, 'new', n))).nlink, 2, n);
  });

  it('a failure after the messages were written (store directory fsync) removes them from tmp/', async (t) => {
    const { store, maildir, data } = await setup(t);
    const fs: ExportFs = { ...nodeExportFs, syncDir: async () => Promise.reject(Object.assign(new Error('EIO: injected'), { code: 'EIO' })) };
    const e = await failing(runExport(chunks(data), { store, maildir, fs }));
    assert.match(e.message, /cannot fsync store directory/);
    assert.equal(e.info.announced, 0);
    assert.deepEqual(await listDir(join(maildir, 'tmp')), []);
    assert.deepEqual(await listDir(join(maildir, 'new')), []);
  });

  it('a message that cannot be written stops the run at once, before anything is announced', async (t) => {
    const { store, maildir, data } = await setup(t);
    await new Spool(maildir).init();
    let n = 0;
    const messages = new MessageBatch(maildir, {
      fs: { ...nodeBatchFs, openNew: (p, m) => (++n === 10 ? raise('ENOSPC') : nodeBatchFs.openNew(p, m)) },
    });
    const e = await failing(runExport(chunks(data), { store, maildir, messages }));
    assert.match(e.message, /^cannot write a message into .*\/tmp: ENOSPC: injected/);
    assert.equal(e.info.announced, 0);
    assert.equal(e.info.filesLeft, 10, 'stopped at the job whose message failed; its file and the earlier ones stay');
    assert.deepEqual(await listDir(join(maildir, 'tmp')), []);
    assert.deepEqual(await listDir(join(maildir, 'new')), []);
  });

  for (const [how, syncFs, fsyncs] of [['the syncfs of the store succeeded: nothing more', true, 0], ['it failed: an fsync per message', false, 30]] as const) {
    it(`messages on the store's file system are made durable by its syncfs; ${how}`, async (t) => {
      const { store, maildir, data } = await setup(t);
      await new Spool(maildir).init();
      let fsyncFile = 0;
      let batchSyncFs = 0;
      const messages = new MessageBatch(maildir, {
        fs: { ...nodeBatchFs, fsyncFile: (p) => (fsyncFile++, nodeBatchFs.fsyncFile(p)), syncFs: () => (batchSyncFs++, true) },
      });
      await runExport(chunks(data), { store, maildir, messages, fs: { ...nodeExportFs, syncFs: () => syncFs } });
      assert.equal(fsyncFile, fsyncs);
      assert.equal(batchSyncFs, 0, 'no second syncfs of the same file system');
      assert.equal((await readMessages(maildir)).length, 30);
    });
  }

  it('a link failing halfway: the run fails telling how many were announced; the rest leave tmp/', async (t) => {
    const { store, maildir, data } = await setup(t);
    await new Spool(maildir).init();
    let n = 0;
    const messages = new MessageBatch(maildir, {
      fs: { ...nodeBatchFs, link: (a, b) => (++n === 8 ? raise('EIO') : nodeBatchFs.link(a, b)) },
    });
    const e = await failing(runExport(chunks(data), { store, maildir, messages }));
    assert.match(e.message, /cannot store a message in the maildir: EIO: injected/);
    assert.equal(e.info.announced, 7);
    const announced = await listDir(join(maildir, 'new'));
    assert.equal(announced.length, 7);
    assert.deepEqual(await listDir(join(maildir, 'tmp')), announced);
  });
});

describe('exporter announcing into its maildir (the default batch)', () => {
  it('a message that cannot be written into tmp/ fails the run; nothing is announced', async (t) => {
    const { store, maildir, data } = await setup(t);
    // tmp/ is a link to a directory that disappears once the maildir is checked, before the input is read
    const target = join(store, '..', 'tmp-target');
    await mkdir(target);
    await mkdir(maildir);
    await symlink(target, join(maildir, 'tmp'));
    async function* input(): AsyncGenerator<Buffer> {
      await rm(target, { recursive: true });
      yield* chunks(data);
    }
    const e = await failing(runExport(input(), { store, maildir, maxOpen: 4, bufferBytes: 4096 }));
    assert.match(e.message, /^cannot write a message into .*\/tmp: .*ENOENT/);
    assert.equal(e.info.announced, 0);
    assert.deepEqual(await listDir(join(maildir, 'new')), []);
  });

  it('new/ gone before the links: the run fails, nothing announced, tmp/ emptied', async (t) => {
    const { store, maildir, data } = await setup(t);
    let moved = false;
    const e = await failing(runExport(chunks(data), {
      store, maildir,
      onProgress: (p) => {
        // new/ vanishes between the fsync of the job files and the links
        if (p.phase === 'sync' && !moved) {
          moved = true;
          renameSync(join(maildir, 'new'), join(maildir, 'new-gone'));
        }
      },
    }));
    assert.match(e.message, /cannot store a message in the maildir: .*ENOENT/);
    assert.equal(e.info.announced, 0);
    assert.deepEqual(await listDir(join(maildir, 'tmp')), []);
  });
});

function raise(code: string): never {
  throw Object.assign(new Error(`${code}: injected`), { code });
}
