import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isJpError } from '../../src/core/errors.js';
import { formatUploadMessage, parseKeyValues, parseUploadMessage, type UploadMessage } from '../../src/messages/keyvalue.js';

const J = 'https://lb.example.org:9000/AbCdEf';
const ok: [string, string, UploadMessage][] = [
  ['C upload API (tabs)', `jobid\t${J}\nfile\t/var/tars/a.tar\nproxy\t/tmp/x509up_u1\n`, { jobid: J, file: '/var/tars/a.tar', proxy: '/tmp/x509up_u1' }],
  ['C upload API with jpps', `jobid\t${J}\nfile\t/f\nproxy\t/p\njpps\th:8900\n`, { jobid: J, file: '/f', proxy: '/p', jpps: 'h:8900' }],
  ['C exporter padded, no -j', `jobid  ${J}\nfile   /tmp/AbCdEf.1_2\n`, { jobid: J, file: '/tmp/AbCdEf.1_2' }],
  ['C exporter glued jpps defect', `jobid  ${J}\nfile   /tmp/AbCdEf.1_2jpps   jp.example.org:8900`, { jobid: J, file: '/tmp/AbCdEf.1_2', jpps: 'jp.example.org:8900' }],
  ['glued with URL jpps', `jobid ${J}\nfile /d/xjpps https://jp:8900/`, { jobid: J, file: '/d/x', jpps: 'https://jp:8900/' }],
  ['path containing jpps but no host:port is a path', `jobid ${J}\nfile /d/jpps x`, { jobid: J, file: '/d/jpps x' }],
  ['leading blanks, CRLF, unknown keys', `  jobid ${J}\r\n\tfile /f\r\ncolour blue\r\n\r\n`, { jobid: J, file: '/f' }],
  ['value keeps inner blanks', `jobid ${J}\nfile /a b/c`, { jobid: J, file: '/a b/c' }],
  ['later key wins', `jobid ${J}\nfile /a\nfile /b`, { jobid: J, file: '/b' }],
];
for (const [name, body, want] of ok) {
  test(`parseUploadMessage accepts: ${name}`, () => assert.deepEqual(parseUploadMessage(Buffer.from(body)), want));
}

const bad: [string, string | Buffer, RegExp][] = [
  ['no jobid', 'file /f\n', /no jobid/],
  ['no file', `jobid ${J}\n`, /no file/],
  ['empty', '', /no jobid/],
  ['key without value', `jobid ${J}\nfile\n`, /line 2: key "file" has no value/],
  ['unknown key without value', `jobid ${J}\nfile /f\nfoo`, /line 3/],
  ['relative file', `jobid ${J}\nfile tmp/x`, /absolute/],
  ['bad jobid', 'jobid nope\nfile /f', /not a URL/],
  ['invalid UTF-8', Buffer.from([0x6a, 0xff]), /UTF-8/],
  ['too large', 'x'.repeat(70_000), /limit/],
];
for (const [name, body, want] of bad) {
  test(`parseUploadMessage refuses: ${name}`, () => {
    assert.throws(() => parseUploadMessage(Buffer.from(body)), (e: unknown) => isJpError(e, 'JP_MALFORMED_MESSAGE') && want.test(e.message));
  });
}

test('formatUploadMessage writes each key on its own line and round-trips', () => {
  const m: UploadMessage = { jobid: J, file: '/s/x', jpps: 'h:1', proxy: '/p' };
  const s = formatUploadMessage(m);
  assert.equal(s, `jobid\t${J}\nfile\t/s/x\nproxy\t/p\njpps\th:1\n`);
  assert.deepEqual(parseUploadMessage(Buffer.from(s)), m);
  assert.throws(() => formatUploadMessage({ jobid: J, file: '/a\nb' }), /one line/);
});

test('parseKeyValues ignores unknown keys', () => {
  assert.deepEqual(parseKeyValues(Buffer.from('a 1\nb 2')), {});
});
