import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { classify } from '../../src/core/classify.js';
import { isJpError, JpError } from '../../src/core/errors.js';
import { FtpPool, parseFtpUrl, redactUrl } from '../../src/upload/ftp-pool.js';
import { uploadFile, type UploadSource } from '../../src/upload/ftp-upload.js';
import { startTestFtp, type TestFtp } from '../helpers/ftp.js';
import { tempDir } from '../helpers/tmp.js';
import { devCerts } from '../helpers/certs.js';

async function localFile(t: TestContext, bytes: number, name = 'dump'): Promise<{ path: string; data: Buffer; src: UploadSource }> {
  const dir = await tempDir(t, 'jp-upl-');
  const path = join(dir, name);
  const data = randomBytes(bytes);
  await writeFile(path, data);
  const handle = await open(path, 'r');
  t.after(() => handle.close().catch(() => undefined));
  return { path, data, src: { handle, size: bytes, path } };
}

function pool(t: TestContext, opts: ConstructorParameters<typeof FtpPool>[0] = {}): FtpPool {
  const p = new FtpPool({ timeoutMs: 10_000, ...opts });
  t.after(() => p.close());
  return p;
}

async function serverBytes(ftp: TestFtp, rel: string): Promise<Buffer> {
  return readFile(join(ftp.filesDir, rel));
}

/** PEM texts of the dev certificates (certs/make-dev-certs.sh via test/helpers/certs.ts). */
function testPki(): {
  ca: string; rogueCa: string;
  server: { cert: string; key: string }; client: { cert: string; key: string }; rogueClient: { cert: string; key: string };
} {
  const c = devCerts();
  const r = (f: string): string => readFileSync(f, 'utf8');
  return {
    ca: r(c.ca),
    rogueCa: r(c.rogueCa),
    server: { cert: r(c.server), key: r(c.serverKey) },
    client: { cert: r(c.client), key: r(c.clientKey) },
    rogueClient: { cert: r(c.rogueClient), key: r(c.rogueClientKey) },
  };
}

function tlsFtp(t: TestContext, requireClientCert = true): Promise<TestFtp> {
  const pki = testPki();
  return startTestFtp(t, { tls: { ...pki.server, ca: pki.ca }, implicitTls: true, requireClientCert });
}

