/**
 * One row through one script: every statement in order with the row's
 * values bound by name. The row fails when a statement raises (unless the
 * error is transient: then it is thrown, and the request retried), when a
 * bind variable has no value in the row, or when the result carries a
 * non-empty ERROR_MESSAGE (any letter case): the rows a statement returned
 * (checked statement by statement; later statements are not run), or the
 * bound values when no statement returned rows. Empty strings count as null,
 * as in Oracle.
 */
import { describeError } from '../core/errors.js';
import { isTransientDbError } from './db/errors.js';
import type { Bindable, ExecResult, ResultRow, SqlConnection } from './db/types.js';
import type { RequestRow } from './request.js';
import type { RowResult } from './results/message.js';
import type { LoadedScript } from './scripts.js';

export const MAX_RESULT_ROWS = 50;

class MissingValue extends Error {}

function lookup(row: RequestRow, name: string): Bindable {
  if (Object.hasOwn(row, name)) return row[name] as Bindable;
  const lower = name.toLowerCase();
  for (const k of Object.keys(row)) if (k.toLowerCase() === lower) return row[k] as Bindable;
  throw new MissingValue(`the row has no value for :${name}`);
}

/** The first non-empty ERROR_MESSAGE among these objects. */
export function errorMessageOf(objs: readonly Readonly<Record<string, unknown>>[]): string | undefined {
  for (const o of objs) {
    for (const k of Object.keys(o)) {
      if (k.length !== 13 || k.toLowerCase() !== 'error_message') continue;
      const v = o[k];
      if (v === null || v === undefined) continue;
      const s = typeof v === 'string' ? v : JSON.stringify(v);
      if (s.trim() !== '') return s;
    }
  }
  return undefined;
}

function rowsResult(r: ExecResult): { rows: readonly ResultRow[]; truncated?: true } {
  return r.truncated ? { rows: r.rows, truncated: true } : { rows: r.rows };
}

export async function runRow(
  conn: SqlConnection,
  script: LoadedScript,
  row: RequestRow,
  maxRows: number = MAX_RESULT_ROWS,
): Promise<RowResult> {
  let last: ExecResult | undefined;
  for (const st of script.statements) {
    let r: ExecResult;
    try {
      const values = st.params.map((p) => lookup(row, p));
      r = await conn.run(st, values, maxRows);
    } catch (e) {
      if (e instanceof MissingValue) return { status: 'failed', error: e.message, values: row };
      if (isTransientDbError(e)) throw e;
      return { status: 'failed', error: describeError(e), values: row };
    }
    if (r.columns !== undefined) {
      last = r;
      const err = errorMessageOf(r.rows);
      if (err !== undefined) return { status: 'failed', error: err, ...rowsResult(r) };
    }
  }
  if (last !== undefined) return { status: 'ok', ...rowsResult(last) };
  const err = errorMessageOf([row]);
  if (err !== undefined) return { status: 'failed', error: err, values: row };
  return { status: 'ok', values: row };
}
