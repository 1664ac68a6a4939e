import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { join } from 'node:path';
import {
  destinationFileName, parseDestinationDown, parseDestinationFileName, readDestinationRecords,
  removeDestinationDown, removeStaleDestinationRecords, serializeDestinationDown, writeDestinationDown, type DestinationDown,
} from '../../src/maildir/destination-file.js';
import { tempDir } from '../helpers/tmp.js';

const GOOD: DestinationDown = { version: 1, pid: 12, host: 'h.example', worker: 'dump-1', since: 1000, nextProbeAt: 2000, failures: 2, reason: 'ECONNREFUSED' };

const names: [string, { pid: number; host: string } | undefined][] = [
  ['destination-down.12@h.example.json', { pid: 12, host: 'h.example' }],
  ['destination-down.12@h.example.json.tmp', undefined],
  ['destination-down.0@h.json', undefined],
  ['destination-down.x@h.json', undefined],
  ['destination-down.12@h/x.json', undefined],
  ['destination-down.12@.json', undefined],
  ['destination-down.12345678901@h.json', undefined],
  ['new', undefined],
];
for (const [name, want] of names) {
  test(`destination file name ${JSON.stringify(name)}`, () => assert.deepEqual(parseDestinationFileName(name), want));
}

const bodies: [string, string, boolean][] = [
  ['the serialised record', serializeDestinationDown(GOOD), true],
  ['not JSON', '{', false],
  ['an array', '[]', false],
  ['wrong version', JSON.stringify({ ...GOOD, version: 2 }), false],
  ['pid 0', JSON.stringify({ ...GOOD, pid: 0 }), false],
  ['negative time', JSON.stringify({ ...GOOD, since: -1 }), false],
  ['fractional failures', JSON.stringify({ ...GOOD, failures: 1.5 }), false],
  ['reason missing', JSON.stringify({ ...GOOD, reason: undefined }), false],
  ['worker not a string', JSON.stringify({ ...GOOD, worker: 3 }), false],
];
for (const [name, text, ok] of bodies) {
  test(`destination record: ${name} → ${ok ? 'accepted' : 'refused'}`, () => {
    const r = parseDestinationDown(text);
    if (ok) assert.deepEqual(r, GOOD);
    else assert.equal(r, undefined);
  });
}

test('destination record: reasons are one line and bounded', () => {
  const r = parseDestinationDown(serializeDestinationDown({ ...GOOD, reason: `a\nb\r\n${'x'.repeat(5000)}` }));
  assert.ok(r);
  assert.equal(r.reason.startsWith('a b '), true);
  assert.equal(r.reason.length, 2000);
});

test('destination records: write replaces, read lists (unparseable without a record), remove and stale clean-up', async (t) => {
  const root = await tempDir(t);
  await writeDestinationDown(root, GOOD);
  await writeDestinationDown(root, { ...GOOD, failures: 3 });
  await writeDestinationDown(root, { ...GOOD, pid: 13 });
  await writeFile(join(root, destinationFileName(14, 'h.example')), 'garbage');
  await writeFile(join(root, 'unrelated.json'), '{}');
  const recs = await readDestinationRecords(root);
  assert.deepEqual(recs.map((r) => [r.pid, r.record?.failures]), [[12, 3], [13, 2], [14, undefined]]);
  assert.equal(await removeStaleDestinationRecords(root, 'h.example', (pid) => pid === 13), 2);
  assert.deepEqual((await readdir(root)).sort(), [destinationFileName(13, 'h.example'), 'unrelated.json']);
  await removeDestinationDown(root, 13, 'h.example');
  await removeDestinationDown(root, 13, 'h.example');
  assert.deepEqual(await readDestinationRecords(root), []);
  assert.deepEqual(await readDestinationRecords(join(root, 'missing')), []);
});

const lifeBodies: [string, string, boolean][] = [
  ['with a life', serializeDestinationDown({ ...GOOD, life: '40476-14d37839' }), true],
  ['a life that is not one', JSON.stringify({ ...GOOD, life: '40476' }), false],
  ['a life of the wrong type', JSON.stringify({ ...GOOD, life: 40476 }), false],
];
for (const [what, text, ok] of lifeBodies) {
  test(`destination record body: ${what}`, () => assert.equal(parseDestinationDown(text) !== undefined, ok));
}

test('a record names its writer\'s life; one whose pid now belongs to another process (other start time) is stale', async (t) => {
  const root = await tempDir();
  await writeDestinationDown(root, { ...GOOD, pid: process.pid, host: 'h.example' });
  const own = (await readDestinationRecords(root))[0]?.record;
  assert.match(own?.life ?? '', /^\d+-[0-9a-f]{8}$/, 'this process\'s life added');
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  const pid = child.pid as number;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().slice(0, 8);
  await writeDestinationDown(root, { ...GOOD, pid, host: 'h.example', life: `${ticks + 4}-${boot}` });
  assert.equal(await removeStaleDestinationRecords(root, 'h.example'), 1);
  assert.deepEqual((await readdir(root)).sort(), [destinationFileName(process.pid, 'h.example')]);
  await writeDestinationDown(root, { ...GOOD, pid, host: 'h.example', life: `${ticks}-${boot}` });
  assert.equal(await removeStaleDestinationRecords(root, 'h.example'), 0, 'the same life: alive');
});
