/**
 * Runs a validated request against the destination and records each step's
 * result, so that nothing committed is applied twice after a crash.
 *
 * Atomic mode (rowcommit = False): one destination transaction for all the
 * steps still to run; it commits only when every row succeeded.
 *   same database as the result store: the records are written in that
 *     transaction; exactly once.
 *   different databases: `<table>_inflight` rows (pending) are written to the
 *     result store, then the destination commits, then the records replace
 *     the in-flight rows. A crash between the commit and the records leaves
 *     the request "uncertain": it is given up with that reason, never re-run.
 * Row mode (rowcommit = True): one transaction per row. With the same
 *   database each row's transaction also advances the in-flight row count,
 *   so a resume starts at the first uncommitted row; with different databases
 *   a pending marker precedes each row commit (at most that one row can be
 *   uncertain after a crash).
 * Steps recorded as committed (or recorded by jobman itself) are skipped.
 */
import type { Clock } from '../core/clock.js';
import { describeError, isJpError, JpError } from '../core/errors.js';
import { isTransientDbError } from './db/errors.js';
import type { SqlConnection } from './db/types.js';
import type { RequestStep } from './request.js';
import { isDone, readRecordState, type RowResult, type StepMessage, type StepStatus } from './results/message.js';
import type { NewRecord, ResultStore } from './results/store.js';
import { MAX_RESULT_ROWS, runRow } from './rows.js';
import type { LoadedScript, ScriptCache } from './scripts.js';

export interface EngineContext {
  readonly dest: SqlConnection;
  readonly store: ResultStore;
  /** The store lives in the destination database (store.conn === dest). */
  readonly sameDb: boolean;
  readonly scripts: ScriptCache;
  readonly rowcommit: boolean;
  /** Value of the `dir` column (the queue sub-folder). */
  readonly dir: string;
  readonly clock: Clock;
  readonly maxRows?: number;
}

export interface RunSummary {
  readonly steps: number;
  readonly ran: number;
  readonly skipped: number;
  readonly rows: number;
}

interface Planned {
  readonly step: RequestStep;
  readonly script: LoadedScript;
  /** Rows already committed by an earlier run. */
  readonly start: number;
}

interface StepRun {
  readonly rows: RowResult[];
  readonly failedAt: number | undefined;
}

const NOT_RUN_ROW: RowResult = { status: 'not_run', reason: 'an earlier row failed' };
const SKIPPED_ROW: RowResult = { status: 'skipped', reason: 'committed by an earlier run' };

const transient = (what: string, e: unknown): JpError =>
  isJpError(e) ? e : new JpError('JP_DATABASE', `${what}: ${describeError(e)}`, { cause: e, temporary: true });

function aborted(signal: AbortSignal): void {
  if (signal.aborted) throw new JpError('JP_ABORTED', 'stopped before the request finished (rolled back, will run again)');
}

function stepMessage(status: StepStatus, committedRows: number, rows: readonly RowResult[], error?: string): StepMessage {
  return error === undefined ? { status, committedRows, rows } : { status, committedRows, error, rows };
}

export class RequestEngine {
  private readonly c: EngineContext;
  private readonly maxRows: number;

  constructor(ctx: EngineContext) {
    this.c = ctx;
    this.maxRows = ctx.maxRows ?? MAX_RESULT_ROWS;
  }

  private get storeConn(): SqlConnection {
    return this.c.store.conn;
  }

  /**
   * Run `body` in a result-store transaction of its own. `durable: false` for
   * records written after the destination committed: a pending marker written
   * durably before that commit covers their loss on power failure (the
   * request is then set aside as uncertain, never applied twice).
   */
  private async storeTx(body: () => Promise<void>, durable = true): Promise<void> {
    await this.storeConn.begin({ durable });
    try {
      await body();
      await this.storeConn.commit();
    } catch (e) {
      await this.storeConn.rollback().catch(() => undefined);
      throw e;
    }
  }

