import assert from 'node:assert/strict';
import { link, lutimes, mkdir, readdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isJpError } from '../../src/core/errors.js';
import { Spool } from '../../src/maildir/spool.js';
import { cleanTmp, formatAge, pruneStore } from '../../src/schedule/cleanup.js';
import { requeueTask } from '../../src/schedule/requeue.js';
import { runTask } from '../../src/schedule/actions.js';
import type { CleanTmpSpec, PruneStoreSpec, RequeueSpec, TaskDeps } from '../../src/schedule/types.js';
import { captureLogger, fileAged, tempDir } from './helpers.js';

const NOW = Date.now();
const H = 3_600_000;
const D = 24 * H;
const BASE = { schedule: '* * * * *', overdueMs: undefined, source: 'test' };

function deps(signal?: AbortSignal): TaskDeps & { lines: ReturnType<typeof captureLogger>['lines'] } {
  const { log, lines } = captureLogger();
  return { log, clock: { now: () => NOW }, lines, ...(signal !== undefined ? { signal } : {}) };
}

const ls = async (dir: string): Promise<string[]> => (await readdir(dir)).sort();

describe('prune-store', () => {
  it('removes old regular files only: young, dot, sub-directory and symlinked files stay', async (t) => {
    const root = await tempDir(t);
    const dir = join(root, 'store');
    const outside = join(root, 'outside');
    await mkdir(join(dir, 'sub'), { recursive: true });
    await mkdir(outside);
    await fileAged(join(dir, 'old1'), 31 * D, NOW);
    await fileAged(join(dir, 'old2'), 40 * D, NOW);
    await fileAged(join(dir, 'young'), 29 * D, NOW);
    await fileAged(join(dir, '.hidden'), 40 * D, NOW);
    await fileAged(join(dir, 'sub', 'deep-old'), 40 * D, NOW);
    await fileAged(join(outside, 'target'), 40 * D, NOW);
    await symlink(join(outside, 'target'), join(dir, 'link-old'));
    await lutimes(join(dir, 'link-old'), new Date(NOW - 40 * D), new Date(NOW - 40 * D));
    await symlink(outside, join(dir, 'dirlink'));
    const spec: PruneStoreSpec = { ...BASE, name: 'p', action: 'prune-store', dir, olderThanMs: 30 * D };
    const r = await runTask(spec, deps());
    assert.equal(r.ok, true);
    assert.deepEqual(r.counts, { removed: 2, kept: 1, errors: 0 });
    assert.match(r.summary, /removed 2 files older than 30d from .*store, kept 1/);
    assert.deepEqual(await ls(dir), ['.hidden', 'dirlink', 'link-old', 'sub', 'young']);
    assert.deepEqual(await ls(join(dir, 'sub')), ['deep-old']);
    assert.deepEqual(await ls(outside), ['target']);
  });

  it('a missing directory fails the run naming it', async (t) => {
    const root = await tempDir(t);
    const spec: PruneStoreSpec = { ...BASE, name: 'p', action: 'prune-store', dir: join(root, 'nope'), olderThanMs: D };
    await assert.rejects(pruneStore(spec, deps()), (e: unknown) => isJpError(e, 'JP_LOCAL_FILE') && e.message.includes(join(root, 'nope')));
  });

  it('stops between files once aborted', async (t) => {
    const dir = await tempDir(t);
    for (let i = 0; i < 5; i++) await fileAged(join(dir, `f${i}`), 2 * D, NOW);
    const ac = new AbortController();
    ac.abort();
    const r = await pruneStore({ ...BASE, name: 'p', action: 'prune-store', dir, olderThanMs: D }, deps(ac.signal));
    assert.equal(r.counts['removed'], 0);
    assert.match(r.summary, /stopped early/);
    assert.equal((await ls(dir)).length, 5);
  });
});

