/** --config and SIGHUP against the real daemon. */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { devCerts } from '../helpers/certs.js';
import { startImporter } from '../helpers/daemon.js';
import { startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

test('--config sets the daemon up; SIGHUP reloads it, restarting only workers whose settings changed', async (t) => {
  const dir = await tempDir(t);
  const svc = await startService(dir);
  t.after(() => svc.close());
  const c = devCerts();
  const conf = join(dir, 'jp-importer.conf');
  const edit = async (from: string, to: string) => writeFile(conf, (await readFile(conf, 'utf8')).replace(from, to));
  await writeFile(conf, `[importer]\njpps = 127.0.0.1:${svc.httpsPort}\ncert = ${c.client}\nkey = ${c.clientKey}\n` +
    `cadir = ${c.caDir}\nreg-mdir = reg\njobman-config =\npidfile = jp-importer.pid\nworkers = reg\nconcurrency = 4\n`);
  const imp = startImporter(['--foreground', '--config', conf]);
  t.after(() => imp.child.kill('SIGKILL'));
  // "jobman-config =" (empty) is refused: the message names file and key
  assert.equal(await imp.exited, 1);
  assert.ok(imp.logs.some((l) => /jp-importer\.conf \[importer\] jobman-config: must be a non-empty string/.test(String(l.msg))), JSON.stringify(imp.logs));

  await edit('jobman-config =\n', '');
  const run = startImporter(['--foreground', '--config', conf]);
  t.after(() => run.child.kill('SIGKILL'));
  await run.waitForLog((l) => l.msg === 'jp-importer running');
  assert.deepEqual((run.logs.find((l) => l.msg === 'jp-importer running')?.['workers'] as { id: string }[]).map((w) => w.id), ['reg']);

  // add a dump worker and change the registration worker's concurrency
  await edit('workers = reg\nconcurrency = 4\n', 'workers = reg,dump\nconcurrency = 8\ndump-mdir = dump\n');
  run.child.kill('SIGHUP');
  const reloaded = await run.waitForLog((l) => /SIGHUP: configuration reloaded/.test(String(l.msg)));
  assert.deepEqual(reloaded['restarted'], ['reg']);
  assert.deepEqual(reloaded['started'], ['dump-1']);
  await run.waitForLog((l) => l.msg === 'worker running' && l['worker'] === 'dump-1');

  // a broken file on SIGHUP is refused and the daemon keeps running as it was
  await edit('concurrency = 8', 'concurrency = lots');
  run.child.kill('SIGHUP');
  const refused = await run.waitForLog((l) => /SIGHUP: the new configuration is refused/.test(String(l.msg)));
  assert.match(String(refused['err']), /\[importer\] concurrency: must be an integer/);
  assert.equal(run.child.exitCode, null);
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0);
});
