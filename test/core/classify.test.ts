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

// What each error says about the destination (drives the worker's destination gate).
const contacts: [string, unknown, 'unreachable' | 'answered' | undefined][] = [
  ['network', new JpError('JP_NETWORK', 'x'), 'unreachable'],
  ['network, forced temporary (jobman forward)', new JpError('JP_NETWORK', 'x', { temporary: true }), 'unreachable'],
  ['TLS', new JpError('JP_TLS', 'unknown CA'), 'unreachable'],
  ['timeout', new JpError('JP_TIMEOUT', 'x'), 'unreachable'],
  ['credentials unusable', new JpError('JP_CREDENTIALS', 'x'), 'unreachable'],
  ['HTTP 502', new JpError('JP_HTTP_STATUS', 'x', { status: 502 }), 'unreachable'],
  ['HTTP 503', new JpError('JP_HTTP_STATUS', 'x', { status: 503 }), 'unreachable'],
  ['HTTP 504', new JpError('JP_HTTP_STATUS', 'x', { status: 504 }), 'unreachable'],
  ['HTTP 404', new JpError('JP_HTTP_STATUS', 'x', { status: 404 }), 'answered'],
  ['HTTP 400', new JpError('JP_HTTP_STATUS', 'x', { status: 400 }), 'answered'],
  ['FTP 421', new JpError('JP_FTP', 'x', { ftpCode: 421 }), 'unreachable'],
  ['FTP 530', new JpError('JP_FTP', 'x', { ftpCode: 530 }), 'answered'],
  ['FTP error without a code', new JpError('JP_FTP', 'x'), undefined],
  ['SOAP fault', new JpError('JP_SOAP_FAULT', 'x', { faultCode: 2 }), 'answered'],
  ['bad reply', new JpError('JP_BAD_REPLY', 'x'), 'answered'],
  ['malformed message', new JpError('JP_MALFORMED_MESSAGE', 'x'), undefined],
  ['path not allowed', new JpError('JP_PATH_NOT_ALLOWED', 'x'), undefined],
  ['local file', new JpError('JP_LOCAL_FILE', 'x'), undefined],
  ['database', new JpError('JP_DATABASE', 'x'), undefined],
  ['aborted', new JpError('JP_ABORTED', 'x'), undefined],
  ['ECONNREFUSED', sys('ECONNREFUSED'), 'unreachable'],
  ['EHOSTUNREACH', sys('EHOSTUNREACH'), 'unreachable'],
  ['ENOSPC (local)', sys('ENOSPC'), undefined],
  ['unknown Error', new Error('surprise'), undefined],
];
for (const [name, err, want] of contacts) {
  test(`classify contact: ${name} → ${String(want)}`, () => {
    const o = classify(err);
    assert.notEqual(o.kind, 'delivered');
    assert.equal(o.kind === 'delivered' ? 'answered' : o.contact, want);
  });
}

test('classify: EEXIST on RegisterJob is delivered (the destination answered)', () => {
  const o = classify(new JpError('JP_SOAP_FAULT', 'File exists', { faultCode: 17 }), { operation: 'RegisterJob' });
  assert.deepEqual(o, { kind: 'delivered', note: 'job already registered (EEXIST)' });
});
