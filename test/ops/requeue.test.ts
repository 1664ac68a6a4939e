import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, chown, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_RETRY_POLICY } from '../../src/queue/retry-state.js';
import { Spool } from '../../src/maildir/spool.js';
import { runRequeue, type RequeueOptions } from '../../src/ops/requeue.js';
import type { RequeueReport } from '../../src/ops/requeue-report.js';
import { IMPORTER_CLI } from '../helpers/daemon.js';
import { tempDir } from '../helpers/tmp.js';
import {
  chownTree, DAEMON_GID, DAEMON_UID, openUp, OTHER_GID, OTHER_UID, runNodeAs, unprivilegedSkipReason,
} from '../helpers/unprivileged.js';
import { buildSpool, Collect, HOST, T0, type Built } from './fixture.js';

const CHILD = fileURLToPath(new URL('./consumer-child.js', import.meta.url));

async function ls(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
}

async function fresh(): Promise<Built> {
  return buildSpool(join(await tempDir(), 'reg'));
}

async function requeue(b: Built, o: Partial<RequeueOptions>, json = true) {
  const out = new Collect();
  const err = new Collect();
  const code = await runRequeue({ subtrees: [{ name: 'reg', root: b.root }], all: false, ids: [], json, ...o }, out, err);
  return { code, out, err, report: json ? (out.json() as unknown as RequeueReport) : undefined };
}

test('requeue by id from undeliverable/: back in new/, retry state gone, attempts start again', async () => {
  const b = await fresh();
  const { code, report } = await requeue(b, { ids: [b.u2] });
  assert.equal(code, 0);
  assert.deepEqual(report?.moved, [{ id: b.u2, subtree: 'reg', from: 'undeliverable' }]);
  assert.equal(report?.movedTotal, 1);
  assert.deepEqual(report?.notFound, []);
  assert.ok((await ls(join(b.root, 'new'))).includes(b.u2));
  assert.deepEqual(await ls(join(b.root, 'undeliverable')), [b.u1, `${b.u1}.meta`]);
  const spool = new Spool(b.root, { host: HOST });
  const m = await spool.claim(b.u2);
  assert.equal(m?.meta, undefined);
});

test('requeue by id from post/ (default from = both)', async () => {
  const b = await fresh();
  const { code, report } = await requeue(b, { ids: [b.p1, b.u1] });
  assert.equal(code, 0);
  assert.deepEqual(report?.moved, [
    { id: b.p1, subtree: 'reg', from: 'post' },
    { id: b.u1, subtree: 'reg', from: 'undeliverable' },
  ]);
  assert.deepEqual(await ls(join(b.root, 'post')), [b.p2, b.p3]);
  assert.deepEqual(report?.from, ['undeliverable', 'post']);
});

test('requeue --from limits the area: a post/ id is not found with --from undeliverable', async () => {
  const b = await fresh();
  const { code, report } = await requeue(b, { ids: [b.p1], from: 'undeliverable' });
  assert.equal(code, 1);
  assert.deepEqual(report?.moved, []);
  assert.deepEqual(report?.notFound, [{ id: b.p1, seenIn: [{ subtree: 'reg', state: 'post' }] }]);
  assert.ok((await ls(join(b.root, 'post'))).includes(b.p1));
});

test('requeue: ids not found → exit 1, with where they are instead; found ones still move', async () => {
  const b = await fresh();
  const { code, report } = await requeue(b, { ids: [b.u1, 'nope', b.n1, b.live] });
  assert.equal(code, 1);
  assert.deepEqual(report?.moved, [{ id: b.u1, subtree: 'reg', from: 'undeliverable' }]);
  assert.deepEqual(report?.notFound, [
    { id: 'nope', seenIn: [] },
    { id: b.n1, seenIn: [{ subtree: 'reg', state: 'new' }] },
    { id: b.live, seenIn: [{ subtree: 'reg', state: 'cur' }] },
  ]);
  const text = await requeue(b, { ids: ['nope'] }, false);
  assert.equal(text.code, 1);
  assert.equal(text.out.text, 'not found: nope (not in any state)\nrequeued 0 messages (1 id requested)\n');
});

