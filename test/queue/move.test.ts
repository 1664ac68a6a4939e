/**
 * The one move-without-overwrite (src/queue/move.ts), rule by rule, and the
 * one rule of what a message is (src/queue/names.ts isMessageEntry).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  COUNTER_NAMES, DUMP_NAMES, FileReplaced, moveInto, moveNoReplace, NamesTaken, QUEUE_NAMES,
} from '../../src/queue/move.js';
import { isMessageEntry } from '../../src/queue/names.js';
import { tempDir } from '../helpers/tmp.js';

const ls = (d: string): string[] => readdirSync(d).sort();

async function dirs(): Promise<{ from: string; to: string }> {
  const root = await tempDir();
  const from = join(root, 'from');
  const to = join(root, 'to');
  mkdirSync(from);
  mkdirSync(to);
  return { from, to };
}

test('candidate names of each variant', () => {
  assert.deepEqual([0, 1, 2].map((i) => QUEUE_NAMES('m', i, 7)), ['m', 'm.7_1', 'm.7_2']);
  assert.deepEqual([0, 1, 2].map((i) => DUMP_NAMES('d.log', i, 7)), ['d.log', 'd.log.7', 'd.log.7_2']);
  assert.deepEqual([0, 1, 2].map((i) => COUNTER_NAMES('f', i, 7)), ['f', 'f.1', 'f.2']);
});

test('rule 1: nothing is replaced; a taken name gives the next candidate; every name taken is an error', async () => {
  const { from, to } = await dirs();
  writeFileSync(join(from, 'm'), 'new');
  writeFileSync(join(to, 'm'), 'old');
  assert.equal(await moveInto(join(from, 'm'), to, 'm', { now: 5 }), 'm.5_1');
  assert.equal(readFileSync(join(to, 'm'), 'utf8'), 'old');
  assert.equal(readFileSync(join(to, 'm.5_1'), 'utf8'), 'new');
  assert.deepEqual(ls(from), []);
  writeFileSync(join(from, 'x'), 'x');
  writeFileSync(join(to, 'x'), 'taken');
  await assert.rejects(moveInto(join(from, 'x'), to, 'x', { tries: 1 }), (e: unknown) => e instanceof NamesTaken && /1 names taken/.test(e.message));
  assert.equal(await moveNoReplace(join(from, 'x'), join(to, 'x')), 'exists');
  assert.ok(existsSync(join(from, 'x')), 'the source stays when the target is taken');
});

test('rule 2: the target already is the source (crash between link and unlink): only the source goes', async () => {
  const { from, to } = await dirs();
  writeFileSync(join(from, 'm'), 'm');
  linkSync(join(from, 'm'), join(to, 'm'));
  assert.equal(await moveInto(join(from, 'm'), to, 'm'), 'm');
  assert.deepEqual(ls(to), ['m']);
  assert.deepEqual(ls(from), []);
});

test('a source that is gone is no error', async () => {
  const { from, to } = await dirs();
  assert.equal(await moveNoReplace(join(from, 'nothing'), join(to, 'nothing')), 'gone');
  assert.equal(await moveInto(join(from, 'nothing'), to, 'nothing'), undefined);
});

test('rule 3: what cannot be hard-linked (a directory) is renamed when the name is free', async () => {
  const { from, to } = await dirs();
  mkdirSync(join(from, 'd'));
  writeFileSync(join(from, 'd', 'inside'), 'x');
  assert.equal(await moveInto(join(from, 'd'), to, 'd'), 'd');
  assert.deepEqual(ls(join(to, 'd')), ['inside']);
  mkdirSync(join(from, 'e'));
  writeFileSync(join(to, 'e'), 'taken');
  assert.equal(await moveNoReplace(join(from, 'e'), join(to, 'e')), 'exists');
  assert.ok(statSync(join(from, 'e')).isDirectory());
});

test('rule 4/5: across file systems a copy is made and linked into place, only when asked', { skip: statSync('/dev/shm', { throwIfNoEntry: false })?.isDirectory() !== true }, async () => {
  const { from } = await dirs();
  const other = mkdtempSync('/dev/shm/jp-move-');
  try {
    if (statSync(other).dev === statSync(from).dev) return;
    writeFileSync(join(from, 'm'), 'body');
    await assert.rejects(moveInto(join(from, 'm'), other, 'm'), /EXDEV/);
    assert.equal(await moveInto(join(from, 'm'), other, 'm', { acrossDevices: true }), 'm');
    assert.equal(readFileSync(join(other, 'm'), 'utf8'), 'body');
    assert.deepEqual(ls(other), ['m'], 'no temporary left');
    assert.deepEqual(ls(from), []);
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
});

test('rule 5: across file systems only a regular file is copied: a FIFO (never blocking) or a symlink stays where it is', { skip: statSync('/dev/shm', { throwIfNoEntry: false })?.isDirectory() !== true }, async () => {
  const { from } = await dirs();
  const other = mkdtempSync('/dev/shm/jp-move-');
  try {
    if (statSync(other).dev === statSync(from).dev) return;
    execFileSync('mkfifo', [join(from, 'fifo')]);
    await assert.rejects(moveInto(join(from, 'fifo'), other, 'fifo', { acrossDevices: true }), /not a regular file/);
    writeFileSync(join(from, 'target'), 'secret');
    symlinkSync(join(from, 'target'), join(from, 'link'));
    await assert.rejects(moveInto(join(from, 'link'), other, 'link', { acrossDevices: true }), /ELOOP/);
    assert.deepEqual(ls(other), [], 'nothing copied, no temporary left');
    assert.deepEqual(ls(from), ['fifo', 'link', 'target']);
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
});

test('rule 6: with an identity, only that very file is moved', async () => {
  const { from, to } = await dirs();
  const path = join(from, 'd.log');
  writeFileSync(path, 'exported');
  const st = statSync(path, { bigint: true });
  const id = { dev: st.dev, ino: st.ino };
  renameSync(path, join(from, 'kept'));
  writeFileSync(path, 'someone else');
  await assert.rejects(moveInto(path, to, 'd.log', { expect: id }), FileReplaced);
  assert.equal(readFileSync(path, 'utf8'), 'someone else');
  assert.deepEqual(ls(to), []);
  renameSync(join(from, 'kept'), path);
  assert.equal(await moveInto(path, to, 'd.log', { expect: id }), 'd.log');
  assert.deepEqual(ls(from), []);
});

test('rule 7: the sidecar is written for the name actually used, never over another message\'s', async () => {
  const { from, to } = await dirs();
  writeFileSync(join(from, 'r.req'), 'x');
  writeFileSync(join(to, 'r.req'), 'other');
  writeFileSync(join(to, 'r.req.reason'), 'the other one\'s reason');
  const kept = await moveInto(join(from, 'r.req'), to, 'r.req', { now: 9, sidecar: { suffix: '.reason', text: 'why' } });
  assert.equal(kept, 'r.req.9_1');
  assert.equal(readFileSync(join(to, 'r.req.reason'), 'utf8'), 'the other one\'s reason');
  assert.equal(readFileSync(join(to, 'r.req.9_1.reason'), 'utf8'), 'why');
  assert.equal(await moveInto(join(from, 'gone.req'), to, 'gone.req', { sidecar: { suffix: '.reason', text: 'why' } }), undefined);
  assert.equal(existsSync(join(to, 'gone.req.reason')), false, 'no sidecar without its message');
});

const entries: [string, boolean, boolean][] = [
  ['1700000000_000001.lb', false, true],
  ['odd-name', false, true],
  ['m:123@host', false, true],
  ['.hidden', false, false],
  ['.tmp-1-2-3', false, false],
  ['m.meta', false, false],
  ['sub', true, false],
];
for (const [name, isDir, want] of entries) {
  test(`isMessageEntry(${JSON.stringify(name)}${isDir ? ', a directory' : ''}) is ${want}`, () => assert.equal(isMessageEntry(name, isDir), want));
}
