import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { linkSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runStatus } from '../../src/ops/status.js';
import type { StatusReport } from '../../src/ops/status-report.js';
import { tempDir } from '../helpers/tmp.js';
import { buildSpool, Collect, DEAD_PID, HOST, isAlive, NOW, T0, type Built } from './fixture.js';

async function status(subtrees: { name: string; root: string }[], extra: Record<string, unknown> = {}) {
  const out = new Collect();
  const err = new Collect();
  const code = await runStatus({ subtrees, json: true, now: NOW, host: HOST, isAlive, ...extra }, out, err);
  return { code, report: out.json() as unknown as StatusReport, err: err.text };
}

let built: Promise<Built> | undefined;
const spool = (): Promise<Built> => (built ??= tempDir().then((d) => buildSpool(join(d, 'reg'))));

test('status: counts and exact ages of every state', async () => {
  const b = await spool();
  const { code, report } = await status([{ name: 'reg', root: b.root }]);
  assert.equal(code, 1);
  const s = report.subtrees[0];
  assert.ok(s);
  assert.equal(s.status, 'ok');
  const { new: n, cur, post, undeliverable: u } = s.states;
  assert.deepEqual([n.count, cur.count, post.count, u.count], [2, 3, 3, 2]);
  assert.deepEqual(n.oldest, { id: b.n1, ageMs: 302_500 - 5000 });
  assert.deepEqual(cur.oldest, { id: b.live, ageMs: 302_500 - 7000 });
  assert.deepEqual(post.oldest, { id: b.p1, ageMs: 302_500 - 1000 });
  assert.deepEqual(post.oldestFailure, { id: b.p1, ageMs: 302_500 - 1000 });
  assert.deepEqual(u.oldest, { id: b.u1, ageMs: 302_500 });
  assert.deepEqual(u.oldestFailure, { id: b.u1, ageMs: 302_500 });
  assert.equal(u.withoutMeta, 0);
  assert.equal(post.withoutMeta, 0);
  for (const st of [n, cur, post, u]) assert.equal(st.missing, false);
});

test('status: next retry time and due count of post/', async () => {
  const b = await spool();
  const { report } = await status([{ name: 'reg', root: b.root }]);
  const post = report.subtrees[0]?.states.post;
  assert.equal(post?.nextRetryAt, T0 + 1000 + 300_000);
  assert.equal(post?.nextRetryInMs, T0 + 301_000 - NOW);
  assert.equal(post?.dueNow, 2); // p1 (+301 s) and p2 (+302 s) are due at +302.5 s, p3 (+303 s) is not
});

test('status: top errors, normalised and counted per area', async () => {
  const b = await spool();
  const { report } = await status([{ name: 'reg', root: b.root }]);
  const s = report.subtrees[0];
  assert.deepEqual(s?.errors, [
    {
      error: 'connect ECONNREFUSED 127.0.0.1:#', count: 3, post: 2, undeliverable: 1,
      latestAt: T0 + 4000, example: 'connect ECONNREFUSED 127.0.0.1:8903',
    },
    {
      error: 'HTTP 503 from https://jp.example.org:#/', count: 1, post: 1, undeliverable: 0,
      latestAt: T0 + 3000, example: 'HTTP 503 from https://jp.example.org:8900/',
    },
    {
      error: 'malformed message: key "jobid" without a value', count: 1, post: 0, undeliverable: 1,
      latestAt: T0, example: 'malformed message: key "jobid" without a value',
    },
  ]);
  assert.equal(s?.errorGroups, 3);
  assert.equal(s?.errorsNotGrouped, 0);
});

