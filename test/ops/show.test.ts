import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { link, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runShow } from '../../src/ops/show.js';
import type { ShowReport } from '../../src/ops/show-report.js';
import { tempDir } from '../helpers/tmp.js';
import { buildSpool, Collect, DEAD_PID, HOST, isAlive, NOW, T0, type Built } from './fixture.js';

let built: Promise<Built> | undefined;
const spool = (): Promise<Built> => (built ??= tempDir().then((d) => buildSpool(join(d, 'reg'))));
const subtreesOf = (b: Built) => [{ name: 'dump', root: join(b.root, '..', 'no-dump') }, { name: 'reg', root: b.root }];

async function show(b: Built, id: string, json = true, extra: Record<string, unknown> = {}) {
  const out = new Collect();
  const err = new Collect();
  const code = await runShow({ subtrees: subtreesOf(b), id, json, now: NOW, host: HOST, isAlive, ...extra }, out, err);
  return { code, out, err };
}

test('show new/: location, creation time, body, no retry state', async () => {
  const b = await spool();
  const { code, out } = await show(b, b.n1);
  assert.equal(code, 0);
  const r = out.json() as unknown as ShowReport;
  assert.equal(r.version, 1);
  assert.equal(r.found, true);
  assert.equal(r.name, b.n1);
  assert.deepEqual(r.location, { subtree: 'reg', root: b.root, state: 'new', entry: b.n1, path: join(b.root, 'new', b.n1) });
  assert.deepEqual(r.otherLocations, []);
  assert.equal(r.createdAt, T0 + 5000);
  assert.equal(r.ageMs, NOW - T0 - 5000);
  assert.equal(r.retry, null);
  assert.equal(r.claim, null);
  assert.equal(r.nextAttemptAt, null);
  assert.equal(r.gaveUp, null);
  assert.deepEqual(r.body, { size: 25, kind: 'text', shownBytes: 25, truncated: false, text: 'https://lb:9000/n1\n/CN=n1' });
  assert.deepEqual(Object.keys(r).sort(), [
    'ageMs', 'body', 'bodyError', 'claim', 'createdAt', 'found', 'gaveUp', 'id', 'location', 'modifiedAt', 'name', 'nextAttemptAt',
    'nextAttemptInMs', 'now', 'otherLocations', 'retry', 'size', 'version',
  ]);
});

test('show post/: attempts, last errors, next attempt', async () => {
  const b = await spool();
  const { code, out } = await show(b, b.p3);
  assert.equal(code, 0);
  const r = out.json() as unknown as ShowReport;
  assert.equal(r.location.state, 'post');
  assert.equal(r.retry?.attempts, 1);
  assert.equal(r.retry?.firstFailureAt, T0 + 3000);
  assert.deepEqual(r.retry?.history, [{ at: T0 + 3000, reason: 'HTTP 503 from https://jp.example.org:8900/' }]);
  assert.equal(r.nextAttemptAt, T0 + 3000 + 300_000);
  assert.equal(r.nextAttemptInMs, T0 + 303_000 - NOW);
  const text = await show(b, b.p3, false);
  assert.equal(text.code, 0);
  assert.match(text.out.text, /^state {5}post: failed temporarily, waiting for a retry$/m);
  assert.match(text.out.text, /^attempts {2}1 failed; first failure 2023-11-14T22:13:23\.000Z, 5m ago/m);
  assert.match(text.out.text, /^next {6}2023-11-14T22:18:23\.000Z, in 1s$/m);
  assert.match(text.out.text, /^ {10}2023-11-14T22:13:23\.000Z {2}HTTP 503 from https:\/\/jp\.example\.org:8900\/$/m);
  const due = await show(b, b.p1, false);
  assert.match(due.out.text, /^next {6}due now \(was due at 2023-11-14T22:18:21\.000Z, 2s ago\)$/m);
  assert.match(text.out.text, /^--- body: 37 bytes, text ---\njobid https:\/\/lb:9000\/p3\nfile \/tmp\/p3\n--- end of body ---$/m);
});

