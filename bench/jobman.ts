/**
 * P6: jobman requests on the embedded SQLite destination.
 *
 * 1,000 requests × 10 rows through createJobmanHandler (JSON validation,
 * script cache, bind translation, one transaction per request, results
 * recorded) against the baseline: the same INSERT, prepared once with
 * better-sqlite3, run in a plain loop with one transaction per 10 rows.
 * Target: handler rows/s ≥ 0.5 × baseline rows/s.
 *
 * Also reported (for information): the result store in the destination
 * database, and the whole jobman queue path (files in iqueue → oqueue).
 *
 *   npm run bench:jobman [-- requests rowsPerRequest]
 * Environment (the arguments take precedence): BENCH_JOBMAN_REQUESTS=1000,
 * BENCH_JOBMAN_ROWS=10. The figure is printed as a FIGURE line
 * (lib/figure.ts) for run-all.
 */
import Database from 'better-sqlite3';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadJobmanConfig } from '../src/jobman/config.js';
import { createJobmanHandler } from '../src/jobman/handler.js';
import { JobmanQueue } from '../src/jobman/queue.js';
import { reportFigure } from './lib/figure.js';
import { envInt } from './lib/stats.js';

const REQUESTS = Number(process.argv[2] ?? envInt('BENCH_JOBMAN_REQUESTS', 1000, 1, 10_000_000));
const ROWS = Number(process.argv[3] ?? envInt('BENCH_JOBMAN_ROWS', 10, 1, 100_000));
const TABLE = 'posupld_t';
const DDL = `CREATE TABLE ${TABLE} (item TEXT NOT NULL, loc TEXT, tran_date TEXT, sale_qty INTEGER, sale_amt INTEGER, error_message TEXT)`;
const INSERT_NAMED = `INSERT INTO ${TABLE} (item, loc, tran_date, sale_qty, sale_amt, error_message) VALUES (:ITEM, :LOC, :TRAN_DATE, :SALE_QTY, :SALE_AMT, :ERROR_MESSAGE)`;

type Row = { ITEM: string; LOC: string; TRAN_DATE: string; SALE_QTY: number; SALE_AMT: number; ERROR_MESSAGE: string };

function makeRows(req: number): Row[] {
  return Array.from({ length: ROWS }, (_, i) => ({
    ITEM: `10143030911${String(req * ROWS + i).padStart(8, '0')}`,
    LOC: '1001000189',
    TRAN_DATE: '2018-04-01',
    SALE_QTY: -((req + i) % 50),
    SALE_AMT: 80 + i,
    ERROR_MESSAGE: '',
  }));
}

function freshDeployment(root: string, name: string, sameDb: boolean): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'scripts'), { recursive: true });
  mkdirSync(join(dir, 'iqueue'), { recursive: true });
  const db = new Database(join(dir, 'dest.db'));
  db.exec(DDL);
  db.close();
  writeFileSync(join(dir, 'scripts', 'posupld.sql'), INSERT_NAMED + '\n');
  writeFileSync(join(dir, 'config.ini'), `[DEFAULT]
destination=mom
resultdb=sqlite3
[mom]
driver=sqlite
url=dest.db
env=scripts
rowcommit=False
${sameDb ? '[resultdb_sqlite3]\nfile=dest.db\n' : ''}`);
  return dir;
}

function countRows(dir: string): number {
  const db = new Database(join(dir, 'dest.db'), { readonly: true });
  const n = (db.prepare(`SELECT count(*) AS n FROM ${TABLE}`).get() as { n: number }).n;
  db.close();
  return n;
}

/** One way of applying requests [from, to): returns the milliseconds spent. */
interface Variant {
  readonly label: string;
  readonly dir: string;
  ms: number;
  run(from: number, to: number): Promise<void>;
  close(): Promise<void>;
}

function baseline(root: string): Variant {
  const dir = freshDeployment(root, 'baseline', false);
  const db = new Database(join(dir, 'dest.db'), { fileMustExist: true, timeout: 10_000 });
  const stmt = db.prepare(INSERT_NAMED.replace(/:([A-Z_]+)/g, '@$1'));
  return {
    label: 'baseline better-sqlite3 loop (1 tx/request)', dir, ms: 0,
    run: async (from, to) => {
      for (let r = from; r < to; r++) {
        const rows = makeRows(r);
        db.exec('BEGIN IMMEDIATE');
        for (const row of rows) stmt.run(row);
        db.exec('COMMIT');
      }
    },
    close: async () => void db.close(),
  };
}

