import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classify } from '../../src/core/classify.js';
import { describeError, isJpError, JpError } from '../../src/core/errors.js';
import { ftpReplyMeaning, FtpReplyError, type FtpCommand, type FtpMeaning } from '../../src/core/ftp-reply.js';
import { retryableInPlace, toFtpJpError } from '../../src/upload/ftp-errors.js';

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

test('describeError does not repeat a cause its wrapper already quotes', () => {
  const net = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7'), { code: 'ECONNREFUSED' });
  assert.equal(describeError(new JpError('JP_NETWORK', `GridFTP connection to h:7: ${net.message}`, { cause: net })), 'GridFTP connection to h:7: connect ECONNREFUSED 127.0.0.1:7');
  const tls = Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  assert.equal(describeError(new JpError('JP_TLS', `untrusted: ${tls.message} (UNABLE_TO_VERIFY_LEAF_SIGNATURE); add its CA`, { cause: tls })),
    'untrusted: unable to verify the first certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE); add its CA');
});

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

// FTP refusals by meaning (src/core/ftp-reply.ts): the texts real servers send.
const replies: [string, number, string, FtpCommand, FtpMeaning][] = [
  ['vsftpd', 553, '553 Could not create file.', 'STOR', 'cannot-create'],
  ['vsftpd', 550, '550 Create directory operation failed.', 'MKD', 'other'],
  ['vsftpd', 550, '550 Failed to change directory.', 'CWD', 'no-such-path'],
  ['vsftpd', 421, '421 There are too many connections from your internet address.', 'greeting', 'too-many-connections'],
  ['vsftpd', 421, '421 There are too many connected users, please try later.', 'greeting', 'too-many-connections'],
  ['vsftpd', 500, '500 OOPS: priv_sock_get_cmd', 'STOR', 'session-failure'],
  ['vsftpd', 500, '500 OOPS: cannot change directory:/nonexistent', 'login', 'session-failure'],
  ['vsftpd', 500, '500 Unknown command.', 'SIZE', 'not-implemented'],
  ['vsftpd', 530, '530 Login incorrect.', 'login', 'login-refused'],
  ['vsftpd', 421, '421 Timeout.', 'STOR', 'unavailable'],
  ['vsftpd', 426, '426 Failure writing network stream.', 'STOR', 'transfer-failed'],
  ['vsftpd', 425, '425 Security: Bad IP connecting.', 'STOR', 'transfer-failed'],
  ['ProFTPD', 550, '550 /up/ro/dump: Permission denied', 'STOR', 'permission'],
  ['ProFTPD', 550, '550 /up/newjob/dump.lb: No such file or directory', 'STOR', 'no-such-path'],
  ['ProFTPD', 550, '550 dump: Overwrite permission denied', 'STOR', 'exists'],
  ['ProFTPD', 530, '530 Sorry, the maximum number of clients (2) from your host are already connected.', 'login', 'too-many-connections'],
  ['ProFTPD', 552, '552 Transfer aborted. Disk quota exceeded', 'STOR', 'no-space'],
  ['ProFTPD', 451, '451 Transfer aborted. Broken pipe', 'APPE', 'transfer-failed'],
  ['Pure-FTPd', 553, "553 Can't open that file: Permission denied", 'STOR', 'permission'],
  ['Pure-FTPd', 553, "553 Can't open that file: No such file or directory", 'STOR', 'no-such-path'],
  ['Pure-FTPd', 421, '421 Too many connections (2) from this IP', 'greeting', 'too-many-connections'],
  ['Pure-FTPd', 421, "421 I can't accept more than 2 connections as the same user", 'login', 'too-many-connections'],
  ['Pure-FTPd', 552, "552 Quota exceeded: [dump] won't be saved", 'STOR', 'no-space'],
  ['ftp-srv', 550, '550 cannot open /j/dump for writing (ENOENT)', 'STOR', 'no-such-path'],
  ['ftp-srv', 550, '550 cannot open /j/dump for writing (EACCES)', 'STOR', 'permission'],
  ['ftp-srv', 550, '550 data connection dropped by the test hook after 1000 bytes', 'STOR', 'other'],
  ['RFC 959', 553, '553 File name not allowed.', 'STOR', 'bad-name'],
  ['RFC 959', 501, '501 Syntax error in parameters or arguments.', 'STOR', 'bad-name'],
  ['RFC 959', 421, '421 Service not available, closing control connection.', 'greeting', 'unavailable'],
  ['RFC 959', 502, '502 Command not implemented.', 'APPE', 'not-implemented'],
];
for (const [server, code, text, command, want] of replies) {
  test(`FTP reply meaning: ${server} ${JSON.stringify(text)} to ${command} → ${want}`, () => {
    assert.equal(ftpReplyMeaning(code, text, command), want);
  });
}