  async run(uid: string, steps: readonly RequestStep[], signal: AbortSignal): Promise<RunSummary> {
    const { store } = this.c;
    let records;
    let inflight;
    try {
      records = new Map((await store.load(uid)).map((r) => [r.seq, readRecordState(r.message)]));
      inflight = await store.loadInflight(uid);
    } catch (e) {
      throw transient('cannot read the result store', e);
    }
    const pending = steps.filter((s) => inflight.get(s.seq)?.pending === true);
    if (pending.length > 0) await this.setAsideUncertain(uid, pending, inflight);

    const plan: Planned[] = [];
    for (const step of steps) {
      const rec = records.get(step.seq);
      if (rec !== undefined && isDone(rec)) continue;
      const start = Math.min(step.rows.length, Math.max(rec?.committedRows ?? 0, inflight.get(step.seq)?.rowsDone ?? 0));
      plan.push({ step, start, script: await this.c.scripts.get(step.sql) });
    }
    const summary = { steps: steps.length, ran: plan.length, skipped: steps.length - plan.length, rows: 0 };
    if (plan.length === 0) return summary;
    aborted(signal);
    const rows = this.c.rowcommit ? await this.runRowCommit(uid, plan, signal) : await this.runAtomic(uid, plan, signal);
    return { ...summary, rows };
  }

  /** Pending in-flight markers: a commit whose outcome is unknown. Record, clear, give up. */
  private async setAsideUncertain(uid: string, steps: readonly RequestStep[], inflight: ReadonlyMap<number, { rowsDone: number }>): Promise<never> {
    const what = steps.map((s) => `step ${s.seq} (${s.sql}) from row ${inflight.get(s.seq)?.rowsDone ?? 0}`).join(', ');
    const error = `a crash or failure came between the destination commit and the result record for ${what}; `
      + 'whether it was applied is unknown, so it is not run again. Check the destination: if the rows are there move the '
      + 'request to oqueue, otherwise move it back to iqueue (it resumes at the uncertain row)';
    const recs: NewRecord[] = steps.map((s) => ({
      sql: s.sql,
      seq: s.seq,
      message: stepMessage('uncertain', inflight.get(s.seq)?.rowsDone ?? 0, [], error),
    }));
    try {
      await this.storeTx(async () => {
        await this.c.store.record(uid, this.c.dir, recs, this.c.clock.now());
        await this.c.store.clearInflight(uid);
      });
    } catch (e) {
      throw transient('cannot record an uncertain step in the result store', e);
    }
    throw new JpError('JP_DATABASE', `request ${uid}: ${error}`, { temporary: false });
  }

  private async execRows(p: Planned, signal: AbortSignal, perRow?: (i: number) => Promise<void>): Promise<StepRun> {
    const rows: RowResult[] = p.step.rows.slice(0, p.start).map(() => SKIPPED_ROW);
    for (let i = p.start; i < p.step.rows.length; i++) {
      aborted(signal);
      if (perRow !== undefined) await this.c.dest.begin();
      const r = await runRow(this.c.dest, p.script, p.step.rows[i] as RequestStep['rows'][number], this.maxRows);
      rows.push(r);
      if (r.status === 'failed') {
        while (rows.length < p.step.rows.length) rows.push(NOT_RUN_ROW);
        return { rows, failedAt: i };
      }
      if (perRow !== undefined) await perRow(i);
    }
    return { rows, failedAt: undefined };
  }

  private failure(uid: string, p: Planned, run: StepRun, tail: string): JpError {
    const row = run.rows[run.failedAt ?? 0];
    const why = row !== undefined && row.status === 'failed' ? row.error : 'failed';
    return new JpError('JP_DATABASE', `request ${uid}: step ${p.step.seq} (${p.step.sql}) row ${run.failedAt}: ${why}; ${tail}`, { temporary: false });
  }

  private notRun(p: Planned): NewRecord {
    return {
      sql: p.step.sql,
      seq: p.step.seq,
      message: stepMessage('not_run', p.start, p.step.rows.map(() => ({ status: 'not_run', reason: 'an earlier step failed' }) as RowResult)),
    };
  }

  /** Record in a transaction of the store's own (after a rollback, or in the different-database case). */
  private async recordAlone(uid: string, recs: readonly NewRecord[], clearInflight: boolean): Promise<void> {
    await this.storeTx(async () => {
      await this.c.store.record(uid, this.c.dir, recs, this.c.clock.now());
      if (clearInflight) await this.c.store.clearInflight(uid);
    }, false);
  }

