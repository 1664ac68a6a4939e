/**
 * Retry state in post/ as `.<name>.meta` (hidden from the C importer's retry
 * scan, spec/maildir.md §5), earlier versions' visible `<name>.meta` still
 * read and renamed, and sidecars without their message swept.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Spool } from '../../src/maildir/spool.js';
import { messageOfRetryMeta, retryMetaName } from '../../src/queue/names.js';
import { ORPHAN_SIDECAR_AGE_MS, sweepRetrySidecars } from '../../src/queue/retry-sidecars.js';
import { serializeMeta, afterFailure, DEFAULT_RETRY_POLICY } from '../../src/queue/retry-state.js';
import { tempDir } from '../helpers/tmp.js';

const all = async (dir: string): Promise<string[]> => (await readdir(dir)).sort();

test('retry-state names: hidden, and only a message name makes one', () => {
  const cases: [string, string | undefined][] = [
    ['.1796621549_62832.lb.example.org.meta', '1796621549_62832.lb.example.org'],
    ['.a.meta', 'a'],
    ['a.meta', undefined],
    ['.meta', undefined],
    ['..meta', undefined],
    ['.a:1@h.meta', undefined],
    ['.tmp-12-3-170000', undefined],
    ['.a.meta.meta', undefined],
  ];
  for (const [entry, name] of cases) assert.equal(messageOfRetryMeta(entry), name, entry);
  assert.equal(retryMetaName('1_2.h'), '.1_2.h.meta');
  assert.equal(messageOfRetryMeta(retryMetaName('1_2.h')), '1_2.h');
});

test('a failed attempt keeps its retry state hidden in post/; only the message is visible there', async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root);
  await spool.init();
  const name = await spool.store('https://lb/j\n/CN=x');
  const msg = await spool.claim(name);
  assert.ok(msg);
  await spool.failed(msg, 'ECONNREFUSED');
  assert.deepEqual(await all(join(root, 'post')), [retryMetaName(name), name].sort());
  assert.deepEqual((await all(join(root, 'post'))).filter((n) => !n.startsWith('.')), [name], 'what a C retry scan would take');
  assert.equal((await spool.readMeta('post', name))?.lastError, 'ECONNREFUSED');
  const again = await spool.claim(name, 'post');
  assert.equal(again?.meta?.attempts, 1);
  assert.ok(again);
  await spool.delivered(again);
  assert.deepEqual(await all(join(root, 'post')), []);
});

test("an earlier version's visible sidecar is still read, replaced by the hidden one at the next failure, and dropped on delivery", async (t) => {
  const root = await tempDir(t);
  const spool = new Spool(root);
  await spool.init();
  const name = await spool.store('https://lb/j\n/CN=x');
  const meta = afterFailure(undefined, 'old error', Date.now() - 1000, DEFAULT_RETRY_POLICY).meta;
  await writeFile(join(root, 'post', `${name}.meta`), serializeMeta(meta), { mode: 0o600 });
  const { rename } = await import('node:fs/promises');
  await rename(join(root, 'new', name), join(root, 'post', name));
  assert.equal((await spool.readMeta('post', name))?.lastError, 'old error');
  const m = await spool.claim(name, 'post');
  assert.equal(m?.meta?.attempts, 1);
  assert.ok(m);
  await spool.failed(m, 'new error');
  assert.deepEqual(await all(join(root, 'post')), [retryMetaName(name), name].sort(), 'the visible one is gone');
  assert.equal((await spool.readMeta('post', name))?.attempts, 2);
  const m2 = await spool.claim(name, 'post');
  assert.ok(m2);
  await writeFile(join(root, 'post', `${name}.meta`), serializeMeta(meta), { mode: 0o600 });
  await spool.delivered(m2);
  assert.deepEqual(await all(join(root, 'post')), [], 'both sidecars go with the delivery');
});

test('sweep: visible sidecars become hidden (never replacing a newer hidden one); orphans go only when old and their message is nowhere', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'post');
  for (const d of ['post', 'cur', 'new', 'work']) await mkdir(join(root, d));
  const places = { claimedDir: join(root, 'cur'), elsewhere: [join(root, 'new'), join(root, 'work')] };
  const now = Date.now();
  const put = async (name: string, text: string, ageMs = 0): Promise<void> => {
    await writeFile(join(dir, name), text);
    const at = new Date(now - ageMs);
    await utimes(join(dir, name), at, at);
  };
  await put('a', 'msg a');
  await put('a.meta', 'old a'); // legacy, message present → renamed
  await put('b', 'msg b');
  await put('b.meta', 'old b');
  await put('.b.meta', 'new b'); // legacy beside a newer hidden one → legacy dropped
  await put('.c.meta', 'orphan, old', ORPHAN_SIDECAR_AGE_MS + 60_000); // no message, old → removed
  await put('.d.meta', 'orphan, young', 1000); // no message, young → kept
  await put('e.meta', 'legacy orphan, old', ORPHAN_SIDECAR_AGE_MS + 60_000); // renamed, then removed as an old orphan
  await put('.tmp-1-2-3', 'a temporary'); // not ours to touch
  await put('x:1@h.meta', 'not a message name'); // left alone
  const old = ORPHAN_SIDECAR_AGE_MS + 60_000;
  await put('.f.meta', 'claimed for long', old); // its message is being processed (claimed from post/) → kept
  await writeFile(join(root, 'cur', 'f:4242@otherhost'), 'msg f');
  await put('.g.meta', 'in new/', old); // its message is in new/ → kept
  await writeFile(join(root, 'new', 'g'), 'msg g');
  await put('.h.meta', 'held by the C importer', old); // its message is in work/ (may come back to post/) → kept
  await writeFile(join(root, 'work', 'h'), 'msg h');
  const r = await sweepRetrySidecars(dir, now, places);
  assert.deepEqual(r, { renamed: 3, orphansRemoved: 2, skipped: [] });
  assert.deepEqual(await all(dir), ['.a.meta', '.b.meta', '.d.meta', '.f.meta', '.g.meta', '.h.meta', '.tmp-1-2-3', 'a', 'b', 'x:1@h.meta']);
  const { readFile } = await import('node:fs/promises');
  assert.equal(await readFile(join(dir, '.a.meta'), 'utf8'), 'old a');
  assert.equal(await readFile(join(dir, '.b.meta'), 'utf8'), 'new b', 'the newer hidden sidecar was kept');
  assert.deepEqual(await sweepRetrySidecars(dir, now, places), { renamed: 0, orphansRemoved: 0, skipped: [] }, 'a second pass finds nothing');
});
