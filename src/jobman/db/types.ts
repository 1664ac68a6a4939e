/**
 * The one small interface every destination (and result store) database is
 * used through. Statements arrive compiled for the driver (sqltext.ts) with
 * their values in placeholder order; each connection prepares a statement
 * text once and reuses it.
 */
import type { DriverName } from '../config-types.js';
import type { Bindable } from '../request.js';
import type { CompiledStatement } from '../sqltext.js';

export type { Bindable } from '../request.js';

export type ResultRow = Record<string, unknown>;

export interface ExecResult {
  /** Column names when the statement produced a result set (SELECT, RETURNING, CALL with rows); else undefined. */
  readonly columns: readonly string[] | undefined;
  /** At most `maxRows` rows, values JSON-safe (see values.ts). */
  readonly rows: readonly ResultRow[];
  /** More rows were produced than kept. */
  readonly truncated: boolean;
}

export interface BeginOptions {
  /**
   * false: this transaction may be lost on power failure (never on a process
   * crash). Honoured by the SQLite result store (WAL, synchronous=NORMAL for
   * that commit); other connections always commit durably.
   */
  readonly durable?: boolean;
}

export interface SqlConnection {
  readonly driver: DriverName;
  /** false after a connection-level failure: the owner closes it and opens a new one. */
  readonly healthy: boolean;
  run(stmt: CompiledStatement, values: readonly Bindable[], maxRows: number): Promise<ExecResult>;
  begin(opts?: BeginOptions): Promise<void>;
  commit(): Promise<void>;
  /** Roll back the open transaction; a no-op when none is open. */
  rollback(): Promise<void>;
  close(): Promise<void>;
}
