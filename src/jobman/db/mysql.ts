/** MariaDB/MySQL through mysql2: execute() prepares each statement text once per connection. */
import mysql from 'mysql2/promise';
import { systemCode } from '../../core/errors.js';
import type { CompiledStatement } from '../sqltext.js';
import type { Bindable, ExecResult, ResultRow, SqlConnection } from './types.js';
import { jsonSafeRow } from './values.js';

type Fields = mysql.FieldPacket[] | mysql.FieldPacket[][] | undefined;

const isRowArray = (v: unknown): v is Record<string, unknown>[] =>
  Array.isArray(v) && v.every((r) => typeof r === 'object' && r !== null && !Array.isArray(r));

export class MysqlConnection implements SqlConnection {
  readonly driver = 'mysql' as const;
  healthy = true;
  private readonly conn: mysql.Connection;

  private constructor(conn: mysql.Connection) {
    this.conn = conn;
    conn.on('error', () => {
      this.healthy = false;
    });
  }

  static async open(url: string, connectTimeoutMs: number): Promise<MysqlConnection> {
    const conn = await mysql.createConnection({
      uri: url,
      connectTimeout: connectTimeoutMs,
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: false,
      multipleStatements: false,
      namedPlaceholders: false,
      charset: 'utf8mb4',
    });
    return new MysqlConnection(conn);
  }

  private async guard<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (e) {
      if ((e as { fatal?: unknown }).fatal === true) this.healthy = false;
      throw e;
    }
  }

  async run(stmt: CompiledStatement, values: readonly Bindable[], maxRows: number): Promise<ExecResult> {
    let rows: unknown;
    let fields: Fields;
    try {
      [rows, fields] = (await this.guard(this.conn.execute(stmt.text, [...values]))) as [unknown, Fields];
    } catch (e) {
      if (systemCode(e) !== 'ER_UNSUPPORTED_PS') throw e;
      // A statement the server cannot prepare: send it with client-side escaping.
      [rows, fields] = (await this.guard(this.conn.query(stmt.text, [...values]))) as [unknown, Fields];
    }
    if (!Array.isArray(rows)) return { columns: undefined, rows: [], truncated: false };
    let set: Record<string, unknown>[] | undefined;
    let cols: mysql.FieldPacket[] | undefined;
    if (isRowArray(rows) && Array.isArray(fields) && !Array.isArray(fields[0])) {
      set = rows;
      cols = fields as mysql.FieldPacket[];
    } else {
      // CALL: several result sets then a status header; keep the last result set.
      const fs = (Array.isArray(fields) ? fields : []) as unknown[];
      for (let i = rows.length - 1; i >= 0; i--) {
        if (isRowArray(rows[i]) && Array.isArray(fs[i])) {
          set = rows[i] as Record<string, unknown>[];
          cols = fs[i] as mysql.FieldPacket[];
          break;
        }
      }
    }
    if (set === undefined || cols === undefined) return { columns: undefined, rows: [], truncated: false };
    const kept: ResultRow[] = set.slice(0, maxRows).map(jsonSafeRow);
    return { columns: cols.map((f) => f.name), rows: kept, truncated: set.length > maxRows };
  }

  async begin(): Promise<void> {
    await this.guard(this.conn.query('START TRANSACTION'));
  }

  async commit(): Promise<void> {
    await this.guard(this.conn.query('COMMIT'));
  }

  async rollback(): Promise<void> {
    await this.guard(this.conn.query('ROLLBACK'));
  }

  async close(): Promise<void> {
    this.healthy = false;
    await this.conn.end().catch(() => this.conn.destroy());
  }
}
