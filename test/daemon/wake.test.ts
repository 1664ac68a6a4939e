/**
 * The new/ watch (src/daemon/wake.ts) survives its directory being removed,
 * renamed away or replaced: the directory at the path is watched again, a
 * file arriving there wakes the loop at once (not at the poll), and each loss
 * and each recovery is logged once, not per re-watch attempt.
 */
import assert from 'node:assert/strict';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino, type Logger } from 'pino';
import { delivered } from '../../src/core/outcome.js';
import type { MessageHandler } from '../../src/core/handler.js';
import { Waker } from '../../src/daemon/wake.js';
import { WorkerLoop, type OutcomeEvent } from '../../src/daemon/worker-loop.js';
import { Spool } from '../../src/maildir/spool.js';
import { tempDir } from '../helpers/tmp.js';

const POLL_MS = 60_000;
/** Far below the poll interval, generous for a loaded machine. */
const PROMPT_MS = 10_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function capture(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { log: pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }), lines };
}

/** ms until `p` settles, or Infinity when it has not within PROMPT_MS. */
async function within(p: Promise<void>): Promise<number> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([p.then(() => Date.now() - t0), new Promise<number>((res) => { timer = setTimeout(() => res(Infinity), PROMPT_MS); })]);
  clearTimeout(timer);
  return r;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (const t0 = Date.now(); !cond(); await sleep(20)) if (Date.now() - t0 > PROMPT_MS) throw new Error(`timed out waiting for ${what}`);
}

const lost = (lines: Record<string, unknown>[]) => lines.filter((l) => l['msg'] === 'lost the watch of the directory: polling only until it is watched again');
const back = (lines: Record<string, unknown>[]) => lines.filter((l) => l['msg'] === 'watching the directory again');

test('Waker: after new/ is removed, renamed away or gone for a while and recreated, a file there wakes the wait at once; one log line per loss and per recovery', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'new');
  await mkdir(dir);
  const { log, lines } = capture();
  const waker = new Waker();
  t.after(() => waker.close());
  waker.watch([dir], log);
  // [what, change, lines logged]: a directory replaced within one timestamp tick whose inode number
  // is reused at once (ext4) cannot be told from a file leaving it: watched again without a line.
  const cycles: [string, () => Promise<void>, 'at most one' | 'one'][] = [
    ['removed and recreated at once', async () => { await rm(dir, { recursive: true }); await mkdir(dir); }, 'at most one'],
    ['renamed away and recreated', async () => { await rename(dir, join(root, 'new.old')); await mkdir(dir); }, 'one'],
    ['removed, missing for a while (several re-watch attempts), recreated', async () => {
      await rm(dir, { recursive: true });
      await sleep(800);
      await mkdir(dir);
    }, 'one'],
  ];
  let n = 0;
  for (const [what, change, logged] of cycles) {
    const before = lost(lines).length;
    await change();
    await sleep(300);
    await waker.wait(0); // drop the wakes of the change itself
    const woken = waker.wait(POLL_MS);
    await writeFile(join(dir, `m${++n}`), 'x');
    const ms = await within(woken);
    assert.ok(ms < PROMPT_MS, `${what}: the arrival woke the wait (${ms} ms), not the ${POLL_MS} ms poll`);
    await until(() => back(lines).length === lost(lines).length, `the recovery line after "${what}"`);
    const added = lost(lines).length - before;
    if (logged === 'one') assert.equal(added, 1, `${what}: one line for the loss, not one per attempt`);
    else assert.ok(added <= 1, `${what}: ${added} lines`);
  }
  // Files in the renamed-away directory no longer matter; the path's directory still wakes.
  await writeFile(join(root, 'new.old', 'stray'), 'x');
  await waker.wait(0);
  const woken = waker.wait(POLL_MS);
  await writeFile(join(dir, 'last'), 'x');
  assert.ok(await within(woken) < PROMPT_MS, 'still watching the current directory');
  // A file inside named like the directory is an arrival, not a loss of the watch.
  await waker.wait(0);
  const named = waker.wait(POLL_MS);
  await writeFile(join(dir, 'new'), 'x');
  assert.ok(await within(named) < PROMPT_MS);
  const lostBefore = lost(lines).length;
  await rm(join(dir, 'new'));
  await sleep(100);
  await waker.wait(0);
  const afterRm = waker.wait(POLL_MS);
  await writeFile(join(dir, 'after-rm'), 'x');
  assert.ok(await within(afterRm) < PROMPT_MS, 'still watching after the file named like the directory left');
  assert.equal(lost(lines).length, lostBefore, 'no loss logged for a file named like the directory');
  assert.equal(back(lines).length, lost(lines).length, 'each loss followed by one recovery line');
  for (const l of [...lost(lines), ...back(lines)]) assert.equal(l['dir'], dir);
});