test('show undeliverable/: gave-up reason and time', async () => {
  const b = await spool();
  const { code, out } = await show(b, b.u1);
  assert.equal(code, 0);
  const r = out.json() as unknown as ShowReport;
  assert.equal(r.location.state, 'undeliverable');
  assert.deepEqual(r.gaveUp, { at: T0, reason: 'malformed message: key "jobid" without a value' });
  assert.equal(r.retry?.attempts, 1);
  const text = await show(b, b.u1, false);
  assert.match(text.out.text, /^gave up {3}2023-11-14T22:13:20\.000Z, 5m ago: malformed message: key "jobid" without a value$/m);
  assert.match(text.out.text, /jp-importer requeue <id>/);
});

test('show cur/: found by base name and by claimed name, holder alive or dead', async () => {
  const b = await spool();
  const live = await show(b, b.live);
  assert.equal(live.code, 0);
  const r = live.out.json() as unknown as ShowReport;
  assert.equal(r.location.state, 'cur');
  assert.equal(r.location.entry, b.liveEntry);
  assert.equal(r.claim?.holder, `${process.pid}@${HOST}`);
  assert.equal(r.claim?.holderState, 'alive');
  const dead = await show(b, b.deadEntry);
  assert.equal(dead.code, 0);
  const d = dead.out.json() as unknown as ShowReport;
  assert.equal(d.name, b.dead);
  assert.deepEqual([d.claim?.pid, d.claim?.holderState], [DEAD_PID, 'dead']);
  const foreign = await show(b, b.foreign, false);
  assert.match(foreign.out.text, /^claimed {3}by 1234@otherhost \(other-host\), held /m);
  assert.match(foreign.out.text, /^created {3}2023-11-14T22:13:29\.000Z, 5m ago$/m);
});

test('show: the LB tmp/ twin is listed as another location; a tmp-only message is shown from tmp/', async () => {
  const d = await tempDir();
  const b = await buildSpool(join(d, 'reg'));
  await link(join(b.root, 'new', b.n2), join(b.root, 'tmp', b.n2));
  const { out } = await show(b, b.n2);
  const r = out.json() as unknown as ShowReport;
  assert.equal(r.location.state, 'new');
  assert.deepEqual(r.otherLocations.map((l) => l.state), ['tmp']);
  await writeFile(join(b.root, 'tmp', '1700000000_000777.lb'), 'partial');
  const tmpOnly = await show(b, '1700000000_000777.lb', false);
  assert.equal(tmpOnly.code, 0);
  assert.match(tmpOnly.out.text, /^state {5}tmp: only in tmp\/: being written by a producer, or a leftover link$/m);
});

test('show: binary body is a hex dump of the first 512 bytes with the size', async () => {
  const d = await tempDir();
  const b = await buildSpool(join(d, 'reg'));
  const body = Buffer.alloc(1000, 0xff);
  body.write('JP', 0, 'latin1');
  await writeFile(join(b.root, 'new', 'binary-msg'), body);
  const text = await show(b, 'binary-msg', false);
  assert.equal(text.code, 0);
  assert.match(text.out.text, /^--- body: 1000 bytes, binary \(not UTF-8 text, or control characters\); first 512 bytes ---$/m);
  assert.match(text.out.text, /^00000000 {2}4a 50 ff ff ff ff ff ff {2}ff ff ff ff ff ff ff ff {2}\|JP\.{14}\|$/m);
  assert.match(text.out.text, /^000001f0 {2}ff/m);
  assert.doesNotMatch(text.out.text, /^00000200/m);
  assert.match(text.out.text, /^--- 488 more bytes not shown ---$/m);
  const json = await show(b, 'binary-msg');
  const r = json.out.json() as unknown as ShowReport;
  assert.equal(r.body?.kind, 'binary');
  assert.equal(r.body?.size, 1000);
  assert.equal(r.body?.hex, body.subarray(0, 512).toString('hex'));
  assert.equal(r.createdAt, null);
});

