/**
 * The loop every worker runs over its queue: stream names from new/ and due
 * ones from post/ (alternating, as the C importer did), claim, hand to the
 * handler with at most `concurrency` in flight, then record the outcome as a
 * state transition. Wakes on fs.watch events, with -t polling as fallback.
 *
 * When an attempt gets no answer from the destination, the destination gate
 * (./destination-gate.ts) holds the other messages where they are and lets
 * one probe through on its own backoff; the first answer resumes the flow.
 *
 * Worker life cycle: starting → running → draining (no new claims, in-flight
 * finish within the grace period) → aborting (signal raised, unfinished
 * messages released back) → stopped.
 *
 * Failures never flood the log nor stop the worker:
 * - claiming fails for the queue as a whole (new/ not writable, cur/ not a
 *   directory: the queue's checkClaim says so) or the scan fails: the pass
 *   ends with one log line and the next waits pollMs, doubling with each
 *   failing pass up to a minute; a good pass resets it;
 * - a claim fails for one message only (e.g. a directory of another user),
 *   or its outcome cannot be recorded (it is then returned to the queue):
 *   one log line, and that message is left alone for 30 s, doubling up to
 *   an hour, while the others go on.
 */
import { logGateChange } from './gate-log.js';
import { recordOutcome } from './record-outcome.js';
import { setMaxListeners } from 'node:events';
import { systemClock, type Clock } from '../core/clock.js';
import { classify } from '../core/classify.js';
import { describeError } from '../core/errors.js';
import { contactOf, type Outcome } from '../core/outcome.js';
import type { ClaimedMessage } from '../core/queue.js';
import { peekJob } from '../messages/peek.js';
import { Backoff, SkipList } from './backoff.js';
import { DestinationGate, type GateSnapshot } from './destination-gate.js';
import { Housekeeping } from './housekeeping.js';
import { Waker } from './wake.js';

export { MESSAGE_SKIP_CAP_MS, MESSAGE_SKIP_FIRST_MS, PASS_BACKOFF_CAP_MS } from './worker-loop-options.js';
export type { OutcomeCounts, OutcomeEvent, WorkerLoopOptions, WorkerState } from './worker-loop-options.js';
import { MESSAGE_SKIP_CAP_MS, MESSAGE_SKIP_FIRST_MS, PASS_BACKOFF_CAP_MS, type OutcomeCounts, type WorkerLoopOptions, type WorkerState } from './worker-loop-options.js';

export class WorkerLoop {
  state: WorkerState = 'starting';
  readonly counts: OutcomeCounts = { delivered: 0, retried: 0, gaveUp: 0, released: 0 };
  private readonly o: WorkerLoopOptions;
  private readonly clock: Clock;
  private readonly waker = new Waker();
  private readonly abort = new AbortController();
  private readonly inflight = new Set<Promise<void>>();
  /** Messages claimed whose handler has not answered yet (the concurrency limit). */
  private busy = 0;
  private slotWaiters: (() => void)[] = [];
  private nextRetryScan = 0;
  /** Why the current pass cannot claim at all (set by a claim whose queue check failed): ends the pass. */
  private passError: { error: unknown } | undefined;
  /** The queue check of the current pass, per source (one check however many claims fail). */
  private queueChecks = new Map<'new' | 'post', Promise<{ error: unknown } | undefined>>();
  private readonly passBackoff: Backoff;
  private readonly skips: SkipList;
  private done: Promise<void> | undefined;
  /**
   * Messages (`from/name`) being returned to the queue: a release links the
   * message back before it unlinks the claim (../queue/move.ts), and a claim
   * of it meanwhile would rename onto that very claim (same name, same file:
   * rename(2) does nothing) and lose it to the release's unlink.
   */
  private readonly returning = new Set<string>();
  private readonly gate: DestinationGate | undefined;
  private readonly housekeeping: Housekeeping;

  constructor(opts: WorkerLoopOptions) {
    this.o = opts;
    this.clock = opts.clock ?? systemClock;
    this.gate = opts.gate === undefined ? undefined : new DestinationGate(opts.gate);
    this.passBackoff = new Backoff(opts.pollMs, Math.max(opts.pollMs, PASS_BACKOFF_CAP_MS));
    this.skips = new SkipList(opts.holdBackMs ?? MESSAGE_SKIP_FIRST_MS, MESSAGE_SKIP_CAP_MS);
    this.housekeeping = new Housekeeping(opts.queue, opts.log, opts.housekeepingMs);
    // One abort listener per message in flight (handlers pass the signal on).
    setMaxListeners(opts.concurrency * 4 + 16, this.abort.signal);
  }