test('requeue --all: every message of undeliverable/ and post/ moves; text shows counts', async () => {
  const b = await fresh();
  const { code, out } = await requeue(b, { all: true }, false);
  assert.equal(code, 0);
  assert.match(out.text, /^reg: requeued 2 from undeliverable\/, 3 from post\/$/m);
  assert.match(out.text, /^requeued 5 messages$/m);
  assert.deepEqual(await ls(join(b.root, 'undeliverable')), []);
  assert.deepEqual(await ls(join(b.root, 'post')), []);
  assert.deepEqual(await ls(join(b.root, 'new')), [b.n1, b.n2, b.p1, b.p2, b.p3, b.u1, b.u2].sort());
  const again = await requeue(b, { all: true });
  assert.equal(again.code, 0);
  assert.equal(again.report?.movedTotal, 0);
  assert.deepEqual(again.report?.counts, [
    { subtree: 'reg', from: 'undeliverable', moved: 0, vanished: 0, conflicts: 0 },
    { subtree: 'reg', from: 'post', moved: 0, vanished: 0, conflicts: 0 },
  ]);
});

test('requeue --all --from post leaves undeliverable/ alone; JSON shape', async () => {
  const b = await fresh();
  const { code, report } = await requeue(b, { all: true, from: 'post' });
  assert.equal(code, 0);
  assert.deepEqual(Object.keys(report ?? {}).sort(), [
    'adopted', 'conflicts', 'counts', 'errors', 'exitCode', 'from', 'mode', 'moved', 'movedListTruncated', 'movedTotal', 'notFound',
    'requested', 'skipped', 'subtrees', 'version',
  ]);
  assert.equal(report?.version, 1);
  assert.equal(report?.mode, 'all');
  assert.equal(report?.requested, 0);
  assert.deepEqual(report?.from, ['post']);
  assert.deepEqual(report?.subtrees, ['reg']);
  assert.deepEqual(report?.moved.map((m) => m.id).sort(), [b.p1, b.p2, b.p3].sort());
  assert.deepEqual(await ls(join(b.root, 'undeliverable')), [b.u1, `${b.u1}.meta`, b.u2, `${b.u2}.meta`].sort());
});

test('requeue: a name already in new/ is not overwritten (exit 1)', async () => {
  const b = await fresh();
  await writeFile(join(b.root, 'new', b.u1), 'another message of the same name');
  const { code, report } = await requeue(b, { ids: [b.u1] });
  assert.equal(code, 1);
  assert.deepEqual(report?.conflicts, [{ id: b.u1, subtree: 'reg', from: 'undeliverable' }]);
  assert.ok((await ls(join(b.root, 'undeliverable'))).includes(b.u1));
});

test('requeue --subtree: only that subtree; a missing subtree is skipped unless named', async () => {
  const b = await fresh();
  const other = await fresh();
  const missing = join(b.root, '..', 'missing');
  const subtrees = [{ name: 'reg', root: b.root }, { name: 'dump', root: other.root }, { name: 'sandbox', root: missing }];
  const out = new Collect();
  const code = await runRequeue({ subtrees, subtree: 'dump', all: true, ids: [], json: true }, out, new Collect());
  assert.equal(code, 0);
  const r = out.json() as unknown as RequeueReport;
  assert.deepEqual(r.subtrees, ['dump']);
  assert.equal(r.movedTotal, 5);
  assert.equal((await ls(join(b.root, 'undeliverable'))).length, 4);
  const all = new Collect();
  assert.equal(await runRequeue({ subtrees, all: true, ids: [], json: true }, all, new Collect()), 0);
  assert.deepEqual((all.json() as unknown as RequeueReport).skipped, [{ subtree: 'sandbox', root: missing, reason: `${missing} does not exist or is not a directory` }]);
  const named = new Collect();
  assert.equal(await runRequeue({ subtrees, subtree: 'sandbox', all: true, ids: [], json: true }, named, new Collect()), 2);
});

test('requeue through a symbolic link to the spool root; text-mode errors only on stderr', async () => {
  const b = await fresh();
  const linkRoot = join(b.root, '..', 'reg-link');
  await symlink(b.root, linkRoot);
  const out = new Collect();
  const code = await runRequeue({ subtrees: [{ name: 'reg', root: linkRoot }], all: false, ids: [b.u1], json: false }, out, new Collect());
  assert.equal(code, 0);
  assert.equal(out.text, `requeued ${b.u1}: reg undeliverable/ → new/\nrequeued 1 message (1 id requested)\n`);
  const bad = await requeue(b, {}, false);
  assert.equal(bad.code, 2);
  assert.equal(bad.out.text, '');
  assert.equal(bad.err.text, 'jp-importer requeue: give the ids of the messages to requeue, or --all, or --adopt-legacy\n');
});