test('status: claim holders — alive, dead on this host, other host; longest held first', async () => {
  const b = await spool();
  const { report, code } = await status([{ name: 'reg', root: b.root }]);
  const cur = report.subtrees[0]?.states.cur;
  assert.ok(cur);
  assert.equal(cur.deadClaims, 1);
  const byId = new Map(cur.claims.map((c) => [c.id, c]));
  assert.equal(cur.claims.length, 3);
  const held = (entry: string): number => Math.round(NOW - lstatSync(join(b.root, 'cur', entry)).ctimeMs);
  assert.deepEqual(byId.get(b.live), {
    id: b.live, entry: b.liveEntry, holder: `${process.pid}@${HOST}`, pid: process.pid, host: HOST, life: b.spool.life ?? null,
    holderState: 'alive', pidReused: false, heldForMs: held(b.liveEntry), ageMs: 302_500 - 7000,
  });
  assert.deepEqual(byId.get(b.dead), {
    id: b.dead, entry: b.deadEntry, holder: `${DEAD_PID}@${HOST}`, pid: DEAD_PID, host: HOST, life: null,
    holderState: 'dead', pidReused: false, heldForMs: held(b.deadEntry), ageMs: 302_500 - 8000,
  });
  assert.equal(byId.get(b.foreign)?.holderState, 'other-host');
  const heldFor = cur.claims.map((c) => c.heldForMs);
  assert.deepEqual(heldFor, [...heldFor].sort((x, y) => y - x));
  assert.deepEqual(cur.holders, [
    { holder: `${DEAD_PID}@${HOST}`, pid: DEAD_PID, host: HOST, life: null, state: 'dead', pidReused: false, claims: 1 },
    { holder: `${process.pid}@${HOST}`, pid: process.pid, host: HOST, life: b.spool.life ?? null, state: 'alive', pidReused: false, claims: 1 },
    { holder: '1234@otherhost', pid: 1234, host: 'otherhost', life: null, state: 'other-host', pidReused: false, claims: 1 },
  ]);
  assert.equal(code, 1);
  assert.ok(report.attention.some((a) => a === 'reg: 1 claim in cur/ held by dead processes'), report.attention.join('|'));
  assert.ok(report.attention.some((a) => a === 'reg: 2 messages in undeliverable/'));
});

test('status: claimListLimit keeps only the longest held claims, counts stay exact', async () => {
  const b = await spool();
  const { report } = await status([{ name: 'reg', root: b.root }], { claimListLimit: 1 });
  const cur = report.subtrees[0]?.states.cur;
  assert.equal(cur?.count, 3);
  assert.equal(cur?.claims.length, 1);
  const oldestCtime = Math.max(...[b.liveEntry, b.deadEntry, b.foreignEntry]
    .map((e) => Math.round(NOW - lstatSync(join(b.root, 'cur', e)).ctimeMs)));
  assert.equal(cur?.claims[0]?.heldForMs, oldestCtime);
});

test('status: JSON shape is stable (documented keys only)', async () => {
  const b = await spool();
  const { report } = await status([{ name: 'reg', root: b.root }]);
  assert.deepEqual(Object.keys(report).sort(), ['attention', 'exitCode', 'host', 'now', 'nowIso', 'subtrees', 'thresholds', 'version']);
  assert.equal(report.version, 1);
  assert.equal(report.now, NOW);
  assert.equal(report.nowIso, new Date(NOW).toISOString());
  assert.equal(report.host, HOST);
  assert.deepEqual(report.thresholds, { postAgeWarnMs: 86_400_000 });
  assert.equal(report.exitCode, 1);
  const s = report.subtrees[0] as unknown as Record<string, unknown>;
  assert.deepEqual(Object.keys(s).sort(), ['destinationDown', 'error', 'errorGroups', 'errors', 'errorsNotGrouped', 'legacyWork', 'name', 'root', 'states', 'status']);
  const states = s['states'] as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(states), ['new', 'cur', 'post', 'undeliverable']);
  assert.deepEqual(Object.keys(states['new'] ?? {}).sort(), ['count', 'missing', 'oldest']);
  assert.deepEqual(Object.keys(states['cur'] ?? {}).sort(), ['claims', 'count', 'deadClaims', 'holders', 'holdersOmitted', 'missing', 'oldest']);
  assert.deepEqual(Object.keys(states['post'] ?? {}).sort(),
    ['count', 'dueNow', 'missing', 'nextRetryAt', 'nextRetryInMs', 'oldest', 'oldestFailure', 'withoutMeta']);
  assert.deepEqual(Object.keys(states['undeliverable'] ?? {}).sort(), ['count', 'missing', 'oldest', 'oldestFailure', 'withoutMeta']);
});