  /** Messages claimed and not yet settled. */
  get inFlight(): number {
    return this.inflight.size;
  }

  /** The destination gate's state (undefined when the loop runs without one). */
  get destination(): GateSnapshot | undefined {
    return this.gate?.snapshot();
  }

  /** Start; resolves when the loop has stopped. */
  run(): Promise<void> {
    this.done ??= this.loop();
    return this.done;
  }

  /** Stop claiming; let in-flight finish for graceMs, then abort and release. */
  async stop(graceMs: number): Promise<void> {
    if (this.state === 'stopped') return;
    if (this.state === 'running' || this.state === 'starting') this.state = 'draining';
    this.waker.wake();
    const timer = setTimeout(() => {
      this.state = 'aborting';
      this.abort.abort();
    }, graceMs);
    try {
      await this.done;
    } finally {
      clearTimeout(timer);
    }
  }

  private get stopping(): boolean {
    return this.state === 'draining' || this.state === 'aborting';
  }

  private async loop(): Promise<void> {
    const { queue, log } = this.o;
    await queue.init();
    const { recovered, skipped } = await queue.recover();
    if (recovered.length > 0) log.warn({ count: recovered.length }, 'returned claims of dead processes to the queue');
    for (const k of skipped ?? []) {
      log.error({ file: k.entry, spool: queue.root, err: k.reason }, 'cannot return a claim of a dead process to the queue; left where it is');
    }
    this.waker.watch([queue.watchDir], log);
    if (!this.stopping) this.state = 'running';
    this.o.onReady?.();
    while (!this.stopping) {
      this.housekeeping.tick(this.clock.now());
      let claimed = 0;
      let failed: { error: unknown; scan: boolean } | undefined;
      try {
        claimed = await this.pass();
        if (this.passError !== undefined) failed = { error: this.passError.error, scan: false };
      } catch (err) {
        failed = { error: err, scan: true };
      }
      if (failed !== undefined) {
        // One line per failing pass, then a doubling wait (arrivals do not cut it short).
        const waitMs = this.passBackoff.next();
        log.error({ err: describeError(failed.error), spool: queue.root, failures: this.passBackoff.failures, retryInMs: waitMs },
          failed.scan ? 'scanning the spool failed; backing off' : 'cannot claim messages in this spool; backing off');
        await this.sleepFor(waitMs);
        if (failed.scan) await queue.init().catch(() => undefined);
        continue;
      }
      if (this.passBackoff.failures > 0) {
        log.info({ spool: queue.root, failures: this.passBackoff.failures }, 'the spool works again');
        this.passBackoff.reset();
      }
      if (claimed === 0 && !this.stopping) {
        const now = this.clock.now();
        const held = this.gate !== undefined && this.gate.state !== 'open';
        // While held, only the probe time matters; a probe waits for older attempts
        // still in flight, and every settled attempt wakes the loop.
        let until = held ? (this.gate as DestinationGate).untilProbe(now) : Math.max(0, this.nextRetryScan - now);
        if (held && until === 0 && this.inflight.size > 0) until = this.o.pollMs;
        await this.waker.wait(Math.min(this.o.pollMs, until));
      }
    }
    await Promise.allSettled([...this.inflight]);
    await this.housekeeping.settled();
    this.waker.close();
    await this.o.handler.close().catch((err: unknown) => log.warn({ err: describeError(err) }, 'closing the handler failed'));
    this.state = 'stopped';
  }

  /**
   * Sleep ms of real time, whatever arrives meanwhile; returns early only when
   * stopping or when the watched directory was set up again (it came back).
   */
  private async sleepFor(ms: number): Promise<void> {
    const until = Date.now() + ms;
    const rewatches = this.waker.rewatches;
    for (let left = ms; left > 0 && !this.stopping && this.waker.rewatches === rewatches; left = until - Date.now()) await this.waker.wait(left);
  }

