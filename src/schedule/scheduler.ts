/**
 * Runs the configured tasks on their cron schedules (node-cron) in the
 * master process. A task never runs twice at once: a tick that comes while
 * the previous run is still going is skipped, logged and counted. Every run
 * is logged with task, action, outcome, duration and the action's summary;
 * a run that throws is logged as failed and the schedule goes on.
 *
 *   idle ──tick/runNow──▶ running ──result──▶ idle      (tick while running: skipped)
 *   stop(): no more ticks; running runs are aborted via their signal and
 *           waited for up to a bound.
 */
import { createTask, type Logger as CronLogger, type ScheduledTask } from 'node-cron';
import { describeError, JpError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { TaskAction, TaskResult, TaskSpec } from './types.js';

export type RunTrigger = 'schedule' | 'manual';
export type RunOutcome = 'ok' | 'failed';

export interface RunRecord {
  readonly task: string;
  readonly action: TaskAction;
  readonly trigger: RunTrigger;
  readonly outcome: RunOutcome;
  /** Wall clock ms. */
  readonly startedAt: number;
  readonly durationMs: number;
  readonly summary: string;
  readonly counts: Readonly<Record<string, number>>;
  /** Why the run threw (outcome failed without a result). */
  readonly error?: string;
}

export type SchedulerEvent =
  | { readonly type: 'started'; readonly task: string; readonly trigger: RunTrigger }
  | { readonly type: 'finished'; readonly record: RunRecord }
  | { readonly type: 'skipped'; readonly task: string; readonly trigger: RunTrigger; readonly skipped: number }
  | { readonly type: 'overdue'; readonly task: string; readonly afterMs: number };

export interface TaskStats {
  readonly runs: number;
  readonly ok: number;
  readonly failed: number;
  /** Ticks (or runNow calls) skipped because the previous run was still going. */
  readonly skipped: number;
  readonly overdue: number;
  readonly running: boolean;
  readonly last: RunRecord | undefined;
}

export interface SchedulerOptions {
  readonly log: Logger;
  /** Runs one task once (normally `(spec, signal) => runTask(spec, { log, clock, signal })`). */
  readonly run: (spec: TaskSpec, signal: AbortSignal) => Promise<TaskResult>;
  /** How long stop() waits for running tasks (default 30 s). */
  readonly stopTimeoutMs?: number;
  /** IANA time zone of the schedules (default: the process's local time). */
  readonly timezone?: string;
  /** Observer for every start, finish, skip and overdue report (metrics, tests). */
  readonly onEvent?: (e: SchedulerEvent) => void;
}

export const SCHEDULER_DEFAULTS = { stopTimeoutMs: 30_000 } as const;

/** setTimeout's largest delay; a longer overdue bound is not armed. */
const MAX_TIMER_MS = 2_147_483_647;

interface Running {
  readonly controller: AbortController;
  done: Promise<RunRecord> | undefined;
}

interface TaskState {
  readonly spec: TaskSpec;
  cron: ScheduledTask | undefined;
  current: Running | undefined;
  runs: number;
  ok: number;
  failed: number;
  skipped: number;
  overdue: number;
  last: RunRecord | undefined;
}

export class Scheduler {
  private readonly tasks = new Map<string, TaskState>();
  private readonly log: Logger;
  private phase: 'new' | 'started' | 'stopped' = 'new';
  private stopping: Promise<void> | undefined;

  constructor(tasks: readonly TaskSpec[], private readonly opts: SchedulerOptions) {
    this.log = opts.log;
    for (const spec of tasks) {
      if (this.tasks.has(spec.name)) throw new JpError('JP_CONFIG', `two tasks named ${JSON.stringify(spec.name)}`);
      this.tasks.set(spec.name, { spec, cron: undefined, current: undefined, runs: 0, ok: 0, failed: 0, skipped: 0, overdue: 0, last: undefined });
    }
  }

  get names(): string[] {
    return [...this.tasks.keys()];
  }

  /** Arm every task's schedule. */
  start(): void {
    if (this.phase === 'stopped') throw new JpError('JP_ABORTED', 'the scheduler was stopped');
    if (this.phase === 'started') return;
    this.phase = 'started';
    for (const st of this.tasks.values()) {
      const { name, schedule, action } = st.spec;
      st.cron = createTask(schedule, () => {
        void this.trigger(st, 'schedule');
      }, {
        name: `task ${name}`,
        logger: this.cronLogger(name),
        ...(this.opts.timezone !== undefined ? { timezone: this.opts.timezone } : {}),
      });
      void Promise.resolve(st.cron.start());
      this.log.info({ task: name, action, schedule, next: st.cron.getNextRun()?.toISOString() }, 'task scheduled');
    }
  }

  /** Run a task now (operators, tests). undefined when its previous run is still going (counted as skipped). */
  runNow(name: string): Promise<RunRecord | undefined> {
    const st = this.tasks.get(name);
    if (st === undefined) {
      return Promise.reject(new JpError('JP_CONFIG', `no task named ${JSON.stringify(name)} (tasks: ${this.names.join(', ') || 'none'})`));
    }
    if (this.phase === 'stopped') return Promise.reject(new JpError('JP_ABORTED', 'the scheduler was stopped'));
    return this.trigger(st, 'manual');
  }

  stats(name: string): TaskStats | undefined {
    const st = this.tasks.get(name);
    if (st === undefined) return undefined;
    const { runs, ok, failed, skipped, overdue, last } = st;
    return { runs, ok, failed, skipped, overdue, last, running: st.current !== undefined };
  }

  /**
   * No more ticks; abort the running runs and wait for them up to
   * `timeoutMs`. Runs still going after that are reported and left.
   */
  stop(timeoutMs = this.opts.stopTimeoutMs ?? SCHEDULER_DEFAULTS.stopTimeoutMs): Promise<void> {
    this.stopping ??= this.doStop(timeoutMs);
    return this.stopping;
  }

  private async doStop(timeoutMs: number): Promise<void> {
    this.phase = 'stopped';
    for (const st of this.tasks.values()) {
      if (st.cron !== undefined) void Promise.resolve(st.cron.destroy()).catch(() => undefined);
      st.cron = undefined;
    }
    const running = [...this.tasks.values()].filter((st) => st.current !== undefined);
    if (running.length === 0) return;
    const reason = new JpError('JP_ABORTED', 'the scheduler is stopping');
    for (const st of running) st.current?.controller.abort(reason);
    this.log.info({ tasks: running.map((st) => st.spec.name) }, 'waiting for running tasks to stop');
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((r) => {
      timer = setTimeout(r, timeoutMs);
    });
    await Promise.race([Promise.allSettled(running.map((st) => st.current?.done)), bound]);
    clearTimeout(timer);
    const left = running.filter((st) => st.current !== undefined).map((st) => st.spec.name);
    if (left.length > 0) this.log.warn({ tasks: left, waitedMs: timeoutMs }, 'tasks still running at shutdown, not waited for');
  }

  private trigger(st: TaskState, trigger: RunTrigger): Promise<RunRecord | undefined> {
    if (this.phase === 'stopped') return Promise.resolve(undefined);
    const { name, action } = st.spec;
    if (st.current !== undefined) {
      st.skipped++;
      this.log.warn({ task: name, action, trigger, skipped: st.skipped }, 'previous run still running, skipped');
      this.emit({ type: 'skipped', task: name, trigger, skipped: st.skipped });
      return Promise.resolve(undefined);
    }
    const running: Running = { controller: new AbortController(), done: undefined };
    st.current = running;
    running.done = this.execute(st, trigger, running.controller.signal);
    return running.done;
  }

  private async execute(st: TaskState, trigger: RunTrigger, signal: AbortSignal): Promise<RunRecord> {
    const { name, action } = st.spec;
    const startedAt = Date.now();
    const t0 = performance.now();
    this.emit({ type: 'started', task: name, trigger });
    const overdueMs = st.spec.overdueMs;
    const overdueTimer = overdueMs === undefined || overdueMs > MAX_TIMER_MS ? undefined : setTimeout(() => {
      st.overdue++;
      this.log.warn({ task: name, action, overdueMs }, 'task run overdue (still running after its timeout)');
      this.emit({ type: 'overdue', task: name, afterMs: overdueMs });
    }, overdueMs);
    overdueTimer?.unref();
    let record: RunRecord;
    try {
      // Deferred so that a run function throwing synchronously is a failed run too.
      const result = await Promise.resolve().then(() => this.opts.run(st.spec, signal));
      record = {
        task: name, action, trigger, startedAt, durationMs: Math.round(performance.now() - t0),
        outcome: result.ok ? 'ok' : 'failed', summary: result.summary, counts: result.counts,
      };
    } catch (e) {
      const error = describeError(e);
      record = {
        task: name, action, trigger, startedAt, durationMs: Math.round(performance.now() - t0),
        outcome: 'failed', summary: `failed: ${error}`, counts: {}, error,
      };
    } finally {
      clearTimeout(overdueTimer);
      st.current = undefined;
    }
    st.runs++;
    if (record.outcome === 'ok') st.ok++;
    else st.failed++;
    st.last = record;
    this.logRun(record);
    this.emit({ type: 'finished', record });
    return record;
  }

  private logRun(r: RunRecord): void {
    const fields = {
      task: r.task, action: r.action, trigger: r.trigger, outcome: r.outcome, durationMs: r.durationMs,
      summary: r.summary, ...(Object.keys(r.counts).length > 0 ? { counts: r.counts } : {}),
    };
    const msg = `task ${r.task} ${r.outcome}: ${r.summary}`;
    if (r.error !== undefined) this.log.error({ ...fields, err: r.error }, msg);
    else if (r.outcome === 'failed') this.log.warn(fields, msg);
    else this.log.info(fields, msg);
  }

  private emit(e: SchedulerEvent): void {
    if (this.opts.onEvent === undefined) return;
    try {
      this.opts.onEvent(e);
    } catch (err) {
      this.log.error({ err: describeError(err) }, 'scheduler event observer threw');
    }
  }

  private cronLogger(task: string): CronLogger {
    const text = (m: string | Error): string => `node-cron: ${m instanceof Error ? m.message : m}`;
    return {
      info: (m) => this.log.debug({ task }, text(m)),
      warn: (m) => this.log.warn({ task }, text(m)),
      error: (m, err) => this.log.error({ task, ...(err !== undefined ? { err: describeError(err) } : {}) }, text(m)),
      debug: (m) => this.log.debug({ task }, text(m)),
    };
  }
}
