import assert from 'node:assert/strict';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createJobmanHandler } from '../../src/jobman/handler.js';
import { body, claimed, deploy, rowsOf, SPEC_EXAMPLE } from './fixtures.js';

const never = new AbortController().signal;

test('handler: malformed requests are refused with a reason and nothing runs', async () => {
  const d = await deploy({ driver: 'sqlite', results: 'sqlite' });
  writeFileSync(join(d.dir, 'secret.sql'), `INSERT INTO ${d.table} (item) VALUES ('pwned')`);
  symlinkSync(join(d.dir, 'secret.sql'), join(d.scriptsDir, 'escape.sql'));
  const h = createJobmanHandler(d.config);
  try {
    const cases: { body: Buffer; re: RegExp }[] = [
      { body: Buffer.from('{not json'), re: /bad jobman request: body: not valid JSON/ },
      { body: Buffer.from('{"sql":"posupld","rows":[]}'), re: /must be a JSON array/ },
      { body: body([{ sql: 'nosuch', rows: rowsOf(1) }]), re: /unknown script "nosuch": no file .*scripts\/nosuch\.sql/ },
      { body: body([{ sql: '../secret', rows: rowsOf(1) }]), re: /"\.\.\/secret": script name contains a path separator/ },
      { body: body([{ sql: '..', rows: rowsOf(1) }]), re: /script name contains '\.\.'/ },
      { body: body([{ sql: 'escape', rows: rowsOf(1) }]), re: /script "escape" resolves outside/ },
      { body: Buffer.from('[{"sql":"posupld","rows":[{"ITEM":{"x":1}}]}]'), re: /\[0\]\.rows\[0\]\.ITEM: values must be strings/ },
      // an unknown script in a later step refuses the request before step 0 runs
      { body: body([{ sql: 'posupld', rows: rowsOf(1) }, { sql: 'nosuch', rows: [] }]), re: /unknown script "nosuch"/ },
    ];
    for (const c of cases) {
      const o = await h.handle(claimed('bad.req'), c.body, never);
      assert.equal(o.kind, 'giveup', c.body.toString());
      assert.match(o.kind === 'giveup' ? o.reason : '', c.re);
    }
    assert.deepEqual(await d.rows(), []);
  } finally {
    await h.close();
    await d.close();
  }
});

test('handler: a missing bind value fails the row; extra keys are kept as bound values', async () => {
  const d = await deploy({ driver: 'sqlite', results: 'same' });
  const h = createJobmanHandler(d.config);
  try {
    const o = await h.handle(claimed('miss.req'), body([{ sql: 'posupld', rows: [{ ITEM: 'a', LOC: 'l', TRAN_DATE: 'd', SALE_QTY: 1 }] }]), never);
    assert.equal(o.kind, 'giveup');
    assert.match(o.kind === 'giveup' ? o.reason : '', /row 0: the row has no value for :SALE_AMT/);
    // Lower-case keys bind to upper-case names; EXTRA is ignored by the script and returned as bound.
    const ok = await h.handle(claimed('case.req'), body([{ sql: 'posupld', rows: [{ item: 'a', loc: 'l', tran_date: 'd', sale_qty: 1, sale_amt: 2, EXTRA: true }] }]), never);
    assert.equal(ok.kind, 'delivered');
    const [m] = await d.messages('case');
    assert.deepEqual(m?.rows[0], { status: 'ok', values: { item: 'a', loc: 'l', tran_date: 'd', sale_qty: 1, sale_amt: 2, EXTRA: true } });
  } finally {
    await h.close();
    await d.close();
  }
});

test('handler: multi-statement scripts, and the script cache follows file changes', async () => {
  const d = await deploy({ driver: 'sqlite', results: 'sqlite' });
  const h = createJobmanHandler(d.config);
  try {
    d.writeScript('two', `INSERT INTO ${d.table} (item, loc, tran_date, sale_qty, sale_amt) VALUES (:ITEM, 'L', 'D', 1, 1);
      SELECT count(*) AS n, :ITEM AS last FROM ${d.table};`);
    assert.equal((await h.handle(claimed('two.req'), body([{ sql: 'two', rows: [{ ITEM: 'a' }, { ITEM: 'b' }] }]), never)).kind, 'delivered');
    const [m] = await d.messages('two');
    assert.deepEqual(m?.rows, [{ status: 'ok', rows: [{ n: 1, last: 'a' }] }, { status: 'ok', rows: [{ n: 2, last: 'b' }] }]);
    // A validating statement first: when it reports an error, the INSERT after it does not run.
    d.writeScript('two', `SELECT CASE WHEN :ITEM = 'bad' THEN 'item refused' END AS error_message;
      INSERT INTO ${d.table} (item, loc, tran_date, sale_qty, sale_amt) VALUES (:ITEM, 'L', 'D', 1, 1)`);
    const o = await h.handle(claimed('two2.req'), body([{ sql: 'two', rows: [{ ITEM: 'bad' }] }]), never);
    assert.equal(o.kind, 'giveup');
    assert.match(o.kind === 'giveup' ? o.reason : '', /item refused/);
    assert.equal((await d.rows()).length, 2);
  } finally {
    await h.close();
    await d.close();
  }
});

test('handler: an aborted signal rolls back and asks for a retry', async () => {
  const d = await deploy({ driver: 'sqlite', results: 'sqlite' });
  const h = createJobmanHandler(d.config);
  try {
    const ac = new AbortController();
    ac.abort();
    const o = await h.handle(claimed('ab.req'), Buffer.from(SPEC_EXAMPLE), ac.signal);
    assert.equal(o.kind, 'retry');
    assert.deepEqual(await d.rows(), []);
    assert.equal((await h.handle(claimed('ab.req'), Buffer.from(SPEC_EXAMPLE), never)).kind, 'delivered');
    assert.equal((await d.rows()).length, 2);
  } finally {
    await h.close();
    await d.close();
  }
});

test('handler: concurrent calls are serialised on one connection', async () => {
  const d = await deploy({ driver: 'sqlite', results: 'same' });
  const h = createJobmanHandler(d.config);
  try {
    const outs = await Promise.all(Array.from({ length: 8 }, (_, i) =>
      h.handle(claimed(`c${i}.req`), body([{ sql: 'posupld', rows: rowsOf(5, i * 10) }]), never)));
    assert.deepEqual(outs.map((o) => o.kind), Array(8).fill('delivered'));
    assert.equal((await d.rows()).length, 40);
  } finally {
    await h.close();
    await d.close();
  }
});
