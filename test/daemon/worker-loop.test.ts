import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, chown, lchown, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { silentLogger } from '../../src/core/log.js';
import { classify } from '../../src/core/classify.js';
import { JpError } from '../../src/core/errors.js';
import { delivered, giveUp, retryLater, type Outcome } from '../../src/core/outcome.js';
import type { MessageHandler } from '../../src/core/handler.js';
import { WorkerLoop, type OutcomeEvent } from '../../src/daemon/worker-loop.js';
import { DEFAULT_RETRY_POLICY } from '../../src/queue/retry-state.js';
import { Spool } from '../../src/maildir/spool.js';
import { tempDir } from '../helpers/tmp.js';
import {
  chownTree, DAEMON_GID, DAEMON_UID, openUp, OTHER_GID, OTHER_UID, runNodeAs, unprivilegedSkipReason,
} from '../helpers/unprivileged.js';

const ls = async (dir: string) => (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();

function handlerFrom(fn: (body: string, signal: AbortSignal) => Promise<Outcome>): MessageHandler & { closed: boolean } {
  const h = {
    maxBytes: 1024,
    closed: false,
    handle: (_m: unknown, body: Buffer, signal: AbortSignal) => fn(body.toString(), signal),
    close: async () => {
      h.closed = true;
    },
  };
  return h;
}

function waitFor(events: OutcomeEvent[], pred: (e: OutcomeEvent[]) => boolean, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => {
      if (pred(events)) return resolve();
      if (Date.now() - start > ms) return reject(new Error(`timed out; events: ${JSON.stringify(events.map((e) => e.outcome))}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

test('loop delivers queued messages and picks up new ones by watching new/ (poll interval 1 h)', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root);
  await spool.init();
  for (let i = 0; i < 20; i++) await spool.store(`m${i}`);
  const seen: string[] = [];
  const events: OutcomeEvent[] = [];
  const handler = handlerFrom(async (b) => {
    seen.push(b);
    return delivered();
  });
  const loop = new WorkerLoop({ queue: spool, handler, log: silentLogger, concurrency: 4, pollMs: 3_600_000, retryScanMs: 3_600_000,
    onOutcome: (e) => events.push(e) });
  const running = loop.run();
  await waitFor(events, (e) => e.length === 20);
  const t0 = Date.now();
  await spool.store('late');
  await waitFor(events, (e) => e.length === 21);
  assert.ok(Date.now() - t0 < 5000, 'picked up by the directory watch, not the 1 h poll');
  await loop.stop(1000);
  await running;
  assert.equal(new Set(seen).size, 21);
  assert.deepEqual(loop.counts, { delivered: 21, retried: 0, gaveUp: 0, released: 0 });
  assert.equal(handler.closed, true);
  for (const d of ['new', 'cur', 'tmp']) assert.deepEqual(await ls(join(root, d)), [], d);
});

test('retry goes to post/ and is delivered on a later attempt; give-up and oversize are kept aside', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root, { policy: { ...DEFAULT_RETRY_POLICY, firstDelayMs: 50, maxDelayMs: 100, jitter: 0 } });
  await spool.init();
  await spool.store('flaky');
  await spool.store('bad');
  await spool.store('x'.repeat(2000));
  let flakyCalls = 0;
  const events: OutcomeEvent[] = [];
  const handler = handlerFrom(async (b) => {
    if (b === 'flaky') return ++flakyCalls < 3 ? retryLater('service down') : delivered();
    if (b === 'bad') return giveUp('malformed: one line');
    return delivered();
  });
  const loop = new WorkerLoop({ queue: spool, handler, log: silentLogger, concurrency: 2, pollMs: 20, retryScanMs: 20,
    onOutcome: (e) => events.push(e) });
  const running = loop.run();
  await waitFor(events, () => loop.counts.delivered === 1 && loop.counts.gaveUp === 2);
  await loop.stop(1000);
  await running;
  assert.equal(flakyCalls, 3);
  assert.equal(loop.counts.retried, 2);
  const und = await ls(join(root, 'undeliverable'));
  assert.equal(und.length, 4, 'two messages, each with its .meta');
  const reasons = await Promise.all(und.filter((n) => !n.endsWith('.meta')).map(async (n) => (await spool.readMeta('undeliverable', n))?.gaveUpReason));
  assert.ok(reasons.some((r) => r === 'malformed: one line'));
  assert.ok(reasons.some((r) => /2000 bytes, more than the limit of 1024/.test(r ?? '')));
  assert.deepEqual(await ls(join(root, 'post')), []);
});

test('stop: in-flight messages past the grace period are aborted and returned to new/', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root);
  await spool.init();
  for (let i = 0; i < 3; i++) await spool.store(`slow${i}`);
  let started = 0;
  const handler = handlerFrom((_b, signal) => {
    started++;
    return new Promise((resolve) => {
      signal.addEventListener('abort', () => resolve(classify(new Error('aborted'))));
    });
  });
  const loop = new WorkerLoop({ queue: spool, handler, log: silentLogger, concurrency: 3, pollMs: 50, retryScanMs: 50 });
  const running = loop.run();
  const t0 = Date.now();
  while (started < 3 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 5));
  assert.equal(started, 3);
  const s0 = Date.now();
  await loop.stop(200);
  await running;
  assert.ok(Date.now() - s0 < 3000, 'stop is bounded');
  assert.equal(loop.counts.released, 3);
  assert.equal((await ls(join(root, 'new'))).length, 3);
  assert.deepEqual(await ls(join(root, 'cur')), []);
  assert.deepEqual(await ls(join(root, 'post')), [], 'a release is not a failed attempt');
});

test('destination gate: while the destination does not answer, the other messages stay untouched and one probe goes at a time; all delivered once it answers', async (t) => {
  const root = await tempDir(t);
  // Retry delays far shorter than the probe delays: without the gate every message would be retried many times.
  const spool = new Spool(root, { policy: { ...DEFAULT_RETRY_POLICY, firstDelayMs: 10, maxDelayMs: 20, jitter: 0 } });
  await spool.init();
  const N = 40;
  for (let i = 0; i < N; i++) await spool.store(`m${i}`);
  let down = true;
  let calls = 0;
  let concurrent = 0;
  let maxConcurrentWhileHeld = 0;
  const delivered_ = new Map<string, number>();
  const changes: { kind: string; failures: number }[] = [];
  const events: OutcomeEvent[] = [];
  const handler = handlerFrom(async (b) => {
    calls++;
    concurrent++;
    if (changes.length > 0 && loop.destination?.state !== 'open') maxConcurrentWhileHeld = Math.max(maxConcurrentWhileHeld, concurrent);
    await new Promise((r) => setTimeout(r, 2));
    concurrent--;
    if (down) return classify(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }));
    delivered_.set(b, (delivered_.get(b) ?? 0) + 1);
    return delivered();
  });
  const loop: WorkerLoop = new WorkerLoop({
    queue: spool, handler, log: silentLogger, concurrency: 4, pollMs: 20, retryScanMs: 10,
    gate: { firstProbeMs: 40, maxProbeMs: 80 },
    onOutcome: (e) => events.push(e),
    onGateChange: (c) => changes.push({ kind: c.kind, failures: c.failures }),
  });
  const running = loop.run();
  t.after(async () => {
    await loop.stop(1000);
    await running;
  });
  // five failed probes after the gate closed
  await waitFor(events, () => changes.length >= 6);
  assert.deepEqual(changes.slice(0, 6).map((c) => `${c.kind}:${c.failures}`), ['closed:1', 'closed:2', 'closed:3', 'closed:4', 'closed:5', 'closed:6']);
  assert.equal(loop.destination?.state === 'open', false);
  // the first wave (at most `concurrency` attempts in flight when the gate closed) plus one attempt per probe
  const callsWhileDown = calls;
  assert.ok(callsWhileDown <= 4 + changes.length, `${callsWhileDown} attempts while down (gate changes ${changes.length})`);
  assert.equal(maxConcurrentWhileHeld <= 1, true, 'one probe at a time');
  const waitingNew = (await ls(join(root, 'new'))).length;
  assert.ok(waitingNew >= N - callsWhileDown, `${waitingNew} left untouched in new/`);

  down = false;
  await waitFor(events, () => loop.counts.delivered === N);
  assert.equal(changes.at(-1)?.kind, 'reopened');
  assert.equal(delivered_.size, N);
  assert.ok([...delivered_.values()].every((n) => n === 1), 'each delivered once');
  for (const d of ['new', 'cur', 'post', 'undeliverable']) assert.deepEqual(await ls(join(root, d)), [], d);
  assert.equal(loop.destination?.state, 'open');
});

test('destination gate: a failure the destination answered (a fault) does not hold the others', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root, { policy: { ...DEFAULT_RETRY_POLICY, firstDelayMs: 3_600_000, maxDelayMs: 3_600_000, jitter: 0 } });
  await spool.init();
  for (let i = 0; i < 10; i++) await spool.store(`m${i}`);
  const changes: string[] = [];
  const events: OutcomeEvent[] = [];
  const handler = handlerFrom(async (b) => (b === 'm3'
    ? classify(new JpError('JP_SOAP_FAULT', 'No such file', { faultCode: 2 }))
    : b === 'm5' ? classify(new JpError('JP_MALFORMED_MESSAGE', 'one line')) : delivered()));
  const loop = new WorkerLoop({
    queue: spool, handler, log: silentLogger, concurrency: 2, pollMs: 20, retryScanMs: 20,
    gate: { firstProbeMs: 3_600_000, maxProbeMs: 3_600_000 },
    onOutcome: (e) => events.push(e),
    onGateChange: (c) => changes.push(c.kind),
  });
  const running = loop.run();
  await waitFor(events, (e) => e.length === 10);
  await loop.stop(1000);
  await running;
  assert.deepEqual(changes, []);
  assert.deepEqual(loop.counts, { delivered: 8, retried: 1, gaveUp: 1, released: 0 });
});

test('destination gate: a probe waits for an attempt still in flight without spinning', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root, { policy: { ...DEFAULT_RETRY_POLICY, firstDelayMs: 3_600_000, maxDelayMs: 3_600_000, jitter: 0 } });
  await spool.init();
  await spool.store('slow');
  await spool.store('refused');
  let scans = 0;
  const scanNew = spool.scanNew.bind(spool);
  spool.scanNew = () => {
    scans++;
    return scanNew();
  };
  let release: () => void = () => undefined;
  const slowDone = new Promise<void>((r) => {
    release = r;
  });
  const changes: string[] = [];
  const events: OutcomeEvent[] = [];
  let slowStarted: () => void = () => undefined;
  const slowIsInFlight = new Promise<void>((r) => {
    slowStarted = r;
  });
  const handler = handlerFrom(async (b) => {
    if (b === 'slow') {
      slowStarted();
      await slowDone;
      return delivered();
    }
    if (b === 'refused') {
      await slowIsInFlight; // the gate closes while 'slow' is in flight
      return classify(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    }
    return delivered();
  });
  const loop = new WorkerLoop({
    queue: spool, handler, log: silentLogger, concurrency: 2, pollMs: 50, retryScanMs: 50,
    gate: { firstProbeMs: 10, maxProbeMs: 10 },
    onOutcome: (e) => events.push(e),
    onGateChange: (c) => changes.push(c.kind),
  });
  // 'refused' closes the gate while 'slow' is in flight; the probe time passes at once
  const running = loop.run();
  t.after(async () => {
    release();
    await loop.stop(1000);
    await running;
  });
  await waitFor(events, () => changes.length >= 1);
  await spool.store('later');
  const scans0 = scans;
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, 300)); // a measurement window, not a synchronisation
  const perSecond = ((scans - scans0) * 1000) / (Date.now() - t0);
  assert.ok(perSecond < 100, `${perSecond.toFixed(0)} passes/s while a probe is out (no busy loop)`);
  assert.equal(loop.counts.delivered, 0, 'nothing else sent while held');
  release();
  await waitFor(events, () => loop.counts.delivered === 2);
  assert.equal(changes.at(-1), 'reopened', 'the slow attempt answered: the gate opens');
  assert.deepEqual(loop.counts, { delivered: 2, retried: 1, gaveUp: 0, released: 0 });
  await loop.stop(1000);
  await running;
});

test('destination gate: when other consumers sent every held message, the gate goes idle (no record, no busy loop); with messages not due yet it waits the probe delay', async (t) => {
  const root = await tempDir(t);
  // Failed messages wait an hour in post/: only the probe could take them.
  const spool = new Spool(root, { policy: { ...DEFAULT_RETRY_POLICY, firstDelayMs: 3_600_000, maxDelayMs: 3_600_000, jitter: 0 } });
  await spool.init();
  for (let i = 0; i < 6; i++) await spool.store(`m${i}`);
  let scans = 0;
  const scanNew = spool.scanNew.bind(spool);
  spool.scanNew = () => {
    scans++;
    return scanNew();
  };
  const changes: string[] = [];
  const events: OutcomeEvent[] = [];
  const handler = handlerFrom(async () => classify(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })));
  const loop = new WorkerLoop({
    queue: spool, handler, log: silentLogger, concurrency: 1, pollMs: 1000, retryScanMs: 1000,
    gate: { firstProbeMs: 50, maxProbeMs: 50 },
    onOutcome: (e) => events.push(e),
    onGateChange: (c) => changes.push(c.kind),
  });
  const running = loop.run();
  t.after(async () => {
    await loop.stop(1000);
    await running;
  });
  await waitFor(events, () => changes.length >= 1 && events.some((e) => e.outcome === 'retry'));
  // Another consumer of the spool (another worker, another host) sends what waits in new/.
  const other = new Spool(root, { pid: 999_991, host: spool.host });
  const drainNew = async (): Promise<void> => {
    for await (const n of other.scanNew()) {
      const m = await other.claim(n);
      if (m !== undefined) await other.delivered(m);
    }
  };
  await drainNew();
  assert.ok((await ls(join(root, 'post'))).length > 0, 'failed messages wait in post/, not due for an hour');
  const scans0 = scans;
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, 500)); // a measurement window, not a synchronisation
  const perSecond = ((scans - scans0) * 1000) / (Date.now() - t0);
  assert.ok(perSecond <= 40, `${perSecond.toFixed(0)} passes/s with nothing due (the probe delay is 50 ms: at most about 20)`);
  assert.notEqual(loop.destination?.state, 'open', 'messages still wait for this destination: still held');
  assert.equal(changes.includes('idle'), false);
  // Now the other consumer takes those too: nothing left for this worker to hold.
  for await (const n of other.scanDue(Date.now() + 7_200_000)) {
    const m = await other.claim(n, 'post');
    if (m !== undefined) await other.delivered(m);
  }
  await drainNew();
  await waitFor(events, () => changes.at(-1) === 'idle', 5000);
  assert.equal(loop.destination?.state, 'open');
  const scans1 = scans;
  const t1 = Date.now();
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(((scans - scans1) * 1000) / (Date.now() - t1) < 20, 'idle: the loop waits for arrivals, it does not spin');
});

// ---- a spool the worker cannot fully touch (issue 11 items 4 and 6) --------

const UNTOUCHABLE_CHILD = fileURLToPath(new URL('./untouchable-child.js', import.meta.url));

test('not root: messages owned by another user, mode 0000, directories, FIFOs, symlinks and a dead claim of another user\'s file; every good one delivered once, each bad one kept aside with its reason, the worker never stops, bounded logs',
  { skip: unprivilegedSkipReason({ protectedHardlinks: true, module: UNTOUCHABLE_CHILD }), timeout: 120_000 }, async (t) => {
    const dir = await tempDir(t);
    await openUp(dir);
    const root = join(dir, 'reg');
    const spool = new Spool(root);
    await spool.init();
    const GOOD = 40;
    const goods: string[] = [];
    for (let i = 0; i < GOOD; i++) {
      goods.push(`good ${i}`);
      await spool.store(`good ${i}`, { keepTmpLink: i % 2 === 0 });
    }
    await chownTree(root, DAEMON_UID, DAEMON_GID);
    const put = async (name: string, make: (p: string) => Promise<void>, uid: number, mode?: number) => {
      const p = join(root, 'new', name);
      await make(p);
      await lchown(p, uid, uid);
      if (mode !== undefined) await chmod(p, mode);
    };
    const file = (body: string) => (p: string) => writeFile(p, body);
    // readable by the daemon but neither linkable (protected_hardlinks) nor stampable (utimes): fails once, retried, delivered
    for (let i = 0; i < 3; i++) {
      goods.push(`retry other ${i}`);
      await put(`1700000001_00000${i}.other-readable`, file(`retry other ${i}`), OTHER_UID, 0o644);
    }
    goods.push('other readable');
    await put('1700000002_000000.other-readable', file('other readable'), OTHER_UID, 0o644);
    const bad: Record<string, RegExp> = {
      '1700000003_000000.other-unreadable': /cannot be read.*(EACCES|permission)/i,
      '1700000003_000001.mode-0000': /cannot be read.*(EACCES|permission)/i,
      '1700000003_000002.a-directory': /not a regular file/,
      '1700000003_000003.a-fifo': /not a regular file/,
      '1700000003_000004.a-fifo-of-another-user': /cannot be read|not a regular file/,
      '1700000003_000005.a-symlink': /symbolic link/,
      '1700000003_000006.a-symlink-of-another-user': /symbolic link/,
    };
    await put('1700000003_000000.other-unreadable', file('secret'), OTHER_UID, 0o600);
    await put('1700000003_000001.mode-0000', file('good but unreadable'), DAEMON_UID, 0o000);
    await put('1700000003_000002.a-directory', (p) => mkdir(p), DAEMON_UID, 0o700);
    await put('1700000003_000003.a-fifo', async (p) => { execFileSync('mkfifo', [p]); }, DAEMON_UID, 0o600);
    await put('1700000003_000004.a-fifo-of-another-user', async (p) => { execFileSync('mkfifo', [p]); }, OTHER_UID, 0o600);
    await put('1700000003_000005.a-symlink', (p) => symlink('/etc/passwd', p), DAEMON_UID);
    await put('1700000003_000006.a-symlink-of-another-user', (p) => symlink('/etc/hostname', p), OTHER_UID);
    // a directory of another user cannot even be renamed (its '..' would change): skipped with a reason, left where it is
    const unclaimable = '1700000004_000000.dir-of-another-user';
    await put(unclaimable, (p) => mkdir(p), OTHER_UID, 0o755);
    // a claim of a dead worker of this host on another user's file: recover() must move it back without link()
    goods.push('recovered other');
    const dead = join(root, 'cur', `1700000005_000000.recovered:999999@${spool.host}`);
    await writeFile(dead, 'recovered other');
    await chown(dead, OTHER_UID, OTHER_GID);
    await chmod(dead, 0o644);

    const r = await runNodeAs(UNTOUCHABLE_CHILD, [root, String(goods.length), String(Object.keys(bad).length)]);
    const lines = r.stdout.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Record<string, unknown>);
    const summary = lines.at(-1)?.['summary'] as { counts: Record<string, number>; bodies: string[]; fatal: number; loopError: string | null } | undefined;
    assert.equal(r.code, 0, `child exit ${r.code} ${r.signal}: ${r.stderr.slice(-2000)}\n${r.stdout.slice(-3000)}`);
    assert.ok(summary, 'summary line');
    assert.equal(summary.loopError, null, 'the loop started (recover did not throw)');
    assert.equal(summary.fatal, 0, 'no fatal outcome recording');
    assert.deepEqual([...summary.bodies].sort(), [...goods].sort(), 'every good message delivered exactly once');
    const und = (await ls(join(root, 'undeliverable'))).filter((n) => !n.endsWith('.meta'));
    assert.deepEqual(und, Object.keys(bad).sort(), 'each bad one kept aside under its name');
    for (const [name, why] of Object.entries(bad)) {
      const meta = await spool.readMeta('undeliverable', name);
      assert.match(meta?.gaveUpReason ?? '', why, name);
    }
    assert.deepEqual(await ls(join(root, 'new')), [unclaimable]);
    assert.deepEqual(await ls(join(root, 'cur')), []);
    assert.deepEqual(await ls(join(root, 'post')), []);
    const about = (n: string) => lines.filter((l) => JSON.stringify(l).includes(n));
    assert.equal(about(unclaimable).length, 1, `one line for the unclaimable directory: ${JSON.stringify(about(unclaimable))}`);
    assert.match(String(about(unclaimable)[0]?.['err']), /EACCES|EPERM/);
    for (const name of Object.keys(bad)) assert.equal(about(name).length, 1, `${name}: one line (${JSON.stringify(about(name))})`);
    const logLines = lines.length - 1;
    t.diagnostic(`${logLines} log lines; the unclaimable one: ${JSON.stringify(about(unclaimable)[0])}; a bad one: ${JSON.stringify(about(Object.keys(bad)[0] as string)[0])}`);
    // one per good one, a second for the three retried, one per bad one, one for the skipped one; a few more for start and stop
    assert.ok(logLines <= goods.length + 3 + Object.keys(bad).length + 1 + 6, `${logLines} log lines`);
  });

test('claiming fails for every message (cur/ replaced by a file): one line per failing pass, backing off; delivered once cur/ is back', { timeout: 60_000 }, async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root);
  await spool.init();
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const events: OutcomeEvent[] = [];
  let ready: () => void = () => undefined;
  const isReady = new Promise<void>((r) => { ready = r; });
  const loop = new WorkerLoop({ queue: spool, handler: handlerFrom(async () => delivered()), log, concurrency: 4, pollMs: 20, retryScanMs: 20,
    onOutcome: (e) => events.push(e), onReady: () => ready() });
  const running = loop.run();
  t.after(async () => {
    await loop.stop(1000);
    await running;
  });
  await isReady;
  await rm(join(root, 'cur'), { recursive: true });
  await writeFile(join(root, 'cur'), 'not a directory');
  const before = lines.length;
  for (let i = 0; i < 200; i++) await spool.store(`m${i}`);
  await new Promise((r) => setTimeout(r, 2500)); // a measurement window: lines logged in 2.5 s
  const during = lines.length - before;
  assert.equal(loop.counts.delivered, 0);
  // 20 ms doubling: 20+40+…+1280 ms ≈ 2.5 s → about 7 failing passes, one line each
  assert.ok(during >= 1 && during <= 12, `${during} log lines in 2.5 s while claiming fails: ${JSON.stringify(lines.slice(before, before + 3))}`);
  assert.ok(lines.slice(before).some((l) => l['level'] === 50), 'the failure is logged as an error');
  await rm(join(root, 'cur'));
  await mkdir(join(root, 'cur'), { mode: 0o700 });
  await waitFor(events, () => loop.counts.delivered === 200, 20_000);
});

test('recording an outcome fails for one message: it is returned to the queue and tried again later, the worker goes on (no fatal)', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root);
  await spool.init();
  for (let i = 0; i < 10; i++) await spool.store(`m${i}`);
  await spool.store('bad');
  let failures = 0;
  const realGiveUp = spool.giveUp.bind(spool);
  spool.giveUp = async (msg, reason) => {
    if (failures++ === 0) throw Object.assign(new Error('EIO: i/o error, rename'), { code: 'EIO' });
    return realGiveUp(msg, reason);
  };
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const events: OutcomeEvent[] = [];
  let fatal = 0;
  const loop = new WorkerLoop({
    queue: spool, handler: handlerFrom(async (b) => (b === 'bad' ? giveUp('malformed') : delivered())), log, concurrency: 2, pollMs: 20, retryScanMs: 20,
    holdBackMs: 200, onOutcome: (e) => events.push(e), onFatal: () => { fatal++; },
  });
  const running = loop.run();
  t.after(async () => {
    await loop.stop(1000);
    await running;
  });
  await waitFor(events, () => loop.counts.delivered === 10 && loop.counts.gaveUp === 1);
  assert.equal(fatal, 0);
  assert.equal(loop.counts.released, 1);
  assert.equal(failures, 2, 'given up on the second try');
  const released = lines.filter((l) => l['outcome'] === 'released');
  assert.equal(released.length, 1);
  assert.match(String(released[0]?.['err']), /EIO/);
  assert.equal((await ls(join(root, 'undeliverable'))).length, 2);
  assert.deepEqual(await ls(join(root, 'cur')), []);
});
