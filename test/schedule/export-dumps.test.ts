import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isJpError } from '../../src/core/errors.js';
import { parseUploadMessage, type UploadMessage } from '../../src/messages/keyvalue.js';
import { exportDumps, moveInto, readyDumps } from '../../src/schedule/export-dumps.js';
import { runTask } from '../../src/schedule/actions.js';
import type { ExportDumpsSpec } from '../../src/schedule/types.js';
import { captureLogger, fileAged, tempDir } from './helpers.js';

const MIN = 60_000;

/** A small ULM dump: `jobs` jobs of two events each, interleaved. */
function dump(prefix: string, jobs: number): { text: string; jobids: string[] } {
  const jobids = Array.from({ length: jobs }, (_, j) => `https://lb.example.org:9000/${prefix}${j}_${(j * 7919).toString(36)}`);
  const lines: string[] = [];
  for (let k = 0; k < 2; k++) {
    for (const id of jobids) {
      lines.push(`DATE=20080928052442.41005${k} HOST="wms.example.org" PROG=edg-wms LVL=SYSTEM DG.PRIORITY=0 DG.JOBID="${id}" DG.EVNT="Ev${k}" DG.SEQCODE="UI=000000:NS=000000000${k}"`);
    }
  }
  return { text: `${lines.join('\n')}\n`, jobids };
}

async function setup(t: Parameters<typeof tempDir>[0]): Promise<{ root: string; spec: ExportDumpsSpec }> {
  const root = await tempDir(t);
  const dumps = join(root, 'dumps');
  await mkdir(dumps);
  await mkdir(join(root, 'store'));
  const spec: ExportDumpsSpec = {
    name: 'export', action: 'export-dumps', schedule: '* * * * *', overdueMs: undefined, source: 'test [task export]',
    dumps, store: join(root, 'store'), lbmaildir: join(root, 'md'), jpps: 'jp.example.org:8901',
    done: join(dumps, 'done'), failed: join(dumps, 'failed'), skipBadLines: false,
  };
  return { root, spec };
}

async function messages(maildir: string): Promise<UploadMessage[]> {
  const out: UploadMessage[] = [];
  for (const n of await readdir(join(maildir, 'new'))) out.push(parseUploadMessage(await readFile(join(maildir, 'new', n))));
  return out;
}

/**
 * Another process holding an flock(2) on `path` until the test ends: one
 * shell that opens the file (for appending: no change to its content or
 * mtime), locks it with flock(1) and becomes `sleep` with the descriptor, so
 * that killing it leaves no process and no lock behind.
 */
