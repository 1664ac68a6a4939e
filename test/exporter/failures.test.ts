import { stat } from 'node:fs/promises';
/**
 * Write errors halfway (R8), injected through the ExportFs layer: the run
 * fails with a message naming the file, and no job is announced.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ExportFailure, nodeExportFs, runExport, type ExportFs } from '../../src/exporter/index.js';
import { Spool } from '../../src/maildir/spool.js';
import { MessageBatch, nodeBatchFs } from '../../src/maildir/store-many-sync.js';
import { chunks, interleavedLines, joinLines, makeJobs, readMessages, storeFiles, tempDir, expectedContent } from './helpers.js';
import { readFile } from 'node:fs/promises';

function errno(code: string): Error {
  return Object.assign(new Error(`${code}: injected`), { code });
}

function raise(e: Error): never {
  throw e;
}

/** Real fs, counting open descriptors; `fail` decides per call whether to throw. */
function countingFs(fail: (op: string, n: number) => Error | undefined = () => undefined) {
  const calls = new Map<string, number>();
  const stats = { open: 0, maxOpen: 0, syncing: 0, maxSyncing: 0 };
  const hit = (op: string): void => {
    const n = (calls.get(op) ?? 0) + 1;
    calls.set(op, n);
    const e = fail(op, n);
    if (e !== undefined) throw e;
  };
  const opened = (fd: number): number => {
    stats.open++;
    stats.maxOpen = Math.max(stats.maxOpen, stats.open);
    return fd;
  };
  const fs: ExportFs = {
    openNew: (p, m) => (hit('openNew'), opened(nodeExportFs.openNew(p, m))),
    openAppend: (p) => (hit('openAppend'), opened(nodeExportFs.openAppend(p))),
    writev: (fd, bufs) => (hit('writev'), nodeExportFs.writev(fd, bufs)),
    close: (fd) => {
      hit('close');
      stats.open--;
      nodeExportFs.close(fd);
    },
    async syncFile(p) {
      hit('syncFile');
      stats.syncing++;
      stats.maxSyncing = Math.max(stats.maxSyncing, stats.syncing + stats.open);
      try {
        return await nodeExportFs.syncFile(p);
      } finally {
        stats.syncing--;
      }
    },
    syncDir: async (p) => (hit('syncDir'), nodeExportFs.syncDir(p)),
  };
  return { fs, stats, calls };
}

async function setup(t: Parameters<typeof tempDir>[0]) {
  const root = await tempDir(t);
  const store = join(root, 'store');
  await mkdir(store);
  const jobs = makeJobs(40, (j) => 2 + (j % 4));
  return { store, maildir: join(root, 'md'), jobs, data: joinLines(interleavedLines(jobs, 99)) };
}

async function failing(p: Promise<unknown>): Promise<ExportFailure> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  assert.ok(e instanceof ExportFailure, `expected ExportFailure, got ${String(e)}`);
  return e;
}

describe('exporter failures halfway announce nothing', () => {
  it('write error (EIO) on the 5th writev', async (t) => {
    const { store, maildir, data } = await setup(t);
    const { fs } = countingFs((op, n) => (op === 'writev' && n === 5 ? errno('EIO') : undefined));
    const e = await failing(runExport(chunks(data, [512]), { store, maildir, fs, maxOpen: 4, bufferBytes: 4096 }));
    assert.equal(e.code, 'JP_LOCAL_FILE');
    assert.match(e.message, new RegExp(`^cannot write to job file ${store}/\\S+: EIO: injected`));
    assert.ok(e.info.filesLeft > 0);
    assert.equal(e.info.announced, 0);
    assert.deepEqual(await readMessages(maildir), []);
  });

  it('no space when creating the 10th job file', async (t) => {
    const { store, maildir, data } = await setup(t);
    const { fs } = countingFs((op, n) => (op === 'openNew' && n === 10 ? errno('ENOSPC') : undefined));
    const e = await failing(runExport(chunks(data), { store, maildir, fs, maxOpen: 4, bufferBytes: 4096 }));
    assert.match(e.message, /^cannot create job file .*: ENOSPC: injected/);
    assert.equal(e.info.filesLeft, 9);
    assert.deepEqual(await readMessages(maildir), []);
  });

  it('fsync of a job file fails', async (t) => {
    const { store, maildir, data } = await setup(t);
    const { fs } = countingFs((op, n) => (op === 'syncFile' && n === 3 ? errno('EIO') : undefined));
    const e = await failing(runExport(chunks(data), { store, maildir, fs }));
    assert.match(e.message, /^cannot fsync job file .*: EIO: injected/);
    assert.deepEqual(await readMessages(maildir), []);
  });

  it('fsync of the store directory fails', async (t) => {
    const { store, maildir, data } = await setup(t);
    const { fs } = countingFs((op) => (op === 'syncDir' ? errno('EIO') : undefined));
    const e = await failing(runExport(chunks(data), { store, maildir, fs }));
    assert.match(e.message, new RegExp(`^cannot fsync store directory ${store}`));
    assert.deepEqual(await readMessages(maildir), []);
  });

  for (const [how, syncFs] of [['after one syncfs', () => true], ['with an fsync per file', () => false]] as const) {
    it(`a job file whose size is not what was written (changed by someone else), ${how}`, async (t) => {
      const { store, maildir, data } = await setup(t);
      const fs: ExportFs = {
        ...nodeExportFs,
        syncFs,
        syncFile: async (p) => (await nodeExportFs.syncFile(p)) + 1,
        sizeOf: async (p) => (await stat(p)).size + 1,
      };
      const e = await failing(runExport(chunks(data), { store, maildir, fs }));
      assert.match(e.message, /^job file .* is \d+ bytes but \d+ were written/);
      assert.deepEqual(await readMessages(maildir), []);
    });
  }

  it('a failing maildir store reports how many were announced', async (t) => {
    const { store, maildir, data } = await setup(t);
    await new Spool(maildir).init();
    let n = 0;
    const messages = new MessageBatch(maildir, {
      fs: { ...nodeBatchFs, link: (a, b) => (++n > 5 ? raise(errno('ENOSPC')) : nodeBatchFs.link(a, b)) },
    });
    const e = await failing(runExport(chunks(data), { store, maildir, messages }));
    assert.equal(e.info.announced, 5);
    assert.match(e.message, /cannot store a message in the maildir: ENOSPC: injected/);
  });
});

