/**
 * The result store: jobman's table `(sql, dir, uuid, seq, message, timestamp)`
 * (default name `messages`), plus `<table>_inflight (uuid, seq, rows_done,
 * pending, updated)` that makes resume after a crash safe (see engine.ts).
 * Both are created if missing. Methods never open or close transactions:
 * the caller decides (so records can share the destination's transaction).
 */
import { JpError } from '../../core/errors.js';
import type { DriverName } from '../config-types.js';
import type { SqlConnection } from '../db/types.js';
import { compileScript, type CompiledStatement } from '../sqltext.js';
import type { StepMessage } from './message.js';

export interface StoredRecord {
  readonly sql: string;
  readonly dir: string;
  readonly uuid: string;
  readonly seq: number;
  readonly message: string;
  readonly timestamp: string;
}

export interface InflightState {
  /** Rows of the step known to be committed (resume from here). */
  readonly rowsDone: number;
  /** A destination commit was under way: whether it happened is unknown. */
  readonly pending: boolean;
}

export interface NewRecord {
  readonly sql: string;
  readonly seq: number;
  readonly message: StepMessage;
}

const TABLE_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** UTC `YYYY-MM-DD HH:MM:SS`, accepted by TEXT, TIMESTAMP and DATETIME columns alike. */
export function sqlTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

function ddl(driver: DriverName, t: string): string[] {
  const q = (id: string): string => (driver === 'mysql' ? `\`${id}\`` : `"${id}"`);
  const m = q(t);
  const f = q(`${t}_inflight`);
  if (driver === 'mysql') {
    return [
      `CREATE TABLE IF NOT EXISTS ${m} (\`sql\` VARCHAR(255), \`dir\` VARCHAR(255), \`uuid\` VARCHAR(255), \`seq\` INT, `
        + `\`message\` LONGTEXT, \`timestamp\` DATETIME, KEY ${q(`${t}_uuid_seq`)} (\`uuid\`, \`seq\`)) DEFAULT CHARSET=utf8mb4`,
      `CREATE TABLE IF NOT EXISTS ${f} (\`uuid\` VARCHAR(255) NOT NULL, \`seq\` INT NOT NULL, \`rows_done\` INT NOT NULL, `
        + `\`pending\` INT NOT NULL, \`updated\` DATETIME, PRIMARY KEY (\`uuid\`, \`seq\`)) DEFAULT CHARSET=utf8mb4`,
    ];
  }
  const text = driver === 'postgres' ? 'VARCHAR(255)' : 'TEXT';
  const ts = driver === 'postgres' ? 'TIMESTAMP' : 'TEXT';
  return [
    `CREATE TABLE IF NOT EXISTS ${m} ("sql" ${text}, "dir" ${text}, "uuid" ${text}, "seq" INTEGER, "message" TEXT, "timestamp" ${ts})`,
    `CREATE INDEX IF NOT EXISTS ${q(`${t}_uuid_seq`)} ON ${m} ("uuid", "seq")`,
    `CREATE TABLE IF NOT EXISTS ${f} ("uuid" ${text} NOT NULL, "seq" INTEGER NOT NULL, "rows_done" INTEGER NOT NULL, `
      + `"pending" INTEGER NOT NULL, "updated" ${ts}, PRIMARY KEY ("uuid", "seq"))`,
  ];
}

export class ResultStore {
  readonly conn: SqlConnection;
  readonly table: string;
  private readonly s: Record<'selectAll' | 'selectSeq' | 'delete' | 'insert' | 'inflight' | 'delInflight' | 'delInflightSeq' | 'insInflight', CompiledStatement>;
  private readonly schema: CompiledStatement[];