describe('clean-tmp', () => {
  it('removes old single-link files of every tmp/, keeps twins, young and dot files', async (t) => {
    const root = await tempDir(t);
    const reg = new Spool(join(root, 'reg'));
    await reg.init();
    const tmp = join(root, 'reg', 'tmp');
    await fileAged(join(tmp, 'orphan'), 37 * H, NOW);
    await fileAged(join(tmp, 'twin'), 37 * H, NOW);
    await link(join(tmp, 'twin'), join(root, 'reg', 'new', 'twin'));
    await fileAged(join(tmp, 'young'), 35 * H, NOW);
    await fileAged(join(tmp, '.nfs0001'), 40 * H, NOW);
    // A producer's message stored with its tmp/ link kept (the LB C library does so).
    const kept = await reg.store('jobid\thttps://x/y\n', { keepTmpLink: true });
    const dump = new Spool(join(root, 'dump'));
    await dump.init();
    await fileAged(join(root, 'dump', 'tmp', 'orphan2'), 3 * D, NOW);
    const spec: CleanTmpSpec = {
      ...BASE, name: 'c', action: 'clean-tmp', olderThanMs: 36 * H,
      spools: [{ name: 'reg', root: join(root, 'reg') }, { name: 'dump', root: join(root, 'dump') }, { name: 'sandbox', root: join(root, 'none') }],
    };
    const r = await cleanTmp(spec, deps());
    assert.equal(r.ok, true);
    assert.equal(r.counts['removed'], 2);
    assert.deepEqual(await ls(tmp), ['.nfs0001', kept, 'twin', 'young'].sort());
    assert.deepEqual(await ls(join(root, 'dump', 'tmp')), []);
    assert.deepEqual(await ls(join(root, 'reg', 'new')), [kept, 'twin'].sort());
  });

  it('older-than is honoured', async (t) => {
    const root = await tempDir(t);
    await mkdir(join(root, 'tmp'));
    await fileAged(join(root, 'tmp', 'a'), 2 * H, NOW);
    await fileAged(join(root, 'tmp', 'b'), 30 * 60_000, NOW);
    const r = await cleanTmp({ ...BASE, name: 'c', action: 'clean-tmp', olderThanMs: H, spools: [{ name: 'x', root }] }, deps());
    assert.deepEqual(r.counts, { removed: 1, kept: 1, errors: 0 });
    assert.deepEqual(await ls(join(root, 'tmp')), ['b']);
  });
});

describe('requeue', () => {
  async function spoolWithFailures(root: string): Promise<{ spool: Spool; given: string; retried: string }> {
    const spool = new Spool(root);
    await spool.init();
    const given = await spool.store('jobid\thttps://lb.example.org:9000/a\nfile\t/x/a\n');
    const retried = await spool.store('jobid\thttps://lb.example.org:9000/b\nfile\t/x/b\n');
    const m1 = await spool.claim(given);
    const m2 = await spool.claim(retried);
    assert.ok(m1 !== undefined && m2 !== undefined);
    await spool.giveUp(m1, 'permanent');
    const f = await spool.failed(m2, 'temporary');
    assert.equal(f.state, 'post');
    return { spool, given, retried };
  }

  it('from undeliverable: back to new/ with the retry state dropped; post/ untouched', async (t) => {
    const root = await tempDir(t);
    const reg = await spoolWithFailures(join(root, 'reg'));
    const spec: RequeueSpec = { ...BASE, name: 'r', action: 'requeue', spools: [{ name: 'reg', root: join(root, 'reg') }], from: ['undeliverable'] };
    const r = await requeueTask(spec, deps());
    assert.equal(r.ok, true);
    assert.equal(r.counts['requeued'], 1);
    assert.match(r.summary, /requeued 1 messages from undeliverable \(reg: 1\)/);
    assert.deepEqual(await ls(join(root, 'reg', 'new')), [reg.given]);
    assert.deepEqual(await ls(join(root, 'reg', 'undeliverable')), []);
    assert.deepEqual(await ls(join(root, 'reg', 'post')), ['.' + reg.retried + '.meta', reg.retried].sort());
  });

  it('from both over the chosen spools only; missing spools are fine', async (t) => {
    const root = await tempDir(t);
    const reg = await spoolWithFailures(join(root, 'reg'));
    const dump = await spoolWithFailures(join(root, 'dump'));
    const spec: RequeueSpec = {
      ...BASE, name: 'r', action: 'requeue', from: ['undeliverable', 'post'],
      spools: [{ name: 'reg', root: join(root, 'reg') }, { name: 'sandbox', root: join(root, 'missing') }],
    };
    const r = await runTask(spec, deps());
    assert.deepEqual(r.counts, { requeued: 2, errors: 0 });
    assert.match(r.summary, /reg: 2, sandbox: 0/);
    assert.deepEqual(await ls(join(root, 'reg', 'new')), [reg.given, reg.retried].sort());
    assert.deepEqual(await ls(join(root, 'reg', 'post')), []);
    assert.deepEqual(await ls(join(root, 'dump', 'new')), []);
    assert.deepEqual(await ls(join(root, 'dump', 'undeliverable')), [dump.given, `${dump.given}.meta`].sort());
  });
});

describe('formatAge', () => {
  const cases: [number, string][] = [[30 * D, '30d'], [36 * H, '36h'], [90 * 60_000, '90m'], [45_000, '45s'], [1500, '1500ms'], [0, '0ms']];
  for (const [ms, want] of cases) it(`${ms} → ${want}`, () => assert.equal(formatAge(ms), want));
});
