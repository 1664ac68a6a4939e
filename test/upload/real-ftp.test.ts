/**
 * The upload client against real FTP servers from Debian (test/helpers/
 * real-ftp.ts): vsftpd 3.0.3 (plain, FTPS with explicit TLS, TLS session
 * reuse and client certificates required), ProFTPD 1.3.8 and Pure-FTPd
 * 1.0.50 (plain and FTPS with explicit TLS required). Each of their
 * ways of failing that did not fit the classifier is reproduced against the
 * real server and its outcome checked exactly:
 *  - ProFTPD resets the data connection ~1 ms before its 550 to a refused
 *    STOR (missing directory, permission, AllowOverwrite off);
 *  - vsftpd writes a clear-text `500 OOPS` on the TLS control connection
 *    when a session dies;
 *  - a per-IP connection limit below the pool size (`421` at greeting);
 *  - "permission denied" as 553 (vsftpd, Pure-FTPd) or 550 (ProFTPD): one
 *    outcome.
 * Skipped with the reason printed when a server binary is missing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { classify } from '../../src/core/classify.js';
import type { Logger } from '../../src/core/log.js';
import { isJpError } from '../../src/core/errors.js';
import { FtpPool, parseFtpUrl } from '../../src/upload/ftp-pool.js';
import { uploadFile, type UploadSource } from '../../src/upload/ftp-upload.js';
import { devCerts } from '../helpers/certs.js';
import { startProftpd, startPureftpd, startVsftpd, type RealFtpServer } from '../helpers/real-ftp.js';
import { tempDir } from '../helpers/tmp.js';

async function localFile(t: TestContext, bytes: number, name = 'dump'): Promise<{ data: Buffer; src: UploadSource }> {
  const dir = await tempDir(t, 'jp-realftp-src-');
  const path = join(dir, name);
  const data = randomBytes(bytes);
  await writeFile(path, data);
  const handle = await open(path, 'r');
  t.after(() => handle.close().catch(() => undefined));
  return { data, src: { handle, size: bytes, path } };
}

function pool(t: TestContext, opts: ConstructorParameters<typeof FtpPool>[0] = {}): FtpPool {
  const p = new FtpPool({ timeoutMs: 10_000, ...opts });
  t.after(() => p.close());
  return p;
}

async function tlsPool(t: TestContext, opts: ConstructorParameters<typeof FtpPool>[0] = {}): Promise<FtpPool> {
  const c = devCerts();
  const [cert, key, ca] = await Promise.all([readFile(c.client, 'utf8'), readFile(c.clientKey, 'utf8'), readFile(c.ca, 'utf8')]);
  return pool(t, { explicitTls: true, tls: () => ({ cert, key, ca }), ...opts });
}

function vsftpdTls(): { cert: string; key: string; ca: string; requireClientCert: boolean } {
  const c = devCerts();
  return { cert: c.server, key: c.serverKey, ca: c.ca, requireClientCert: true };
}

/** A logger whose lines the test can read. */
function memoryLog(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { log: pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }), lines };
}

async function sameBytes(server: RealFtpServer, ftpPath: string, data: Buffer): Promise<void> {
  const got = await readFile(server.fileOf(ftpPath));
  assert.equal(got.length, data.length, `${ftpPath}: ${got.length} bytes on the server, ${data.length} sent`);
  assert.ok(got.equals(data), `${ftpPath}: bytes equal`);
}

