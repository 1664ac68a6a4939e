/**
 * The JSON kept in the `message` column for one step (seq) of a request:
 *
 *   { "status": "committed" | "failed" | "rolled_back" | "not_run" | "uncertain",
 *     "committedRows": <rows of this step known to be in the destination>,
 *     "error"?: "<why the step failed / is uncertain>",
 *     "rows": [ { "status": "ok", "values": {…bound values…} }            (statement returned no rows)
 *             | { "status": "ok", "rows": [ {…} ≤ 50 ], "truncated"?: true } (statement returned rows)
 *             | { "status": "failed", "error": "…", "values"?|"rows"?: … }
 *             | { "status": "not_run", "reason": "…" }
 *             | { "status": "skipped", "reason": "committed by an earlier run" } ] }
 *
 * A record written by jobman itself (any other JSON) counts as done, as
 * jobman's resume treated it.
 */
import type { RequestRow } from '../request.js';
import type { ResultRow } from '../db/types.js';

export type StepStatus = 'committed' | 'failed' | 'rolled_back' | 'not_run' | 'uncertain';

export type RowResult =
  | { readonly status: 'ok'; readonly values: RequestRow }
  | { readonly status: 'ok'; readonly rows: readonly ResultRow[]; readonly truncated?: true }
  | { readonly status: 'failed'; readonly error: string; readonly values?: RequestRow; readonly rows?: readonly ResultRow[] }
  | { readonly status: 'not_run'; readonly reason: string }
  | { readonly status: 'skipped'; readonly reason: string };

export interface StepMessage {
  readonly status: StepStatus;
  readonly committedRows: number;
  readonly error?: string;
  readonly rows: readonly RowResult[];
}

const STATUSES: readonly string[] = ['committed', 'failed', 'rolled_back', 'not_run', 'uncertain'];

export interface RecordState {
  /** undefined for records not written by jp-importer (jobman's own). */
  readonly status: StepStatus | undefined;
  readonly committedRows: number;
}

export function readRecordState(message: string): RecordState {
  try {
    const v: unknown = JSON.parse(message);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      const s = o['status'];
      const c = o['committedRows'];
      if (typeof s === 'string' && STATUSES.includes(s) && Array.isArray(o['rows'])) {
        return { status: s as StepStatus, committedRows: typeof c === 'number' && Number.isSafeInteger(c) && c >= 0 ? c : 0 };
      }
    }
  } catch {
    // not JSON: jobman's or someone else's record
  }
  return { status: undefined, committedRows: 0 };
}

/** A recorded step that must not run again. */
export function isDone(state: RecordState): boolean {
  return state.status === undefined || state.status === 'committed';
}
