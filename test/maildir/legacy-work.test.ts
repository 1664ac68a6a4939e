/**
 * The C importer's work/ (spec/maildir.md §5): nothing there is touched by
 * init() (producers call it), the daemon's housekeeping takes over only what
 * has been held longer than --legacy-work-age, and an operator's
 * `requeue --adopt-legacy` takes everything.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Spool } from '../../src/maildir/spool.js';
import { runRequeue } from '../../src/ops/requeue.js';
import { tempDir } from '../helpers/tmp.js';
import { Writable } from 'node:stream';

async function withWork(t: Parameters<typeof tempDir>[0], names: string[]): Promise<string> {
  const root = await tempDir(t);
  await new Spool(root).init();
  await mkdir(join(root, 'work'), { mode: 0o700 });
  for (const n of names) await writeFile(join(root, 'work', n), `https://lb/${n}\n/CN=x`, { mode: 0o600 });
  return root;
}

test('init (producers call it too) never touches work/', async (t) => {
  const root = await withWork(t, ['1796621549_62832.lb']);
  assert.deepEqual(await new Spool(root).init(), {});
  assert.deepEqual(await readdir(join(root, 'work')), ['1796621549_62832.lb']);
  assert.deepEqual(await readdir(join(root, 'new')), []);
});

test('adoptLegacyWork: only entries held at least the given age, by their ctime; a missing work/ is empty', async (t) => {
  const root = await withWork(t, ['a_1.lb', 'b_2.lb', '.hidden']);
  const spool = new Spool(root);
  const ctime = (await stat(join(root, 'work', 'a_1.lb'))).ctimeMs;
  const young = await spool.adoptLegacyWork(60_000, ctime + 59_000);
  assert.deepEqual(young, { adopted: [], held: 2, skipped: [] });
  const old = await spool.adoptLegacyWork(60_000, ctime + 61_000);
  assert.deepEqual(old.adopted.map((a) => a.name).sort(), ['a_1.lb', 'b_2.lb']);
  assert.ok(old.adopted.every((a) => a.heldMs >= 60_000));
  assert.deepEqual((await readdir(join(root, 'new'))).sort(), ['a_1.lb', 'b_2.lb']);
  assert.deepEqual(await readdir(join(root, 'work')), ['.hidden']);
  const none = await tempDir(t);
  await new Spool(none).init();
  assert.deepEqual(await new Spool(none).adoptLegacyWork(0), { adopted: [], held: 0, skipped: [] });
});

test("maintain() adopts by --legacy-work-age, and not at all when it is off (null)", async (t) => {
  const root = await withWork(t, ['a_1.lb']);
  const ctime = (await stat(join(root, 'work', 'a_1.lb'))).ctimeMs;
  const off = await new Spool(root, { legacyWorkAgeMs: null }).maintain(ctime + 365 * 86_400_000);
  assert.deepEqual(off.adopted, []);
  assert.deepEqual(await readdir(join(root, 'work')), ['a_1.lb']);
  const early = await new Spool(root).maintain(ctime + 3_599_000);
  assert.deepEqual([early.adopted, early.held], [[], 1], 'the default age is an hour');
  const due = await new Spool(root).maintain(ctime + 3_601_000);
  assert.deepEqual(due.adopted.map((a) => a.name), ['a_1.lb']);
  assert.deepEqual(await readdir(join(root, 'new')), ['a_1.lb']);
});

test('adoption never replaces a message of the same name in new/', async (t) => {
  const root = await withWork(t, ['a_1.lb']);
  await writeFile(join(root, 'new', 'a_1.lb'), 'another');
  const r = await new Spool(root).adoptLegacyWork(0);
  assert.equal(r.adopted.length, 1);
  const names = (await readdir(join(root, 'new'))).sort();
  assert.equal(names.length, 2);
  assert.equal(names[0], 'a_1.lb');
  assert.match(names[1] as string, /^a_1\.lb\.\d+_\d+$/);
});

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

test('requeue --adopt-legacy moves every work/ message into new/ whatever its age, and says so', async (t) => {
  const root = await withWork(t, ['a_1.lb', 'b_2.lb']);
  const out = new Sink();
  const err = new Sink();
  const code = await runRequeue({ subtrees: [{ name: 'reg', root }], all: false, ids: [], adoptLegacy: true, json: false }, out, err);
  assert.equal(code, 0, err.text);
  assert.match(out.text, /adopted a_1\.lb: reg work\/ → new\/ \(held there /);
  assert.match(out.text, /adopted 2 messages from work\//);
  assert.deepEqual((await readdir(join(root, 'new'))).sort(), ['a_1.lb', 'b_2.lb']);
  assert.deepEqual(await readdir(join(root, 'work')), []);
  const json = new Sink();
  await writeFile(join(root, 'work', 'c_3.lb'), 'x');
  assert.equal(await runRequeue({ subtrees: [{ name: 'reg', root }], all: false, ids: [], adoptLegacy: true, json: true }, json, err), 0);
  const doc = JSON.parse(json.text) as { mode: string; adopted: { id: string; subtree: string }[] };
  assert.equal(doc.mode, 'adopt');
  assert.deepEqual(doc.adopted.map((a) => [a.id, a.subtree]), [['c_3.lb', 'reg']]);
  const none = new Sink();
  assert.equal(await runRequeue({ subtrees: [{ name: 'reg', root }], all: false, ids: [], json: false }, none, err), 2, 'nothing asked for');
});