test('show: a long text body is truncated in text mode with a note, complete in JSON', async () => {
  const d = await tempDir();
  const b = await buildSpool(join(d, 'reg'));
  const long = 'é'.repeat(3000); // 6000 bytes of UTF-8
  await writeFile(join(b.root, 'new', 'long-msg'), long);
  const text = await show(b, 'long-msg', false);
  assert.match(text.out.text, /^--- truncated: 4096 of 6000 bytes shown \(--json shows up to 1 MiB\) ---$/m);
  assert.ok(text.out.text.includes('é'.repeat(2048) + '\n'));
  const json = await show(b, 'long-msg');
  const r = json.out.json() as unknown as ShowReport;
  assert.deepEqual(r.body, { size: 6000, kind: 'text', shownBytes: 6000, truncated: false, text: long });
});

test('show: a body with terminal control characters is shown as hex, never raw', async () => {
  const d = await tempDir();
  const b = await buildSpool(join(d, 'reg'));
  await writeFile(join(b.root, 'new', 'esc-msg'), 'hello \x1b[2J world');
  const text = await show(b, 'esc-msg', false);
  assert.ok(!text.out.text.includes('\x1b'));
  assert.match(text.out.text, /binary/);
});

test('show: not found → exit 1', async () => {
  const b = await spool();
  const text = await show(b, '1700000000_000000.nowhere', false);
  assert.equal(text.code, 1);
  assert.match(text.out.text, /^message "1700000000_000000\.nowhere" not found in dump, reg/);
  const json = await show(b, '1700000000_000000.nowhere');
  assert.equal(json.code, 1);
  assert.deepEqual(json.out.json(), { version: 1, id: '1700000000_000000.nowhere', found: false, exitCode: 1 });
});

const badIds: [string, RegExp][] = [
  ['', /empty/],
  ['../etc/passwd', /contains '\/'/],
  ['a/b', /contains '\/'/],
  ['..', /contains '\.\.'/],
  ['x..y', /contains '\.\.'/],
  ['.hidden', /starts with '\.'/],
  ['x.meta', /sidecar/],
  ['a\0b', /NUL/],
  ['x'.repeat(256), /longer than 255 bytes/],
];
for (const [id, why] of badIds) {
  test(`show: refuses the id ${JSON.stringify(id.slice(0, 20))} (exit 2)`, async () => {
    const b = await spool();
    const { code, err, out } = await show(b, id, true);
    assert.equal(code, 2);
    assert.match(err.text, /^jp-importer show: refusing message id .*: /);
    assert.match(err.text, why);
    assert.equal((out.json() as { exitCode: number }).exitCode, 2);
  });
}

test('show cur/: a claim whose pid now names another process (other start time) is dead, and says so', async (t) => {
  const b = await buildSpool(join(await tempDir(), 'reg'));
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  const pid = child.pid as number;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().slice(0, 8);
  const id = '1700000010_000000.lbhost';
  await writeFile(join(b.root, 'cur', `${id}:${pid}-${ticks + 9}-${boot}@${HOST}`), 'https://lb:9000/x\n/CN=x');
  const out = new Collect();
  assert.equal(await runShow({ subtrees: [{ name: 'reg', root: b.root }], id, json: true, now: NOW, host: HOST }, out, new Collect()), 0);
  const r = out.json() as unknown as ShowReport;
  assert.deepEqual([r.claim?.holder, r.claim?.life, r.claim?.holderState, r.claim?.pidReused], [`${pid}@${HOST}`, `${ticks + 9}-${boot}`, 'dead', true]);
  const text = new Collect();
  await runShow({ subtrees: [{ name: 'reg', root: b.root }], id, json: false, now: NOW, host: HOST }, text, new Collect());
  assert.match(text.text, new RegExp(`^claimed {3}by ${pid}@${HOST} \\(dead: pid ${pid} now belongs to another process\\), held `, 'm'));
});

test('show: a FIFO in new/ is described without waiting for a writer', { timeout: 20_000 }, async () => {
  const b = await buildSpool(join(await tempDir(), 'reg'));
  const id = '1700000011_000000.fifo';
  execFileSync('mkfifo', [join(b.root, 'new', id)]);
  const out = new Collect();
  assert.equal(await runShow({ subtrees: [{ name: 'reg', root: b.root }], id, json: true, now: NOW, host: HOST }, out, new Collect()), 0);
  const r = out.json() as unknown as ShowReport;
  assert.equal(r.body, null);
  assert.match(r.bodyError ?? '', /not a regular file/);
});
