/**
 * The /healthz spool probe (src/daemon/health.ts): a name of its own per
 * probe, never written through or removing a file it did not create, always
 * cleaned up, and a clear reason when tmp/ cannot take a file.
 */
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { daemonHealth, probeName, spoolWritable } from '../../src/daemon/health.js';
import { tempDir } from '../helpers/tmp.js';

async function spool(): Promise<string> {
  const root = join(await tempDir(), 'reg');
  await mkdir(join(root, 'tmp'), { recursive: true, mode: 0o700 });
  return root;
}

test('probe names are hidden, carry the pid and differ from probe to probe', () => {
  const names = new Set(Array.from({ length: 1000 }, () => probeName()));
  assert.equal(names.size, 1000);
  for (const n of names) assert.match(n, new RegExp(`^\\.healthz-${process.pid}-[0-9a-f]{16}$`));
});

test('200 overlapping probes of one spool all succeed and leave tmp/ empty', async () => {
  const root = await spool();
  const results = await Promise.all(Array.from({ length: 200 }, () => spoolWritable(root)));
  assert.deepEqual(results.filter((r) => r !== undefined), []);
  assert.deepEqual(await readdir(join(root, 'tmp')), []);
});

test('a symlink already at the probe name is neither followed nor removed', async () => {
  const root = await spool();
  const victim = join(await tempDir(), 'victim');
  await writeFile(victim, 'precious');
  const name = '.healthz-1-hostile';
  await symlink(victim, join(root, 'tmp', name));
  const why = await spoolWritable(root, name);
  assert.match(why ?? '', /EEXIST/);
  assert.equal(await readFile(victim, 'utf8'), 'precious', 'nothing written through the link');
  assert.equal(await readlink(join(root, 'tmp', name)), victim, 'the link is left where it was');
  // a dangling one is not followed either (no file is created at its target)
  const absent = join(await tempDir(), 'absent');
  await symlink(absent, join(root, 'tmp', '.healthz-2-dangling'));
  assert.match(await spoolWritable(root, '.healthz-2-dangling') ?? '', /EEXIST/);
  await assert.rejects(lstat(absent), /ENOENT/);
});

test('a regular file already at the probe name is neither written nor removed', async () => {
  const root = await spool();
  await writeFile(join(root, 'tmp', '.healthz-1-taken'), 'someone else');
  assert.match(await spoolWritable(root, '.healthz-1-taken') ?? '', /EEXIST/);
  assert.equal(await readFile(join(root, 'tmp', '.healthz-1-taken'), 'utf8'), 'someone else');
});

test('tmp/ missing, not a directory, or (when not root) not writable: the reason names the error and the path', async () => {
  const root = await spool();
  await rm(join(root, 'tmp'), { recursive: true });
  assert.match(await spoolWritable(root) ?? '', /ENOENT.*\/reg\/tmp\/\.healthz-/);
  await writeFile(join(root, 'tmp'), '');
  assert.match(await spoolWritable(root) ?? '', /ENOTDIR/);
  await rm(join(root, 'tmp'));
  await mkdir(join(root, 'tmp'), { mode: 0o500 });
  await chmod(join(root, 'tmp'), 0o500);
  if (process.getuid?.() === 0) assert.equal(await spoolWritable(root), undefined, 'root writes in a 0500 directory');
  else assert.match(await spoolWritable(root) ?? '', /EACCES/);
});

test('daemonHealth: ok only with workers, all alive, and every spool writable; the problems name the spool', async () => {
  const good = await spool();
  const bad = join(await tempDir(), 'gone');
  const alive = { workers: () => [{ alive: true }, { alive: true }] };
  assert.deepEqual(await daemonHealth(alive, [good]), { ok: true, detail: { workers: alive.workers(), spoolsNotWritable: {} } });
  assert.equal((await daemonHealth({ workers: () => [] }, [good])).ok, false);
  assert.equal((await daemonHealth({ workers: () => [{ alive: true }, { alive: false }] }, [good])).ok, false);
  const h = await daemonHealth(alive, [good, bad]);
  assert.equal(h.ok, false);
  assert.deepEqual(Object.keys(h.detail['spoolsNotWritable'] as Record<string, string>), [bad]);
  assert.match((h.detail['spoolsNotWritable'] as Record<string, string>)[bad] ?? '', /ENOENT/);
});