  constructor(conn: SqlConnection, table: string) {
    if (!TABLE_RE.test(table)) throw new JpError('JP_CONFIG', `results table name ${JSON.stringify(table)} is not an SQL identifier`);
    this.conn = conn;
    this.table = table;
    const d = conn.driver;
    const q = (id: string): string => (d === 'mysql' ? `\`${id}\`` : `"${id}"`);
    const m = q(table);
    const f = q(`${table}_inflight`);
    const cols = ['sql', 'dir', 'uuid', 'seq', 'message', 'timestamp'].map(q).join(', ');
    const one = (sql: string): CompiledStatement => compileScript(sql, d)[0] as CompiledStatement;
    this.s = {
      selectAll: one(`SELECT ${cols} FROM ${m} WHERE ${q('uuid')} = :uuid ORDER BY ${q('seq')}, ${q('timestamp')}`),
      selectSeq: one(`SELECT ${cols} FROM ${m} WHERE ${q('uuid')} = :uuid AND ${q('seq')} = :seq ORDER BY ${q('timestamp')}`),
      delete: one(`DELETE FROM ${m} WHERE ${q('uuid')} = :uuid AND ${q('seq')} = :seq`),
      insert: one(`INSERT INTO ${m} (${cols}) VALUES (:sql, :dir, :uuid, :seq, :message, :ts)`),
      inflight: one(`SELECT ${q('seq')}, ${q('rows_done')}, ${q('pending')} FROM ${f} WHERE ${q('uuid')} = :uuid`),
      delInflight: one(`DELETE FROM ${f} WHERE ${q('uuid')} = :uuid`),
      delInflightSeq: one(`DELETE FROM ${f} WHERE ${q('uuid')} = :uuid AND ${q('seq')} = :seq`),
      insInflight: one(`INSERT INTO ${f} (${['uuid', 'seq', 'rows_done', 'pending', 'updated'].map(q).join(', ')}) VALUES (:uuid, :seq, :rows, :pending, :ts)`),
    };
    this.schema = ddl(d, table).map((x) => ({ text: x, params: [] }));
  }

  /** Create the tables if missing (outside any transaction). */
  async ensureSchema(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        for (const st of this.schema) await this.conn.run(st, [], 0);
        return;
      } catch (e) {
        // Two processes creating the same PostgreSQL table at once: the loser sees a duplicate; look again.
        if (attempt >= 2) throw e;
      }
    }
  }

  async load(uid: string, seq?: number): Promise<StoredRecord[]> {
    const r = seq === undefined
      ? await this.conn.run(this.s.selectAll, [uid], Number.MAX_SAFE_INTEGER)
      : await this.conn.run(this.s.selectSeq, [uid, seq], Number.MAX_SAFE_INTEGER);
    return r.rows.map((row) => ({
      sql: String(row['sql'] ?? ''),
      dir: String(row['dir'] ?? ''),
      uuid: String(row['uuid'] ?? ''),
      seq: Number(row['seq']),
      message: String(row['message'] ?? ''),
      timestamp: String(row['timestamp'] ?? ''),
    }));
  }

  async loadInflight(uid: string): Promise<Map<number, InflightState>> {
    const r = await this.conn.run(this.s.inflight, [uid], Number.MAX_SAFE_INTEGER);
    const out = new Map<number, InflightState>();
    for (const row of r.rows) {
      out.set(Number(row['seq']), { rowsDone: Number(row['rows_done']), pending: Number(row['pending']) !== 0 });
    }
    return out;
  }

  /** Replace the records of these steps. */
  async record(uid: string, dir: string, recs: readonly NewRecord[], now: number): Promise<void> {
    const ts = sqlTimestamp(now);
    for (const r of recs) {
      await this.conn.run(this.s.delete, [uid, r.seq], 0);
      await this.conn.run(this.s.insert, [r.sql, dir, uid, r.seq, JSON.stringify(r.message), ts], 0);
    }
  }

  async setInflight(uid: string, seq: number, state: InflightState, now: number): Promise<void> {
    await this.conn.run(this.s.delInflightSeq, [uid, seq], 0);
    await this.conn.run(this.s.insInflight, [uid, seq, state.rowsDone, state.pending ? 1 : 0, sqlTimestamp(now)], 0);
  }

  async clearInflight(uid: string, seq?: number): Promise<void> {
    if (seq === undefined) await this.conn.run(this.s.delInflight, [uid], 0);
    else await this.conn.run(this.s.delInflightSeq, [uid, seq], 0);
  }
}
