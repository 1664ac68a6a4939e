import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  afterFailure, backoffDelay, clampReason, DEFAULT_RETRY_POLICY, formatDuration, giveUpMeta, HISTORY_LIMIT,
  serializeMeta, type RetryPolicy,
} from '../../src/queue/retry-state.js';
import { parseSpoolMeta as parseMeta } from '../../src/maildir/spool.js';
import { parsePendingUpload, type PendingUpload } from '../../src/messages/pending-upload.js';

const noJitter: RetryPolicy = { ...DEFAULT_RETRY_POLICY, jitter: 0 };

test('defaults: first retry 5 min, cap 1 h, give up after 5 days', () => {
  assert.equal(DEFAULT_RETRY_POLICY.firstDelayMs, 300_000);
  assert.equal(DEFAULT_RETRY_POLICY.maxDelayMs, 3_600_000);
  assert.equal(DEFAULT_RETRY_POLICY.giveUpAfterMs, 5 * 86_400_000);
});

const backoffCases: [number, number][] = [
  [0, 300_000], [1, 300_000], [2, 600_000], [3, 1_200_000], [4, 2_400_000], [5, 3_600_000], [50, 3_600_000], [10_000, 3_600_000],
];
for (const [attempts, want] of backoffCases) {
  test(`backoffDelay(${attempts}) without jitter = ${want}`, () => assert.equal(backoffDelay(attempts, noJitter), want));
}

test('jitter spreads the delay over ±jitter/2 and stays bounded', () => {
  const p = { ...DEFAULT_RETRY_POLICY, jitter: 0.2 };
  assert.equal(backoffDelay(1, p, () => 0), 270_000);
  assert.equal(backoffDelay(1, p, () => 1), 330_000);
  assert.ok(backoffDelay(99, p, () => 1) <= 3_600_000 * 1.1);
});

test('afterFailure schedules growing retries, keeps bounded history, then gives up', () => {
  let now = 1_000_000;
  let meta = undefined;
  const delays: number[] = [];
  for (let i = 0; i < 8; i++) {
    const d = afterFailure(meta, `boom ${i}`, now, noJitter);
    assert.equal(d.action, 'retry');
    delays.push(d.meta.nextAttemptAt - now);
    meta = d.meta;
    now = d.meta.nextAttemptAt;
  }
  assert.deepEqual(delays.slice(0, 6), [300_000, 600_000, 1_200_000, 2_400_000, 3_600_000, 3_600_000]);
  assert.equal(meta?.attempts, 8);
  assert.equal(meta?.history.length, HISTORY_LIMIT);
  assert.equal(meta?.lastError, 'boom 7');
  assert.equal(meta?.firstFailureAt, 1_000_000);
  const late = afterFailure(meta, 'still down', 1_000_000 + noJitter.giveUpAfterMs, noJitter);
  assert.equal(late.action, 'giveup');
  assert.match(late.meta.gaveUpReason ?? '', /gave up after 9 attempts over 5\.0d; last error: still down/);
});

test('serializeMeta/parseMeta round-trip', () => {
  const m = giveUpMeta(undefined, 'bad\nthing', 5);
  assert.equal(m.lastError, 'bad thing');
  assert.deepEqual(parseMeta(serializeMeta(m)), m);
  const r = afterFailure(undefined, 'x', 10, noJitter).meta;
  assert.deepEqual(parseMeta(serializeMeta(r)), r);
});

const badMeta = ['', 'null', '[]', '{"version":2}', '{"version":1,"attempts":"1"}',
  '{"version":1,"attempts":1,"firstFailureAt":1,"lastAttemptAt":1,"nextAttemptAt":1,"lastError":"x","history":[{"at":"x"}]}',
  '{"version":1,"attempts":1,"firstFailureAt":1,"lastAttemptAt":1,"nextAttemptAt":1,"lastError":5,"history":[]}',
  '{not json'];
for (const t of badMeta) {
  test(`parseMeta refuses ${JSON.stringify(t).slice(0, 40)}`, () => assert.equal(parseMeta(t), undefined));
}

const UPLOAD: PendingUpload = {
  destination: 'ftp://jp.example.org:2811/data/x/1/AbC/urn:org.glite.jp.primary:lb.d1.dump', size: 300_000, startedAt: 5, commitBefore: 300_005, commitUnknown: true,
};