  private async runAtomic(uid: string, plan: readonly Planned[], signal: AbortSignal): Promise<number> {
    const { dest, store, sameDb, clock } = this.c;
    const runs: StepRun[] = [];
    let rows = 0;
    let phase: 'run' | 'commit' | 'record' = 'run';
    try {
      await dest.begin();
      for (const p of plan) {
        const run = await this.execRows(p, signal);
        runs.push(run);
        rows += run.rows.length - p.start;
        if (run.failedAt !== undefined) break;
      }
      const failedIdx = runs.findIndex((r) => r.failedAt !== undefined);
      if (failedIdx >= 0) {
        await dest.rollback();
        const recs = plan.map((p, i): NewRecord => {
          const run = runs[i];
          if (run === undefined) return this.notRun(p);
          const status: StepStatus = i === failedIdx ? 'failed' : 'rolled_back';
          return { sql: p.step.sql, seq: p.step.seq, message: stepMessage(status, p.start, run.rows) };
        });
        await this.recordAlone(uid, recs, false);
        throw this.failure(uid, plan[failedIdx] as Planned, runs[failedIdx] as StepRun, 'the request was rolled back');
      }
      const recs = plan.map((p, i): NewRecord => ({
        sql: p.step.sql, seq: p.step.seq, message: stepMessage('committed', p.step.rows.length, (runs[i] as StepRun).rows),
      }));
      if (sameDb) {
        await store.record(uid, this.c.dir, recs, clock.now());
        await store.clearInflight(uid);
        phase = 'commit';
        await dest.commit();
        return rows;
      }
      await this.storeTx(async () => {
        for (const p of plan) await store.setInflight(uid, p.step.seq, { rowsDone: p.start, pending: true }, clock.now());
      });
      phase = 'commit';
      await dest.commit();
      phase = 'record';
      // The destination has committed: record, trying twice before leaving it to the pending marker.
      await this.recordAlone(uid, recs, true).catch(() => this.recordAlone(uid, recs, true));
      return rows;
    } catch (e) {
      if (phase !== 'record') await dest.rollback().catch(() => undefined);
      if (isJpError(e) && e.temporary === false) throw e;
      if (phase === 'commit' && !isTransientDbError(e)) {
        // The server refused the commit (e.g. a deferred constraint): nothing was applied.
        if (!sameDb) await this.storeTx(() => store.clearInflight(uid)).catch(() => undefined);
        throw new JpError('JP_DATABASE', `request ${uid}: the destination refused the commit: ${describeError(e)}`, { cause: e, temporary: false });
      }
      throw transient(`request ${uid}`, e);
    }
  }

  private async runRowCommit(uid: string, plan: readonly Planned[], signal: AbortSignal): Promise<number> {
    const { dest, store, sameDb, clock } = this.c;
    let rows = 0;
    for (let k = 0; k < plan.length; k++) {
      const p = plan[k] as Planned;
      let done = p.start;
      let committing = false;
      let marked = false;
      const perRow = async (i: number): Promise<void> => {
        if (sameDb) {
          await store.setInflight(uid, p.step.seq, { rowsDone: i + 1, pending: false }, clock.now());
        } else {
          await this.storeTx(() => store.setInflight(uid, p.step.seq, { rowsDone: i, pending: true }, clock.now()));
          marked = true;
        }
        committing = true;
        await dest.commit();
        committing = false;
        done = i + 1;
      };
      let run: StepRun;
      try {
        run = await this.execRows(p, signal, perRow);
      } catch (e) {
        await dest.rollback().catch(() => undefined);
        const ambiguous = committing && isTransientDbError(e);
        if (!sameDb && marked && !ambiguous) {
          // An orderly stop: rows before `done` are committed, the rest are not.
          await this.storeTx(() => store.setInflight(uid, p.step.seq, { rowsDone: done, pending: false }, clock.now())).catch(() => undefined);
        }
        if (committing && !ambiguous && !isJpError(e)) {
          throw new JpError('JP_DATABASE', `request ${uid}: step ${p.step.seq} row ${done}: the destination refused the commit: ${describeError(e)}`, { cause: e, temporary: false });
        }
        throw transient(`request ${uid}`, e);
      }
      rows += run.rows.length - p.start;
      try {
        if (run.failedAt !== undefined) {
          await dest.rollback();
          const recs: NewRecord[] = [
            { sql: p.step.sql, seq: p.step.seq, message: stepMessage('failed', run.failedAt, run.rows) },
            ...plan.slice(k + 1).map((q) => this.notRun(q)),
          ];
          await this.recordAlone(uid, recs, true);
        } else {
          const rec: NewRecord = { sql: p.step.sql, seq: p.step.seq, message: stepMessage('committed', p.step.rows.length, run.rows) };
          await this.recordAlone(uid, [rec], true);
        }
      } catch (e) {
        throw transient(`request ${uid}: cannot record step ${p.step.seq}`, e);
      }
      if (run.failedAt !== undefined) throw this.failure(uid, p, run, `rows before ${run.failedAt} stay committed (rowcommit)`);
    }
    return rows;
  }
}