/** A 127.0.0.1 port nobody listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('parseFtpUrl', () => {
  it('reads scheme, host, port, user, password and the decoded path', () => {
    assert.deepEqual(parseFtpUrl('ftps://u%40x:p%3Aw@[::1]:2121/a%20b/c'), {
      scheme: 'ftps', host: '::1', port: 2121, user: 'u@x', password: 'p:w', path: '/a b/c',
    });
    assert.deepEqual(parseFtpUrl('ftp://h/x'), { scheme: 'ftp', host: 'h', port: 21, user: 'anonymous', password: 'anonymous@', path: '/x' });
    assert.equal(parseFtpUrl('ftps://h/x').port, 990);
  });
  const bad: Array<[string, RegExp]> = [
    ['gsiftp://h/x', /scheme gsiftp: is not supported/],
    ['http://h/x', /not supported/],
    ['not a url', /is not a URL/],
    ['ftp://h/', /does not name a file/],
    ['ftp://h', /does not name a file/],
    ['ftp://h/dir/', /does not name a file/],
    ['ftp://h/%E0%A4%A', /bad %-escape/],
    ['ftp://h/a%0d%0aDELE%20x', /does not name a file/],
  ];
  for (const [url, re] of bad) {
    it(`refuses ${JSON.stringify(url)}`, () => {
      assert.throws(() => parseFtpUrl(url), (e: unknown) => isJpError(e, 'JP_BAD_REPLY') && re.test(e.message));
    });
  }
  it('redacts passwords', () => {
    assert.equal(redactUrl('ftp://u:secret@h:21/x'), 'ftp://u:***@h:21/x');
    assert.equal(redactUrl('ftp://h/x'), 'ftp://h/x');
  });
});

describe('uploadFile', { timeout: 60_000 }, () => {
  it('uploads a file over plain FTP, creating directories, byte for byte', async (t) => {
    const ftp = await startTestFtp(t);
    const { data, src } = await localFile(t, 3 * 1024 * 1024 + 17);
    const res = await uploadFile(pool(t), ftp.urlOf('jobs/abc/dump.lb'), src);
    assert.equal(res.bytes, data.length);
    assert.deepEqual(res.resumedFrom, []);
    assert.ok((await serverBytes(ftp, 'jobs/abc/dump.lb')).equals(data));
    assert.deepEqual(ftp.verifier.completed('/jobs/abc/dump.lb'), { bytes: data.length });
    assert.deepEqual(ftp.verifier.completed('jobs/abc/dump.lb'), { bytes: data.length });
  });

  it('uploads an empty file', async (t) => {
    const ftp = await startTestFtp(t);
    const { src } = await localFile(t, 0);
    await uploadFile(pool(t), ftp.urlOf('empty'), src);
    assert.deepEqual(ftp.verifier.completed('empty'), { bytes: 0 });
  });

  it('uploads over implicit TLS with a client certificate', async (t) => {
    const ftp = await tlsFtp(t);
    assert.match(ftp.url, /^ftps:\/\//);
    const pki = testPki();
    // More than the sender's buffers hold (4 × 512 KiB): they are reused under TLS too.
    const { data, src } = await localFile(t, 5 * 1024 * 1024 + 3);
    const p = pool(t, { tls: () => ({ ...pki.client, ca: pki.ca }) });
    await uploadFile(p, ftp.urlOf('tls/dump'), src);
    await uploadFile(p, ftp.urlOf('tls/dump2'), src);
    assert.ok((await serverBytes(ftp, 'tls/dump')).equals(data));
    assert.ok((await serverBytes(ftp, 'tls/dump2')).equals(data));
    assert.equal(ftp.stats().logins, 1);
  });

  it('refuses a server whose CA it does not trust: JP_TLS → retry', async (t) => {
    const ftp = await tlsFtp(t, false);
    const pki = testPki();
    const { src } = await localFile(t, 100);
    const p = pool(t, { tls: () => ({ ...pki.client, ca: pki.rogueCa }) });
    const err = await uploadFile(p, ftp.urlOf('x'), src).catch((e: unknown) => e);
    assert.ok(isJpError(err, 'JP_TLS'), String(err));
    assert.equal(classify(err).kind, 'retry');
    assert.equal(ftp.stats().logins, 0);
    assert.equal(ftp.verifier.completed('x'), undefined);
  });

  it('is refused by a server requiring a client certificate it does not trust: JP_TLS → retry', async (t) => {
    const ftp = await tlsFtp(t, true);
    const pki = testPki();
    const { src } = await localFile(t, 100);
    const p = pool(t, { tls: () => ({ ...pki.rogueClient, ca: pki.ca }) });
    const err = await uploadFile(p, ftp.urlOf('x'), src).catch((e: unknown) => e);
    assert.ok(isJpError(err, 'JP_TLS'), String(err));
    assert.match(err.message, /client certificate refused/);
    assert.equal(classify(err).kind, 'retry');
    assert.equal(ftp.stats().logins, 0);
  });

  it('reuses one pooled control connection for many files', async (t) => {
    const ftp = await startTestFtp(t);
    const p = pool(t);
    const { src } = await localFile(t, 64 * 1024);
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await uploadFile(p, ftp.urlOf(`many/f${i}`), src));
    assert.deepEqual(results.map((r) => r.reusedConnection), [false, true, true, true, true, true]);
    assert.equal(ftp.stats().connections, 1);
    assert.equal(ftp.stats().logins, 1);
    assert.equal(ftp.stats().completed, 6);
    assert.deepEqual(p.stats(), { connects: 1, reuses: 5, active: 0, idle: 1 });
  });

  it('opens at most maxPerHost connections to one origin', async (t) => {
    const ftp = await startTestFtp(t);
    const p = pool(t, { maxPerHost: 2 });
    const { src } = await localFile(t, 256 * 1024);
    await Promise.all(Array.from({ length: 8 }, (_, i) => uploadFile(p, ftp.urlOf(`par/f${i}`), src)));
    assert.equal(ftp.stats().completed, 8);
    assert.ok(ftp.stats().logins <= 2, `logins ${ftp.stats().logins}`);
    assert.ok(p.stats().connects <= 2);
  });

  it('resumes a transfer whose data connection dropped (APPE from the size the server kept)', async (t) => {
    const ftp = await startTestFtp(t);
    const p = pool(t);
    const { data, src } = await localFile(t, 4 * 1024 * 1024 + 5);
    ftp.setHooks({ dropAfterBytes: 1_000_000 });
    const res = await uploadFile(p, ftp.urlOf('r9/dump'), src);
    assert.deepEqual(res.resumedFrom, [1_000_000]);
    assert.equal(res.attempts, 2);
    const s = ftp.stats();
    assert.equal(s.appe, 1, 'resumed with APPE');
    assert.equal(s.stor, 1, 'the full file was not sent again');
    assert.equal(s.failed, 1);
    assert.ok((await serverBytes(ftp, 'r9/dump')).equals(data));
    assert.deepEqual(ftp.verifier.completed('r9/dump'), { bytes: data.length });
  });

  it('gives up after the bounded attempts when every transfer drops', async (t) => {
    const ftp = await startTestFtp(t);
    const p = pool(t);
    const { src } = await localFile(t, 2 * 1024 * 1024);
    ftp.setHooks({ dropAfterBytes: 1000, dropCount: 5 });
    const err = await uploadFile(p, ftp.urlOf('always/dump'), src, { attempts: 2 }).catch((e: unknown) => e);
    assert.ok(isJpError(err), String(err));
    assert.equal(classify(err).kind, 'retry');
    assert.equal(ftp.verifier.completed('always/dump'), undefined);
    assert.equal(ftp.stats().stor + ftp.stats().appe, 2);
  });

  it('login refused: JP_FTP 530 → retry later', async (t) => {
    const ftp = await startTestFtp(t);
    ftp.setHooks({ refuseLogins: true });
    const { src } = await localFile(t, 10);
    const err = await uploadFile(pool(t), ftp.urlOf('x'), src).catch((e: unknown) => e);
    assert.ok(isJpError(err, 'JP_FTP'), String(err));
    assert.equal(err.ftpCode, 530);
    assert.equal(classify(err).kind, 'retry');
    assert.equal(ftp.stats().refusedLogins, 1, 'not retried in place');
  });

  it('server down: JP_NETWORK → retry later', async (t) => {
    const port = await closedPort();
    const { src } = await localFile(t, 10);
    const err = await uploadFile(pool(t), `ftp://127.0.0.1:${port}/x`, src).catch((e: unknown) => e);
    assert.ok(isJpError(err, 'JP_NETWORK'), String(err));
    assert.match(err.message, /ECONNREFUSED/);
    assert.equal(classify(err).kind, 'retry');
  });

  it('a server that never answers: JP_TIMEOUT → retry later', async (t) => {
    const sockets = new Set<Socket>();
    const silent = createServer((s) => { sockets.add(s); }); // accepts and says nothing
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      silent.close(() => r());
    }));
    const { port } = silent.address() as AddressInfo;
    const { src } = await localFile(t, 10);
    const err = await uploadFile(pool(t, { timeoutMs: 200 }), `ftp://127.0.0.1:${port}/x`, src).catch((e: unknown) => e);
    assert.ok(isJpError(err, 'JP_TIMEOUT'), String(err));
    assert.equal(classify(err).kind, 'retry');
  });

  it('a client whose connection broke is not handed out again', async (t) => {
    const ftp = await startTestFtp(t);
    const p = pool(t);
    const target = parseFtpUrl(ftp.urlOf('x'));
    const a = await p.acquire(target);
    a.client.close();
    a.release();
    assert.equal(p.stats().idle, 0);
    const b = await p.acquire(target);
    assert.equal(b.reused, false);
    b.release();
    assert.equal(p.stats().connects, 2);
  });

  it('aborting stops the upload with JP_ABORTED', async (t) => {
    const ftp = await startTestFtp(t);
    const { src } = await localFile(t, 64 * 1024 * 1024);
    const ac = new AbortController();
    const pending = uploadFile(pool(t), ftp.urlOf('big'), src, { signal: ac.signal });
    setImmediate(() => ac.abort());
    const err = await pending.catch((e: unknown) => e);
    assert.ok(isJpError(err, 'JP_ABORTED'), String(err));
    assert.equal(ftp.verifier.completed('big'), undefined);
  });

  it('refuses an unsupported destination scheme without connecting', async (t) => {
    const { src } = await localFile(t, 10);
    const p = pool(t);
    const err = await uploadFile(p, 'gsiftp://127.0.0.1/x', src).catch((e: unknown) => e);
    assert.ok(err instanceof JpError && err.code === 'JP_BAD_REPLY');
    assert.equal(p.stats().connects, 0);
  });
});
