/**
 * The JSON logger's redaction contract: the REDACT keys never reach the log
 * file, at the top level and (the `*.` ones) inside top-level objects, in
 * log lines and in child bindings; the caller's objects stay untouched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { censorNested, createLogging, LINE_KEYS, MESSAGE_KEY } from '../../src/core/log.js';
import { badJsonLines } from '../helpers/strict-json.js';

async function linesOf(fn: (file: string) => void): Promise<Record<string, unknown>[]> {
  const dir = await mkdtemp(join(tmpdir(), 'jp-log-'));
  try {
    const file = join(dir, 'log.jsonl');
    fn(file);
    return (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function rawLines(fn: (file: string) => void): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'jp-log-'));
  try {
    const file = join(dir, 'log.txt');
    fn(file);
    return await readFile(file, 'utf8');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('secrets are censored at the top level and one level down; everything else is written as given', async () => {
  const db = { user: 'jp', password: 'db-secret', key: 'not-a-secret-here' };
  const fields = { id: 'm1', job: 'https://lb:9000/a', pwd: 'p', password: 'pw', passphrase: 'pp', key: 'k', url: 'ftp://u:s@h/', db, list: [{ password: 'in-array' }] };
  const [line] = await linesOf((file) => createLogging({ file }).logger.info(fields, 'hello'));
  assert.ok(line !== undefined);
  for (const k of ['pwd', 'password', 'passphrase', 'key', 'url']) assert.equal(line[k], '[redacted]', k);
  assert.deepEqual(line['db'], { user: 'jp', password: '[redacted]', key: 'not-a-secret-here' });
  // `*.x` names the values of top-level keys: arrays are not searched (as pino's own redaction)
  assert.deepEqual(line['list'], [{ password: 'in-array' }]);
  assert.equal(line['id'], 'm1');
  assert.equal(line['job'], 'https://lb:9000/a');
  assert.equal(line['msg'], 'hello');
  assert.equal(db.password, 'db-secret', "the caller's object is not changed");
});

test('child bindings are censored the same way', async () => {
  const [line] = await linesOf((file) => createLogging({ file }).logger.child({ worker: 'reg', creds: { passphrase: 'x', subject: '/CN=a' } }).info({ n: 1 }, 'hi'));
  assert.ok(line !== undefined);
  assert.deepEqual(line['creds'], { passphrase: '[redacted]', subject: '/CN=a' });
  assert.equal(line['worker'], 'reg');
  assert.equal(line['n'], 1);
});

test('censorNested returns the very object when there is nothing to censor', () => {
  const o = { id: 'm1', job: 'j', ms: 3, outcome: 'delivered', nested: { a: 1 } };
  assert.equal(censorNested(o), o);
  const s = { nested: { pwd: 'x' } };
  const c = censorNested(s);
  assert.notEqual(c, s);
  assert.deepEqual(c, { nested: { pwd: '[redacted]' } });
  assert.deepEqual(s, { nested: { pwd: 'x' } });
});

test('LINE_KEYS are exactly the keys pino writes on a bare line (the keys log calls and bindings must not use)', async () => {
  const [line] = await linesOf((file) => createLogging({ file }).logger.info('bare'));
  assert.ok(line !== undefined);
  assert.deepEqual(Object.keys(line).sort(), [...LINE_KEYS].sort());
  assert.equal(line[MESSAGE_KEY], 'bare');
});

test('a child binding and a log call never repeat a key on the line (ids under `id`, the text under `msg`)', async () => {
  const text = await rawLines((file) => {
    const log = createLogging({ file }).logger.child({ worker: 'dump-1' }).child({ id: 'm-17', kind: 'dump' });
    log.info({ jobid: 'https://lb:9000/a' }, 'job was not registered: registered it (failsafe registration)');
  });
  assert.deepEqual(badJsonLines(text), []);
  const line = JSON.parse(text) as Record<string, unknown>;
  assert.equal(line['id'], 'm-17');
  assert.equal(line[MESSAGE_KEY], 'job was not registered: registered it (failsafe registration)');
});

test('-g (readable) shows the message text and the bindings', async () => {
  const text = await rawLines((file) => createLogging({ file, format: 'pretty' }).logger.child({ id: 'm-17' }).warn({ reason: 'r' }, 'will retry'));
  assert.match(text, /WARN.*will retry/);
  assert.match(text, /"?id"?: ?"m-17"/);
  assert.doesNotMatch(text, /hostname|"pid"/);
});
