/** SQLite through better-sqlite3 (synchronous; wrapped in the async interface). */
import Database from 'better-sqlite3';
import type { CompiledStatement } from '../sqltext.js';
import type { BeginOptions, Bindable, ExecResult, ResultRow, SqlConnection } from './types.js';
import { jsonSafeRow } from './values.js';

export interface SqliteOpenOptions {
  /** Refuse to create a missing database file (destinations). */
  mustExist: boolean;
  /** Wait this long for a lock held by another process. */
  busyTimeoutMs: number;
  /** Switch to WAL journaling, synchronous=FULL (result store: several worker processes write it). */
  wal: boolean;
  readonly?: boolean;
}

const CACHE_LIMIT = 256;

/** SQLite has no boolean type; integers bind as INTEGER (not REAL), like other drivers. */
function toSqlite(v: Bindable): string | number | bigint | null {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  return v;
}

export class SqliteConnection implements SqlConnection {
  readonly driver = 'sqlite' as const;
  healthy = true;
  readonly db: Database.Database;
  private readonly cache = new Map<string, Database.Statement>();
  private readonly wal: boolean;
  private synchronous: 'FULL' | 'NORMAL' = 'FULL';

  constructor(file: string, opts: SqliteOpenOptions) {
    this.db = new Database(file, {
      fileMustExist: opts.mustExist,
      timeout: opts.busyTimeoutMs,
      readonly: opts.readonly === true,
    });
    this.wal = opts.wal && opts.readonly !== true;
    if (this.wal) {
      this.db.pragma('journal_mode = WAL');
      // better-sqlite3 builds default WAL databases to synchronous=NORMAL; the result store's
      // in-flight marker must be on disk before the destination commits (see engine.ts).
      this.db.pragma('synchronous = FULL');
    }
  }

  private prepared(text: string): Database.Statement {
    let s = this.cache.get(text);
    if (s === undefined) {
      s = this.db.prepare(text);
      if (s.reader) s.safeIntegers(true);
      if (this.cache.size >= CACHE_LIMIT) {
        const oldest = this.cache.keys().next();
        if (oldest.done !== true) this.cache.delete(oldest.value);
      }
      this.cache.set(text, s);
    }
    return s;
  }

  async run(stmt: CompiledStatement, values: readonly Bindable[], maxRows: number): Promise<ExecResult> {
    const s = this.prepared(stmt.text);
    const args = values.map(toSqlite);
    if (!s.reader) {
      s.run(...args);
      return { columns: undefined, rows: [], truncated: false };
    }
    const columns = s.columns().map((c) => c.name);
    const rows: ResultRow[] = [];
    let truncated = false;
    for (const r of s.iterate(...args)) {
      if (rows.length >= maxRows) {
        truncated = true;
        break;
      }
      rows.push(jsonSafeRow(r as Record<string, unknown>));
    }
    return { columns, rows, truncated };
  }

  async begin(opts: BeginOptions = {}): Promise<void> {
    const want = this.wal && opts.durable === false ? 'NORMAL' : 'FULL';
    if (this.wal && want !== this.synchronous) {
      this.db.pragma(`synchronous = ${want}`);
      this.synchronous = want;
    }
    this.db.exec('BEGIN IMMEDIATE');
  }

  async commit(): Promise<void> {
    this.db.exec('COMMIT');
  }

  async rollback(): Promise<void> {
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
  }

  async close(): Promise<void> {
    this.healthy = false;
    this.cache.clear();
    if (this.db.open) this.db.close();
  }
}
