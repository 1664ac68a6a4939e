import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { link, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Spool } from '../../src/maildir/spool.js';
import { storeManyDurably } from '../helpers/store-many.js';
import { claimName } from '../../src/queue/names.js';
import { DEFAULT_RETRY_POLICY } from '../../src/queue/retry-state.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);

function fakeClock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => { now += ms; } };
}

async function ls(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
}

test('init creates tmp new cur post undeliverable with mode 0700', async (t) => {
  const root = join(await tempDir(t), 'reg');
  await new Spool(root).init();
  for (const d of ['tmp', 'new', 'cur', 'post', 'undeliverable']) {
    const st = await stat(join(root, d));
    assert.ok(st.isDirectory());
    assert.equal(st.mode & 0o777, 0o700, d);
  }
});

test('store: tmp → fsync → link into new/, file 0600, tmp link kept as the LB library keeps it (unless asked), names unique', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root);
  await spool.init();
  const names = await Promise.all(Array.from({ length: 50 }, (_, i) => spool.store(`body ${i}`)));
  assert.equal(new Set(names).size, 50);
  assert.deepEqual(await ls(join(root, 'tmp')), [...names].sort(), 'a C importer on this spool links tmp/X back into post/ to retry');
  assert.equal((await stat(join(root, 'tmp', names[0] as string))).ino, (await stat(join(root, 'new', names[0] as string))).ino);
  const bare = await spool.store('no twin', { keepTmpLink: false });
  assert.equal((await ls(join(root, 'tmp'))).includes(bare), false);
  assert.equal((await ls(join(root, 'new'))).length, 51);
  const st = await stat(join(root, 'new', names[0] as string));
  assert.equal(st.mode & 0o777, 0o600);
  assert.equal(await readFile(join(root, 'new', names[3] as string), 'utf8'), 'body 3');
});

test('a message written like the C LB library (tmp link kept) is claimed and delivered; both links go', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root);
  await spool.init();
  const name = '1732180000_123456.localhost';
  await writeFile(join(root, 'tmp', name), 'https://lb:9000/x\n/CN=a', { mode: 0o600 });
  await link(join(root, 'tmp', name), join(root, 'new', name));
  const names: string[] = [];
  for await (const n of spool.scanNew()) names.push(n);
  assert.deepEqual(names, [name]);
  const msg = await spool.claim(name);
  assert.ok(msg);
  assert.deepEqual(await ls(join(root, 'cur')), [claimName(name, process.pid, spool.host, spool.life)]);
  assert.equal((await spool.read(msg, 1000)).toString(), 'https://lb:9000/x\n/CN=a');
  await spool.delivered(msg);
  for (const d of ['tmp', 'new', 'cur', 'post']) assert.deepEqual(await ls(join(root, d)), [], d);
});

test('claim race: the second claim of one name returns undefined', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root);
  await spool.init();
  const name = await spool.store('x');
  const [a, b] = await Promise.all([spool.claim(name), spool.claim(name)]);
  assert.equal([a, b].filter((m) => m !== undefined).length, 1);
});

test('read refuses a message over the size limit without reading it', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root);
  await spool.init();
  const msg = await spool.claim(await spool.store(Buffer.alloc(2048)));
  assert.ok(msg);
  await assert.rejects(spool.read(msg, 1024), /2048 bytes, more than the limit of 1024/);
});

test('failed → post/ with meta and mtime = next attempt; due scan; retry keeps attempts; delivered clears meta', async (t) => {
  const root = await tempDir(t);
  const clock = fakeClock();
  const spool = new Spool(root, { clock, random: () => 0.5 });
  await spool.init();
  const name = await spool.store('x', { keepTmpLink: true });
  let msg = await spool.claim(name);
  assert.ok(msg);
  const r1 = await spool.failed(msg, 'ECONNREFUSED');
  assert.equal(r1.state, 'post');
  assert.deepEqual(await ls(join(root, 'post')), [name], 'the retry state is hidden: .<name>.meta');
  assert.ok((await stat(join(root, 'post', `.${name}.meta`))).isFile());
  const st = await stat(join(root, 'post', name));
  assert.equal(Math.round(st.mtimeMs), clock.now() + DEFAULT_RETRY_POLICY.firstDelayMs);
  const collect = async () => { const out: string[] = []; for await (const n of spool.scanDue()) out.push(n); return out; };
  assert.deepEqual(await collect(), [], 'not due yet');
  clock.advance(DEFAULT_RETRY_POLICY.firstDelayMs);
  assert.deepEqual(await collect(), [name]);
  msg = await spool.claim(name, 'post');
  assert.equal(msg?.meta?.attempts, 1);
  assert.equal(msg?.meta?.lastError, 'ECONNREFUSED');
  assert.ok(msg);
  const r2 = await spool.failed(msg, 'ECONNRESET');
  assert.equal(r2.state === 'post' && r2.attempts, 2);
  msg = await spool.claim(name, 'post');
  assert.ok(msg);
  await spool.delivered(msg);
  for (const d of ['tmp', 'new', 'cur', 'post']) assert.deepEqual(await ls(join(root, d)), [], d);
});

