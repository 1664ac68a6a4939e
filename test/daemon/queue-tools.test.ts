/**
 * status / show / requeue as an operator runs them, while the daemon runs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { storeLikeLb } from '../../src/maildir/lb-writer.js';
import { IMPORTER_CLI, importerArgs, jobId, listMessages, OWNER, spoolDirs, startImporter, until } from '../helpers/daemon.js';
import { registeredJobs, startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
async function cli(args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(process.execPath, [IMPORTER_CLI, ...args]);
    return { code: 0, stdout };
  } catch (e) {
    const err = e as { code?: number; stdout?: string };
    return { code: err.code ?? -1, stdout: err.stdout ?? '' };
  }
}

type StateJson = { count: number; oldest: { ageMs: number } | null };
type StatusJson = { exitCode: number; subtrees: { name: string; states: Record<string, StateJson> }[]; errors?: unknown };

test('status, show and requeue while the daemon runs: counts, ages, reasons; requeued messages are delivered at once', async (t) => {
  const dir = await tempDir(t);
  const svc = await startService(dir, { hooks: { failNext: 1_000_000 } });
  t.after(() => svc.close());
  const reg = join(dir, 'reg');
  await spoolDirs(reg);
  for (let i = 0; i < 4; i++) await storeLikeLb(reg, `${jobId(`q${i}`)}\n${OWNER}`);
  const bad = await storeLikeLb(reg, 'not a registration');
  const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--retry-first', '5m']));
  t.after(() => imp.child.kill('SIGKILL'));
  await until(async () => (await listMessages(join(reg, 'post'))).length === 4 && (await listMessages(join(reg, 'undeliverable'))).length === 1,
    20_000, '4 in post, 1 given up');

  const st = await cli(['status', '--json', '-r', reg, '-d', join(dir, 'dump'), '-s', join(dir, 'sandbox')]);
  assert.equal(st.code, 1, 'attention: a message in undeliverable/');
  const status = JSON.parse(st.stdout) as StatusJson;
  const r = status.subtrees.find((x) => x.name === 'reg');
  assert.equal(r?.states['new']?.count, 0);
  assert.equal(r?.states['cur']?.count, 0);
  assert.equal(r?.states['post']?.count, 4);
  assert.equal(r?.states['undeliverable']?.count, 1);
  const age = r?.states['post']?.oldest?.ageMs ?? -1;
  assert.ok(age >= 0 && age < 60_000, `oldest age ${age} ms`);
  const text = await cli(['status', '-r', reg]);
  assert.match(text.stdout, /post/);
  assert.match(text.stdout, /injected|fault|EAGAIN|11/i, 'the most common error is shown');

  const shown = await cli(['show', bad, '--json', '-r', reg]);
  assert.equal(shown.code, 0);
  const s = JSON.parse(shown.stdout) as { location: { state: string }; gaveUp: { reason: string } | null };
  assert.equal(s.location.state, 'undeliverable');
  assert.match(s.gaveUp?.reason ?? '', /one line/);
  assert.equal((await cli(['show', 'no-such-id', '-r', reg])).code, 1);
  assert.equal((await cli(['show', '../etc', '-r', reg])).code, 2);

  // the service recovers; without requeue the messages would wait ~5 minutes
  svc.setHooks({ failNext: 0 });
  const rq = await cli(['requeue', '--all', '--from', 'post', '-r', reg, '--subtree', 'reg']);
  assert.equal(rq.code, 0, rq.stdout);
  await until(async () => (await registeredJobs(svc.callsFile)).size === 4, 20_000, 'requeued messages delivered');
  assert.equal((await cli(['requeue', '--all', '-r', reg, 'x'])).code, 2, '--all with ids is refused');
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0);
});