async function until(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('vsftpd', { timeout: 120_000 }, () => {
  it('uploads plain FTP, creating the directory, reusing one control connection; bytes equal', async (t) => {
    const vs = await startVsftpd(t);
    if (vs === undefined) return;
    const p = pool(t);
    const { data, src } = await localFile(t, 700_001);
    const first = await uploadFile(p, vs.url('/up/job1/dump.lb'), src);
    const second = await uploadFile(p, vs.url('/up/job2/dump.lb'), src);
    assert.deepEqual([first.reusedConnection, second.reusedConnection], [false, true]);
    await sameBytes(vs, '/up/job1/dump.lb', data);
    await sameBytes(vs, '/up/job2/dump.lb', data);
    assert.equal(p.stats().connects, 1);
  });

  it('uploads over FTPS (explicit TLS, session reuse and a client certificate required); resumes into a partial file', async (t) => {
    const vs = await startVsftpd(t, { tls: vsftpdTls() });
    if (vs === undefined) return;
    const p = await tlsPool(t);
    const { data, src } = await localFile(t, 5 * 1024 * 1024 + 3);
    await uploadFile(p, vs.url('/up/tls/a'), src);
    await sameBytes(vs, '/up/tls/a', data);
    // An earlier attempt left the first 1,000,000 bytes: SIZE + APPE of the rest.
    await vs.writeFile('/up/tls/b', data.subarray(0, 1_000_000));
    const res = await uploadFile(p, vs.url('/up/tls/b'), src, { resume: true });
    assert.deepEqual(res.resumedFrom, [1_000_000]);
    await sameBytes(vs, '/up/tls/b', data);
    assert.equal(p.stats().connects, 1, 'one TLS control connection for both files');
  });

  it('a session that dies mid-transfer (500 OOPS in clear text on the TLS control connection) is retried in place and resumed', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('vsftpd runs its two-process sessions (whose privileged half writes 500 OOPS) only when started as root');
      return;
    }
    const vs = await startVsftpd(t, { tls: vsftpdTls(), maxRate: 2_000_000 });
    if (vs === undefined) return;
    const p = await tlsPool(t);
    const { log, lines } = memoryLog();
    const { data, src } = await localFile(t, 2_500_000);
    const pending = uploadFile(p, vs.url('/up/oops/dump'), src, { log });
    // Once the transfer is under way, kill the session's unprivileged process (as a crash would).
    await until(async () => ((await stat(vs.fileOf('/up/oops/dump')).catch(() => undefined))?.size ?? 0) > 200_000, 20_000, 'the transfer to start');
    const victims = vs.sessionProcesses().filter((s) => s.uid === vs.sessionUid);
    assert.ok(victims.length >= 1, `a session process running as uid ${vs.sessionUid}: ${JSON.stringify(vs.sessionProcesses())}`);
    for (const v of victims) process.kill(v.pid, 'SIGKILL');
    const res = await pending;
    assert.equal(res.attempts, 2, 'one retry in place');
    assert.equal(res.resumedFrom.length, 1);
    assert.ok((res.resumedFrom[0] ?? 0) > 0, `resumed from where the server stopped (${String(res.resumedFrom[0])})`);
    await sameBytes(vs, '/up/oops/dump', data);
    const broke = lines.filter((l) => l['msg'] === 'FTP upload broke off; reconnecting to resume');
    assert.equal(broke.length, 1);
    assert.match(String(broke[0]?.['reason']), /session failed/);
    assert.doesNotMatch(String(broke[0]?.['reason']), /TLS failed/);
  });

  it('a per-IP connection limit below the pool size shrinks the pool for that server: every file delivered', async (t) => {
    const vs = await startVsftpd(t, { maxPerIp: 2 });
    if (vs === undefined) return;
    const { log, lines } = memoryLog();
    const p = pool(t, { maxPerHost: 4, log });
    const { data, src } = await localFile(t, 20_000);
    const n = 40;
    const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => uploadFile(p, vs.url(`/up/limit/f${i}`), src)));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => String(r.reason));
    assert.deepEqual(failed, [], 'no upload failed');
    for (let i = 0; i < n; i++) await sameBytes(vs, `/up/limit/f${i}`, data);
    assert.equal(p.limitFor(parseFtpUrl(vs.url('/up/x'))), 2, 'the pool uses as many connections as the server allows');
    assert.ok(p.stats().connects <= 3, `connections made: ${p.stats().connects}`);
    const shrunk = lines.filter((l) => l['msg'] === 'the FTP server refuses more connections from us: using fewer');
    assert.ok(shrunk.length >= 1, 'the shrinking is logged');
    assert.equal(shrunk.at(-1)?.['connections'], 2);
  });

  it('permission denied (553 Could not create file): retry later with the reason, the server counted as answering', async (t) => {
    const vs = await startVsftpd(t);
    if (vs === undefined) return;
    await vs.mkdir('/up/ro', false);
    const { src } = await localFile(t, 1000);
    const err = await uploadFile(pool(t), vs.url('/up/ro/dump'), src).catch((e: unknown) => e);
    assert.ok(isJpError(err, 'JP_FTP'), String(err));
    assert.equal(err.ftpCode, 553);
    const o = classify(err);
    assert.equal(o.kind, 'retry');
    assert.equal(o.contact, 'answered');
    assert.match(o.reason, /553 Could not create file/);
    assert.match(o.reason, /permission|cannot create/i);
  });
});