test('retry past the give-up limit and permanent give-up keep the message with the reason beside it', async (t) => {
  const root = await tempDir(t);
  const clock = fakeClock();
  const spool = new Spool(root, { clock, policy: { ...DEFAULT_RETRY_POLICY, giveUpAfterMs: 1000 } });
  await spool.init();
  const a = await spool.store('a', { keepTmpLink: true });
  let msg = await spool.claim(a);
  assert.ok(msg);
  await spool.failed(msg, 'down');
  clock.advance(DEFAULT_RETRY_POLICY.maxDelayMs * 2);
  msg = await spool.claim(a, 'post');
  assert.ok(msg);
  const r = await spool.failed(msg, 'still down');
  assert.equal(r.state, 'undeliverable');
  const meta = await spool.readMeta('undeliverable', a);
  assert.match(meta?.gaveUpReason ?? '', /gave up after 2 attempts.*still down/);
  const b = await spool.store('b');
  const mb = await spool.claim(b);
  assert.ok(mb);
  await spool.giveUp(mb, 'malformed: one line');
  assert.deepEqual(await ls(join(root, 'undeliverable')), [a, `${a}.meta`, b, `${b}.meta`].sort());
  assert.equal((await spool.readMeta('undeliverable', b))?.gaveUpReason, 'malformed: one line');
  assert.deepEqual(await ls(join(root, 'post')), []);
  assert.deepEqual(await ls(join(root, 'tmp')), [], 'tmp twin removed when given up');
});

test('recover returns claims of dead local pids only; live and foreign claims stay', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root, { host: 'me' });
  await spool.init();
  await writeFile(join(root, 'cur', 'm1:999999@me'), '1');
  await writeFile(join(root, 'cur', `m2:${process.pid}@me`), '2');
  await writeFile(join(root, 'cur', 'm3:999999@otherhost'), '3');
  await writeFile(join(root, 'cur', 'garbage'), '4');
  const r = await spool.recover((pid) => pid === process.pid);
  assert.deepEqual(r.recovered, ['m1']);
  assert.deepEqual(await ls(join(root, 'new')), ['m1']);
  assert.deepEqual(await ls(join(root, 'cur')), ['garbage', `m2:${process.pid}@me`, 'm3:999999@otherhost'].sort());
});

test('legacy work/ messages are not touched at init (a C consumer may hold them; see legacy-work.test.ts)', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'work'), { recursive: true });
  await writeFile(join(root, 'work', '1_1.lb'), 'x');
  await new Spool(root).init();
  assert.deepEqual(await ls(join(root, 'new')), []);
  assert.deepEqual(await ls(join(root, 'work')), ['1_1.lb']);
});

test('reserved names in new/ are kept aside in undeliverable/ with a reason', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root);
  await spool.init();
  await writeFile(join(root, 'new', 'evil:1@h'), 'x');
  const kept = await spool.refuseName('evil:1@h');
  assert.ok(kept);
  assert.match((await spool.readMeta('undeliverable', kept))?.gaveUpReason ?? '', /bad message file name "evil:1@h".*reserved/);
  assert.equal(await spool.refuseName('fine_name'), undefined);
});

test('several processes claiming from one spool: every message exactly once', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root);
  await spool.init();
  const N = 600;
  const all = new Set<string>();
  for (let i = 0; i < N; i++) all.add(await spool.store(`m${i}`));
  const child = new URL('../fixtures/claimer.js', import.meta.url).pathname;
  const outs = await Promise.all([1, 2, 3, 4].map(() => run(process.execPath, [child, root], { timeout: 60_000 })));
  const lists = outs.map((o) => JSON.parse(o.stdout) as string[]);
  const seen = lists.flat();
  assert.equal(seen.length, N, 'no message twice');
  assert.deepEqual(new Set(seen), all, 'none lost');
  assert.deepEqual(await ls(join(root, 'new')), []);
  assert.deepEqual(await ls(join(root, 'cur')), []);
});

test('requeue moves a message from post/ or undeliverable/ back to new/ and drops its retry state', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root);
  await spool.init();
  const a = await spool.store('a');
  const b = await spool.store('b');
  const ma = await spool.claim(a);
  const mb = await spool.claim(b);
  assert.ok(ma && mb);
  await spool.failed(ma, 'down');
  await spool.giveUp(mb, 'bad');
  assert.equal(await spool.requeue(a, 'post'), true);
  assert.equal(await spool.requeue(b, 'undeliverable'), true);
  assert.deepEqual(await ls(join(root, 'new')), [a, b].sort());
  assert.deepEqual(await ls(join(root, 'post')), []);
  assert.deepEqual(await ls(join(root, 'undeliverable')), []);
  assert.equal((await spool.claim(a))?.meta, undefined, 'attempts start again');
  assert.equal(await spool.requeue(a, 'post'), false, 'not there any more');
  assert.equal(await spool.requeue('../x', 'post'), false);
});