const badArgs: [string, Partial<RequeueOptions>, RegExp][] = [
  ['neither --all nor ids', {}, /give the ids of the messages to requeue, or --all/],
  ['both --all and ids', { all: true, ids: ['x'] }, /either --all or message ids, not both/],
  ['unknown subtree', { all: true, subtree: 'nope' }, /--subtree: unknown subtree "nope" \(known: reg\)/],
  ['bad from', { all: true, from: 'cur' as 'post' }, /--from: must be undeliverable, post or both, got "cur"/],
  ['id with a slash', { ids: ['../x'] }, /refusing message id "\.\.\/x"/],
  ['id with ..', { ids: ['a..b'] }, /contains '\.\.'/],
  ['claimed name', { ids: [`1700000000_000000.h:1@${HOST}`] }, /is a claimed name/],
  ['empty id', { ids: [''] }, /empty/],
];
for (const [what, o, why] of badArgs) {
  test(`requeue: bad arguments (${what}) → exit 2, nothing moved`, async () => {
    const b = await fresh();
    const before = await ls(join(b.root, 'undeliverable'));
    const { code, err, report } = await requeue(b, o);
    assert.equal(code, 2);
    assert.match(err.text, why);
    assert.equal(report?.exitCode, 2);
    assert.equal(report?.movedTotal, 0);
    assert.deepEqual(await ls(join(b.root, 'undeliverable')), before);
  });
}

test('requeue racing running consumers: 200 messages from undeliverable/ each delivered exactly once', { timeout: 90_000 }, async () => {
  const root = join(await tempDir(), 'reg');
  let now = T0;
  const spool = new Spool(root, { clock: { now: () => now }, host: HOST });
  await spool.init();
  const names: string[] = [];
  for (let i = 0; i < 200; i++) {
    now += 1;
    const name = await spool.store(`https://lb:9000/race${i}\n/CN=x`);
    const m = await spool.claim(name);
    assert.ok(m);
    await spool.giveUp(m, 'primary refused');
    names.push(name);
  }
  assert.equal((await ls(join(root, 'undeliverable'))).length, 400);
  const delivered: string[] = [];
  let resolveAll: () => void = () => undefined;
  const allDelivered = new Promise<void>((r) => { resolveAll = r; });
  const children = [0, 1].map(() => {
    const child = spawn(process.execPath, [CHILD, root], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout });
    const ready = new Promise<void>((resolve) => {
      lines.on('line', (l) => {
        if (l === 'ready') return resolve();
        delivered.push(l);
        if (delivered.length >= 200) resolveAll();
      });
    });
    const exited = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    return { child, ready, exited };
  });
  try {
    await Promise.all(children.map((c) => c.ready));
    const out = new Collect();
    const code = await runRequeue({ subtrees: [{ name: 'reg', root }], all: true, ids: [], from: 'undeliverable', json: true }, out, new Collect());
    assert.equal(code, 0);
    assert.equal((out.json() as unknown as RequeueReport).movedTotal, 200);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      allDelivered,
      new Promise((_r, reject) => { timer = setTimeout(() => reject(new Error(`only ${delivered.length} of 200 delivered in 60 s`)), 60_000); }),
    ]);
    clearTimeout(timer);
  } finally {
    for (const c of children) c.child.stdin?.end();
  }
  assert.deepEqual(await Promise.all(children.map((c) => c.exited)), [0, 0]);
  assert.equal(delivered.length, 200);
  assert.deepEqual([...delivered].sort(), [...names].sort());
  for (const d of ['new', 'cur', 'post', 'undeliverable', 'tmp']) assert.deepEqual(await ls(join(root, d)), [], d);
});

const CHURN_CHILD = fileURLToPath(new URL('./churn-consumer-child.js', import.meta.url));