test('status: exit 0 on a clean spool, 1 when post/ is older than the threshold', async () => {
  const root = join(await tempDir(), 'dump');
  const { Spool } = await import('../../src/maildir/spool.js');
  const clock = { now: () => T0 };
  const sp = new Spool(root, { clock, host: HOST, random: () => 0.5 });
  await sp.init();
  const name = await sp.store('x');
  const ok = await status([{ name: 'dump', root }]);
  assert.equal(ok.code, 0);
  assert.deepEqual(ok.report.attention, []);
  const m = await sp.claim(name);
  assert.ok(m);
  await sp.failed(m, 'timeout');
  const young = await status([{ name: 'dump', root }], { postAgeWarnMs: 302_500 });
  assert.equal(young.code, 0);
  const old = await status([{ name: 'dump', root }], { postAgeWarnMs: 302_499 });
  assert.equal(old.code, 1);
  assert.match(old.report.attention[0] ?? '', /^dump: post\/ holds messages older than .*\(oldest .*, 5m\)$/);
});

test('status: missing subtree is reported (exit 1), unreadable one is an error (exit 2), others still shown', async () => {
  const d = await tempDir();
  const b = await spool();
  const missing = await status([{ name: 'reg', root: b.root }, { name: 'dump', root: join(d, 'nope') }]);
  assert.equal(missing.code, 1);
  assert.equal(missing.report.subtrees[1]?.status, 'missing');
  assert.equal(missing.report.subtrees[0]?.states.new.count, 2);
  assert.ok(missing.report.attention.includes(`dump: spool ${join(d, 'nope')} does not exist`));
  const text = new Collect();
  await runStatus({ subtrees: [{ name: 'dump', root: join(d, 'nope') }], json: false, now: NOW, host: HOST, isAlive }, text, new Collect());
  assert.match(text.text, new RegExp(`^dump {5}\\(missing: ${join(d, 'nope')} does not exist\\)$`, 'm'));
  writeFileSync(join(d, 'file'), 'x');
  const notDir = await status([{ name: 'sandbox', root: join(d, 'file') }]);
  assert.equal(notDir.code, 2);
  assert.equal(notDir.report.subtrees[0]?.status, 'error');
  mkdirSync(join(d, 'broken'));
  writeFileSync(join(d, 'broken', 'new'), 'not a directory');
  const broken = await status([{ name: 'reg', root: b.root }, { name: 'jobman', root: join(d, 'broken') }]);
  assert.equal(broken.code, 2);
  assert.equal(broken.report.subtrees[1]?.status, 'error');
  assert.match(broken.report.subtrees[1]?.error ?? '', /ENOTDIR|not a directory/);
  assert.equal(broken.report.subtrees[0]?.status, 'ok');
});

test('status: a state directory that does not exist (C layout without cur/) is marked missing, not an error', async () => {
  const d = await tempDir();
  for (const x of ['tmp', 'new', 'work', 'post', 'undeliverable']) mkdirSync(join(d, x));
  writeFileSync(join(d, 'new', '1700000000_000001.lb'), 'a\nb');
  const { code, report } = await status([{ name: 'reg', root: d }]);
  assert.equal(code, 0);
  assert.equal(report.subtrees[0]?.states.cur.missing, true);
  assert.equal(report.subtrees[0]?.states.new.count, 1);
  assert.deepEqual(report.subtrees[0]?.states.new.oldest, { id: '1700000000_000001.lb', ageMs: NOW - 1_700_000_000_000 });
});

