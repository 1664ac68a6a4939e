/**
 * The handler scenarios, run against each destination driver (sqlite,
 * postgres, mysql) with the result store in the same database and in the
 * default separate SQLite file.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { Outcome } from '../../src/core/outcome.js';
import type { DriverName } from '../../src/jobman/config-types.js';
import { openConnection } from '../../src/jobman/db/connect.js';
import { createJobmanHandler, type JobmanHandler } from '../../src/jobman/handler.js';
import { ResultStore } from '../../src/jobman/results/store.js';
import { body, claimed, deploy, rowsOf, skipReason, SPEC_EXAMPLE, type DeployOptions, type Deployment } from './fixtures.js';

const never = new AbortController().signal;

async function withDeployment(
  t: TestContext,
  o: DeployOptions,
  fn: (d: Deployment, h: JobmanHandler) => Promise<void>,
): Promise<void> {
  const why = skipReason(o.driver);
  if (why !== undefined) {
    t.skip(why);
    return;
  }
  const d = await deploy(o);
  const h = createJobmanHandler(d.config);
  try {
    await fn(d, h);
  } finally {
    await h.close();
    await d.close();
  }
}

function expectKind(o: Outcome, kind: Outcome['kind'], re?: RegExp): void {
  assert.equal(o.kind, kind, JSON.stringify(o));
  if (re !== undefined) assert.match(o.kind === 'delivered' ? o.note ?? '' : o.reason, re);
}

export function defineHandlerSuite(driver: DriverName): void {
  for (const results of ['same', 'sqlite'] as const) {
    const label = `${driver} (results ${results === 'same' ? 'in the destination' : 'in a separate SQLite file'})`;

    test(`${label}: the spec example is applied and recorded`, async (t) => {
      await withDeployment(t, { driver, results }, async (d, h) => {
        expectKind(await h.handle(claimed('ex1.req'), Buffer.from(SPEC_EXAMPLE), never), 'delivered', /1 step\(s\) run/);
        assert.deepEqual(await d.rows(), [{ item: '1014303091143220', sale_qty: -10 }, { item: '1014303091143225', sale_qty: -11 }]);
        const recs = await d.records('ex1');
        assert.equal(recs.length, 1);
        assert.equal(recs[0]?.sql, 'posupld');
        assert.equal(recs[0]?.dir, '00');
        assert.equal(recs[0]?.seq, 0);
        assert.match(recs[0]?.timestamp ?? '', /^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d/);
        const [m] = await d.messages('ex1');
        assert.equal(m?.status, 'committed');
        assert.equal(m?.committedRows, 2);
        assert.deepEqual(m?.rows[0], { status: 'ok', values: JSON.parse(SPEC_EXAMPLE)[0].rows[0] });
        // Same uid again: every step is recorded, nothing is applied twice.
        expectKind(await h.handle(claimed('ex1.req'), Buffer.from(SPEC_EXAMPLE), never), 'delivered', /0 step\(s\) run, 1 already recorded/);
        assert.equal((await d.rows()).length, 2);
      });
    });

    test(`${label}: a failing row rolls the whole request back`, async (t) => {
      await withDeployment(t, { driver, results }, async (d, h) => {
        const rows = rowsOf(3);
        (rows[1] as Record<string, unknown>)['SALE_QTY'] = -500; // violates the CHECK constraint
        const req = body([{ sql: 'posupld', rows: rowsOf(2, 10) }, { sql: 'posupld', rows }, { sql: 'posupld', rows: rowsOf(1, 20) }]);
        expectKind(await h.handle(claimed('fail1.req'), req, never), 'giveup', /step 1 \(posupld\) row 1: .*rolled back/);
        assert.deepEqual(await d.rows(), []);
        const ms = await d.messages('fail1');
        assert.deepEqual(ms.map((m) => m.status), ['rolled_back', 'failed', 'not_run']);
        assert.deepEqual(ms[1]?.rows.map((r) => r.status), ['ok', 'failed', 'not_run']);
        const failed = ms[1]?.rows[1];
        assert.ok(failed?.status === 'failed' && failed.error.length > 0);
        // Fixed and re-queued under the same uid: runs completely (rolled-back steps are not "done").
        (rows[1] as Record<string, unknown>)['SALE_QTY'] = -5;
        const fixed = body([{ sql: 'posupld', rows: rowsOf(2, 10) }, { sql: 'posupld', rows }, { sql: 'posupld', rows: rowsOf(1, 20) }]);
        expectKind(await h.handle(claimed('fail1.req'), fixed, never), 'delivered', /3 step\(s\) run/);
        assert.equal((await d.rows()).length, 6);
        assert.deepEqual((await d.messages('fail1')).map((m) => m.status), ['committed', 'committed', 'committed']);
      });
    });

    test(`${label}: a non-empty ERROR_MESSAGE returned by the script fails the row`, async (t) => {
      await withDeployment(t, { driver, results }, async (d, h) => {
        d.writeScript('checked', `INSERT INTO ${d.table} (item, loc, tran_date, sale_qty, sale_amt)
          VALUES (:ITEM, :LOC, :TRAN_DATE, :SALE_QTY, :SALE_AMT)
          RETURNING item, CASE WHEN sale_amt > 1000 THEN 'amount too high' END AS ERROR_MESSAGE`);
        const rows = rowsOf(3);
        (rows[2] as Record<string, unknown>)['SALE_AMT'] = 5000;
        expectKind(await h.handle(claimed('em.req'), body([{ sql: 'checked', rows }]), never), 'giveup', /row 2: amount too high/);
        assert.deepEqual(await d.rows(), []);
        const [m] = await d.messages('em');
        assert.equal(m?.status, 'failed');
        const ok = m?.rows[0];
        assert.ok(ok?.status === 'ok' && 'rows' in ok);
        assert.equal(ok.rows.length, 1);
        assert.equal(ok.rows[0]?.['item'], 'item0000');
      });
    });

    test(`${label}: rowcommit keeps the rows before the failure`, async (t) => {
      await withDeployment(t, { driver, results, rowcommit: true }, async (d, h) => {
        const rows = rowsOf(4);
        (rows[2] as Record<string, unknown>)['SALE_QTY'] = -500;
        expectKind(await h.handle(claimed('rc.req'), body([{ sql: 'posupld', rows }]), never), 'giveup', /row 2: .*stay committed/);
        assert.deepEqual((await d.rows()).map((r) => r.item), ['item0000', 'item0001']);
        const [m] = await d.messages('rc');
        assert.equal(m?.status, 'failed');
        assert.equal(m?.committedRows, 2);
        // Re-queued after a fix: resumes at row 2, rows 0 and 1 are not applied again.
        (rows[2] as Record<string, unknown>)['SALE_QTY'] = -1;
        expectKind(await h.handle(claimed('rc.req'), body([{ sql: 'posupld', rows }]), never), 'delivered');
        assert.deepEqual((await d.rows()).map((r) => r.item), ['item0000', 'item0001', 'item0002', 'item0003']);
        const [m2] = await d.messages('rc');
        assert.deepEqual(m2?.rows.map((r) => r.status), ['skipped', 'skipped', 'ok', 'ok']);
      });
    });

    test(`${label}: a SELECT keeps at most 50 rows per execution`, async (t) => {
      await withDeployment(t, { driver, results }, async (d, h) => {
        expectKind(await h.handle(claimed('fill.req'), body([{ sql: 'posupld', rows: rowsOf(60) }]), never), 'delivered');
        d.writeScript('possel', `SELECT item, sale_qty FROM ${d.table} WHERE loc = :LOC ORDER BY item`);
        expectKind(await h.handle(claimed('sel.req'), body([{ sql: 'possel', rows: [{ LOC: 'L1' }, { LOC: 'none' }] }]), never), 'delivered');
        const [m] = await d.messages('sel');
        const r0 = m?.rows[0];
        const r1 = m?.rows[1];
        assert.ok(r0?.status === 'ok' && 'rows' in r0);
        assert.equal(r0.rows.length, 50);
        assert.equal(r0.truncated, true);
        assert.deepEqual(r0.rows[0], { item: 'item0000', sale_qty: 0 });
        assert.ok(r1?.status === 'ok' && 'rows' in r1);
        assert.equal(r1.rows.length, 0);
        assert.equal('truncated' in r1, false);
      });
    });

    test(`${label}: resume after a crash between steps does not apply step 0 twice`, async (t) => {
      await withDeployment(t, { driver, results }, async (d, h) => {
        const step0 = { sql: 'posupld', rows: rowsOf(2, 0) };
        const step1 = { sql: 'posupld', rows: rowsOf(3, 100) };
        // Simulated first run: step 0 applied and recorded, then the worker died.
        expectKind(await h.handle(claimed('crash.req'), body([step0]), never), 'delivered');
        expectKind(await h.handle(claimed('crash.req'), body([step0, step1]), never), 'delivered', /1 step\(s\) run, 1 already recorded, 3 row/);
        assert.equal((await d.rows()).length, 5);
        assert.deepEqual((await d.records('crash')).map((r) => r.seq), [0, 1]);
      });
    });

    test(`${label}: a step recorded by jobman itself counts as done`, async (t) => {
      await withDeployment(t, { driver, results }, async (d, h) => {
        const conn = await openConnection(d.config.resultdb.target, { role: 'test' });
        try {
          const store = new ResultStore(conn, d.config.resultdb.table);
          await store.ensureSchema();
          await conn.run({ text: `INSERT INTO ${d.config.resultdb.table} ${driver === 'mysql' && results === 'same' ? '(`sql`, dir, uuid, seq, message)' : '("sql", dir, uuid, seq, message)'} VALUES ('posupld', '00', 'old', 0, '[{"ITEM": "x", "ERROR_MESSAGE": null}]')`, params: [] }, [], 0);
        } finally {
          await conn.close();
        }
        expectKind(await h.handle(claimed('old.req'), body([{ sql: 'posupld', rows: rowsOf(2) }, { sql: 'posupld', rows: rowsOf(1, 50) }]), never), 'delivered', /1 step\(s\) run, 1 already recorded/);
        assert.deepEqual((await d.rows()).map((r) => r.item), ['item0050']);
      });
    });
  }

  test(`${driver}: a pending commit marker (crash between commit and record) is given up, not re-run`, async (t) => {
    await withDeployment(t, { driver, results: 'sqlite' }, async (d, h) => {
      const conn = await openConnection(d.config.resultdb.target, { role: 'test' });
      try {
        const store = new ResultStore(conn, d.config.resultdb.table);
        await store.ensureSchema();
        await store.setInflight('unsure', 0, { rowsDone: 0, pending: true }, Date.now());
      } finally {
        await conn.close();
      }
      const req = body([{ sql: 'posupld', rows: rowsOf(2) }]);
      expectKind(await h.handle(claimed('unsure.req'), req, never), 'giveup', /whether it was applied is unknown/);
      assert.deepEqual(await d.rows(), []);
      const [m] = await d.messages('unsure');
      assert.equal(m?.status, 'uncertain');
      // The operator checked and re-queued it: it runs.
      expectKind(await h.handle(claimed('unsure.req'), req, never), 'delivered');
      assert.equal((await d.rows()).length, 2);
    });
  });

  test(`${driver}: rowcommit resumes at the first uncommitted row after a crash`, async (t) => {
    await withDeployment(t, { driver, results: 'same', rowcommit: true }, async (d, h) => {
      const rows = rowsOf(4);
      // As if rows 0 and 1 were committed (with their progress marker) before a crash.
      await d.admin.exec(`INSERT INTO ${d.table} (item, loc, tran_date, sale_qty, sale_amt) VALUES ('item0000','L1','2018-04-01',0,10), ('item0001','L1','2018-04-01',-1,11)`);
      const conn = await openConnection(d.config.resultdb.target, { role: 'test' });
      try {
        const store = new ResultStore(conn, d.config.resultdb.table);
        await store.ensureSchema();
        await store.setInflight('rcr', 0, { rowsDone: 2, pending: false }, Date.now());
      } finally {
        await conn.close();
      }
      expectKind(await h.handle(claimed('rcr.req'), body([{ sql: 'posupld', rows }]), never), 'delivered', /2 row/);
      assert.deepEqual((await d.rows()).map((r) => r.item), ['item0000', 'item0001', 'item0002', 'item0003']);
    });
  });

  test(`${driver}: an unreachable destination means retry later`, async (t) => {
    const why = skipReason(driver);
    if (why !== undefined) {
      t.skip(why);
      return;
    }
    const d = await deploy({ driver, results: 'sqlite' });
    try {
      const dest = d.config.destination;
      assert.ok(dest !== undefined);
      const target = dest.target.driver === 'sqlite'
        ? { driver: 'sqlite' as const, file: `${dest.target.file}.missing` }
        : { driver: dest.target.driver, url: Object.assign(new URL(dest.target.url), { port: '1' }).href };
      const h = createJobmanHandler({ ...d.config, destination: { ...dest, target } }, { connectTimeoutMs: 2000 });
      try {
        expectKind(await h.handle(claimed('down.req'), Buffer.from(SPEC_EXAMPLE), never), 'retry', /cannot open the destination \[dest\]/);
      } finally {
        await h.close();
      }
    } finally {
      await d.close();
    }
  });
}