describe('ProFTPD', { timeout: 120_000 }, () => {
  it('STOR into a missing directory (data connection reset before the 550): the directory is made and the upload succeeds', async (t) => {
    const pf = await startProftpd(t);
    if (pf === undefined) return;
    const p = pool(t);
    const { data, src } = await localFile(t, 300_000);
    const res = await uploadFile(p, pf.url('/up/newjob/dump.lb'), src);
    assert.equal(res.attempts, 1);
    await sameBytes(pf, '/up/newjob/dump.lb', data);
    // And again for a second job: the pool remembers to make the directory first.
    await uploadFile(p, pf.url('/up/newjob2/dump.lb'), src);
    await sameBytes(pf, '/up/newjob2/dump.lb', data);
  });

  it('STOR refused for permission (reset + 550 Permission denied): retry later with the reason, the server counted as answering', async (t) => {
    const pf = await startProftpd(t);
    if (pf === undefined) return;
    await pf.mkdir('/up/ro', false);
    const { src } = await localFile(t, 1000);
    const err = await uploadFile(pool(t), pf.url('/up/ro/dump'), src).catch((e: unknown) => e);
    assert.ok(isJpError(err, 'JP_FTP'), String(err));
    assert.equal(err.ftpCode, 550);
    const o = classify(err);
    assert.equal(o.kind, 'retry');
    assert.equal(o.contact, 'answered');
    assert.match(o.reason, /550 .*Permission denied/);
  });

  it('STOR over an existing file with AllowOverwrite off (reset + 550): retry later with the reason, the server counted as answering', async (t) => {
    const pf = await startProftpd(t, { noOverwriteDirs: ['/up/keep'] });
    if (pf === undefined) return;
    await pf.mkdir('/up/keep');
    const { src } = await localFile(t, 1000);
    await pf.writeFile('/up/keep/dump', 'already here');
    const err = await uploadFile(pool(t), pf.url('/up/keep/dump'), src).catch((e: unknown) => e);
    assert.ok(isJpError(err, 'JP_FTP'), String(err));
    assert.equal(err.ftpCode, 550);
    const o = classify(err);
    assert.equal(o.kind, 'retry');
    assert.equal(o.contact, 'answered');
    assert.match(o.reason, /Overwrite permission denied/);
    assert.equal(await readFile(pf.fileOf('/up/keep/dump'), 'utf8'), 'already here', 'the existing file is untouched');
  });
});

describe('Pure-FTPd', { timeout: 120_000 }, () => {
  it('uploads plain and over FTPS (explicit TLS required), making the directory; resumes into a partial file; bytes equal', async (t) => {
    const c = devCerts();
    const pu = await startPureftpd(t, { tls: { cert: c.server, key: c.serverKey } });
    if (pu === undefined) return;
    const p = await tlsPool(t);
    const { data, src } = await localFile(t, 3 * 1024 * 1024 + 1);
    await uploadFile(p, pu.url('/up/job/a'), src);
    await sameBytes(pu, '/up/job/a', data);
    await pu.writeFile('/up/job/b', data.subarray(0, 777_777));
    const res = await uploadFile(p, pu.url('/up/job/b'), src, { resume: true });
    assert.deepEqual(res.resumedFrom, [777_777]);
    await sameBytes(pu, '/up/job/b', data);
    assert.equal(p.stats().connects, 1);
  });

  it('permission denied (553 Can\'t open that file: Permission denied): retry later, the server counted as answering', async (t) => {
    const pu = await startPureftpd(t);
    if (pu === undefined) return;
    await pu.mkdir('/up/ro', false);
    const { src } = await localFile(t, 1000);
    const err = await uploadFile(pool(t), pu.url('/up/ro/dump'), src).catch((e: unknown) => e);
    assert.ok(isJpError(err, 'JP_FTP'), String(err));
    assert.equal(err.ftpCode, 553);
    const o = classify(err);
    assert.equal(o.kind, 'retry');
    assert.equal(o.contact, 'answered');
    assert.match(o.reason, /553 Can't open that file: Permission denied/);
  });

  it('a per-IP connection limit (-C 2, 421 Too many connections) below the pool size: every file delivered, pool shrunk', async (t) => {
    const pu = await startPureftpd(t, { maxPerIp: 2 });
    if (pu === undefined) return;
    const p = pool(t, { maxPerHost: 4 });
    const { data, src } = await localFile(t, 10_000);
    const n = 24;
    const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => uploadFile(p, pu.url(`/up/limit/f${i}`), src)));
    assert.deepEqual(results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => String(r.reason)), []);
    for (let i = 0; i < n; i++) await sameBytes(pu, `/up/limit/f${i}`, data);
    assert.equal(p.limitFor(parseFtpUrl(pu.url('/up/x'))), 2);
  });
});
