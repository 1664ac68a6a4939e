/**
 * `jp-importer --jobman-config config.ini` alone: jobman's own layout is
 * consumed by the daemon, results are recorded and printed by the
 * jobman-results subcommand, and the quit/restart control files work.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { IMPORTER_CLI, startImporter, until } from '../helpers/daemon.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);

const REQUEST = JSON.stringify([{ sql: 'posupld', rows: [
  { ITEM: '1014303091143220', LOC: '1001000189', TRAN_DATE: '2018-04-01', SALE_QTY: -10, SALE_AMT: 80, ERROR_MESSAGE: '' },
  { ITEM: '1014303091143225', LOC: '1001000189', TRAN_DATE: '2018-04-01', SALE_QTY: -11, SALE_AMT: 90, ERROR_MESSAGE: '' },
] }]);

test('jobman compatibility mode under the daemon: requests run, refused ones go to equeue, restart and quit files', async (t) => {
  const dir = await tempDir(t);
  const dest = join(dir, 'dest.db');
  const db = new Database(dest);
  db.exec('CREATE TABLE sales (item TEXT, loc TEXT, tran_date TEXT, sale_qty INTEGER, sale_amt INTEGER)');
  db.close();
  await mkdir(join(dir, 'mom'));
  await writeFile(join(dir, 'mom', 'posupld.sql'),
    'INSERT INTO sales (item, loc, tran_date, sale_qty, sale_amt) VALUES (:ITEM, :LOC, :TRAN_DATE, :SALE_QTY, :SALE_AMT)\n');
  const config = join(dir, 'config.ini');
  await writeFile(config, `[DEFAULT]\ndestination=mom\nresultdb=sqlite3\niqueue=iqueue\noqueue=oqueue\nequeue=equeue\n\n[mom]\ndriver=sqlite\nurl=${dest}\nenv=mom\nrowcommit=False\n`);
  const pidfile = join(dir, 'jp-importer.pid');
  const imp = startImporter(['--foreground', '--jobman-config', config, '-i', pidfile, '-t', '200ms']);
  t.after(() => imp.child.kill('SIGKILL'));
  await imp.waitForLog((l) => l.msg === 'jp-importer running');
  const running = imp.logs.find((l) => l.msg === 'jp-importer running');
  assert.deepEqual((running?.['workers'] as { id: string }[]).map((w) => w.id), ['jobman'], 'the jobman worker alone');
  const iq = join(dir, 'iqueue', '00');
  await writeFile(join(dir, 'req1.tmp'), REQUEST);
  await rename(join(dir, 'req1.tmp'), join(iq, 'req1.req'));
  await writeFile(join(iq, 'notes.txt'), 'not a request');
  await until(() => existsSync(join(dir, 'oqueue', '00', 'req1.req')), 20_000, 'req1 in oqueue')
    .catch((e: Error) => { throw new Error(`${e.message}\n${imp.logs.slice(-20).map((l) => JSON.stringify(l)).join('\n')}`); });
  await until(() => existsSync(join(dir, 'equeue', '00', 'notes.txt')), 20_000, 'notes.txt in equeue');
  const check = new Database(dest, { readonly: true });
  const rows = check.prepare('SELECT item, sale_qty FROM sales ORDER BY item').all();
  check.close();
  assert.deepEqual(rows, [{ item: '1014303091143220', sale_qty: -10 }, { item: '1014303091143225', sale_qty: -11 }]);

  const { stdout } = await run(process.execPath, [IMPORTER_CLI, 'jobman-results', 'req1', '--jobman-config', config, '--json']);
  const records = JSON.parse(stdout) as { seq: number; sql: string }[] | { records: { seq: number; sql: string }[] };
  const list = Array.isArray(records) ? records : records.records;
  assert.equal(list.length, 1);
  assert.equal(list[0]?.sql, 'posupld');

  await writeFile(join(iq, 'com.daphne.jobman.restart'), '');
  await imp.waitForLog((l) => l.msg === 'worker stopped for a restart');
  await until(() => imp.logs.filter((l) => l.msg === 'worker started').length >= 2, 20_000, 'worker restarted');
  await writeFile(join(iq, 'com.daphne.jobman.quit'), '');
  assert.equal(await imp.exited, 0, 'quit stops the daemon gracefully');
  const out = await readdir(join(dir, 'oqueue', '00'));
  assert.ok(out.some((n) => /^com\.daphne\.jobman\.restart_\d{4}-\d\d-\d\d_\d\d:\d\d:\d\d$/.test(n)), out.join(' '));
  assert.ok(out.some((n) => /^com\.daphne\.jobman\.quit_\d{4}-\d\d-\d\d_\d\d:\d\d:\d\d$/.test(n)), out.join(' '));
  assert.equal(existsSync(pidfile), false);
  assert.ok((await readFile(join(dir, 'equeue', '00', 'notes.txt'), 'utf8')).length > 0);
});