test('the upload an attempt left is kept (round trip), and not inherited by a later failure that passes none', () => {
  const m = afterFailure(undefined, 'CommitUpload: socket hang up', 10, noJitter, Math.random, UPLOAD).meta;
  assert.deepEqual(m.upload, UPLOAD);
  assert.deepEqual(parseMeta(serializeMeta(m)), m);
  const { commitBefore: _omit, ...noDeadline } = UPLOAD;
  const m2 = afterFailure(m, 'again', 20, noJitter, Math.random, noDeadline).meta;
  assert.deepEqual(parseMeta(serializeMeta(m2))?.upload, noDeadline);
  const m3 = afterFailure(m2, 'StartUpload: refused', 30, noJitter).meta;
  assert.equal('upload' in m3, false);
  assert.equal(m3.attempts, 3);
  const late = afterFailure(m, 'x', 10 + noJitter.giveUpAfterMs, noJitter, Math.random, UPLOAD);
  assert.equal(late.action, 'giveup');
  assert.deepEqual(late.meta.upload, UPLOAD, 'kept in undeliverable/ for the operator');
});

test('a sidecar written before the upload field existed is read as before', () => {
  const old = '{"version":1,"attempts":2,"firstFailureAt":1,"lastAttemptAt":2,"nextAttemptAt":3,"lastError":"x","history":[{"at":1,"reason":"x"}]}';
  const m = parseMeta(old);
  assert.equal(m?.attempts, 2);
  assert.equal(m !== undefined && 'upload' in m, false);
});

const goodUploads: Array<[string, unknown, PendingUpload]> = [
  ['all fields', UPLOAD, UPLOAD],
  ['no commitBefore', { destination: 'ftps://h/a/b', size: 0, startedAt: 0, commitUnknown: false },
    { destination: 'ftps://h/a/b', size: 0, startedAt: 0, commitUnknown: false }],
  ['unknown keys dropped', { ...UPLOAD, extra: 'x' }, UPLOAD],
];
for (const [name, v, want] of goodUploads) {
  test(`parsePendingUpload accepts ${name}`, () => assert.deepEqual(parsePendingUpload(v), want));
}

const badUploads: Array<[string, unknown]> = [
  ['null', null],
  ['an array', [UPLOAD]],
  ['a string', 'ftp://h/x'],
  ['no destination', { ...UPLOAD, destination: undefined }],
  ['empty destination', { ...UPLOAD, destination: '' }],
  ['relative destination', { ...UPLOAD, destination: '/data/x' }],
  ['destination not a URL', { ...UPLOAD, destination: 'not a url' }],
  ['destination with a newline', { ...UPLOAD, destination: 'ftp://h/x\nINJECT' }],
  ['destination with a NUL', { ...UPLOAD, destination: 'ftp://h/x\u0000' }],
  ['destination too long', { ...UPLOAD, destination: `ftp://h/${'a'.repeat(5000)}` }],
  ['destination a number', { ...UPLOAD, destination: 7 }],
  ['size negative', { ...UPLOAD, size: -1 }],
  ['size fractional', { ...UPLOAD, size: 1.5 }],
  ['size a string', { ...UPLOAD, size: '300000' }],
  ['size beyond 2^53', { ...UPLOAD, size: 2 ** 60 }],
  ['size missing', { ...UPLOAD, size: undefined }],
  ['startedAt missing', { ...UPLOAD, startedAt: undefined }],
  ['startedAt a string', { ...UPLOAD, startedAt: '5' }],
  ['commitBefore null', { ...UPLOAD, commitBefore: null }],
  ['commitBefore a date string', { ...UPLOAD, commitBefore: '2024-01-01T00:00:00Z' }],
  ['commitUnknown missing', { ...UPLOAD, commitUnknown: undefined }],
  ['commitUnknown a string', { ...UPLOAD, commitUnknown: 'true' }],
  ['commitUnknown a number', { ...UPLOAD, commitUnknown: 1 }],
];
for (const [name, v] of badUploads) {
  test(`parsePendingUpload refuses ${name}; a sidecar holding it is refused whole`, () => {
    assert.equal(parsePendingUpload(v), undefined);
    const base = afterFailure(undefined, 'x', 10, noJitter, Math.random, UPLOAD).meta;
    const text = JSON.stringify({ ...base, upload: v });
    assert.equal(parseMeta(text), undefined, text);
  });
}

test('clampReason: one line, bounded', () => {
  assert.equal(clampReason('a\r\nb'), 'a b');
  assert.ok(clampReason('x'.repeat(5000)).length <= 2001);
});

const durCases: [number, string][] = [[0, '0s'], [59_000, '59s'], [300_000, '5m'], [7_200_000, '2.0h'], [5 * 86_400_000, '5.0d']];
for (const [ms, s] of durCases) test(`formatDuration(${ms})`, () => assert.equal(formatDuration(ms), s));
