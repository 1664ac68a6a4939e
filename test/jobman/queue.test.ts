import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Clock } from '../../src/core/clock.js';
import type { MessageQueue } from '../../src/core/queue.js';
import { parseMeta } from '../../src/queue/retry-state.js';
import { Spool } from '../../src/maildir/spool.js';
import { createJobmanHandler, type JobmanHandler } from '../../src/jobman/handler.js';
import { controlSuffix, JobmanQueue, type ControlKind, type JobmanQueueOptions } from '../../src/jobman/queue.js';
import { body, deploy, rowsOf, SPEC_EXAMPLE, tempDir } from './fixtures.js';
import { tempDir as tempDirAsync } from '../helpers/tmp.js';
import {
  chownTree, DAEMON_GID, DAEMON_UID, openUp, OTHER_GID, OTHER_UID, runNodeAs, unprivilegedSkipReason,
} from '../helpers/unprivileged.js';

const HOUR = 3600_000;

class FakeClock implements Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
}

function setup(opts: Partial<JobmanQueueOptions> = {}): { dir: string; q: JobmanQueue; controls: [ControlKind, string][]; clock: FakeClock } {
  const dir = tempDir();
  const controls: [ControlKind, string][] = [];
  const clock = new FakeClock(Date.UTC(2018, 7, 8, 12, 0, 0));
  const q = new JobmanQueue({
    iqueue: join(dir, 'iqueue'), oqueue: join(dir, 'oqueue'), equeue: join(dir, 'equeue'), sub: '00',
    statedir: join(dir, '.jp-jobman'), host: 'testhost', pid: 4242, clock, random: () => 0.5,
    onControl: (k, p) => controls.push([k, p]),
    ...opts,
  });
  return { dir, q, controls, clock };
}

const ls = (d: string): string[] => (existsSync(d) ? readdirSync(d).sort() : []);

async function names(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const n of it) out.push(n);
  return out.sort();
}