test('Waker: a directory missing at start is watched once it appears, and the appearance wakes the wait', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'new');
  const { log, lines } = capture();
  const waker = new Waker();
  t.after(() => waker.close());
  waker.watch([dir], log);
  assert.equal(lost(lines).length, 1);
  assert.match(String(lost(lines)[0]?.['reason']), /ENOENT/);
  const woken = waker.wait(POLL_MS);
  await mkdir(dir);
  assert.ok(await within(woken) < PROMPT_MS, 'woken when the directory could be watched');
  await until(() => back(lines).length === 1, 'the watch');
  await waker.wait(0);
  const again = waker.wait(POLL_MS);
  await writeFile(join(dir, 'm'), 'x');
  assert.ok(await within(again) < PROMPT_MS);
  assert.equal(lost(lines).length, 1);
});

test('Waker: close() stops re-watch attempts (no timer keeps going, no log line after close)', async (t) => {
  const root = await tempDir(t);
  const { log, lines } = capture();
  const waker = new Waker();
  waker.watch([join(root, 'absent')], log);
  waker.close();
  const before = lines.length;
  await mkdir(join(root, 'absent'));
  await sleep(300);
  assert.equal(lines.length, before);
});

test('worker loop with a 60 s poll: new/ removed and recreated, then a message arrives: picked up within seconds, not at the poll', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root);
  await spool.init();
  const events: OutcomeEvent[] = [];
  const handler: MessageHandler = { maxBytes: 1024, handle: async () => delivered(), close: async () => undefined };
  const loop = new WorkerLoop({ queue: spool, handler, log: pino({ level: process.env['WAKE_DEBUG'] ? 'debug' : 'silent' }), concurrency: 2, pollMs: POLL_MS, retryScanMs: POLL_MS,
    onOutcome: (e) => events.push(e) });
  const running = loop.run();
  t.after(async () => {
    await loop.stop(1000);
    await running;
  });
  await spool.store('first');
  await until(() => events.length === 1, 'the first message');
  for (const [i, change] of [
    async () => { await rm(join(root, 'new'), { recursive: true }); await mkdir(join(root, 'new'), { recursive: true, mode: 0o700 }); },
    async () => { await rename(join(root, 'new'), join(root, 'new.old')); await mkdir(join(root, 'new'), { recursive: true, mode: 0o700 }); },
  ].entries()) {
    await sleep(300); // the loop is idle, waiting for an arrival (a scan that meets the missing new/ backs off a poll)
    await change();
    await sleep(300);
    const t0 = Date.now();
    await spool.store(`after ${i}`);
    await until(() => events.length === i + 2, `the message after change ${i}`);
    assert.ok(Date.now() - t0 < PROMPT_MS);
  }
  assert.deepEqual(events.map((e) => e.outcome), ['delivered', 'delivered', 'delivered']);
});

test('Waker: a directory that comes back counts a re-watch (a backing-off worker loop ends its wait then)', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'new');
  await mkdir(dir);
  const { log } = capture();
  const waker = new Waker();
  t.after(() => waker.close());
  waker.watch([dir], log);
  assert.equal(waker.rewatches, 0);
  await rm(dir, { recursive: true });
  await sleep(200);
  assert.equal(waker.rewatches, 0, 'not while the directory is missing');
  await mkdir(dir);
  await until(() => waker.rewatches === 1, 'the re-watch once the directory is back');
});
