/** Shared fixtures for the jobman tests: the spec's example, temporary deployments on each driver. */
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { ClaimedMessage } from '../../src/core/queue.js';
import { loadJobmanConfig } from '../../src/jobman/config.js';
import type { DriverName, JobmanConfig } from '../../src/jobman/config-types.js';
import { openConnection } from '../../src/jobman/db/connect.js';
import { readRecordState, type StepMessage } from '../../src/jobman/results/message.js';
import { ResultStore, type StoredRecord } from '../../src/jobman/results/store.js';

export const SPEC_EXAMPLE = `[
  {"sql": "posupld",
   "rows": [
     {"ITEM": "1014303091143220", "LOC": "1001000189", "TRAN_DATE": "2018-04-01",
      "SALE_QTY": -10, "SALE_AMT": 80, "ERROR_MESSAGE": ""},
     {"ITEM": "1014303091143225", "LOC": "1001000189", "TRAN_DATE": "2018-04-01",
      "SALE_QTY": -11, "SALE_AMT": 90, "ERROR_MESSAGE": ""}
   ]}
]`;

let counter = 0;
/** A table/uid name unique to this process and run. */
export function uniq(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${++counter}`;
}

export function tempDir(prefix = 'jp-jobman-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export const PG_URL = process.env['JP_TEST_PG_URL'];
export const MYSQL_URL = process.env['JP_TEST_MYSQL_URL'];

/** Why tests of this driver cannot run here, or undefined. */
export function skipReason(driver: DriverName): string | undefined {
  if (driver === 'postgres' && PG_URL === undefined) return 'JP_TEST_PG_URL not set';
  if (driver === 'mysql' && MYSQL_URL === undefined) return 'JP_TEST_MYSQL_URL not set';
  return undefined;
}

/** Direct access to the destination database, to prepare and verify. */
export interface Admin {
  exec(sql: string): Promise<void>;
  query(sql: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export async function openAdmin(driver: DriverName, where: string): Promise<Admin> {
  if (driver === 'sqlite') {
    const db = new Database(where);
    return {
      exec: async (sql) => void db.exec(sql),
      query: async (sql) => db.prepare(sql).all() as Record<string, unknown>[],
      close: async () => void db.close(),
    };
  }
  if (driver === 'postgres') {
    const c = new pg.Client({ connectionString: where });
    await c.connect();
    return {
      exec: async (sql) => void (await c.query(sql)),
      query: async (sql) => (await c.query(sql)).rows as Record<string, unknown>[],
      close: () => c.end(),
    };
  }
  const c = await mysql.createConnection({ uri: where });
  return {
    exec: async (sql) => void (await c.query(sql)),
    query: async (sql) => (await c.query(sql))[0] as Record<string, unknown>[],
    close: () => c.end(),
  };
}

export const POSUPLD = (t: string): string =>
  `INSERT INTO ${t} (item, loc, tran_date, sale_qty, sale_amt)\nVALUES (:ITEM, :LOC, :TRAN_DATE, :SALE_QTY, :SALE_AMT)\n`;

export interface Deployment {
  readonly dir: string;
  readonly configFile: string;
  readonly config: JobmanConfig;
  readonly table: string;
  readonly resultsTable: string;
  readonly admin: Admin;
  readonly scriptsDir: string;
  writeScript(name: string, text: string): void;
  /** item and sale_qty of every row in the destination table, ordered by item. */
  rows(): Promise<{ item: string; sale_qty: number }[]>;
  records(uid: string): Promise<StoredRecord[]>;
  messages(uid: string): Promise<StepMessage[]>;
  close(): Promise<void>;
}

export interface DeployOptions {
  driver: DriverName;
  /** 'same': results in the destination database; 'sqlite': the default <iqueue>/<sub>_log.db. */
  results: 'same' | 'sqlite';
  rowcommit?: boolean;
  extraDefault?: string;
}

/** A config.ini, a scripts folder with posupld.sql, and a fresh destination table. */
export async function deploy(o: DeployOptions): Promise<Deployment> {
  const dir = tempDir();
  const table = uniq('jm_t');
  const resultsTable = uniq('jm_res');
  const scriptsDir = join(dir, 'scripts');
  mkdirSync(scriptsDir);
  const destWhere = o.driver === 'sqlite' ? join(dir, 'dest.db') : o.driver === 'postgres' ? (PG_URL as string) : (MYSQL_URL as string);
  const admin = await openAdmin(o.driver, destWhere);
  await admin.exec(`CREATE TABLE ${table} (item VARCHAR(32) NOT NULL, loc VARCHAR(32), tran_date VARCHAR(10), `
    + 'sale_qty INTEGER CHECK (sale_qty > -100), sale_amt INTEGER)');
  const resultKind = o.results === 'sqlite' ? 'sqlite3' : o.driver === 'sqlite' ? 'sqlite3' : o.driver;
  let resultSection = `[resultdb_sqlite3]\ntable=${resultsTable}\n`;
  if (o.results === 'same') {
    resultSection = o.driver === 'sqlite'
      ? `[resultdb_sqlite3]\nfile=dest.db\ntable=${resultsTable}\n`
      : `[resultdb_${o.driver}]\nurl=${destWhere}\ntable=${resultsTable}\n`;
  }
  const configFile = join(dir, 'config.ini');
  writeFileSync(configFile, `[DEFAULT]
destination=dest
resultdb=${resultKind}
${o.extraDefault ?? ''}
[dest]
driver=${o.driver}
url=${o.driver === 'sqlite' ? 'dest.db' : destWhere}
env=scripts
rowcommit=${o.rowcommit === true ? 'True' : 'False'}

${resultSection}`);
  mkdirSync(join(dir, 'iqueue'));
  const config = loadJobmanConfig(configFile, {});
  const writeScript = (name: string, text: string): void => writeFileSync(join(scriptsDir, `${name}.sql`), text);
  writeScript('posupld', POSUPLD(table));
  const records = async (uid: string): Promise<StoredRecord[]> => {
    const conn = await openConnection(config.resultdb.target, { role: 'test' });
    try {
      const store = new ResultStore(conn, config.resultdb.table);
      await store.ensureSchema();
      return await store.load(uid);
    } finally {
      await conn.close();
    }
  };
  return {
    dir, configFile, config, table, resultsTable, admin, scriptsDir, writeScript, records,
    rows: async () => (await admin.query(`SELECT item, sale_qty FROM ${table} ORDER BY item`))
      .map((r) => ({ item: String(r['item']), sale_qty: Number(r['sale_qty']) })),
    messages: async (uid) => (await records(uid)).map((r) => {
      assert(readRecordState(r.message).status !== undefined, `record ${r.seq} is a jp-importer record`);
      return JSON.parse(r.message) as StepMessage;
    }),
    close: async () => {
      for (const t of [table, resultsTable, `${resultsTable}_inflight`]) await admin.exec(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
      await admin.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function assert(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

/** A ClaimedMessage as the worker loop passes it (the handler only uses the name). */
export function claimed(name: string): ClaimedMessage {
  return { name, path: `/nonexistent/${name}`, from: 'new', meta: undefined };
}

export function rowsOf(n: number, from = 0, extra: Record<string, unknown> = {}): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({
    ITEM: `item${String(from + i).padStart(4, '0')}`, LOC: 'L1', TRAN_DATE: '2018-04-01', SALE_QTY: -(from + i) % 50, SALE_AMT: 10 + i, ...extra,
  }));
}

export function body(steps: { sql: string; rows: Record<string, unknown>[] }[]): Buffer {
  return Buffer.from(JSON.stringify(steps));
}