async function holdFlock(t: Parameters<typeof tempDir>[0], path: string): Promise<number> {
  // Blocking (-w): the probe below holds the lock for an instant, and a non-blocking attempt landing then would fail.
  const child = spawn('sh', ['-c', 'exec 9>>"$1" && flock -w 30 9 && exec sleep 120', 'sh', path], { stdio: 'ignore' });
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  t.after(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  for (let i = 0; i < 500; i++) {
    if (spawnSync('flock', ['-n', '-E', '75', path, 'true']).status === 75) return child.pid as number;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`the helper never held the lock on ${path}`);
}

const ls = async (dir: string): Promise<string[]> => (await readdir(dir)).sort();

describe('export-dumps', () => {
  it('exports every settled dump oldest first, moves it to done/ or failed/ with a reason; fresh dumps wait', async (t) => {
    const { spec } = await setup(t);
    const now = Date.now();
    const a = dump('A', 3);
    const b = dump('B', 2);
    const bad = dump('C', 2);
    const badText = bad.text.replace('\n', '\nthis is not a ULM line\n');
    await fileAged(join(spec.dumps, 'b.log'), 5 * MIN, now, b.text);
    await fileAged(join(spec.dumps, 'a.log'), 10 * MIN, now, a.text);
    await fileAged(join(spec.dumps, 'c.log'), 2 * MIN, now, badText);
    await fileAged(join(spec.dumps, 'fresh.log'), 10_000, now, dump('F', 1).text);
    await fileAged(join(spec.dumps, '.partial'), 10 * MIN, now, dump('P', 1).text);
    await mkdir(join(spec.dumps, 'sub'));
    const { log, lines } = captureLogger();

    const r = await runTask(spec, { log, clock: { now: () => Date.now() } });

    assert.equal(r.ok, false, 'one dump failed');
    assert.deepEqual(r.counts, { dumps: 2, jobs: 5, failed: 1, fresh: 1, badLines: 0 });
    assert.match(r.summary, /exported 2 dumps \(5 jobs announced\), 1 failed .*1 left for the next run/);
    // Oldest first: a, b, then c.
    const order = lines.filter((l) => l.msg === 'dump exported' || l.msg === 'dump export failed').map((l) => l['dump']);
    assert.deepEqual(order, ['a.log', 'b.log', 'c.log'].map((n) => join(spec.dumps, n)));

    const msgs = await messages(spec.lbmaildir);
    assert.deepEqual(msgs.map((m) => m.jobid).sort(), [...a.jobids, ...b.jobids].sort());
    for (const m of msgs) {
      assert.equal(m.jpps, 'jp.example.org:8901');
      assert.ok(m.file.startsWith(`${spec.store}/`), m.file);
      const body = await readFile(m.file, 'utf8');
      assert.equal(body.split('\n').filter((l) => l.includes(`DG.JOBID="${m.jobid}"`)).length, 2, `two events in ${m.file}`);
    }
    assert.deepEqual(await ls(spec.dumps), ['.partial', 'done', 'failed', 'fresh.log', 'sub']);
    assert.deepEqual(await ls(spec.done), ['a.log', 'b.log']);
    assert.equal(await readFile(join(spec.done, 'a.log'), 'utf8'), a.text, 'the dump is moved unchanged');
    assert.deepEqual(await ls(spec.failed), ['c.log', 'c.log.reason']);
    const reason = await readFile(join(spec.failed, 'c.log.reason'), 'utf8');
    assert.match(reason, /^error: .*line 2/m);
    assert.match(reason, /^announced: 0$/m);
    assert.equal((await stat(join(spec.failed, 'c.log.reason'))).mode & 0o777, 0o600);
    assert.ok(lines.some((l) => l.msg === 'dump export failed' && l.level === 40));
  });

  it('--skip-bad-lines exports the dump with its bad lines counted', async (t) => {
    const { spec } = await setup(t);
    const c = dump('C', 2);
    await fileAged(join(spec.dumps, 'c.log'), 5 * MIN, Date.now(), c.text.replace('\n', '\ngarbage here\n'));
    const r = await exportDumps({ ...spec, skipBadLines: true }, { log: captureLogger().log, clock: { now: () => Date.now() } });
    assert.equal(r.ok, true);
    assert.deepEqual(r.counts, { dumps: 1, jobs: 2, failed: 0, fresh: 0, badLines: 1 });
    assert.match(r.summary, /1 bad lines skipped/);
    assert.deepEqual(await ls(spec.done), ['c.log']);
  });

  it('a name already in done/ is not replaced', async (t) => {
    const { spec } = await setup(t);
    await mkdir(spec.done);
    await fileAged(join(spec.done, 'a.log'), MIN, Date.now(), 'earlier dump');
    await fileAged(join(spec.dumps, 'a.log'), 5 * MIN, Date.now(), dump('A', 1).text);
    const now = Date.now();
    const r = await exportDumps(spec, { log: captureLogger().log, clock: { now: () => now } });
    assert.equal(r.counts['dumps'], 1);
    assert.deepEqual(await ls(spec.done), ['a.log', `a.log.${now}`]);
    assert.equal(await readFile(join(spec.done, 'a.log'), 'utf8'), 'earlier dump');
  });

  it('an unusable store fails the run and leaves every dump in place', async (t) => {
    const { root, spec } = await setup(t);
    await fileAged(join(spec.dumps, 'a.log'), 5 * MIN, Date.now(), dump('A', 1).text);
    await fileAged(join(spec.dumps, 'b.log'), 4 * MIN, Date.now(), dump('B', 1).text);
    const broken = { ...spec, store: join(root, 'no-such-store') };
    await assert.rejects(exportDumps(broken, { log: captureLogger().log, clock: { now: () => Date.now() } }),
      (e: unknown) => isJpError(e, 'JP_CONFIG') && e.message.includes('no-such-store') && e.message.includes('left in place'));
    assert.deepEqual(await ls(spec.dumps), ['a.log', 'b.log']);
  });

  it('a shutdown signal stops before the next dump', async (t) => {
    const { spec } = await setup(t);
    await fileAged(join(spec.dumps, 'a.log'), 5 * MIN, Date.now(), dump('A', 1).text);
    const ac = new AbortController();
    ac.abort();
    const r = await exportDumps(spec, { log: captureLogger().log, clock: { now: () => Date.now() }, signal: ac.signal });
    assert.equal(r.counts['dumps'], 0);
    assert.match(r.summary, /stopped early \(shutdown\), 1 left/);
    assert.deepEqual(await ls(spec.dumps), ['a.log']);
  });

  it('readyDumps: settle time, sort by mtime then name, special entries skipped', async (t) => {
    const dir = await tempDir(t);
    const now = Date.now();
    await fileAged(join(dir, 'z'), 2 * MIN, now);
    await fileAged(join(dir, 'y'), 2 * MIN, now);
    await fileAged(join(dir, 'old'), 9 * MIN, now);
    await fileAged(join(dir, 'new'), 59_000, now);
    await mkdir(join(dir, 'done'));
    const { ready, fresh } = await readyDumps(dir, now);
    assert.deepEqual(ready.map((f) => f.name), ['old', 'y', 'z']);
    assert.equal(fresh, 1);
  });

  it('a dump whose last line has no newline is refused and left in place with the reason; the others are exported', async (t) => {
    const { spec } = await setup(t);
    const now = Date.now();
    const a = dump('A', 2);
    const cut = dump('K', 2);
    const cutText = cut.text.slice(0, -20);
    await fileAged(join(spec.dumps, 'a.log'), 10 * MIN, now, a.text);
    await fileAged(join(spec.dumps, 'k.log'), 5 * MIN, now, cutText);
    const { log, lines } = captureLogger();
    const r = await exportDumps(spec, { log, clock: { now: () => Date.now() } });
    assert.equal(r.ok, false);
    assert.equal(r.counts['dumps'], 1);
    assert.equal(r.counts['refused'], 1);
    assert.match(r.summary, /1 refused \(left in place\)/);
    assert.deepEqual((await messages(spec.lbmaildir)).map((m) => m.jobid).sort(), [...a.jobids].sort());
    assert.deepEqual(await ls(spec.dumps), ['done', 'k.log'], 'the cut dump stays where it is, nothing in failed/');
    assert.equal(await readFile(join(spec.dumps, 'k.log'), 'utf8'), cutText, 'unchanged');
    const warn = lines.find((l) => l.msg === 'dump export refused, left in place');
    assert.ok(warn !== undefined, JSON.stringify(lines));
    assert.equal(warn['dump'], join(spec.dumps, 'k.log'));
    const lastNl = cutText.lastIndexOf('\n') + 1;
    assert.match(String(warn['reason']), new RegExp(`line 4 \\(from byte offset ${lastNl}, ${cutText.length - lastNl} bytes\\) has no newline`));
  });

  it('another exporter writing into the maildir: the run is skipped as already running, every dump left in place', async (t) => {
    const { spec } = await setup(t);
    await fileAged(join(spec.dumps, 'a.log'), 5 * MIN, Date.now(), dump('A', 2).text);
    await mkdir(spec.lbmaildir, { mode: 0o700 });
    const holder = await holdFlock(t, join(spec.lbmaildir, '.lb-dump-exporter.lock'));
    const { log, lines } = captureLogger();
    const r = await exportDumps(spec, { log, clock: { now: () => Date.now() } });
    assert.equal(r.ok, true);
    assert.equal(r.counts['busy'], 1);
    assert.match(r.summary, /^already running: maildir .* is in use by another dump exporter: lock file .*pid \d+/);
    assert.ok(r.summary.includes(`pid ${holder} `), `names the holder: ${r.summary}`);
    assert.match(r.summary, /1 dumps left for the next run/);
    assert.deepEqual(await ls(spec.dumps), ['a.log']);
    assert.deepEqual(await messages(spec.lbmaildir).catch(() => []), []);
    assert.ok(!lines.some((l) => l.level >= 50), 'no error logged');
  });

  it('a dump locked by another process is left in place as busy; the others are exported', async (t) => {
    const { spec } = await setup(t);
    const a = dump('A', 2);
    await fileAged(join(spec.dumps, 'a.log'), 10 * MIN, Date.now(), a.text);
    await fileAged(join(spec.dumps, 'b.log'), 5 * MIN, Date.now(), dump('B', 2).text);
    await holdFlock(t, join(spec.dumps, 'b.log'));
    const r = await exportDumps(spec, { log: captureLogger().log, clock: { now: () => Date.now() } });
    assert.equal(r.ok, true, r.summary);
    assert.equal(r.counts['dumps'], 1);
    assert.equal(r.counts['busy'], 1);
    assert.match(r.summary, /1 being exported by another process \(left in place\)/);
    assert.deepEqual(await ls(spec.dumps), ['b.log', 'done']);
    assert.deepEqual((await messages(spec.lbmaildir)).map((m) => m.jobid).sort(), [...a.jobids].sort());
  });

  it('moveInto with the identity of the file exported moves only that file', async (t) => {
    const dir = await tempDir(t);
    const from = join(dir, 'a.log');
    await writeFile(from, 'exported');
    const st = await stat(from, { bigint: true });
    const id = { dev: st.dev, ino: st.ino };
    // replaced by another file under the same name: nothing moved, nothing removed
    await rename(from, join(dir, 'kept.log'));
    await writeFile(from, 'someone else');
    await assert.rejects(moveInto(from, join(dir, 'done'), 'a.log', Date.now(), id), /was replaced by another file while it was exported: left in place/);
    assert.equal(await readFile(from, 'utf8'), 'someone else');
    assert.deepEqual(await ls(join(dir, 'done')), []);
    // the right file: moved
    await rename(join(dir, 'kept.log'), from);
    const to = await moveInto(from, join(dir, 'done'), 'a.log', Date.now(), id);
    assert.equal(await readFile(to, 'utf8'), 'exported');
    assert.deepEqual(await ls(dir), ['done']);
  });
});
