import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createJobmanHandler } from '../../src/jobman/handler.js';
import { EXIT_ERROR, EXIT_FOUND, EXIT_NONE, runJobmanResults, type JobmanResultsOptions } from '../../src/cli/jobman-results.js';
import { body, claimed, deploy, rowsOf, skipReason, SPEC_EXAMPLE } from '../jobman/fixtures.js';

async function run(opts: JobmanResultsOptions): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (c: Buffer) => (o += c.toString()));
  err.on('data', (c: Buffer) => (e += c.toString()));
  const code = await runJobmanResults(opts, out, err);
  return { code, out: o, err: e };
}

const never = new AbortController().signal;

test('jobman-results: text and JSON output, --seq, not found, bad config', async () => {
  const d = await deploy({ driver: 'sqlite', results: 'sqlite' });
  const h = createJobmanHandler(d.config);
  try {
    // Before anything ran, the default result store does not even exist.
    const none0 = await run({ config: d.configFile, uid: 'ex' });
    assert.equal(none0.code, EXIT_NONE);
    assert.match(none0.err, /nothing recorded for ex/);

    assert.equal((await h.handle(claimed('ex.req'), Buffer.from(SPEC_EXAMPLE), never)).kind, 'delivered');
    const rows = rowsOf(2);
    (rows[0] as Record<string, unknown>)['SALE_QTY'] = -500;
    assert.equal((await h.handle(claimed('bad.req'), body([{ sql: 'posupld', rows: rowsOf(1) }, { sql: 'posupld', rows }]), never)).kind, 'giveup');

    const text = await run({ config: d.configFile, uid: 'ex.req' });
    assert.equal(text.code, EXIT_FOUND);
    assert.match(text.out, /^ex {2}seq 0 {2}posupld {2}committed {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}dir 00\n/);
    assert.match(text.out, /\n {2}row 0 {2}ok {2}\{"ITEM":"1014303091143220","LOC":"1001000189",.*"SALE_QTY":-10,/);
    assert.match(text.out, /\n {2}row 1 {2}ok {2}\{"ITEM":"1014303091143225"/);

    const failed = await run({ config: d.configFile, uid: 'bad' });
    assert.equal(failed.code, EXIT_FOUND);
    assert.match(failed.out, /bad {2}seq 0 {2}posupld {2}rolled_back/);
    assert.match(failed.out, /bad {2}seq 1 {2}posupld {2}failed/);
    assert.match(failed.out, / {2}row 0 {2}failed {2}.*CHECK constraint failed/);
    assert.match(failed.out, / {2}row 1 {2}not_run {2}an earlier row failed/);

    const json = await run({ config: d.configFile, uid: 'bad', seq: 1, json: true });
    assert.equal(json.code, EXIT_FOUND);
    const parsed = JSON.parse(json.out) as { sql: string; dir: string; uuid: string; seq: number; message: { status: string; rows: unknown[] } }[];
    assert.equal(parsed.length, 1);
    assert.equal(parsed[0]?.seq, 1);
    assert.equal(parsed[0]?.uuid, 'bad');
    assert.equal(parsed[0]?.dir, '00');
    assert.equal(parsed[0]?.message.status, 'failed');
    assert.equal(parsed[0]?.message.rows.length, 2);

    const noSeq = await run({ config: d.configFile, uid: 'ex', seq: 7 });
    assert.equal(noSeq.code, EXIT_NONE);
    assert.match(noSeq.err, /nothing recorded for ex seq 7/);
    const jsonNone = await run({ config: d.configFile, uid: 'nobody', json: true });
    assert.equal(jsonNone.code, EXIT_NONE);
    assert.equal(jsonNone.out, '[]\n');

    assert.equal((await run({ config: d.configFile, uid: 'ex', seq: -1 })).code, EXIT_ERROR);
    const badCfg = join(d.dir, 'oracle.ini');
    writeFileSync(badCfg, '[DEFAULT]\ndestination=mom\n[mom]\ntns_develop=x\n');
    const cfgErr = await run({ config: badCfg, uid: 'ex' });
    assert.equal(cfgErr.code, EXIT_ERROR);
    assert.match(cfgErr.err, /oracle\.ini: \[mom\] driver is missing/);
  } finally {
    await h.close();
    await d.close();
  }
});

test('jobman-results: reads a PostgreSQL result store', async (t) => {
  const why = skipReason('postgres');
  if (why !== undefined) {
    t.skip(why);
    return;
  }
  const d = await deploy({ driver: 'postgres', results: 'same' });
  const h = createJobmanHandler(d.config);
  try {
    assert.equal((await run({ config: d.configFile, uid: 'pgx' })).code, EXIT_NONE, 'missing table counts as nothing recorded');
    assert.equal((await h.handle(claimed('pgx.req'), Buffer.from(SPEC_EXAMPLE), never)).kind, 'delivered');
    const r = await run({ config: d.configFile, uid: 'pgx' });
    assert.equal(r.code, EXIT_FOUND);
    assert.match(r.out, /^pgx {2}seq 0 {2}posupld {2}committed {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}dir 00\n/);
  } finally {
    await h.close();
    await d.close();
  }
});