// Outcome and contact of each meaning (the table next to the classifier).
const ftpOutcomes: [string, FtpReplyError, 'retry' | 'giveup', 'unreachable' | 'answered'][] = [
  ['permission as ProFTPD says it (550)', new FtpReplyError('up', 'STOR', { code: 550, text: '550 /x: Permission denied' }), 'retry', 'answered'],
  ['permission as Pure-FTPd says it (553)', new FtpReplyError('up', 'STOR', { code: 553, text: "553 Can't open that file: Permission denied" }), 'retry', 'answered'],
  ['vsftpd cannot create (553)', new FtpReplyError('up', 'STOR', { code: 553, text: '553 Could not create file.' }), 'retry', 'answered'],
  ['no such directory', new FtpReplyError('up', 'STOR', { code: 550, text: '550 /x: No such file or directory' }), 'retry', 'answered'],
  ['overwrite refused', new FtpReplyError('up', 'STOR', { code: 550, text: '550 x: Overwrite permission denied' }), 'retry', 'answered'],
  ['no space', new FtpReplyError('up', 'STOR', { code: 552, text: '552 Disk full' }), 'retry', 'answered'],
  ['name not allowed', new FtpReplyError('up', 'STOR', { code: 553, text: '553 File name not allowed.' }), 'giveup', 'answered'],
  ['bad argument', new FtpReplyError('up', 'STOR', { code: 501, text: '501 Syntax error in parameters or arguments.' }), 'giveup', 'answered'],
  ['too many connections (421 at greeting)', new FtpReplyError('up', 'greeting', { code: 421, text: '421 There are too many connections from your internet address.' }), 'retry', 'answered'],
  ['too many clients (530 at login)', new FtpReplyError('up', 'login', { code: 530, text: '530 Sorry, the maximum number of clients (2) from your host are already connected.' }), 'retry', 'answered'],
  ['service not available (421)', new FtpReplyError('up', 'greeting', { code: 421, text: '421 Service not available, closing control connection.' }), 'retry', 'unreachable'],
  ['500 OOPS', new FtpReplyError('up', 'STOR', { code: 500, text: '500 OOPS: priv_sock_get_cmd' }), 'retry', 'answered'],
  ['session failure without a readable reply', new FtpReplyError('up', 'STOR', { text: '', meaning: 'session-failure' }), 'retry', 'answered'],
  ['login refused', new FtpReplyError('up', 'login', { code: 530, text: '530 Login incorrect.' }), 'retry', 'answered'],
];
for (const [name, err, kind, contact] of ftpOutcomes) {
  test(`classify FTP: ${name} → ${kind}, ${contact}`, () => {
    const o = classify(err);
    assert.equal(o.kind, kind);
    assert.equal(o.contact, contact);
    assert.ok(o.reason.includes(err.reply), 'the reason quotes the server');
  });
}

test('the same permission refusal gets the same outcome whatever code the server chose', () => {
  const codes = [[550, '550 /up/x: Permission denied'], [553, "553 Can't open that file: Permission denied"], [553, '553 Could not create file.']] as const;
  const outcomes = codes.map(([code, text]) => {
    const o = classify(new FtpReplyError('up', 'STOR', { code, text }));
    return `${o.kind}/${o.kind === 'delivered' ? '' : String(o.contact)}`;
  });
  assert.deepEqual(outcomes, ['retry/answered', 'retry/answered', 'retry/answered']);
});

test('toFtpJpError: clear text on an established TLS control connection is a session failure (vsftpd 500 OOPS), not a TLS failure', () => {
  const sslErr = Object.assign(new Error('ssl3_get_record:wrong version number (control socket)'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' });
  const during = toFtpJpError(sslErr, 'FTP upload of f to ftp://h/x', { command: 'STOR', established: true });
  assert.ok(during instanceof FtpReplyError, String(during));
  assert.equal(during.meaning, 'session-failure');
  assert.match(during.message, /session failed/);
  assert.equal(retryableInPlace(during, 0), true);
  const o = classify(during);
  assert.equal(o.kind, 'retry');
  assert.equal(o.contact, 'answered');
  // The same error while connecting: the server does not speak TLS there.
  const connecting = toFtpJpError(sslErr, 'FTP AUTH TLS with ftp://h:21', { command: 'AUTH TLS' });
  assert.ok(isJpError(connecting, 'JP_TLS'), String(connecting));
  const c = classify(connecting);
  assert.equal(c.kind, 'retry');
  assert.equal(c.contact, 'unreachable');
});

test('retryableInPlace: transfer failures and session failures reconnect; refusals the server repeats do not', () => {
  const r = (code: number, text: string, sent: number): boolean => retryableInPlace(new FtpReplyError('up', 'STOR', { code, text }), sent);
  assert.equal(r(426, '426 Failure writing network stream.', 0), true);
  assert.equal(r(500, '500 OOPS: priv_sock_get_cmd', 100), true);
  assert.equal(r(421, '421 Timeout.', 0), true);
  assert.equal(r(550, '550 data connection dropped by the test hook after 1000 bytes', 1000), true, 'a transfer cut after data moved');
  assert.equal(r(550, '550 data connection dropped by the test hook after 1000 bytes', 0), false);
  assert.equal(r(550, '550 /x: Permission denied', 1000), false);
  assert.equal(r(550, '550 x: Overwrite permission denied', 0), false);
  assert.equal(r(552, '552 Disk full', 5000), false);
  assert.equal(r(553, '553 Could not create file.', 0), false);
});