  /** One pass over new/ (and post/ when a retry scan is due). Returns the number of claims started. */
  private async pass(): Promise<number> {
    this.passError = undefined;
    this.queueChecks.clear();
    const now = this.clock.now();
    const admission = this.gate?.admit(now, this.inflight.size) ?? 'all';
    if (admission === 'none') return 0;
    const probe = admission === 'probe';
    const sources: { it: AsyncIterator<string>; from: 'new' | 'post' }[] = [
      { it: this.o.queue.scanNew()[Symbol.asyncIterator](), from: 'new' },
    ];
    if (probe) {
      // The probe is a message that already failed and is due, else a new one:
      // the oldest wait first, and failures do not spread over new messages.
      sources.unshift({ it: this.o.queue.scanDue(now)[Symbol.asyncIterator](), from: 'post' });
    } else if (now >= this.nextRetryScan) {
      this.nextRetryScan = now + this.o.retryScanMs;
      sources.push({ it: this.o.queue.scanDue(now)[Symbol.asyncIterator](), from: 'post' });
    }
    let claimed = 0;
    try {
      for (let i = 0; sources.length > 0 && !this.stopping && this.passError === undefined && (probe ? claimed < 1 : this.gateOpen); i++) {
        const idx = i % sources.length;
        const src = sources[idx] as (typeof sources)[number];
        const r = await src.it.next();
        if (r.done === true) {
          sources.splice(idx, 1);
          continue;
        }
        if (await this.dispatch(r.value, src.from)) claimed++;
      }
    } catch (err) {
      if (probe && claimed === 0) this.gate?.probeNotSent(); // the scan failed: probe again once the queue works
      throw err;
    } finally {
      for (const s of sources) await s.it.return?.();
    }
    if (probe && claimed === 0) await this.probeFoundNothing(now, sources.length === 0 && !this.stopping && this.passError === undefined);
    return claimed;
  }

  /** A probe pass claimed nothing: the gate decides from whether the scans ran dry and the queue is empty. */
  private async probeFoundNothing(now: number, ranDry: boolean): Promise<void> {
    const gate = this.gate;
    if (gate === undefined || gate.state !== 'probing') return;
    const empty = ranDry && (await this.o.queue.isEmpty?.().catch(() => false)) === true;
    const change = gate.foundNothing(now, ranDry, empty);
    if (change === undefined) return;
    logGateChange(this.o.log, change, { spool: this.o.queue.root });
    this.o.onGateChange?.(change, gate.snapshot());
  }

  private get gateOpen(): boolean {
    return this.gate === undefined || this.gate.state === 'open';
  }

  private async dispatch(name: string, from: 'new' | 'post'): Promise<boolean> {
    const { queue, log } = this.o;
    if (this.skips.size > 0 && this.skips.held(`${from}/${name}`, this.clock.now())) return false;
    if (from === 'new') {
      let kept: string | undefined;
      try {
        kept = await queue.refuseName(name);
      } catch (err) {
        await this.claimFailed(name, from, err);
        return false;
      }
      if (kept !== undefined) {
        this.counts.gaveUp++;
        log.error({ id: kept, file: name, outcome: 'giveup' }, 'refused a file with a reserved or unsafe name');
        this.o.onOutcome?.({ id: kept, job: undefined, outcome: 'giveup', ms: 0 });
        return false;
      }
    }
    const c = this.o.concurrency;
    while (this.busy >= c || this.inflight.size >= 2 * c) {
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    }
    // Stopping, the gate closed while waiting for room (a probe is dispatched in state probing), or claims cannot work.
    if (this.stopping || this.gate?.state === 'closed' || this.passError !== undefined) return false;
    // The claim runs inside the in-flight task, so claims of several names overlap.
    this.busy++;
    const p: Promise<void> = this.claimAndProcess(name, from).finally(() => {
      this.inflight.delete(p);
      this.slotFreed();
    });
    this.inflight.add(p);
    return true;
  }

  private slotFreed(): void {
    const waiters = this.slotWaiters;
    this.slotWaiters = [];
    for (const w of waiters) w();
  }

  private async claimAndProcess(name: string, from: 'new' | 'post'): Promise<void> {
    let answered = false;
    const free = (): void => {
      if (answered) return;
      answered = true;
      this.busy--;
      this.slotFreed();
    };
    try {
      await this.claimAndHandle(name, from, free);
    } finally {
      free();
    }
  }

  private async claimAndHandle(name: string, from: 'new' | 'post', free: () => void): Promise<void> {
    let msg: ClaimedMessage | undefined;
    if (this.returning.size > 0 && this.returning.has(`${from}/${name}`)) {
      this.probeLost(); // still being returned to the queue: not claimed again until its claim is gone
      return;
    }
    try {
      msg = await this.o.queue.claim(name, from);
    } catch (err) {
      await this.claimFailed(name, from, err);
      this.probeLost();
      return;
    }
    if (msg !== undefined) await this.process(msg, free);
    else {
      if (this.skips.size > 0) this.skips.clear(`${from}/${name}`); // gone: claimed elsewhere
      this.probeLost();
    }
  }

