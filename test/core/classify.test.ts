import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classify } from '../../src/core/classify.js';
import { describeError, JpError } from '../../src/core/errors.js';

const sys = (code: string) => Object.assign(new Error(`connect ${code}`), { code });
const cases: [string, unknown, { operation?: string }, 'delivered' | 'retry' | 'giveup'][] = [
  ['malformed message', new JpError('JP_MALFORMED_MESSAGE', 'one line'), {}, 'giveup'],
  ['bad name', new JpError('JP_BAD_MESSAGE_NAME', 'x'), {}, 'giveup'],
  ['path not allowed', new JpError('JP_PATH_NOT_ALLOWED', '/etc/shadow'), {}, 'giveup'],
  ['local file missing', new JpError('JP_LOCAL_FILE', 'ENOENT'), {}, 'giveup'],
  ['bad jobman request', new JpError('JP_BAD_REQUEST', 'x'), {}, 'giveup'],
  ['EEXIST on RegisterJob = delivered', new JpError('JP_SOAP_FAULT', 'File exists', { faultCode: 17 }), { operation: 'RegisterJob' }, 'delivered'],
  ['EEXIST on StartUpload = retry (upload in progress)', new JpError('JP_SOAP_FAULT', 'x', { faultCode: 17 }), { operation: 'StartUpload' }, 'retry'],
  ['ENOENT fault = retry', new JpError('JP_SOAP_FAULT', 'x', { faultCode: 2 }), { operation: 'CommitUpload' }, 'retry'],
  ['EPERM fault = give up', new JpError('JP_SOAP_FAULT', 'x', { faultCode: 1 }), { operation: 'CommitUpload' }, 'giveup'],
  ['EACCES fault = give up', new JpError('JP_SOAP_FAULT', 'x', { faultCode: 13 }), {}, 'giveup'],
  ['EINVAL fault = give up', new JpError('JP_SOAP_FAULT', 'x', { faultCode: 22 }), {}, 'giveup'],
  ['fault without code = retry', new JpError('JP_SOAP_FAULT', 'x'), {}, 'retry'],
  ['HTTP 503 = retry', new JpError('JP_HTTP_STATUS', 'x', { status: 503 }), {}, 'retry'],
  ['HTTP 404 = retry (configuration)', new JpError('JP_HTTP_STATUS', 'x', { status: 404 }), {}, 'retry'],
  ['HTTP 400 = give up', new JpError('JP_HTTP_STATUS', 'x', { status: 400 }), {}, 'giveup'],
  ['HTTP 413 = give up', new JpError('JP_HTTP_STATUS', 'x', { status: 413 }), {}, 'giveup'],
  ['FTP 421 = retry', new JpError('JP_FTP', 'x', { ftpCode: 421 }), {}, 'retry'],
  ['FTP 530 = retry (login)', new JpError('JP_FTP', 'x', { ftpCode: 530 }), {}, 'retry'],
  ['FTP 553 = give up', new JpError('JP_FTP', 'x', { ftpCode: 553 }), {}, 'giveup'],
  ['network', new JpError('JP_NETWORK', 'x'), {}, 'retry'],
  ['TLS', new JpError('JP_TLS', 'unknown CA'), {}, 'retry'],
  ['timeout', new JpError('JP_TIMEOUT', 'x'), {}, 'retry'],
  ['credentials', new JpError('JP_CREDENTIALS', 'x'), {}, 'retry'],
  ['bad reply', new JpError('JP_BAD_REPLY', 'x'), {}, 'retry'],
  ['database', new JpError('JP_DATABASE', 'x'), {}, 'retry'],
  ['aborted', new JpError('JP_ABORTED', 'x'), {}, 'retry'],
  ['forced temporary', new JpError('JP_BAD_REQUEST', 'x', { temporary: true }), {}, 'retry'],
  ['forced permanent', new JpError('JP_NETWORK', 'x', { temporary: false }), {}, 'giveup'],
  ['ECONNREFUSED', sys('ECONNREFUSED'), {}, 'retry'],
  ['ECONNRESET', sys('ECONNRESET'), {}, 'retry'],
  ['ENOSPC', sys('ENOSPC'), {}, 'retry'],
  ['unknown Error = retry', new Error('surprise'), {}, 'retry'],
  ['a thrown string = retry', 'weird', {}, 'retry'],
  ['undefined = retry', undefined, {}, 'retry'],
];
for (const [name, err, ctx, want] of cases) {
  test(`classify: ${name}`, () => {
    const o = classify(err, ctx);
    assert.equal(o.kind, want);
    if (o.kind !== 'delivered') assert.ok(o.reason.length > 0, 'a reason is always given');
  });
}

test('describeError shows the cause chain and system codes', () => {
  const inner = Object.assign(new Error('read failed'), { code: 'ECONNRESET' });
  const e = new JpError('JP_NETWORK', 'RegisterJob to https://h:1/', { cause: inner });
  assert.equal(describeError(e), 'RegisterJob to https://h:1/: read failed (ECONNRESET)');
});