test("status: the C importer's work/ is counted with its longest-held claim, and shown as a row (none without work/)", async () => {
  const d = await tempDir();
  for (const x of ['tmp', 'new', 'cur', 'work', 'post', 'undeliverable']) mkdirSync(join(d, x));
  writeFileSync(join(d, 'work', '1796621549_62832.lb'), 'a\nb');
  writeFileSync(join(d, 'work', '1796621550_7.lb'), 'a\nb');
  writeFileSync(join(d, 'work', '.hidden'), 'x');
  const { statSync } = await import('node:fs');
  const ctime = Math.min(...['1796621549_62832.lb', '1796621550_7.lb'].map((n) => statSync(join(d, 'work', n)).ctimeMs));
  const { report } = await status([{ name: 'reg', root: d }], { now: ctime + 7_200_000 });
  assert.deepEqual(report.subtrees[0]?.legacyWork, { count: 2, longestHeldMs: 7_200_000 });
  const out = new Collect();
  await runStatus({ subtrees: [{ name: 'reg', root: d }], json: false, now: ctime + 7_200_000, host: HOST, isAlive }, out, new Collect());
  assert.match(out.text, /work \(C\)\s+2\s+2\.0h\s+the C importer's claims: taken over once held longer than --legacy-work-age/);
  const none = await tempDir();
  for (const x of ['new', 'cur', 'post', 'undeliverable']) mkdirSync(join(none, x));
  assert.equal((await status([{ name: 'reg', root: none }])).report.subtrees[0]?.legacyWork, null);
});

test('status: names without a time fall back to the mtime; post/ without .meta is counted', async () => {
  const d = await tempDir();
  for (const x of ['new', 'cur', 'post', 'undeliverable']) mkdirSync(join(d, x));
  writeFileSync(join(d, 'new', 'odd-name'), 'x');
  const { utimes } = await import('node:fs/promises');
  await utimes(join(d, 'new', 'odd-name'), new Date(T0), new Date(T0));
  writeFileSync(join(d, 'post', 'other-name'), 'x');
  writeFileSync(join(d, 'new', '.hidden'), 'x');
  const { report } = await status([{ name: 'reg', root: d }]);
  const s = report.subtrees[0];
  assert.deepEqual(s?.states.new, { count: 1, oldest: { id: 'odd-name', ageMs: NOW - T0 }, missing: false });
  assert.equal(s?.states.post.count, 1);
  assert.equal(s?.states.post.withoutMeta, 1);
  assert.equal(s?.states.post.oldest, null);
});

test('status: default liveness check sees a pid of an exited process as dead', async () => {
  const d = await tempDir();
  for (const x of ['new', 'cur', 'post', 'undeliverable']) mkdirSync(join(d, x));
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8', timeout: 20_000 });
  const pid = Number(child.stdout);
  assert.ok(pid > 0);
  await writeFile(join(d, 'cur', `1700000000_000000.h:${pid}@${HOST}`), 'x');
  await writeFile(join(d, 'cur', `1700000001_000000.h:${process.pid}@${HOST}`), 'x');
  const out = new Collect();
  const code = await runStatus({ subtrees: [{ name: 'reg', root: d }], json: true, now: NOW, host: HOST }, out, new Collect());
  const r = out.json() as unknown as StatusReport;
  assert.equal(code, 1);
  assert.equal(r.subtrees[0]?.states.cur.deadClaims, 1);
  assert.equal(r.subtrees[0]?.states.cur.claims.find((c) => c.pid === pid)?.holderState, 'dead');
  assert.equal(r.subtrees[0]?.states.cur.claims.find((c) => c.pid === process.pid)?.holderState, 'alive');
});

test('status: text output is a compact table with the attention list', async () => {
  const b = await spool();
  const out = new Collect();
  const code = await runStatus({ subtrees: [{ name: 'reg', root: b.root }], json: false, now: NOW, host: HOST, isAlive }, out, new Collect());
  assert.equal(code, 1);
  const t = out.text;
  assert.match(t, /^spool status at 2023-11-14T22:18:22\.500Z on testhost\n/);
  assert.match(t, /^SUBTREE  STATE            COUNT  OLDEST  DETAILS$/m);
  assert.match(t, /^reg      new                  2  5m$/m);
  assert.match(t, new RegExp(`^ {9}cur {18}3  5m {6}held by ${DEAD_PID}@testhost dead \\(1\\), ${process.pid}@testhost alive \\(1\\), 1234@otherhost other-host \\(1\\)$`, 'm'));
  assert.match(t, /^         post                 3  5m      next retry due now, 2 due, failing for 5m$/m);
  assert.match(t, /^         undeliverable        2  5m      first failure 5m ago$/m);
  assert.match(t, /^ +3× connect ECONNREFUSED 127\.0\.0\.1:# {2}\[post 2, undeliverable 1\]$/m);
  assert.match(t, new RegExp(`^ +${b.dead.replace(/\./g, '\\.')}  ${DEAD_PID}@testhost dead, held `, 'm'));
  assert.match(t, /^ATTENTION:\n {2}reg: 2 messages in undeliverable\/\n {2}reg: 1 claim in cur\/ held by dead processes$/m);
});

test('status: bad arguments exit 2', async () => {
  const out = new Collect();
  const err = new Collect();
  assert.equal(await runStatus({ subtrees: [], json: false }, out, err), 2);
  assert.match(err.text, /no spool subtrees/);
  const dup = new Collect();
  assert.equal(await runStatus({ subtrees: [{ name: 'a', root: '/x' }, { name: 'a', root: '/y' }], json: true }, dup, new Collect()), 2);
  assert.deepEqual(dup.json(), { version: 1, error: 'subtree "a" given twice', exitCode: 2 });
});

test('status: a new/ of 20,000 files is streamed and counted', async () => {
  const d = await tempDir();
  for (const x of ['new', 'cur', 'post', 'undeliverable']) mkdirSync(join(d, x));
  const base = 1_700_000_000;
  writeFileSync(join(d, 'proto'), '');
  // hard links: one syscall per name, so building the directory stays fast
  for (let i = 0; i < 20_000; i++) linkSync(join(d, 'proto'), join(d, 'new', `${base + 19_999 - i}_${String(i % 1000).padStart(6, '0')}.h`));
  const { code, report } = await status([{ name: 'reg', root: d }]);
  assert.equal(code, 0);
  assert.equal(report.subtrees[0]?.states.new.count, 20_000);
  assert.deepEqual(report.subtrees[0]?.states.new.oldest, { id: `${base}_000999.h`, ageMs: NOW - base * 1000 });
  await rm(join(d, 'new'), { recursive: true });
});

test('status: a worker holding its messages because the destination does not answer is shown; records of dead processes are not', async () => {
  const root = join(await tempDir(), 'reg');
  const { Spool } = await import('../../src/maildir/spool.js');
  const { writeDestinationDown } = await import('../../src/maildir/destination-file.js');
  await new Spool(root, { host: HOST }).init();
  const rec = { version: 1 as const, host: HOST, worker: 'reg', failures: 3, reason: 'connect ECONNREFUSED 127.0.0.1:8901' };
  await writeDestinationDown(root, { ...rec, pid: process.pid, since: NOW - 60_000, nextProbeAt: NOW + 4000 });
  await writeDestinationDown(root, { ...rec, pid: DEAD_PID, since: NOW - 3_600_000, nextProbeAt: NOW - 1000 });
  await writeDestinationDown(root, { ...rec, pid: 42, host: 'elsewhere', since: NOW - 120_000, nextProbeAt: NOW + 1000 });
  await writeFile(join(root, `destination-down.43@${HOST}.json`), '{not json');
  const { code, report } = await status([{ name: 'reg', root }]);
  assert.equal(code, 0, 'down for less than 15 minutes: no attention yet');
  assert.deepEqual(report.subtrees[0]?.destinationDown, [
    {
      worker: 'reg', holder: `42@elsewhere`, holderState: 'other-host', since: NOW - 120_000, downForMs: 120_000,
      nextProbeAt: NOW + 1000, nextProbeInMs: 1000, failures: 3, reason: rec.reason,
    },
    {
      worker: 'reg', holder: `${process.pid}@${HOST}`, holderState: 'alive', since: NOW - 60_000, downForMs: 60_000,
      nextProbeAt: NOW + 4000, nextProbeInMs: 4000, failures: 3, reason: rec.reason,
    },
  ]);
  const text = await (async () => {
    const out = new Collect();
    await runStatus({ subtrees: [{ name: 'reg', root }], json: false, now: NOW, host: HOST, isAlive }, out, new Collect());
    return out.text;
  })();
  assert.match(text, /DESTINATION\s+DOWN\s+2m\s+reg \(42@elsewhere\) holds its messages: 3 attempts without an answer, next probe in 1s/);
  assert.match(text, /reason: connect ECONNREFUSED 127\.0\.0\.1:8901/);
  await writeDestinationDown(root, { ...rec, pid: process.pid, since: NOW - 16 * 60_000, nextProbeAt: NOW + 4000 });
  const long = await status([{ name: 'reg', root }]);
  assert.equal(long.code, 1);
  assert.match(long.report.attention.join('\n'), /reg: worker reg \(\d+@testhost\) cannot reach its destination for 16m: connect ECONNREFUSED/);
});

/** A live process unrelated to any claim, and its life as /proc tells it (read here, not by the code under test). */
function sleeperWithLife(t: { after: (fn: () => void) => void }): { pid: number; ticks: number; boot: string } {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  const pid = child.pid as number;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  return { pid, ticks, boot: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().slice(0, 8) };
}

test('status: a claim naming the pid of a live unrelated process started at another time is dead (pid reused); its destination record is not listed', async (t) => {
  const d = await tempDir();
  for (const x of ['new', 'cur', 'post', 'undeliverable']) mkdirSync(join(d, x));
  const s = sleeperWithLife(t);
  const reused = `${s.pid}-${s.ticks + 5}-${s.boot}`;
  await writeFile(join(d, 'cur', `1700000000_000000.h:${reused}@${HOST}`), 'x');
  await writeFile(join(d, 'cur', `1700000001_000000.h:${s.pid}-${s.ticks}-${s.boot}@${HOST}`), 'x');
  const { writeDestinationDown } = await import('../../src/maildir/destination-file.js');
  await writeDestinationDown(d, {
    version: 1, pid: s.pid, host: HOST, life: `${s.ticks + 5}-${s.boot}`, worker: 'reg', since: NOW - 1000, nextProbeAt: NOW, failures: 1, reason: 'x',
  });
  const out = new Collect();
  const code = await runStatus({ subtrees: [{ name: 'reg', root: d }], json: true, now: NOW, host: HOST }, out, new Collect());
  const r = out.json() as unknown as StatusReport;
  assert.equal(code, 1);
  const cur = r.subtrees[0]?.states.cur;
  assert.equal(cur?.deadClaims, 1);
  const dead = cur?.claims.find((c) => c.id === '1700000000_000000.h');
  assert.deepEqual([dead?.holder, dead?.life, dead?.holderState, dead?.pidReused], [`${s.pid}@${HOST}`, `${s.ticks + 5}-${s.boot}`, 'dead', true]);
  assert.equal(cur?.claims.find((c) => c.id === '1700000001_000000.h')?.holderState, 'alive');
  assert.deepEqual(cur?.holders.map((h) => [h.holder, h.state, h.pidReused]), [[`${s.pid}@${HOST}`, 'dead', true], [`${s.pid}@${HOST}`, 'alive', false]]);
  assert.deepEqual(r.subtrees[0]?.destinationDown, []);
  const text = new Collect();
  await runStatus({ subtrees: [{ name: 'reg', root: d }], json: false, now: NOW, host: HOST }, text, new Collect());
  assert.match(text.text, new RegExp(`held by ${s.pid}@${HOST} dead \\(pid reused\\) \\(1\\), ${s.pid}@${HOST} alive \\(1\\)`));
});
