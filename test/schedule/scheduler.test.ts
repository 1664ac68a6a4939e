import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isJpError } from '../../src/core/errors.js';
import { Scheduler, type RunRecord, type SchedulerEvent, type SchedulerOptions } from '../../src/schedule/scheduler.js';
import type { RequeueSpec, TaskResult, TaskSpec } from '../../src/schedule/types.js';
import { captureLogger, ERROR, WARN, type LogLine } from './helpers.js';

const EVERY_SECOND = '* * * * * *';
const NEVER_SOON = '0 0 1 1 *';
const BOUND_MS = 8000;

function spec(name: string, schedule: string, overdueMs?: number): RequeueSpec {
  return { name, schedule, overdueMs, source: `test [task ${name}]`, action: 'requeue', spools: [], from: ['undeliverable'] };
}

const OK: TaskResult = { ok: true, summary: 'all done', counts: { n: 1 } };

/** A scheduler whose events are recorded and can be awaited (bounded). */
function harness(tasks: TaskSpec[], run: SchedulerOptions['run'], t: { after(fn: () => Promise<void>): void }) {
  const events: SchedulerEvent[] = [];
  const waiters: { cond: () => boolean; resolve: () => void }[] = [];
  const { log, lines } = captureLogger();
  const s = new Scheduler(tasks, {
    log,
    run,
    onEvent: (e) => {
      events.push(e);
      for (const w of [...waiters]) {
        if (w.cond()) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    },
  });
  t.after(() => s.stop(1000));
  const until = (what: string, cond: () => boolean, ms = BOUND_MS): Promise<void> => {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; events: ${JSON.stringify(events)}`)), ms);
      waiters.push({ cond, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  };
  const finished = (): RunRecord[] => events.flatMap((e) => (e.type === 'finished' ? [e.record] : []));
  const skips = (): number => events.filter((e) => e.type === 'skipped').length;
  return { s, events, lines, until, finished, skips };
}

const runLines = (lines: LogLine[]): LogLine[] => lines.filter((l) => typeof l['outcome'] === 'string');

describe('Scheduler on a real 1-second cron', { concurrency: true }, () => {
  it('runs repeatedly and logs every run with task, action, outcome, duration and summary', async (t) => {
    let calls = 0;
    const h = harness([spec('tick', EVERY_SECOND)], async () => {
      calls++;
      return OK;
    }, t);
    h.s.start();
    await h.until('two runs', () => h.finished().length >= 2);
    await h.s.stop();
    assert.ok(calls >= 2);
    const st = h.s.stats('tick');
    assert.ok(st !== undefined && st.runs >= 2 && st.ok === st.runs && st.skipped === 0);
    const logged = runLines(h.lines);
    assert.ok(logged.length >= 2);
    for (const l of logged) {
      assert.equal(l['task'], 'tick');
      assert.equal(l['action'], 'requeue');
      assert.equal(l['outcome'], 'ok');
      assert.equal(l['trigger'], 'schedule');
      assert.equal(l['summary'], 'all done');
      assert.equal(typeof l['durationMs'], 'number');
      assert.equal(l.msg, 'task tick ok: all done');
    }
    assert.ok(h.lines.some((l) => l.msg === 'task scheduled' && l['schedule'] === EVERY_SECOND));
  });

  it('a slow run is not started twice: ticks meanwhile are skipped, logged and counted', async (t) => {
    let concurrent = 0;
    let maxConcurrent = 0;
    let calls = 0;
    let openGate: () => void = () => undefined;
    const gate = new Promise<void>((r) => (openGate = r));
    const h = harness([spec('slow', EVERY_SECOND)], async () => {
      calls++;
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      try {
        if (calls === 1) await gate;
        return OK;
      } finally {
        concurrent--;
      }
    }, t);
    h.s.start();
    // Start the slow run at once (the overlap guard spans manual and scheduled runs).
    const slow = h.s.runNow('slow');
    await h.until('two skipped ticks', () => h.skips() >= 2);
    assert.equal(h.finished().length, 0, 'the first run is still going');
    openGate();
    assert.equal((await slow)?.outcome, 'ok');
    await h.until('a scheduled run after the slow one', () => h.finished().length >= 2);
    await h.s.stop();
    assert.equal(h.finished()[1]?.trigger, 'schedule');
    assert.equal(maxConcurrent, 1, 'runs never overlap');
    const st = h.s.stats('slow');
    assert.ok(st !== undefined);
    assert.equal(st.skipped, h.skips());
    assert.ok(st.skipped >= 2);
    const warns = h.lines.filter((l) => l.msg === 'previous run still running, skipped');
    assert.equal(warns.length, st.skipped);
    assert.ok(warns.every((l) => l.level === WARN && l['task'] === 'slow'));
  });

  it('a throwing task is logged as failed and the next tick still runs', async (t) => {
    let calls = 0;
    const h = harness([spec('flaky', EVERY_SECOND)], (() => {
      calls++;
      if (calls === 1) throw new Error('disk on fire');
      return Promise.resolve(OK);
    }) as SchedulerOptions['run'], t);
    h.s.start();
    await h.until('a run after the failure', () => h.finished().length >= 2);
    await h.s.stop();
    const [first, second] = h.finished();
    assert.equal(first?.outcome, 'failed');
    assert.equal(first?.error, 'disk on fire');
    assert.equal(second?.outcome, 'ok');
    const err = h.lines.find((l) => l.level === ERROR && l['outcome'] === 'failed');
    assert.ok(err !== undefined);
    assert.equal(err['err'], 'disk on fire');
    assert.equal(err.msg, 'task flaky failed: failed: disk on fire');
    const st = h.s.stats('flaky');
    assert.ok(st !== undefined && st.failed === 1 && st.ok >= 1);
  });
});

describe('Scheduler: runNow, stop, overdue', () => {
  it('stop() aborts the running run via its signal and waits for it to finish', async (t) => {
    let finishedCleanup = false;
    let reason: unknown;
    const h = harness([spec('long', NEVER_SOON)], (_spec, signal) => new Promise<TaskResult>((resolve) => {
      signal.addEventListener('abort', () => {
        reason = signal.reason;
        // Some cleanup after the abort before the run returns.
        setTimeout(() => {
          finishedCleanup = true;
          resolve({ ok: true, summary: 'stopped early (shutdown)', counts: {} });
        }, 50);
      });
    }), t);
    h.s.start();
    const run = h.s.runNow('long');
    await h.until('the run started', () => h.events.some((e) => e.type === 'started'));
    assert.equal(h.s.stats('long')?.running, true);
    await h.s.stop(BOUND_MS);
    assert.equal(finishedCleanup, true, 'stop() resolved only after the run finished');
    assert.ok(isJpError(reason, 'JP_ABORTED'));
    assert.equal(h.s.stats('long')?.running, false);
    assert.equal((await run)?.summary, 'stopped early (shutdown)');
    await assert.rejects(h.s.runNow('long'), (e: unknown) => isJpError(e, 'JP_ABORTED'));
    assert.throws(() => h.s.start(), (e: unknown) => isJpError(e, 'JP_ABORTED'));
  });

  it('stop() gives up waiting after its bound and says which tasks are still running', async (t) => {
    const h = harness([spec('stuck', NEVER_SOON)], () => new Promise<TaskResult>(() => undefined), t);
    void h.s.runNow('stuck');
    await h.s.stop(50);
    const w = h.lines.find((l) => l.msg === 'tasks still running at shutdown, not waited for');
    assert.ok(w !== undefined);
    assert.deepEqual(w['tasks'], ['stuck']);
  });

  it('runNow while running is skipped; a partial result is a failed outcome logged as a warning', async (t) => {
    let release: () => void = () => undefined;
    const h = harness([spec('m', NEVER_SOON)], () => new Promise<TaskResult>((r) => {
      release = () => r({ ok: false, summary: 'exported 1 dumps, 1 failed', counts: { failed: 1 } });
    }), t);
    const first = h.s.runNow('m');
    assert.equal(await h.s.runNow('m'), undefined);
    assert.equal(h.s.stats('m')?.skipped, 1);
    release();
    const rec = await first;
    assert.equal(rec?.outcome, 'failed');
    assert.equal(rec?.trigger, 'manual');
    assert.deepEqual(rec?.counts, { failed: 1 });
    const l = runLines(h.lines)[0];
    assert.equal(l?.level, WARN);
    assert.deepEqual(l?.['counts'], { failed: 1 });
    await assert.rejects(h.s.runNow('nope'), (e: unknown) => isJpError(e, 'JP_CONFIG') && e.message.includes('"nope"') && e.message.includes('m'));
  });

  it('a run longer than its timeout is reported overdue, not stopped', async (t) => {
    let h!: ReturnType<typeof harness>;
    h = harness([spec('o', NEVER_SOON, 20)], async () => {
      await h.until('the overdue report', () => h.events.some((e) => e.type === 'overdue'));
      return OK;
    }, t);
    const rec = await h.s.runNow('o');
    assert.equal(rec?.outcome, 'ok');
    assert.equal(h.s.stats('o')?.overdue, 1);
    assert.ok(h.lines.some((l) => l.level === WARN && l['task'] === 'o' && l['overdueMs'] === 20));
  });

  it('two tasks with one name are refused', () => {
    assert.throws(() => new Scheduler([spec('x', NEVER_SOON), spec('x', NEVER_SOON)], { log: captureLogger().log, run: async () => OK }),
      (e: unknown) => isJpError(e, 'JP_CONFIG'));
  });
});