function viaHandler(root: string, name: string, sameDb: boolean, label: string): Variant {
  const dir = freshDeployment(root, name, sameDb);
  const h = createJobmanHandler(loadJobmanConfig(join(dir, 'config.ini'), {}));
  const signal = new AbortController().signal;
  return {
    label, dir, ms: 0,
    run: async (from, to) => {
      for (let r = from; r < to; r++) {
        const body = Buffer.from(JSON.stringify([{ sql: 'posupld', rows: makeRows(r) }]));
        const msgName = `r${r}.req`;
        const o = await h.handle({ name: msgName, path: msgName, from: 'new', meta: undefined }, body, signal);
        if (o.kind !== 'delivered') throw new Error(`request ${r}: ${JSON.stringify(o)}`);
      }
    },
    close: () => h.close(),
  };
}

async function viaQueue(root: string): Promise<Variant> {
  const dir = freshDeployment(root, 'queue', false);
  const config = loadJobmanConfig(join(dir, 'config.ini'), {});
  const q = JobmanQueue.fromConfig(config);
  await q.init();
  const h = createJobmanHandler(config);
  const signal = new AbortController().signal;
  return {
    label: 'full queue path iqueue → oqueue (info)', dir, ms: 0,
    run: async () => {
      for await (const name of q.scanNew()) {
        const m = await q.claim(name, 'new');
        if (m === undefined) continue;
        const o = await h.handle(m, await q.read(m, 1 << 20), signal);
        if (o.kind !== 'delivered') throw new Error(`${name}: ${JSON.stringify(o)}`);
        await q.delivered(m);
      }
    },
    close: () => h.close(),
  };
}

/** Files for the queue variant are written before its timed slice. */
function writeRequests(config: { iqueue: string; sub: string }, from: number, to: number): void {
  for (let r = from; r < to; r++) {
    writeFileSync(join(config.iqueue, config.sub, `r${r}.req`), JSON.stringify([{ sql: 'posupld', rows: makeRows(r) }]));
  }
}

function check(dir: string): void {
  const n = countRows(dir);
  if (n !== REQUESTS * ROWS) throw new Error(`${dir}: ${n} rows, expected ${REQUESTS * ROWS}`);
}

const rate = (ms: number): number => (REQUESTS * ROWS) / (ms / 1000);
const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');

const ROUNDS = 50;

const median = (xs: number[]): number => {
  const a = [...xs].sort((x, y) => x - y);
  const m = Math.floor(a.length / 2);
  return a.length % 2 === 1 ? (a[m] as number) : ((a[m - 1] as number) + (a[m] as number)) / 2;
};

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'jp-bench-jobman-'));
  try {
    const base = baseline(root);
    const handler = viaHandler(root, 'handler', false, 'handler, results in <iqueue>/00_log.db (default)');
    const same = viaHandler(root, 'handler-same', true, 'handler, results in the destination database');
    const queue = await viaQueue(root);
    const variants = [base, handler, same, queue];
    /** Per round: each variant's time divided by the baseline's (median reported: robust to I/O bursts). */
    const roundRatios = new Map<Variant, number[]>(variants.map((v) => [v, []]));
    // Interleaved in rounds, so that drifting disk latency on a shared machine hits every variant alike.
    const chunk = Math.ceil(REQUESTS / ROUNDS);
    for (let from = 0; from < REQUESTS; from += chunk) {
      const to = Math.min(REQUESTS, from + chunk);
      writeRequests(loadJobmanConfig(join(queue.dir, 'config.ini'), {}), from, to);
      const times = new Map<Variant, number>();
      for (const v of variants) {
        const t0 = performance.now();
        await v.run(from, to);
        const ms = performance.now() - t0;
        v.ms += ms;
        times.set(v, ms);
      }
      for (const v of variants) roundRatios.get(v)?.push((times.get(base) as number) / (times.get(v) as number));
    }
    for (const v of variants) {
      await v.close();
      check(v.dir);
    }
    console.log(`P6 jobman on SQLite: ${REQUESTS} requests × ${ROWS} rows (${REQUESTS * ROWS} rows per variant), interleaved in ${ROUNDS} rounds`);
    for (const v of variants) {
      const ratio = v === base ? '' : `  ratio ${(rate(v.ms) / rate(base.ms)).toFixed(2)} (median of rounds ${median(roundRatios.get(v) ?? []).toFixed(2)})`;
      console.log(`  ${v.label.padEnd(50)} ${fmt(rate(v.ms)).padStart(9)} rows/s  (${v.ms.toFixed(0)} ms)${ratio}`);
    }
    const ratio = median(roundRatios.get(handler) ?? []);
    console.log(`P6 ratio (default layout, median of ${ROUNDS} interleaved rounds) ${ratio.toFixed(2)} — target ≥ 0.50: ${ratio >= 0.5 ? 'met' : 'NOT met'}`);
    reportFigure({
      id: 'P6', measured: `${fmt(rate(handler.ms))} rows/s (handler, default layout)`,
      baseline: `${fmt(rate(base.ms))} rows/s (the same statements in one plain better-sqlite3 loop)`, ratio: ratio.toFixed(2), met: ratio >= 0.5,
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
