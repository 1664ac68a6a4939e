/** PostgreSQL through pg: one Client, server-side prepared statements named after their text. */
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { CompiledStatement } from '../sqltext.js';
import type { Bindable, ExecResult, SqlConnection } from './types.js';
import { jsonSafeRow } from './values.js';

/** date, timestamp, timestamptz: keep the server's text (no time-zone shifting through JS Date). */
const RAW_TEXT_OIDS = new Set([1082, 1114, 1184]);

const typeParsers = {
  getTypeParser(oid: number, format?: string): unknown {
    if (RAW_TEXT_OIDS.has(oid) && format !== 'binary') return (v: string) => v;
    return (pg.types.getTypeParser as (o: number, f?: string) => unknown)(oid, format);
  },
} as unknown as pg.CustomTypesConfig;

export class PostgresConnection implements SqlConnection {
  readonly driver = 'postgres' as const;
  healthy = true;
  private readonly client: pg.Client;

  private constructor(client: pg.Client) {
    this.client = client;
    client.on('error', () => {
      this.healthy = false;
    });
  }

  static async open(url: string, connectTimeoutMs: number): Promise<PostgresConnection> {
    const client = new pg.Client({ connectionString: url, types: typeParsers, connectionTimeoutMillis: connectTimeoutMs });
    const conn = new PostgresConnection(client);
    try {
      await client.connect();
    } catch (e) {
      await client.end().catch(() => undefined);
      throw e;
    }
    return conn;
  }

  private async q(config: pg.QueryConfig): Promise<pg.QueryResult> {
    try {
      return await this.client.query(config);
    } catch (e) {
      if (typeof (e as { code?: unknown }).code !== 'string') this.healthy = false;
      throw e;
    }
  }

  async run(stmt: CompiledStatement, values: readonly Bindable[], maxRows: number): Promise<ExecResult> {
    const name = 'jp_' + createHash('sha1').update(stmt.text).digest('hex').slice(0, 20);
    const res = await this.q({ name, text: stmt.text, values: [...values] });
    if (res.fields.length === 0) return { columns: undefined, rows: [], truncated: false };
    const rows = res.rows.length > maxRows ? res.rows.slice(0, maxRows) : res.rows;
    return {
      columns: res.fields.map((f) => f.name),
      rows: rows.map((r) => jsonSafeRow(r as Record<string, unknown>)),
      truncated: res.rows.length > maxRows,
    };
  }

  async begin(): Promise<void> {
    await this.q({ text: 'BEGIN' });
  }

  async commit(): Promise<void> {
    const res = await this.q({ text: 'COMMIT' });
    // COMMIT of a transaction that had an error is answered with ROLLBACK, not an error.
    if (res.command === 'ROLLBACK') throw Object.assign(new Error('COMMIT was answered with ROLLBACK: the transaction had failed'), { code: '25P02' });
  }

  async rollback(): Promise<void> {
    await this.q({ text: 'ROLLBACK' });
  }

  async close(): Promise<void> {
    this.healthy = false;
    await this.client.end().catch(() => undefined);
  }
}