test('queue: init creates the layout; statedir is private', async () => {
  const { dir, q } = setup();
  try {
    await q.init();
    for (const d of ['iqueue/00', 'oqueue/00', 'equeue/00', '.jp-jobman/00/work', '.jp-jobman/00/retry']) assert.ok(statSync(join(dir, d)).isDirectory(), d);
    assert.equal(statSync(join(dir, '.jp-jobman')).mode & 0o777, 0o700);
    assert.equal(q.watchDir, join(dir, 'iqueue', '00'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('queue: claim → delivered moves to oqueue/<sub>/, no clobbering', async () => {
  const { dir, q } = setup();
  try {
    await q.init();
    writeFileSync(join(dir, 'iqueue/00/a.req'), '[]');
    writeFileSync(join(dir, 'oqueue/00/a.req'), 'an older a.req');
    assert.deepEqual(await names(q.scanNew()), ['a.req']);
    const m = await q.claim('a.req', 'new');
    assert.ok(m !== undefined);
    assert.equal(m.path, join(dir, '.jp-jobman/00/work/a.req:4242@testhost'));
    assert.equal((await q.read(m, 100)).toString(), '[]');
    await assert.rejects(q.read(m, 1), /more than the limit/);
    assert.equal(await q.claim('a.req', 'new'), undefined, 'second claim loses');
    await q.delivered(m);
    assert.deepEqual(ls(join(dir, 'oqueue/00')), ['a.req', `a.req.${Date.UTC(2018, 7, 8, 12)}_1`]);
    assert.equal(readFileSync(join(dir, 'oqueue/00/a.req'), 'utf8'), 'an older a.req');
    assert.deepEqual(ls(join(dir, 'iqueue/00')), []);
    assert.deepEqual(ls(join(dir, '.jp-jobman/00/work')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('queue: give up → equeue/<sub>/ with a reason file', async () => {
  const { dir, q } = setup();
  try {
    await q.init();
    writeFileSync(join(dir, 'iqueue/00/b.req'), 'x');
    const m = await q.claim('b.req', 'new');
    assert.ok(m !== undefined);
    const r = await q.giveUp(m, 'bad jobman request: body: not valid JSON');
    assert.deepEqual(r, { state: 'undeliverable', reason: 'bad jobman request: body: not valid JSON' });
    assert.deepEqual(ls(join(dir, 'equeue/00')), ['b.req', 'b.req.reason']);
    assert.equal((await q.readReason('b.req'))?.gaveUpReason, 'bad jobman request: body: not valid JSON');
    assert.equal(statSync(join(dir, 'equeue/00/b.req.reason')).mode & 0o777, 0o600);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('queue: failed → retry area with meta and due time; due again later; gives up past the limit', async () => {
  const { dir, q, clock } = setup({ policy: { firstDelayMs: HOUR, maxDelayMs: 4 * HOUR, giveUpAfterMs: 10 * HOUR, jitter: 0 } });
  try {
    await q.init();
    writeFileSync(join(dir, 'iqueue/00/c.req'), 'x');
    const m = await q.claim('c.req', 'new');
    assert.ok(m !== undefined);
    const r = await q.failed(m, 'database down');
    assert.deepEqual(r, { state: 'post', nextAttemptAt: clock.t + HOUR, attempts: 1 });
    const retry = join(dir, '.jp-jobman/00/retry');
    assert.deepEqual(ls(retry), ['.c.req.meta', 'c.req']);
    assert.equal(statSync(join(retry, 'c.req')).mtimeMs, clock.t + HOUR);
    assert.equal(parseMeta(readFileSync(join(retry, '.c.req.meta'), 'utf8'))?.lastError, 'database down');
    assert.deepEqual(await names(q.scanDue(clock.t)), []);
    clock.t += HOUR;
    assert.deepEqual(await names(q.scanDue()), ['c.req']);
    const m2 = await q.claim('c.req', 'post');
    assert.equal(m2?.meta?.attempts, 1);
    assert.ok(m2 !== undefined);
    clock.t += 10 * HOUR;
    const r2 = await q.failed(m2, 'still down');
    assert.equal(r2.state, 'undeliverable');
    assert.match(r2.state === 'undeliverable' ? r2.reason : '', /gave up after 2 attempts .* still down/);
    assert.deepEqual(ls(retry), []);
    assert.deepEqual(ls(join(dir, 'equeue/00')), ['c.req', 'c.req.reason']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('queue: a retried request delivered later leaves no retry state', async () => {
  const { dir, q, clock } = setup({ policy: { firstDelayMs: 1000, maxDelayMs: 1000, giveUpAfterMs: HOUR, jitter: 0 } });
  try {
    await q.init();
    writeFileSync(join(dir, 'iqueue/00/d.req'), 'x');
    const m = await q.claim('d.req', 'new');
    assert.ok(m !== undefined);
    await q.failed(m, 'x');
    clock.t += 1000;
    const m2 = await q.claim('d.req', 'post');
    assert.ok(m2 !== undefined);
    await q.delivered(m2);
    assert.deepEqual(ls(join(dir, '.jp-jobman/00/retry')), []);
    assert.deepEqual(ls(join(dir, 'oqueue/00')), ['d.req']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('queue: wrongly named files and non-files go to equeue with a reason; hidden files and folders are left', async () => {
  const { dir, q } = setup();
  try {
    await q.init();
    const iq = join(dir, 'iqueue/00');
    writeFileSync(join(iq, 'notes.txt'), 'x');
    writeFileSync(join(iq, 'noext'), 'x');
    writeFileSync(join(iq, '.req'), 'x');
    writeFileSync(join(iq, '.partial'), 'x');
    writeFileSync(join(iq, 'good.req'), '[]');
    mkdirSync(join(iq, 'subdir'));
    writeFileSync(join(dir, 'secret'), 'x');
    symlinkSync(join(dir, 'secret'), join(iq, 'link.req'));
    assert.deepEqual(await names(q.scanNew()), ['good.req']);
    assert.deepEqual(ls(iq), ['.partial', '.req', 'good.req', 'subdir'], 'dot files (even .req) are left alone');
    assert.deepEqual(ls(join(dir, 'equeue/00')), ['link.req', 'link.req.reason', 'noext', 'noext.reason', 'notes.txt', 'notes.txt.reason']);
    assert.match((await q.readReason('notes.txt'))?.gaveUpReason ?? '', /bad request file name "notes.txt": wrong type: jobman requests are named <uid>\.req/);
    assert.match((await q.readReason('link.req'))?.gaveUpReason ?? '', /not a regular file/);
    assert.equal(await q.refuseName('good.req'), undefined);
    writeFileSync(join(iq, 'other.dat'), 'x');
    assert.equal(await q.refuseName('other.dat'), 'other.dat');
    assert.ok(existsSync(join(dir, 'equeue/00/other.dat.reason')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('queue: control files are moved to oqueue with the timestamp suffix and reported', async () => {
  const { dir, q, controls, clock } = setup();
  try {
    await q.init();
    const iq = join(dir, 'iqueue/00');
    writeFileSync(join(iq, 'com.daphne.jobman.quit'), '');
    writeFileSync(join(iq, 'com.daphne.jobman.restart'), '');
    assert.deepEqual(await names(q.scanNew()), []);
    const suffix = controlSuffix(clock.t);
    assert.match(suffix, /^_\d{4}-\d\d-\d\d_\d\d:\d\d:\d\d$/);
    assert.deepEqual(ls(join(dir, 'oqueue/00')), [`com.daphne.jobman.quit${suffix}`, `com.daphne.jobman.restart${suffix}`]);
    assert.deepEqual(controls.map((c) => c[0]).sort(), ['quit', 'restart']);
    assert.ok(controls.every(([, p]) => p.startsWith(join(dir, 'oqueue/00/com.daphne.jobman.'))));
    // A second quit in the same second does not replace the first.
    writeFileSync(join(iq, 'com.daphne.jobman.quit'), '');
    await names(q.scanNew());
    assert.equal(ls(join(dir, 'oqueue/00')).filter((n) => n.startsWith('com.daphne.jobman.quit')).length, 2);
    assert.equal(controls.length, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('queue: controlSuffix is local time as jobman wrote it', () => {
  const t = new Date(2018, 7, 8, 12, 0, 0).getTime();
  assert.equal(controlSuffix(t), '_2018-08-08_12:00:00');
  assert.equal(controlSuffix(new Date(2024, 0, 2, 3, 4, 5).getTime()), '_2024-01-02_03:04:05');
});

test('queue: recover returns dead claims of this host only; release puts a claim back', async () => {
  const { dir, q } = setup();
  try {
    await q.init();
    const work = join(dir, '.jp-jobman/00/work');
    writeFileSync(join(work, 'dead.req:111@testhost'), 'x');
    writeFileSync(join(work, 'alive.req:222@testhost'), 'x');
    writeFileSync(join(work, 'other.req:111@elsewhere'), 'x');
    const r = await q.recover((pid) => pid === 222);
    assert.deepEqual(r, { recovered: ['dead.req'], foreign: 1, skipped: [] });
    assert.deepEqual(ls(join(dir, 'iqueue/00')), ['dead.req']);
    const m = await q.claim('dead.req', 'new');
    assert.ok(m !== undefined);
    await q.release(m);
    assert.deepEqual(ls(join(dir, 'iqueue/00')), ['dead.req']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('queue: two consumers racing claim each request once', async () => {
  const { dir, q } = setup();
  const q2 = new JobmanQueue({ iqueue: join(dir, 'iqueue'), oqueue: join(dir, 'oqueue'), equeue: join(dir, 'equeue'), sub: '00', statedir: join(dir, '.jp-jobman'), host: 'testhost', pid: 4343 });
  try {
    await q.init();
    for (let i = 0; i < 50; i++) writeFileSync(join(dir, `iqueue/00/r${i}.req`), '[]');
    const all = await names(q.scanNew());
    const wins = await Promise.all(all.flatMap((n) => [q.claim(n, 'new'), q2.claim(n, 'new')]));
    assert.equal(wins.filter((w) => w !== undefined).length, 50);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

async function drain(q: MessageQueue, h: JobmanHandler): Promise<void> {
  const signal = new AbortController().signal;
  for await (const name of q.scanNew()) {
    if ((await q.refuseName(name)) !== undefined) continue;
    const m = await q.claim(name, 'new');
    if (m === undefined) continue;
    const o = await h.handle(m, await q.read(m, 1 << 20), signal);
    if (o.kind === 'delivered') await q.delivered(m);
    else if (o.kind === 'retry') await q.failed(m, o.reason);
    else await q.giveUp(m, o.reason);
  }
}

test('queue + handler: jobman compatibility end to end', async () => {
  const d = await deploy({ driver: 'sqlite', results: 'sqlite' });
  const controls: ControlKind[] = [];
  const q = JobmanQueue.fromConfig(d.config, { onControl: (k) => controls.push(k) });
  const h = createJobmanHandler(d.config);
  try {
    await q.init();
    const iq = join(d.config.iqueue, '00');
    writeFileSync(join(iq, 'ok1.req'), SPEC_EXAMPLE);
    writeFileSync(join(iq, 'broken.req'), '[{"sql": "posupld", "rows": [');
    const failing = rowsOf(2);
    (failing[1] as Record<string, unknown>)['SALE_QTY'] = -500;
    writeFileSync(join(iq, 'failing.req'), body([{ sql: 'posupld', rows: failing }]));
    writeFileSync(join(iq, 'wrong.json'), '[]');
    writeFileSync(join(iq, 'com.daphne.jobman.quit'), '');
    await drain(q, h);
    assert.deepEqual(ls(iq), []);
    assert.ok(existsSync(join(d.config.iqueue, '00_log.db')), 'default result store <iqueue>/<sub>_log.db');
    const out = ls(join(d.config.oqueue, '00'));
    assert.ok(out.includes('ok1.req'));
    assert.ok(out.some((n) => n.startsWith('com.daphne.jobman.quit_')));
    assert.deepEqual(ls(join(d.config.equeue, '00')), ['broken.req', 'broken.req.reason', 'failing.req', 'failing.req.reason', 'wrong.json', 'wrong.json.reason']);
    assert.match((await q.readReason('broken.req'))?.gaveUpReason ?? '', /not valid JSON/);
    assert.match((await q.readReason('failing.req'))?.gaveUpReason ?? '', /step 0 \(posupld\) row 1/);
    assert.deepEqual(controls, ['quit']);
    assert.equal((await d.rows()).length, 2);
    assert.deepEqual((await d.records('failing')).map((r) => r.seq), [0]);
  } finally {
    await h.close();
    await d.close();
  }
});

test('maildir Spool + handler: new-style jobman spool (uid = message name)', async () => {
  const d = await deploy({ driver: 'sqlite', results: 'same' });
  const spool = new Spool(join(d.dir, 'mdir'));
  const h = createJobmanHandler(d.config, { dir: 'mdir' });
  try {
    await spool.init();
    const good = await spool.store(SPEC_EXAMPLE);
    const bad = await spool.store('[{"sql":"../x","rows":[]}]');
    await drain(spool, h);
    assert.deepEqual(ls(join(d.dir, 'mdir/new')), []);
    assert.deepEqual(ls(join(d.dir, 'mdir/undeliverable')), [bad, `${bad}.meta`]);
    assert.match(readFileSync(join(d.dir, 'mdir/undeliverable', `${bad}.meta`), 'utf8'), /script name contains a path separator/);
    const recs = await d.records(good);
    assert.equal(recs.length, 1);
    assert.equal(recs[0]?.dir, 'mdir');
    assert.equal((await d.rows()).length, 2);
  } finally {
    await h.close();
    await d.close();
  }
});

test('queue: recover takes back a claim whose pid now belongs to another process (other start time); old-format claims as before', async (t) => {
  const { dir, q } = setup({ pid: undefined, host: 'testhost' });
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => sleeper.kill('SIGKILL'));
  try {
    await q.init();
    const pid = sleeper.pid as number;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().slice(0, 8);
    const work = join(dir, '.jp-jobman/00/work');
    writeFileSync(join(work, `reused.req:${pid}-${ticks + 3}-${boot}@testhost`), 'x');
    writeFileSync(join(work, `same.req:${pid}-${ticks}-${boot}@testhost`), 'x');
    writeFileSync(join(work, `old.req:${pid}@testhost`), 'x');
    const r = await q.recover();
    assert.deepEqual(r.recovered, ['reused.req']);
    assert.deepEqual(ls(join(dir, 'iqueue/00')), ['reused.req']);
    const m = await q.claim('reused.req', 'new');
    assert.ok(m !== undefined);
    assert.match(m.path, new RegExp(`:${process.pid}-\\d+-[0-9a-f]{8}@testhost$`), 'its own claims carry its life');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const UNTOUCHABLE_CHILD = fileURLToPath(new URL('../daemon/untouchable-child.js', import.meta.url));

test('queue, not root: requests of another user are moved without hard links, retried without stamping, given up when unreadable; a dead claim of one is recovered',
  { skip: unprivilegedSkipReason({ protectedHardlinks: true, module: UNTOUCHABLE_CHILD }), timeout: 120_000 }, async (t) => {
    const dir = await tempDirAsync(t);
    await openUp(dir);
    const opts = { iqueue: join(dir, 'iqueue'), oqueue: join(dir, 'oqueue'), equeue: join(dir, 'equeue'), sub: '00', statedir: join(dir, '.jp-jobman') };
    const q = new JobmanQueue(opts);
    await q.init();
    const goods: string[] = [];
    for (let i = 0; i < 5; i++) {
      goods.push(`good ${i}`);
      writeFileSync(join(dir, 'iqueue/00', `g${i}.req`), `good ${i}`);
    }
    await chownTree(dir, DAEMON_UID, DAEMON_GID);
    const other = (path: string, body: string, mode: number) => {
      writeFileSync(path, body);
      chownSync(path, OTHER_UID, OTHER_GID);
      chmodSync(path, mode);
    };
    goods.push('retry other');
    other(join(dir, 'iqueue/00', 'retry-other.req'), 'retry other', 0o644);
    goods.push('other readable');
    other(join(dir, 'iqueue/00', 'other-readable.req'), 'other readable', 0o644);
    other(join(dir, 'iqueue/00', 'other-unreadable.req'), 'secret', 0o600);
    goods.push('recovered other');
    other(join(dir, '.jp-jobman/00/work', `dead.req:999999@${q.host}`), 'recovered other', 0o644);

    const r = await runNodeAs(UNTOUCHABLE_CHILD, [opts.iqueue, String(goods.length), '1', JSON.stringify(opts)]);
    const lines = r.stdout.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Record<string, unknown>);
    const summary = lines.at(-1)?.['summary'] as { bodies: string[]; fatal: number; loopError: string | null } | undefined;
    assert.equal(r.code, 0, `child exit ${r.code} ${r.signal}: ${r.stderr.slice(-2000)}\n${r.stdout.slice(-3000)}`);
    assert.equal(summary?.loopError, null, 'recover did not throw');
    assert.equal(summary?.fatal, 0);
    assert.deepEqual([...(summary?.bodies ?? [])].sort(), [...goods].sort(), 'each delivered once');
    assert.deepEqual(ls(join(dir, 'equeue/00')), ['other-unreadable.req', 'other-unreadable.req.reason']);
    assert.match((await q.readReason('other-unreadable.req'))?.gaveUpReason ?? '', /request cannot be read.*EACCES/);
    assert.deepEqual(ls(join(dir, 'oqueue/00')), ['dead.req', 'g0.req', 'g1.req', 'g2.req', 'g3.req', 'g4.req', 'other-readable.req', 'retry-other.req']);
    assert.deepEqual(ls(join(dir, 'iqueue/00')), []);
    assert.deepEqual(ls(join(dir, '.jp-jobman/00/work')), []);
    assert.deepEqual(ls(join(dir, '.jp-jobman/00/retry')), []);
  });