test('repeated requeue --all while consumers claim the same messages from post/: 0 duplicates, 0 lost, exact counts', { timeout: 150_000 }, async (t) => {
  const N = 300;
  const ROUNDS = 40;
  const root = join(await tempDir(), 'reg');
  const spool = new Spool(root, { host: HOST, policy: { ...DEFAULT_RETRY_POLICY, firstDelayMs: 0, maxDelayMs: 0, jitter: 0 } });
  await spool.init();
  const names: string[] = [];
  for (let i = 0; i < N; i++) {
    const name = await spool.store(`https://lb:9000/churn${i}\n/CN=x`);
    const m = await spool.claim(name);
    assert.ok(m);
    await spool.failed(m, 'primary down'); // in post/, due at once
    names.push(name);
  }
  const delivered: string[] = [];
  const children = [0, 1].map(() => {
    const child = spawn(process.execPath, [CHURN_CHILD, root, '3'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout });
    const ready = new Promise<void>((resolve) => {
      lines.on('line', (l) => {
        if (l === 'ready') return resolve();
        delivered.push(l);
      });
    });
    const exited = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    return { child, ready, exited };
  });
  t.after(() => { for (const c of children) c.child.kill('SIGKILL'); });
  let moved = 0;
  try {
    await Promise.all(children.map((c) => c.ready));
    for (let round = 0; round < ROUNDS; round++) {
      const out = new Collect();
      const code = await runRequeue({ subtrees: [{ name: 'reg', root }], all: true, ids: [], from: 'post', json: true }, out, new Collect());
      const r = out.json() as unknown as RequeueReport;
      assert.deepEqual(r.errors, [], `round ${round}`);
      assert.ok(code === 0 || code === 1, `round ${round}: exit ${code}`);
      moved += r.movedTotal;
    }
    const settled = async () => {
      for (const d of ['new', 'cur', 'post']) if ((await ls(join(root, d))).length > 0) return false;
      return true;
    };
    const t0 = Date.now();
    while (!(await settled()) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 200)); // let the last printed names arrive
  } finally {
    for (const c of children) c.child.stdin?.end();
  }
  assert.deepEqual(await Promise.all(children.map((c) => c.exited)), [0, 0]);
  t.diagnostic(`${moved} moves by ${ROUNDS} requeue rounds racing the consumers`);
  assert.ok(moved > 0, 'requeue moved messages while they were being retried');
  const counts = new Map<string, number>();
  for (const d of delivered) counts.set(d, (counts.get(d) ?? 0) + 1);
  const dups = [...counts].filter(([, n]) => n > 1);
  assert.deepEqual(dups, [], `${dups.length} messages delivered twice`);
  assert.deepEqual([...counts.keys()].sort(), [...names].sort(), 'every message delivered (none lost)');
  assert.equal(delivered.length, N);
  for (const d of ['new', 'cur', 'post', 'undeliverable']) assert.deepEqual(await ls(join(root, d)), [], d);
});

test('requeue, not root: messages of another user (no hard link allowed) are moved all the same', {
  skip: unprivilegedSkipReason({ protectedHardlinks: true, module: IMPORTER_CLI }), timeout: 60_000,
}, async () => {
  const dir = await tempDir();
  await openUp(dir);
  const root = join(dir, 'reg');
  const spool = new Spool(root, { host: HOST });
  await spool.init();
  const a = await spool.store('https://lb:9000/a\n/CN=a');
  const b = await spool.store('https://lb:9000/b\n/CN=b');
  const ma = await spool.claim(a);
  const mb = await spool.claim(b);
  assert.ok(ma && mb);
  await spool.failed(ma, 'down');
  await spool.giveUp(mb, 'refused');
  await chownTree(root, DAEMON_UID, DAEMON_GID);
  for (const p of [join(root, 'post', a), join(root, 'undeliverable', b)]) {
    await chown(p, OTHER_UID, OTHER_GID);
    await chmod(p, 0o600);
  }
  const r = await runNodeAs(IMPORTER_CLI, ['requeue', '--all', '-r', root, '--subtree', 'reg', '--json']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal((JSON.parse(r.stdout) as RequeueReport).movedTotal, 2);
  assert.deepEqual(await ls(join(root, 'new')), [a, b].sort());
  for (const d of ['cur', 'post', 'undeliverable']) assert.deepEqual(await ls(join(root, d)), [], d);
});