describe('exporter write path', () => {
  it('never holds more than --max-open descriptors, including the fsync pass', async (t) => {
    const { store, maildir, data, jobs } = await setup(t);
    const { fs, stats, calls } = countingFs();
    await runExport(chunks(data, [300]), { store, maildir, fs, maxOpen: 3, bufferBytes: 4096 });
    assert.ok(stats.maxOpen <= 3, `max open ${stats.maxOpen}`);
    assert.ok(stats.maxSyncing <= 3, `max open while syncing ${stats.maxSyncing}`);
    assert.equal(stats.open, 0, 'all closed at the end');
    assert.ok((calls.get('openAppend') ?? 0) > 0, 'files were reopened');
    assert.equal(calls.get('openNew'), jobs.length);
    assert.equal((await readMessages(maildir)).length, jobs.length);
  });

  it('the system refusing descriptors below --max-open (EMFILE): one is closed and the bound lowered, the run completes', async (t) => {
    const { store, maildir, data, jobs } = await setup(t);
    const limit = 3;
    const { fs, stats } = countingFs((op) => ((op === 'openNew' || op === 'openAppend') && stats.open >= limit ? errno('EMFILE') : undefined));
    await runExport(chunks(data, [300]), { store, maildir, fs, maxOpen: 10, bufferBytes: 4096 });
    assert.ok(stats.maxOpen <= limit, `max open ${stats.maxOpen}`);
    assert.equal(stats.open, 0, 'all closed at the end');
    const files = await storeFiles(store);
    for (const job of jobs) {
      assert.ok((await readFile(files.get(job.unique) as string)).equals(expectedContent(job)), job.unique);
    }
    assert.equal((await readMessages(maildir)).length, jobs.length);
  });

  it('EMFILE with no descriptor held is an error naming the file', async (t) => {
    const { store, maildir, data } = await setup(t);
    const { fs } = countingFs((op) => (op === 'openNew' ? errno('EMFILE') : undefined));
    const e = await failing(runExport(chunks(data), { store, maildir, fs }));
    assert.match(e.message, /^cannot create job file .*: EMFILE: injected/);
    assert.deepEqual(await readMessages(maildir), []);
  });

  for (const failing of [false, true]) {
    it(`background syncfs every --writeback-bytes while splitting${failing ? '; one failing makes the final pass fsync every file' : ''}`, async (t) => {
      const { store, maildir, data, jobs } = await setup(t);
      let started = 0;
      const { fs, calls } = countingFs();
      const fs2: ExportFs = {
        ...fs,
        syncFs: () => true,
        sizeOf: async (p) => (await stat(p)).size,
        startSyncFs: async () => ++started !== 2 || !failing,
      };
      await runExport(chunks(data, [700]), { store, maildir, fs: fs2, bufferBytes: 4096, writebackBytes: 8192 });
      assert.ok(started >= 3, `background syncfs started ${started} times`);
      assert.equal(calls.get('syncFile') ?? 0, failing ? jobs.length : 0);
      assert.equal((await readMessages(maildir)).length, jobs.length);
    });
  }

  it('partial writes are completed', async (t) => {
    const { store, maildir, data, jobs } = await setup(t);
    const fs: ExportFs = {
      ...nodeExportFs,
      // At most 7 bytes of the first buffer per call.
      writev: (fd, bufs) => nodeExportFs.writev(fd, [(bufs[0] as Buffer).subarray(0, 7)]),
    };
    await runExport(chunks(data), { store, maildir, fs, maxOpen: 5, bufferBytes: 4096 });
    const files = await storeFiles(store);
    for (const job of jobs) {
      assert.ok((await readFile(files.get(job.unique) as string)).equals(expectedContent(job)), job.unique);
    }
  });

  it('a writev that makes no progress is an error, not a loop', async (t) => {
    const { store, maildir, data } = await setup(t);
    const fs: ExportFs = { ...nodeExportFs, writev: () => 0 };
    const e = await failing(runExport(chunks(data), { store, maildir, fs }));
    assert.match(e.message, /no progress/);
  });

  it('a name already taken is skipped (O_EXCL), not overwritten', async (t) => {
    const { store, maildir, jobs, data } = await setup(t);
    let first = true;
    const fs: ExportFs = {
      ...nodeExportFs,
      openNew: (p, m) => {
        if (first) {
          first = false;
          throw errno('EEXIST');
        }
        return nodeExportFs.openNew(p, m);
      },
    };
    await runExport(chunks(data), { store, maildir, fs });
    assert.equal((await storeFiles(store)).size, jobs.length);
  });
});
