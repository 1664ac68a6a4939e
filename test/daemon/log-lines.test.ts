/**
 * Every line a daemon run logs is one JSON object with one value per key
 * (JSON.parse would silently keep the last of two "msg"), and the upload
 * worker's lines carry the message id under `id`. One run of the real CLI
 * covers the master, the scheduler and its tasks, the metrics endpoint, and
 * the registration, upload and jobman workers: deliveries, retries (a fault,
 * a lost CommitUpload answer), give-ups (malformed, a file outside the
 * allowed directories), a resumed transfer, a failsafe registration, a
 * refused jobman request, a requeue, and the stop. Logged at debug level.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { storeLikeLb } from '../../src/maildir/lb-writer.js';
import { Spool } from '../../src/maildir/spool.js';
import { formatUploadMessage } from '../../src/messages/keyvalue.js';
import { devCerts } from '../helpers/certs.js';
import { IMPORTER_CLI, jobId, OWNER, spoolDirs, until } from '../helpers/daemon.js';
import { startService } from '../helpers/service.js';
import { badJsonLines } from '../helpers/strict-json.js';
import { tempDir } from '../helpers/tmp.js';

type Line = Record<string, unknown>;

const REQUEST = JSON.stringify([{ sql: 'posupld', rows: [{ ITEM: '1', LOC: '2', TRAN_DATE: '2018-04-01', SALE_QTY: -10, SALE_AMT: 80 }] }]);

test('every line of a daemon run (master, tasks, registration, upload, jobman; retries and give-ups) is a JSON object with one value per key', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const svc = await startService(dir, { ftpListen: '127.0.0.1:0', hooks: { failNext: 1 } });
  t.after(() => svc.close());
  const c = devCerts();
  const files = join(dir, 'files');
  const outside = join(dir, 'outside');
  for (const d of [files, outside, join(dir, 'mom')]) await mkdir(d);
  for (const s of ['reg', 'dump', 'sandbox']) await spoolDirs(join(dir, s));
  for (const j of ['r1', 'r2']) await storeLikeLb(join(dir, 'reg'), `${jobId(j)}\n${OWNER}`);
  await storeLikeLb(join(dir, 'reg'), 'malformed');

  const dest = join(dir, 'dest.db');
  const db = new Database(dest);
  db.exec('CREATE TABLE sales (item TEXT, loc TEXT, tran_date TEXT, sale_qty INTEGER, sale_amt INTEGER)');
  db.close();
  await writeFile(join(dir, 'mom', 'posupld.sql'),
    'INSERT INTO sales (item, loc, tran_date, sale_qty, sale_amt) VALUES (:ITEM, :LOC, :TRAN_DATE, :SALE_QTY, :SALE_AMT)\n');
  await writeFile(join(dir, 'jobman.ini'),
    `[DEFAULT]\ndestination=mom\nresultdb=sqlite3\niqueue=iqueue\noqueue=oqueue\nequeue=equeue\n\n[mom]\ndriver=sqlite\nurl=${dest}\nenv=mom\nrowcommit=False\n`);
  const conf = join(dir, 'jp-importer.conf');
  await writeFile(conf, `[importer]\njpps = 127.0.0.1:${svc.httpsPort}\ncert = ${c.client}\nkey = ${c.clientKey}\ncadir = ${c.caDir}\n`
    + 'reg-mdir = reg\ndump-mdir = dump\nsandbox-mdir = sandbox\nworkers = reg,dump,jobman\njobman-config = jobman.ini\n'
    + 'allow-dir = files\npidfile = jp-importer.pid\npoll = 200ms\nretry-first = 100ms\nretry-max = 500ms\n'
    + 'metrics = 127.0.0.1:0\nlog-level = debug\n\n'
    + '[task requeue-reg]\nschedule = */2 * * * * *\naction = requeue\nsubtree = reg\n\n'
    + '[task clean-tmp]\nschedule = */3 * * * * *\naction = clean-tmp\n');

  // The real CLI, its stderr and stdout kept as written (not through a JSON parser).
  const child = spawn(process.execPath, [IMPORTER_CLI, '--foreground', '--config', conf], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let raw = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => { raw += s; });
  child.stderr.setEncoding('utf8').on('data', (s: string) => { raw += s; });
  const exited = new Promise<number | string>((res) => child.on('exit', (code, sig) => res(code ?? sig ?? -1)));
  const lines = (): Line[] => raw.split('\n').filter((l) => l.trim() !== '').flatMap((l) => {
    try {
      return [JSON.parse(l) as Line];
    } catch {
      return [];
    }
  });
  const waitFor = async (what: string, pred: (l: Line) => boolean, n = 1): Promise<Line[]> => {
    await until(() => lines().filter(pred).length >= n, 40_000, what)
      .catch((e: Error) => { throw new Error(`${e.message}\n${raw.split('\n').slice(-25).join('\n')}`); });
    return lines().filter(pred);
  };
  const outcome = (worker: string, o: string) => (l: Line) => l['worker'] === worker && l['outcome'] === o;

  await waitFor('jp-importer running', (l) => l['msg'] === 'jp-importer running');
  // registration: a fault (retry), two delivered, one malformed (give-up)
  await waitFor('a registration retried', outcome('reg', 'retry'));
  await waitFor('two registrations delivered', outcome('reg', 'delivered'), 2);
  await waitFor('the malformed registration given up', outcome('reg', 'giveup'));

  // upload: failsafe registration and a transfer cut and resumed (lines of the upload handler's own logger)
  const dump = new Spool(join(dir, 'dump'));
  svc.setHooks({ ftpDropAfterBytes: 100_000 });
  await writeFile(join(files, 'fs.dump'), randomBytes(300_000));
  const fsMsg = await dump.store(formatUploadMessage({ jobid: jobId('fs'), file: join(files, 'fs.dump') }));
  await waitFor('the failsafe upload delivered', (l) => outcome('dump-1', 'delivered')(l) && l['job'] === jobId('fs'));
  // upload: CommitUpload done but its answer lost (retry), then delivered
  svc.setHooks({ ftpDropAfterBytes: 0, loseAnswerNext: 1, loseAnswerOp: 'CommitUpload' });
  await writeFile(join(files, 'lost.dump'), randomBytes(50_000));
  await dump.store(formatUploadMessage({ jobid: jobId('r1'), file: join(files, 'lost.dump') }));
  await waitFor('the upload retried', outcome('dump-1', 'retry'));
  await waitFor('the retried upload delivered', (l) => outcome('dump-1', 'delivered')(l) && l['job'] === jobId('r1'));
  // upload: a file outside the allowed directories (give-up)
  await writeFile(join(outside, 'x.dump'), 'x');
  await dump.store(formatUploadMessage({ jobid: jobId('r2'), file: join(outside, 'x.dump') }));
  await waitFor('the upload outside the allowed directories given up', outcome('dump-1', 'giveup'));

  // jobman: a request run, a file that is no request refused
  const iq = join(dir, 'iqueue', '00');
  await until(() => existsSync(iq), 20_000, 'iqueue/00');
  await writeFile(join(dir, 'req1.tmp'), REQUEST);
  await rename(join(dir, 'req1.tmp'), join(iq, 'req1.req'));
  await writeFile(join(iq, 'notes.txt'), 'not a request');
  await until(() => existsSync(join(dir, 'oqueue', '00', 'req1.req')) && existsSync(join(dir, 'equeue', '00', 'notes.txt')), 20_000, 'jobman');

  await waitFor('both tasks ran', (l) => l['task'] === 'requeue-reg' && l['outcome'] === 'ok');
  await waitFor('clean-tmp ran', (l) => l['task'] === 'clean-tmp' && l['outcome'] === 'ok');
  await waitFor('a message requeued', (l) => l['msg'] === 'message requeued');
  child.kill('SIGTERM');
  assert.equal(await exited, 0);

  const all = raw.split('\n').filter((l) => l !== '');
  assert.ok(all.length > 25, `${all.length} lines:\n${raw}`);
  const bad = badJsonLines(raw);
  assert.deepEqual(bad.map((b) => `${b.problem}: ${b.line}`), [], `${bad.length} of ${all.length} lines are not one JSON object with one value per key`);
  // The upload handler's own lines name the message under `id`, beside the text under `msg`.
  const failsafe = lines().find((l) => l['msg'] === 'job was not registered: registered it (failsafe registration)');
  assert.equal(failsafe?.['id'], fsMsg, JSON.stringify(failsafe));
  const resumed = lines().find((l) => l['msg'] === 'FTP upload broke off; reconnecting to resume');
  assert.equal(resumed?.['id'], fsMsg, JSON.stringify(resumed));
  // Every kind of worker and the master were heard from.
  for (const w of ['reg', 'dump-1', 'jobman']) assert.ok(lines().some((l) => l['worker'] === w), w);
  assert.ok(lines().some((l) => l['msg'] === 'jp-importer stopped'));
});
