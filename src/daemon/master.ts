/**
 * The master process: forks one worker per spool subtree (N for dumps),
 * restarts a dead worker with backoff, and on stop asks every worker to
 * finish or return its in-flight messages, killing stragglers at the limit.
 *
 * Worker slot life cycle: forking → running → (exit) → waiting (backoff)
 * → forking …; on shutdown: stopping → gone.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../core/log.js';
import { Spool } from '../maildir/spool.js';
import { isWorkerToMaster, WORKER_EXIT, type MasterToWorker } from './ipc.js';
import { SPEC_ENV, usesMaildir, type WorkerSpec } from './spec.js';
import type { OutcomeCounts } from './worker-loop.js';
import type { Metrics } from '../metrics/index.js';

export interface MasterOptions {
  /** Time workers get to finish in-flight messages on stop. */
  graceMs?: number;
  /** Hard limit for the whole stop, after which workers are killed. */
  stopLimitMs?: number;
  /** Backoff after a worker that died quickly: first and maximum delay. */
  restartMinMs?: number;
  restartMaxMs?: number;
  /** A worker that ran this long is healthy again (backoff reset). */
  healthyAfterMs?: number;
  /** Module run by the workers (tests may substitute a fixture). */
  workerModule?: string;
  /** A worker relayed a jobman control file. */
  onControl?: (action: 'quit' | 'restart') => void;
  /** Prometheus metrics fed from the workers' reports. */
  metrics?: Pick<Metrics, 'workerCounts' | 'workerRestarted' | 'inFlight' | 'destinationReachable' | 'observeLatencies'>;
}

interface Slot {
  spec: WorkerSpec;
  child: ChildProcess | undefined;
  startedAt: number;
  restarts: number;
  quickFailures: number;
  timer: NodeJS.Timeout | undefined;
  counts: OutcomeCounts;
  /** The current incarnation reported ready. */
  ready: boolean;
  /** counts of earlier incarnations of this slot */
  past: OutcomeCounts;
}

/**
 * V8 settings of the workers: one platform thread each (the machine's cores
 * are shared by several workers). The young generation keeps V8's 64-bit
 * default of 16 MiB semi-spaces, stated explicitly: with 2 MiB a registration
 * worker scavenged ~470 times per 20,000 messages, ~19 µs of CPU per message
 * (BENCHMARKS.md P1), and an idle worker's young generation stays small either
 * way (P5: the same PSS). Flags of the master's own command line come after
 * and win.
 */
export const WORKER_NODE_FLAGS = ['--v8-pool-size=1', '--max-semi-space-size=16'] as const;

const zero = (): OutcomeCounts => ({ delivered: 0, retried: 0, gaveUp: 0, released: 0 });
const add = (a: OutcomeCounts, b: OutcomeCounts): OutcomeCounts => ({
  delivered: a.delivered + b.delivered, retried: a.retried + b.retried, gaveUp: a.gaveUp + b.gaveUp, released: a.released + b.released,
});

export class Master {
  private readonly slots: Slot[];
  private readonly log: Logger;
  private readonly o: Required<Omit<MasterOptions, 'onControl' | 'metrics'>>;
  private readonly metrics: MasterOptions['metrics'];
  private readonly onControl: ((action: 'quit' | 'restart') => void) | undefined;
  /** Slots asked to stop for a restart: respawned at once when they exit. */
  private readonly restarting = new Set<Slot>();
  /** Slots removed by reconfigure(): not restarted when they exit. */
  private readonly retired = new Set<Slot>();
  private stopping = false;
  private readyResolve: (() => void) | undefined;
  private readyCount = 0;

  constructor(specs: WorkerSpec[], log: Logger, opts: MasterOptions = {}) {
    this.log = log;
    this.o = {
      graceMs: opts.graceMs ?? 6000,
      stopLimitMs: opts.stopLimitMs ?? 9000,
      restartMinMs: opts.restartMinMs ?? 1000,
      restartMaxMs: opts.restartMaxMs ?? 60_000,
      healthyAfterMs: opts.healthyAfterMs ?? 30_000,
      workerModule: opts.workerModule ?? fileURLToPath(new URL('./worker-main.js', import.meta.url)),
    };
    this.onControl = opts.onControl;
    this.metrics = opts.metrics;
    this.slots = specs.map((spec) => ({
      spec, child: undefined, startedAt: 0, restarts: 0, quickFailures: 0, timer: undefined, counts: zero(), past: zero(), ready: false,
    }));
  }

