import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorTally, normaliseError } from '../../src/ops/error-groups.js';
import { SmallestK } from '../../src/ops/oldest.js';
import { emptySubtree } from '../../src/ops/status-scan.js';
import { assess, type SubtreeStatus } from '../../src/ops/status-report.js';
import { badId, nameTimeMs, subtreesOf } from '../../src/ops/subtrees.js';
import { formatAge, printable } from '../../src/ops/output.js';

const normCases: [string, string][] = [
  ['connect ECONNREFUSED 127.0.0.1:8900', 'connect ECONNREFUSED 127.0.0.1:#'],
  ['connect ECONNREFUSED [::1]:8900', 'connect ECONNREFUSED [::1]:#'],
  ['HTTP 503 from https://jp.example.org:8900/', 'HTTP 503 from https://jp.example.org:#/'],
  ['HTTP 404 from https://jp.example.org/jpps', 'HTTP 404 from https://jp.example.org/…'],
  ['fault EPERM on https://lb.example.org:9000/AbCdEf12: denied', 'fault EPERM on https://lb.example.org:#/…: denied'],
  ['file /var/spool/jp/sandbox-tars/job_12345.tar: not found', 'file /var/spool/jp/sandbox-tars/…: not found'],
  ["open '/etc/x/y.pem': EACCES", "open '/etc/x/…': EACCES"],
  ['timeout after 120000 ms at 2024-01-02T03:04:05.123Z', 'timeout after # ms at <time>'],
  ['at 2024-01-02 03:04:05+01:00 failed', 'at <time> failed'],
  ['worker 12345 died at 12:34:56', 'worker # died at <time>'],
  ['FTP 530 Login incorrect', 'FTP 530 Login incorrect'],
  ['FTP 553 Could not create file', 'FTP 553 Could not create file'],
  ['SOAP fault EEXIST (17)', 'SOAP fault EEXIST (17)'],
  ['request 0f8fad5b-d9cb-469f-a165-70867728950e failed', 'request <uuid> failed'],
  ['sha deadbeefcafe1234 mismatch', 'sha <hex> mismatch'],
  ['abcdefabcdefabcdef only letters stay', 'abcdefabcdefabcdef only letters stay'],
  ['gave up   after\n 3\tattempts ', 'gave up after 3 attempts'],
  ['message is 1048576 bytes, more than the limit of 65536', 'message is # bytes, more than the limit of #'],
  ['getaddrinfo ENOTFOUND jp.example.org', 'getaddrinfo ENOTFOUND jp.example.org'],
  ['retry after 30s', 'retry after 30s'],
  ['', ''],
  ['x'.repeat(300), 'x'.repeat(199) + '…'],
];
for (const [input, want] of normCases) {
  test(`normaliseError(${JSON.stringify(input.slice(0, 50))})`, () => assert.equal(normaliseError(input), want));
}

test('normaliseError: a huge pathological input is cut before the expressions run', { timeout: 30_000 }, () => {
  const out = normaliseError('/' + 'a'.repeat(100_000) + ' ' + 'https://' + 'b'.repeat(100_000));
  assert.equal(out, '/…'); // one absolute path: its last component is replaced
});

test('ErrorTally: groups, counts per area, most recent example, stable order, bounded groups', () => {
  const t = new ErrorTally(3);
  t.add('connect ECONNREFUSED 10.0.0.1:8900', 'post', 10);
  t.add('connect ECONNREFUSED 10.0.0.1:8901', 'undeliverable', 30);
  t.add('connect ECONNREFUSED 10.0.0.1:8902', 'post', 20);
  t.add('b error', 'post', 1);
  t.add('a error', 'undeliverable', 1);
  t.add('c error (over the limit)', 'post', 1);
  assert.equal(t.size, 3);
  assert.equal(t.other, 1);
  assert.deepEqual(t.top(5), [
    { error: 'connect ECONNREFUSED 10.0.0.1:#', count: 3, post: 2, undeliverable: 1, latestAt: 30, example: 'connect ECONNREFUSED 10.0.0.1:8901' },
    { error: 'a error', count: 1, post: 0, undeliverable: 1, latestAt: 1, example: 'a error' },
    { error: 'b error', count: 1, post: 1, undeliverable: 0, latestAt: 1, example: 'b error' },
  ]);
  assert.equal(t.top(1).length, 1);
  assert.deepEqual(t.top(0), []);
});

test('SmallestK keeps the k smallest keys of any stream, in order', () => {
  const k = new SmallestK<string>(3);
  const keys = [50, 10, 90, 30, 70, 20, 60, 40, 80, 5];
  for (const x of keys) k.add(x, `v${x}`);
  assert.deepEqual(k.sorted(), ['v5', 'v10', 'v20']);
  assert.equal(k.seen, 10);
  assert.equal(k.size, 3);
  const none = new SmallestK<number>(0);
  none.add(1, 1);
  assert.deepEqual(none.sorted(), []);
  const big = new SmallestK<number>(100);
  for (let i = 10_000; i > 0; i--) big.add((i * 7919) % 10_007, i);
  assert.equal(big.size, 100);
  const got = big.sorted().map((i) => (i * 7919) % 10_007);
  const all = Array.from({ length: 10_000 }, (_, j) => ((j + 1) * 7919) % 10_007).sort((a, b) => a - b).slice(0, 100);
  assert.deepEqual(got, all);
});

