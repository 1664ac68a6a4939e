/**
 * `jp-importer jobman-results <uid> [--seq N] [--json]`: what the result
 * store holds for a request. Exit codes: 0 records printed, 1 nothing
 * recorded for that uid (and seq), 2 configuration or database error.
 */
import { existsSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { describeError, systemCode } from '../core/errors.js';
import { describeTarget, loadJobmanConfig, type EnvLike } from '../jobman/config.js';
import { openConnection } from '../jobman/db/connect.js';
import type { SqlConnection } from '../jobman/db/types.js';
import { requestUid } from '../jobman/request.js';
import { ResultStore, type StoredRecord } from '../jobman/results/store.js';

export interface JobmanResultsOptions {
  /** Path of config.ini. */
  readonly config: string;
  /** Request uid (a trailing `.req` is ignored). */
  readonly uid: string;
  readonly seq?: number;
  readonly json?: boolean;
  /** Environment for DAPHNE_ENV (default process.env). */
  readonly env?: EnvLike;
}

export const EXIT_FOUND = 0;
export const EXIT_NONE = 1;
export const EXIT_ERROR = 2;

function isMissingTable(e: unknown): boolean {
  const code = systemCode(e);
  if (code === '42P01' || code === 'ER_NO_SUCH_TABLE') return true;
  return e instanceof Error && /no such table/i.test(e.message);
}

function parsed(message: string): unknown {
  try {
    return JSON.parse(message);
  } catch {
    return message;
  }
}

function write(out: Writable, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    out.write(text, (e) => (e ? reject(e) : resolve()));
  });
}

export function formatRecords(records: readonly StoredRecord[]): string {
  const lines: string[] = [];
  for (const r of records) {
    const m = parsed(r.message);
    const o = typeof m === 'object' && m !== null && !Array.isArray(m) ? (m as Record<string, unknown>) : undefined;
    const status = typeof o?.['status'] === 'string' ? (o['status'] as string) : 'recorded';
    lines.push(`${r.uuid}  seq ${r.seq}  ${r.sql}  ${status}  ${r.timestamp}  dir ${r.dir}`);
    if (o !== undefined && typeof o['error'] === 'string') lines.push(`  error: ${o['error']}`);
    const rows = o?.['rows'];
    if (o !== undefined && Array.isArray(rows)) {
      rows.forEach((row: unknown, i) => {
        const x = (typeof row === 'object' && row !== null ? row : {}) as Record<string, unknown>;
        const detail = x['status'] === 'failed' ? String(x['error'])
          : x['values'] !== undefined ? JSON.stringify(x['values'])
            : x['rows'] !== undefined ? `${JSON.stringify(x['rows'])}${x['truncated'] === true ? ' (truncated)' : ''}`
              : String(x['reason'] ?? '');
        lines.push(`  row ${i}  ${String(x['status'] ?? '?')}  ${detail}`);
      });
    } else {
      lines.push(`  ${r.message}`);
    }
  }
  return lines.join('\n') + '\n';
}

export async function runJobmanResults(opts: JobmanResultsOptions, out: Writable, err: Writable = process.stderr): Promise<number> {
  const uid = requestUid(opts.uid);
  if (opts.seq !== undefined && (!Number.isSafeInteger(opts.seq) || opts.seq < 0)) {
    await write(err, `jobman-results: --seq must be a step number (0, 1, …), got ${opts.seq}\n`);
    return EXIT_ERROR;
  }
  let conn: SqlConnection | undefined;
  try {
    const config = loadJobmanConfig(opts.config, opts.env ?? process.env);
    const target = config.resultdb.target;
    let records: StoredRecord[] = [];
    if (target.driver !== 'sqlite' || existsSync(target.file)) {
      conn = await openConnection(target, { role: `result store [${config.resultdb.section}]`, readonly: true, mustExist: true });
      try {
        records = await new ResultStore(conn, config.resultdb.table).load(uid, opts.seq);
      } catch (e) {
        if (!isMissingTable(e)) throw new Error(`reading ${describeTarget(target)}: ${describeError(e)}`, { cause: e });
      }
    }
    if (opts.json === true) {
      await write(out, JSON.stringify(records.map((r) => ({ ...r, message: parsed(r.message) })), null, 2) + '\n');
    } else if (records.length > 0) {
      await write(out, formatRecords(records));
    }
    if (records.length === 0) {
      await write(err, `jobman-results: nothing recorded for ${uid}${opts.seq === undefined ? '' : ` seq ${opts.seq}`}\n`);
      return EXIT_NONE;
    }
    return EXIT_FOUND;
  } catch (e) {
    await write(err, `jobman-results: ${describeError(e)}\n`);
    return EXIT_ERROR;
  } finally {
    await conn?.close().catch(() => undefined);
  }
}