  /** Fork every worker; resolves when all reported ready once (or timeoutMs passed). */
  async start(timeoutMs = 15_000): Promise<void> {
    const ready = new Promise<void>((res) => {
      this.readyResolve = res;
    });
    for (const s of this.slots) this.spawn(s);
    if (this.slots.length === 0) return;
    await Promise.race([ready, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  /** Counts of outcomes over all workers and their earlier incarnations. */
  totals(): OutcomeCounts {
    return this.slots.reduce((acc, s) => add(acc, add(s.past, s.counts)), zero());
  }

  workers(): { id: string; pid: number | undefined; restarts: number; alive: boolean }[] {
    return this.slots.map((s) => ({ id: s.spec.id, pid: s.child?.pid, restarts: s.restarts, alive: s.child !== undefined }));
  }

  private spawn(s: Slot): void {
    s.timer = undefined;
    if (this.stopping) return;
    if (s.startedAt !== 0) this.metrics?.workerRestarted(s.spec.id, s.spec.role);
    s.startedAt = Date.now();
    s.past = add(s.past, s.counts);
    s.counts = zero();
    s.ready = false;
    const child = fork(this.o.workerModule, [], {
      env: { ...process.env, [SPEC_ENV]: JSON.stringify(s.spec) },
      execArgv: [...WORKER_NODE_FLAGS, ...process.execArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    s.child = child;
    this.log.info({ worker: s.spec.id, workerPid: child.pid, spool: s.spec.spool }, 'worker started');
    child.on('message', (m: unknown) => {
      if (!isWorkerToMaster(m)) return;
      if (m.type === 'stats') {
        const current = s.child === child;
        this.metrics?.workerCounts(s.spec.id, s.spec.role, m.report.counts, child.pid);
        this.metrics?.observeLatencies(s.spec.role, m.report.latenciesMs, m.report.foldedLatencies);
        // a late report of a replaced process must not overwrite its successor's figures
        if (current) {
          this.metrics?.inFlight(s.spec.id, s.spec.role, m.report.inFlight);
          this.metrics?.destinationReachable(s.spec.id, s.spec.role, m.report.destinationDown !== true);
          s.counts = m.report.counts;
        }
      }
      else if (m.type === 'ready') {
        if (s.child === child) s.ready = true;
        if (++this.readyCount === this.slots.length) this.readyResolve?.();
      }
      else if (m.type === 'fatal') this.log.error({ worker: s.spec.id, err: m.message }, 'worker reported a fatal error');
      else if (m.type === 'control') this.onControl?.(m.action);
    });
    child.on('error', (err) => this.log.error({ worker: s.spec.id, err: err.message }, 'worker process error'));
    child.on('exit', (code, signal) => this.onExit(s, child, code, signal));
  }

  private onExit(s: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (s.child !== child) return;
    s.child = undefined;
    if (this.stopping) {
      this.log.info({ worker: s.spec.id, code, signal }, 'worker stopped');
      return;
    }
    if (this.retired.delete(s)) {
      this.log.info({ worker: s.spec.id, code, signal }, 'worker stopped (no longer configured)');
      return;
    }
    if (this.restarting.delete(s)) {
      this.log.info({ worker: s.spec.id, code, signal }, 'worker stopped for a restart');
      this.spawn(s);
      return;
    }
    const ran = Date.now() - s.startedAt;
    const c = s.counts;
    const progressed = s.ready && c.delivered + c.retried + c.gaveUp + c.released > 0;
    // Backoff doubles only for a worker that dies without getting anywhere (a
    // crash at start, a crash loop); one that was running and settling
    // messages is restarted after the minimum delay.
    s.quickFailures = ran >= this.o.healthyAfterMs || progressed ? 0 : s.quickFailures + 1;
    const delay = Math.min(this.o.restartMaxMs, this.o.restartMinMs * 2 ** Math.max(0, s.quickFailures - 1));
    s.restarts++;
    const why = code === WORKER_EXIT.CONFIG ? 'configuration problem' : code === WORKER_EXIT.FATAL ? 'fatal error' : 'died';
    this.log.error(
      { worker: s.spec.id, workerPid: child.pid, code, signal, ranMs: ran, progressed, restartInMs: delay, restarts: s.restarts },
      `worker ${why}; restarting`,
    );
    s.timer = setTimeout(() => this.spawn(s), delay);
  }

  /**
   * Apply new worker specs (SIGHUP): workers whose spec changed are
   * restarted gracefully, new ones started, removed ones stopped; the others
   * keep running untouched. Returns the ids restarted, started and stopped.
   */
  reconfigure(specs: WorkerSpec[]): { restarted: string[]; started: string[]; stopped: string[] } {
    const result = { restarted: [] as string[], started: [] as string[], stopped: [] as string[] };
    const next = new Map(specs.map((sp) => [sp.id, sp]));
    for (const s of [...this.slots]) {
      const sp = next.get(s.spec.id);
      if (sp === undefined) {
        this.slots.splice(this.slots.indexOf(s), 1);
        this.retire(s);
        result.stopped.push(s.spec.id);
      } else if (JSON.stringify(sp) !== JSON.stringify(s.spec)) {
        s.spec = sp;
        this.restartSlot(s);
        result.restarted.push(sp.id);
      }
      next.delete(s.spec.id);
    }
    for (const sp of next.values()) {
      const s: Slot = { spec: sp, child: undefined, startedAt: 0, restarts: 0, quickFailures: 0, timer: undefined, counts: zero(), past: zero(), ready: false };
      this.slots.push(s);
      this.spawn(s);
      result.started.push(sp.id);
    }
    return result;
  }

  /** Send a message to every running worker. */
  broadcast(msg: MasterToWorker): void {
    for (const s of this.slots) {
      try {
        s.child?.send(msg);
      } catch {
        /* exiting */
      }
    }
  }

  private restartSlot(s: Slot): void {
    if (s.timer !== undefined) {
      // waiting for a backoff restart: start with the new spec at once
      clearTimeout(s.timer);
      this.spawn(s);
      return;
    }
    if (s.child === undefined || this.restarting.has(s)) return;
    this.restarting.add(s);
    this.askToStop(s);
  }

  /** Stop a slot that is no longer configured; its claims return to the queue when it exits. */
  private retire(s: Slot): void {
    if (s.timer !== undefined) clearTimeout(s.timer);
    s.timer = undefined;
    this.retired.add(s);
    this.askToStop(s);
  }

  private askToStop(s: Slot): void {
    const msg: MasterToWorker = { type: 'stop', graceMs: this.o.graceMs };
    try {
      s.child?.send(msg);
    } catch {
      s.child?.kill('SIGTERM');
    }
  }

  /** Restart every worker gracefully (each finishes or returns its in-flight messages first). */
  restartAll(): void {
    for (const s of this.slots) this.restartSlot(s);
  }

  /**
   * Ask every worker to stop (in-flight messages finish within graceMs or are
   * returned to new/), kill any still running at stopLimitMs, then return the
   * claims of killed workers to their queues.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const s of this.slots) {
      if (s.timer !== undefined) clearTimeout(s.timer);
      s.timer = undefined;
    }
    const running = [...this.slots, ...this.retired].filter((s) => s.child !== undefined);
    const exits = running.map((s) => new Promise<void>((res) => s.child?.once('exit', () => res())));
    const msg: MasterToWorker = { type: 'stop', graceMs: this.o.graceMs };
    for (const s of running) {
      try {
        s.child?.send(msg);
      } catch {
        s.child?.kill('SIGTERM');
      }
    }
    const limit = new Promise<'limit'>((r) => setTimeout(() => r('limit'), this.o.stopLimitMs).unref());
    if ((await Promise.race([Promise.all(exits), limit])) === 'limit') {
      for (const s of running) {
        if (s.child !== undefined) {
          this.log.warn({ worker: s.spec.id, workerPid: s.child.pid }, 'worker did not stop in time; killing it');
          s.child.kill('SIGKILL');
        }
      }
      await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 1000).unref())]);
    }
    const spools = new Set(this.slots.filter((s) => usesMaildir(s.spec)).map((s) => s.spec.spool));
    for (const root of spools) {
      try {
        const { recovered } = await new Spool(root).recover();
        if (recovered.length > 0) this.log.warn({ spool: root, count: recovered.length }, 'returned claims of stopped workers to new/');
      } catch (err) {
        this.log.warn({ spool: root, err: (err as Error).message }, 'could not check claims at stop');
      }
    }
  }
}
