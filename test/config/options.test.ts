import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultOptions, validateOptions } from '../../src/config/options.js';
import { isJpError } from '../../src/core/errors.js';

test('defaults: every path has a value; spools under maildir/; 1 dump worker; 2 s poll', () => {
  const o = validateOptions({}, {});
  assert.match(o.regMdir, /maildir\/reg$/);
  assert.match(o.dumpMdir, /maildir\/dump$/);
  assert.match(o.sandboxMdir, /maildir\/sandbox$/);
  assert.match(o.pidfile, /maildir\/jp-importer\.pid$/);
  assert.equal(o.dumpSlaves, 1);
  assert.equal(o.pollMs, 2000);
  assert.equal(o.timeoutMs, 120_000);
  assert.deepEqual(o.workers, ['reg', 'dump', 'sandbox']);
  assert.deepEqual(o.retry, defaultOptions({}).retry);
});

test('X509_USER_CERT / X509_USER_KEY / X509_CERT_DIR set the credential defaults', () => {
  const o = validateOptions({}, { X509_USER_CERT: '/c.pem', X509_USER_KEY: '/k.pem', X509_CERT_DIR: '/ca' });
  assert.deepEqual([o.cert, o.key, o.caDir], ['/c.pem', '/k.pem', '/ca']);
});

test('values are converted: -D 4, -t 5, durations, repeatable --allow-dir, relative paths made absolute', () => {
  const o = validateOptions({ dumpSlaves: '4', poll: '5', retryFirst: '10s', retryMax: '2m', giveUpAfter: '1h',
    allowDir: ['/a', 'b'], regMdir: 'rel/reg', jpps: 'jp.example.org:8900', workers: 'reg,dump' }, {});
  assert.equal(o.dumpSlaves, 4);
  assert.equal(o.pollMs, 5000);
  assert.deepEqual([o.retry.firstDelayMs, o.retry.maxDelayMs, o.retry.giveUpAfterMs], [10_000, 120_000, 3_600_000]);
  assert.equal(o.allowDirs[0], '/a');
  assert.ok(o.allowDirs[1]?.endsWith('/b') && o.allowDirs[1].startsWith('/'));
  assert.ok(o.regMdir.startsWith('/') && o.regMdir.endsWith('rel/reg'));
  assert.deepEqual(o.workers, ['reg', 'dump']);
});

const badCases: [string, Record<string, unknown>, RegExp][] = [
  ['-D not a number', { dumpSlaves: 'abc' }, /--dump-slaves \(-D\): must be an integer from 1 to 20, got "abc"/],
  ['-D 0', { dumpSlaves: '0' }, /--dump-slaves \(-D\)/],
  ['-D 21', { dumpSlaves: 21 }, /from 1 to 20, got 21/],
  ['-t garbage', { poll: 'soon' }, /--poll \(-t\): must be a duration/],
  ['-t 0', { poll: '0' }, /--poll \(-t\)/],
  ['-p without port', { jpps: 'jp.example.org' }, /--jpps \(-p\): must be host:port/],
  ['-p port 70000', { jpps: 'h:70000' }, /--jpps \(-p\)/],
  ['-p ftp URL', { jpps: 'ftp://h:21/' }, /--jpps \(-p\)/],
  ['empty -r', { regMdir: '' }, /--reg-mdir \(-r\): must be a non-empty string/],
  ['unknown worker', { workers: 'reg,mail' }, /--workers: must list kinds/],
  ['concurrency 0', { concurrency: '0' }, /--concurrency/],
  ['log level', { logLevel: 'loud' }, /--log-level/],
  ['retry-max below first', { retryFirst: '10m', retryMax: '1m' }, /--retry-max/],
  ['give-up-after bad', { giveUpAfter: 'never' }, /--give-up-after/],
  ['gridftp-dcau X', { gridftpDcau: 'X' }, /--gridftp-dcau: must be one of A, N, got "X"/],
  ['gridftp-prot S', { gridftpProt: 'S' }, /--gridftp-prot: must be one of C, P, got "S"/],
  ['PROT P without DCAU', { gridftpDcau: 'N', gridftpProt: 'P' }, /--gridftp-prot: PROT P \(private data\) needs an authenticated data channel/],
  ['gridftp-subject not a DN', { gridftpSubject: 'host/jp.example.org' }, /--gridftp-subject: must be a subject in slash form/],
  ['gridftp-subject with a line break', { gridftpSubject: '/CN=a\nDELE x' }, /--gridftp-subject/],
];
for (const [name, raw, want] of badCases) {
  test(`validateOptions refuses ${name}, naming the flag`, () => {
    assert.throws(() => validateOptions(raw, {}), (e: unknown) => isJpError(e, 'JP_CONFIG') && want.test(e.message));
  });
}

test('GridFTP options: DCAU A and PROT C by default; values taken in any case; the expected server subject kept as given', () => {
  const d = validateOptions({}, {});
  assert.deepEqual([d.gridftpDcau, d.gridftpProt, d.gridftpSubject], ['A', 'C', undefined]);
  const o = validateOptions({ gridftpDcau: 'n', gridftpProt: 'c', gridftpSubject: '/DC=org/DC=example/CN=host/jp.example.org' }, {});
  assert.deepEqual([o.gridftpDcau, o.gridftpProt, o.gridftpSubject], ['N', 'C', '/DC=org/DC=example/CN=host/jp.example.org']);
  assert.equal(validateOptions({ gridftpProt: 'P' }, {}).gridftpProt, 'P');
});

const goodEndpoints = ['localhost:8900', '127.0.0.1:1', 'jp.example.org:8900', '[::1]:8900', 'https://jp.example.org:8900/', 'http://localhost:8901'];
for (const jpps of goodEndpoints) {
  test(`validateOptions accepts -p ${jpps}`, () => assert.equal(validateOptions({ jpps }, {}).jpps, jpps));
}