  /**
   * A claim (or a refusal of a bad name) failed. When the queue's check
   * says claims cannot work at all, the pass ends (one line, by the loop);
   * else it is this message's problem: one line, and it is left alone for a
   * while.
   */
  private async claimFailed(name: string, from: 'new' | 'post', err: unknown): Promise<void> {
    const broken = await this.checkQueue(from, err);
    if (broken !== undefined) {
      this.passError ??= broken;
      return;
    }
    const retryInMs = this.skips.skip(`${from}/${name}`, this.clock.now());
    this.o.log.error({ id: name, from, spool: this.o.queue.root, err: describeError(err), outcome: 'skipped', retryInMs },
      'cannot claim this message; the others go on, this one is tried again later');
  }

  /** The queue's own check, once per pass and source; without one, the claim's error is the queue's. */
  private checkQueue(from: 'new' | 'post', err: unknown): Promise<{ error: unknown } | undefined> {
    let p = this.queueChecks.get(from);
    if (p === undefined) {
      const check = this.o.queue.checkClaim?.bind(this.o.queue);
      p = check === undefined
        ? Promise.resolve({ error: err })
        : check(from).then(() => undefined, (error: unknown) => ({ error }));
      this.queueChecks.set(from, p);
    }
    return p;
  }

  /** A probe that was not sent after all (claim lost or failed): probe again with another message. */
  private probeLost(): void {
    if (this.gate?.state !== 'probing') return;
    this.gate.probeNotSent();
    this.waker.wake();
  }

  private noteGate(outcome: Outcome, base: { id: string; job: string | undefined }): void {
    if (this.gate === undefined) return;
    const now = this.clock.now();
    const change = this.gate.record(contactOf(outcome), now, outcome.kind === 'delivered' ? undefined : outcome.reason);
    if (change === undefined) {
      if (this.gate.state === 'closed') this.waker.wake(); // a probe that said nothing: try another
      return;
    }
    logGateChange(this.o.log, change, base);
    if (change.kind === 'reopened') this.nextRetryScan = 0; // held messages in post/ are due
    this.waker.wake();
    this.o.onGateChange?.(change, this.gate.snapshot());
  }

  /** Return a claimed message to the queue unchanged; it is not claimed again until the release is over. */
  private async release(msg: ClaimedMessage): Promise<void> {
    const key = `${msg.from}/${msg.name}`;
    this.returning.add(key);
    try {
      await this.o.queue.release(msg);
    } finally {
      this.returning.delete(key);
    }
  }

  /** `answered` is called once the handler has decided: the slot is free while the outcome is recorded. */
  private async process(msg: ClaimedMessage, answered: () => void): Promise<void> {
    const { queue, handler, log } = this.o;
    const t0 = this.clock.now();
    let outcome: Outcome;
    let body: Buffer | undefined;
    try {
      body = await queue.read(msg, handler.maxBytes);
      outcome = await handler.handle(msg, body, this.abort.signal);
    } catch (err) {
      outcome = classify(err);
    }
    answered();
    const job = outcome.job ?? (body !== undefined ? peekJob(body) : undefined);
    const base = { id: msg.name, job, ms: this.clock.now() - t0 };
    this.noteGate(outcome, base);
    try {
      if (this.abort.signal.aborted && outcome.kind !== 'delivered') {
        await this.release(msg);
        this.counts.released++;
        log.info({ ...base, outcome: 'released' }, 'shutting down: message returned to the queue');
        this.o.onOutcome?.({ ...base, outcome: 'released' });
        return;
      }
      const r = await recordOutcome(queue, msg, outcome, base, log);
      this.counts[r.counter]++;
      if (r.nextAttemptAt !== undefined) this.nextRetryScan = Math.min(this.nextRetryScan, r.nextAttemptAt);
      const reported = r.reported;
      if (this.skips.size > 0) this.skips.clear(`${msg.from}/${msg.name}`); // held back before: done now
      this.o.onOutcome?.({ ...base, outcome: reported });
    } catch (err) {
      // Recording failed (a file system refusing one move): return the message as it was and leave it alone for a while.
      try {
        await this.release(msg);
      } catch {
        log.fatal({ ...base, err: describeError(err) }, 'could not record the outcome nor return the message; the claim stays until this worker is restarted');
        this.o.onFatal?.(err);
        return;
      }
      const retryInMs = this.skips.skip(`${msg.from}/${msg.name}`, this.clock.now());
      this.counts.released++;
      log.error({ ...base, outcome: 'released', err: describeError(err), retryInMs },
        'could not record the outcome; message returned to the queue and tried again later');
      this.o.onOutcome?.({ ...base, outcome: 'released' });
    }
  }
}