const idCases: [string, RegExp | undefined][] = [
  ['1732180000_123456.localhost', undefined],
  ['1732180000_123456_4242_7.lb.example.org', undefined],
  ['1732180000_123456.h:4242@h', undefined],
  ['refused_1700000000000_1_1.h', undefined],
  ['', /empty/],
  ['a/b', /'\/'/],
  ['/etc/passwd', /'\/'/],
  ['..', /'\.\.'/],
  ['a..b', /'\.\.'/],
  ['.', /starts with '\.'/],
  ['.tmp-1-2-3', /starts with '\.'/],
  ['x.meta', /sidecar/],
  ['a\0b', /NUL/],
  ['é'.repeat(128), /255 bytes/],
];
for (const [id, want] of idCases) {
  test(`badId(${JSON.stringify(id.slice(0, 30))})`, () => {
    const got = badId(id);
    if (want === undefined) assert.equal(got, undefined);
    else assert.match(got ?? '', want);
  });
}

test('nameTimeMs: LB and port names, others undefined', () => {
  assert.equal(nameTimeMs('1732180000_123456.localhost'), 1732180000123);
  assert.equal(nameTimeMs('1732180000_000999_1_1.h'), 1732180000000);
  assert.equal(nameTimeMs('refused_1_1.h'), undefined);
  assert.equal(nameTimeMs('odd'), undefined);
});

test('subtreesOf: reg, dump, sandbox, and jobman only when configured', () => {
  const base = { regMdir: '/s/reg', dumpMdir: '/s/dump', sandboxMdir: '/s/sandbox' };
  assert.deepEqual(subtreesOf(base).map((t) => t.name), ['reg', 'dump', 'sandbox']);
  assert.deepEqual(subtreesOf({ ...base, jobmanMdir: '/s/jobman' }).at(-1), { name: 'jobman', root: '/s/jobman' });
});

function sub(name: string, f: (s: SubtreeStatus) => void, status: SubtreeStatus['status'] = 'ok'): SubtreeStatus {
  const s = emptySubtree({ name, root: `/s/${name}` }, status, status === 'error' ? 'EACCES' : null);
  f(s);
  return s;
}

const assessCases: [string, SubtreeStatus[], number, string[]][] = [
  ['all empty', [sub('reg', () => undefined)], 0, []],
  ['new and post young', [sub('reg', (s) => { s.states.new.count = 5; s.states.post.count = 1; s.states.post.oldest = { id: 'p', ageMs: 1000 }; })], 0, []],
  ['post exactly at threshold', [sub('reg', (s) => { s.states.post.count = 1; s.states.post.oldest = { id: 'p', ageMs: 3600_000 }; })], 0, []],
  ['post over threshold', [sub('reg', (s) => { s.states.post.count = 1; s.states.post.oldest = { id: 'p', ageMs: 3600_001 }; })], 1,
    ['reg: post/ holds messages older than 60m (oldest p, 60m)']],
  ['undeliverable', [sub('dump', (s) => { s.states.undeliverable.count = 1; })], 1, ['dump: 1 message in undeliverable/']],
  ['dead claims', [sub('reg', (s) => { s.states.cur.deadClaims = 2; })], 1, ['reg: 2 claims in cur/ held by dead processes']],
  ['missing', [sub('sandbox', () => undefined, 'missing')], 1, ['sandbox: spool /s/sandbox does not exist']],
  ['error wins', [sub('reg', (s) => { s.states.undeliverable.count = 3; }), sub('dump', () => undefined, 'error')], 2,
    ['reg: 3 messages in undeliverable/', 'dump: cannot read /s/dump: EACCES']],
];
for (const [what, subs, code, lines] of assessCases) {
  test(`assess: ${what}`, () => assert.deepEqual(assess(subs, 3600_000), { exitCode: code, attention: lines }));
}

test('formatAge and printable', () => {
  assert.equal(formatAge(0), '0s');
  assert.equal(formatAge(59_000), '59s');
  assert.equal(formatAge(5 * 60_000), '5m');
  assert.equal(formatAge(3 * 3600_000), '3.0h');
  assert.equal(formatAge(3 * 86_400_000), '3.0d');
  assert.equal(formatAge(-30_000), '-30s');
  assert.equal(printable('a\x1b[2Jb\n'), 'a\\x1b[2Jb\\x0a');
  assert.equal(printable('\u009b'), '\\x9b');
});