test('a dead claim taken from post/ goes back to post/ with its attempts; one from new/ goes to new/', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root, { host: 'me' });
  await spool.init();
  const a = await spool.store('a');
  const ma = await spool.claim(a);
  assert.ok(ma);
  await spool.failed(ma, 'down');
  const viaPost = await new Spool(root, { host: 'me', pid: 999999 }).claim(a, 'post');
  assert.equal(viaPost?.meta?.attempts, 1);
  const b = await spool.store('b');
  assert.ok(await new Spool(root, { host: 'me', pid: 999999 }).claim(b, 'new'));
  const r = await spool.recover((pid) => pid !== 999999);
  assert.deepEqual(r.recovered.sort(), [a, b].sort());
  assert.deepEqual(await ls(join(root, 'post')), [a]);
  assert.ok((await stat(join(root, 'post', `.${a}.meta`))).isFile());
  assert.deepEqual(await ls(join(root, 'new')), [b]);
  assert.equal((await spool.claim(a, 'post'))?.meta?.attempts, 1, 'attempts kept');
});

test('storeMany: every message durable in new/ in order, tmp/ empty, progress per chunk', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root);
  await spool.init();
  const progress: number[] = [];
  const names = await storeManyDurably(spool.root, Array.from({ length: 25 }, (_, i) => `m${i}`), { chunk: 10, onStored: (n) => progress.push(n) });
  assert.equal(names.length, 25);
  assert.equal(new Set(names).size, 25);
  assert.deepEqual(progress, [10, 20, 25]);
  assert.deepEqual(await ls(join(root, 'tmp')), []);
  assert.deepEqual(await ls(join(root, 'new')), [...names].sort());
  for (let i = 0; i < 25; i++) assert.equal(await readFile(join(root, 'new', names[i] as string), 'utf8'), `m${i}`);
  assert.equal((await stat(join(root, 'new', names[0] as string))).mode & 0o777, 0o600);
  assert.deepEqual(await storeManyDurably(spool.root, []), []);
});

test('failed with an upload: kept in post/<name>.meta for the next claim; a failure without one drops it', async (t) => {
  const root = await tempDir(t);
  const clock = fakeClock();
  const spool = new Spool(root, { clock, random: () => 0.5 });
  await spool.init();
  const name = await spool.store('x');
  const upload = { destination: 'ftp://jp.example.org/d/job.dump', size: 10, startedAt: clock.now(), commitUnknown: true };
  let msg = await spool.claim(name);
  assert.ok(msg);
  await spool.failed(msg, 'CommitUpload: socket hang up', upload);
  assert.deepEqual((await spool.readMeta('post', name))?.upload, upload);
  clock.advance(DEFAULT_RETRY_POLICY.maxDelayMs);
  msg = await spool.claim(name, 'post');
  assert.deepEqual(msg?.meta?.upload, upload, 'the claim hands it to the handler');
  assert.ok(msg);
  await spool.failed(msg, 'StartUpload: EEXIST');
  assert.equal((await spool.readMeta('post', name))?.upload, undefined);
});

/** `<start ticks>-<boot id prefix>` of a live process, read here independently of the code under test. */
function lifeOf(pid: number): { ticks: number; boot: string } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  return { ticks, boot: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().slice(0, 8) };
}

test('recover: a claim naming the pid of a live unrelated process but another start time or boot is recovered; the same life and old-format claims stay', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root, { host: 'me' });
  await spool.init();
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => sleeper.kill('SIGKILL'));
  const pid = sleeper.pid as number;
  const { ticks, boot } = lifeOf(pid);
  const otherBoot = boot === '00000000' ? '11111111' : '00000000';
  await writeFile(join(root, 'cur', `m1:${pid}-${ticks + 7}-${boot}@me`), '1'); // pid reused after a crash
  await writeFile(join(root, 'cur', `m2:${pid}-${ticks}-${otherBoot}@me`), '2'); // pid reused after a reboot
  await writeFile(join(root, 'cur', `m3:${pid}-${ticks}-${boot}@me`), '3'); // its own claim: alive
  await writeFile(join(root, 'cur', `m4:${pid}@me`), '4'); // old format: the pid alone, as before
  const r = await spool.recover();
  assert.deepEqual(r.recovered.sort(), ['m1', 'm2']);
  assert.deepEqual(await ls(join(root, 'new')), ['m1', 'm2']);
  assert.deepEqual(await ls(join(root, 'cur')), [`m3:${pid}-${ticks}-${boot}@me`, `m4:${pid}@me`]);
});

test('claims of this process carry its life; they are alive for recover()', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root, { host: 'me' });
  await spool.init();
  const m = await spool.claim(await spool.store('x'));
  assert.ok(m);
  const { ticks, boot } = lifeOf(process.pid);
  assert.match(m.path, new RegExp(`:${process.pid}-${ticks}-${boot}@me$`));
  assert.deepEqual((await spool.recover()).recovered, []);
});
