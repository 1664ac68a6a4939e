/**
 * The native GridFTP client (src/gridftp) against the real Globus GridFTP
 * server from Debian (test/helpers/gridftp-server.ts), with a grid PKI of
 * its own (test/helpers/grid-certs.ts): GSI authentication over TLS 1.3
 * and 1.2, uploads with every data channel setting (DCAU A — sent as
 * DCAU S <own subject> — with PROT C and PROT P, DCAU N), compared byte for
 * byte and fetched back with globus-url-copy (sha256); MKD of missing
 * levels; SIZE; resuming a cut upload with ESTO A and with REST + STOR;
 * and the refusals, each with its clear reason: an unmapped subject (530),
 * a client certificate the server does not trust, a server certificate
 * from an unknown CA, a wrong host name (accepted when the expected
 * subject is named), and a server that never answers (timeout, nothing
 * left open). Skipped with the reason printed when the server is missing.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { isJpError, JpError } from '../../src/core/errors.js';
import { FtpReplyError } from '../../src/core/ftp-reply.js';
import { GridFtpClient, type GridFtpOptions } from '../../src/gridftp/client.js';
import { loadCredentials, type Credentials } from '../../src/primary/credentials.js';
import { caDirRevoking, CLIENT_SUBJECT, gridCerts, HOST_SUBJECT, STRANGER_SUBJECT, WRONGHOST_SUBJECT, type GridCertPair, type GridCerts } from '../helpers/grid-certs.js';
import { findGlobusUrlCopy, globusUrlCopy, gridftpSuiteSkip, startGridftpServer, type GridftpServer } from '../helpers/gridftp-server.js';
import { peerMissing } from '../helpers/peers.js';
import { tempDir } from '../helpers/tmp.js';

const skip = gridftpSuiteSkip();

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** Cleanups of servers started in before(): run by the suite's after(). */
const cleanups: Array<() => Promise<void> | void> = [];
const hooks = { after: (fn: () => Promise<void> | void): void => void cleanups.push(fn), skip: (): void => undefined };
after(async () => {
  for (const fn of cleanups.splice(0)) await fn();
});

async function creds(certs: GridCerts, pair: GridCertPair, caPath = certs.caDir): Promise<Credentials> {
  return loadCredentials({ certFile: pair.cert, keyFile: pair.key, caPath });
}

/** A source that hands out `data` in chunks and, after `cutAfter` bytes, fails (or runs `onCut`). */
function source(data: Buffer, opts: { chunk?: number; cutAfter?: number; onCut?: () => void } = {}): Readable {
  const chunk = opts.chunk ?? 256 * 1024;
  let pos = 0;
  return new Readable({
    highWaterMark: chunk,
    read() {
      if (opts.cutAfter !== undefined && pos >= opts.cutAfter) {
        if (opts.onCut !== undefined) opts.onCut();
        else this.destroy(new Error('source cut midway (test)'));
        return;
      }
      if (pos >= data.length) {
        this.push(null);
        return;
      }
      const end = Math.min(data.length, pos + chunk, opts.cutAfter ?? Infinity);
      this.push(data.subarray(pos, end));
      pos = end;
    },
  });
}

describe('GridFTP client against the real Globus GridFTP server', { skip }, () => {
  let certs: GridCerts;
  let server: GridftpServer;
  let mine: Credentials;
  const open: GridFtpClient[] = [];
  const connect = async (o: Partial<GridFtpOptions> = {}): Promise<GridFtpClient> => {
    const c = await GridFtpClient.connect({ host: 'localhost', port: server.port, credentials: mine, timeoutMs: 15_000, ...o });
    open.push(c);
    return c;
  };

  before(async () => {
    certs = await gridCerts();
    server = (await startGridftpServer(hooks)) as GridftpServer;
    mine = await creds(certs, certs.client);
  });
  after(() => {
    for (const c of open) c.destroy();
  });

  const variants: Array<{ name: string; opts: Partial<GridFtpOptions>; tls: string }> = [
    { name: 'DCAU A (default), PROT C, TLS 1.3', opts: {}, tls: 'TLSv1.3' },
    { name: 'DCAU A, PROT P, TLS 1.3', opts: { protection: 'P' }, tls: 'TLSv1.3' },
    { name: 'DCAU N, TLS 1.3', opts: { dcau: 'N' }, tls: 'TLSv1.3' },
    { name: 'DCAU A, PROT C, TLS 1.2', opts: { maxVersion: 'TLSv1.2' }, tls: 'TLSv1.2' },
    { name: 'DCAU A, PROT P, TLS 1.2', opts: { maxVersion: 'TLSv1.2', protection: 'P' }, tls: 'TLSv1.2' },
    { name: 'DCAU N, TLS 1.2, EPSV', opts: { maxVersion: 'TLSv1.2', dcau: 'N', passive: 'EPSV' }, tls: 'TLSv1.2' },
  ];
  for (const v of variants) {
    it(`authenticates and uploads: ${v.name}; the bytes arrive unchanged`, async () => {
      await server.explain(async () => {
        const c = await connect(v.opts);
        assert.equal(c.tlsProtocol, v.tls);
        assert.equal(c.serverSubject, HOST_SUBJECT);
        assert.equal(c.account, certs.account);
        const data = randomBytes(3 * 1024 * 1024 + 17);
        const path = join(server.root, `v-${v.name.replace(/[^a-z0-9]+/gi, '-')}`);
        const r = await c.upload(path, source(data), { size: data.length });
        assert.deepEqual(r, { size: data.length, command: 'STOR' });
        assert.ok((await readFile(path)).equals(data));
        // The same connection takes more uploads (an empty file too).
        const r2 = await c.upload(`${path}.empty`, source(Buffer.alloc(0)), { size: 0 });
        assert.equal(r2.size, 0);
        assert.equal((await readFile(`${path}.empty`)).length, 0);
        await c.close();
        assert.equal(c.usable, false);
      });
    });
  }

  it('what it uploaded is what globus-url-copy fetches back (sha256)', async (t) => {
    const guc = findGlobusUrlCopy();
    if ('missing' in guc) {
      peerMissing(t, guc.missing);
      return;
    }
    await server.explain(async () => {
      const c = await connect();
      const data = randomBytes(5 * 1024 * 1024 + 3);
      const path = join(server.root, 'cross-check');
      await c.upload(path, source(data), { size: data.length });
      await c.close();
      const local = join(await tempDir(t, 'jp-guc-'), 'back');
      const r = globusUrlCopy([server.url(path), `file://${local}`], certs.client, certs.caDir);
      assert.equal(r.status, 0, r.output);
      assert.equal(sha256(await readFile(local)), sha256(data));
    });
  });

  it('creates missing directory levels with MKD (and leaves existing ones)', async () => {
    await server.explain(async () => {
      const c = await connect();
      const data = randomBytes(1000);
      await mkdir(join(server.root, 'exists'));
      const path = join(server.root, 'exists', 'a', 'b', 'c', 'lb');
      const r = await c.upload(path, source(data), { size: data.length });
      assert.equal(r.size, 1000);
      assert.ok((await readFile(path)).equals(data));
      await c.mkdirs(join(server.root, 'exists', 'a', 'b', 'd'));
      await c.mkdirs(join(server.root, 'exists', 'a', 'b', 'd')); // again: already there
      await writeFile(join(server.root, 'exists', 'a', 'b', 'd', 'probe'), 'x');
      // Without mkdirs the refusal says what is wrong.
      await assert.rejects(c.upload(join(server.root, 'nodir', 'x'), source(data), { mkdirs: false }), (e: unknown) => {
        assert.ok(e instanceof FtpReplyError, String(e));
        assert.equal(e.meaning, 'no-such-path');
        assert.equal(e.ftpCode, 500);
        return true;
      });
      assert.equal(c.usable, true);
      await c.close();
    });
  });

  it('SIZE of an uploaded file, undefined for a missing one', async () => {
    await server.explain(async () => {
      const c = await connect();
      const path = join(server.root, 'sized');
      await c.upload(path, source(randomBytes(12_345)));
      assert.equal(await c.size(path), 12_345);
      assert.equal(await c.size(join(server.root, 'no-such-file')), undefined);
      await c.close();
    });
  });

  it('resumes a cut upload with ESTO A <offset> on the same connection: byte-identical', async () => {
    await server.explain(async () => {
      const c = await connect();
      const data = randomBytes(6 * 1024 * 1024 + 5);
      const path = join(server.root, 'resume-esto');
      await assert.rejects(c.upload(path, source(data, { cutAfter: 2 * 1024 * 1024 + 100 }), { size: data.length }), /cut midway|426|451/);
      assert.equal(c.usable, true, 'the control connection survives a cut data connection');
      const have = (await c.size(path)) ?? 0;
      assert.ok(have > 0 && have <= 2 * 1024 * 1024 + 100, `server holds ${have} bytes`);
      const r = await c.upload(path, source(data.subarray(have)), { offset: have, size: data.length });
      assert.deepEqual(r, { size: data.length, command: 'ESTO' });
      assert.ok((await readFile(path)).equals(data));
      await c.close();
    });
  });

  it('an upload aborted midway (connection dropped) resumes on a new connection with REST + STOR: byte-identical', async () => {
    await server.explain(async () => {
      const data = randomBytes(6 * 1024 * 1024 + 9);
      const path = join(server.root, 'resume-rest');
      const ac = new AbortController();
      const c1 = await connect({ signal: ac.signal, maxVersion: 'TLSv1.2', protection: 'P' });
      await assert.rejects(c1.upload(path, source(data, { cutAfter: 3 * 1024 * 1024, onCut: () => ac.abort() }), { size: data.length }), (e: unknown) =>
        isJpError(e, 'JP_ABORTED'),
      );
      assert.equal(c1.usable, false);
      const c2 = await connect({ resume: 'REST', protection: 'P' });
      // The old session may still be writing what it received: wait until its size settles.
      let have = -1;
      for (let i = 0; i < 100; i++) {
        const now = (await c2.size(path)) ?? 0;
        if (now === have) break;
        have = now;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(have > 0 && have <= 3 * 1024 * 1024, `server holds ${have} bytes`);
      const r = await c2.upload(path, source(data.subarray(have)), { offset: have, size: data.length });
      assert.deepEqual(r, { size: data.length, command: 'REST+STOR' });
      assert.ok((await readFile(path)).equals(data));
      await c2.close();
    });
  });

  it('a subject the grid-mapfile does not map: 530 with a clear reason', async () => {
    await server.explain(async () => {
      const stranger = await creds(certs, certs.stranger);
      await assert.rejects(GridFtpClient.connect({ host: 'localhost', port: server.port, credentials: stranger, timeoutMs: 15_000 }), (e: unknown) => {
        assert.ok(e instanceof FtpReplyError, String(e));
        assert.equal(e.ftpCode, 530);
        assert.equal(e.meaning, 'login-refused');
        assert.match(e.message, new RegExp(`the server's grid-mapfile does not map ${STRANGER_SUBJECT}`));
        return true;
      });
    });
  });

  it('a client certificate the server does not trust: the server refuses the handshake (JP_TLS, its reason kept)', async () => {
    await server.explain(async () => {
      const rogue = await creds(certs, certs.rogueClient, certs.serverCaDir);
      await assert.rejects(GridFtpClient.connect({ host: 'localhost', port: server.port, credentials: rogue, timeoutMs: 15_000 }), (e: unknown) => {
        assert.ok(isJpError(e, 'JP_TLS'), String(e));
        assert.equal(e.ftpCode, 530);
        assert.match(e.message, /refused the GSI handshake: the server does not trust our certificate/);
        return true;
      });
    });
  });

  it('a server certificate our CA directory\'s CRL revokes: refused, nothing sent', async () => {
    const revoking = await caDirRevoking([certs.host]);
    const withCrl = await creds(certs, certs.client, revoking);
    assert.equal(withCrl.revocation.count, 1);
    await assert.rejects(GridFtpClient.connect({ host: 'localhost', port: server.port, credentials: withCrl, timeoutMs: 15_000 }), (e: unknown) => {
      assert.ok(isJpError(e, 'JP_TLS'), String(e));
      assert.match(e.message, /certificate revoked: the certificate of the GridFTP server localhost \(\/C=CZ\/O=jp grid test\/CN=host\/localhost, serial [0-9A-F]+\) is listed in the CRL/);
      return true;
    });
  });

  it('the server\'s idle timeout (an unasked 421, then close): the connection is unusable and says why', async (t) => {
    const idle = (await startGridftpServer(t, { idleTimeout: 1 })) as GridftpServer;
    const c = await GridFtpClient.connect({ host: 'localhost', port: idle.port, credentials: mine, timeoutMs: 15_000 });
    t.after(() => c.destroy());
    for (let i = 0; i < 200 && c.usable; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(c.usable, false, 'the server closed the idle connection');
    await assert.rejects(c.size(join(idle.root, 'x')), (e: unknown) => {
      assert.ok(e instanceof FtpReplyError, String(e));
      assert.equal(e.ftpCode, 421);
      assert.equal(e.meaning, 'unavailable');
      assert.match(e.message, /Idle Timeout/);
      return true;
    });
  });

  it('an expected subject other than the server\'s: refused before anything is sent', async () => {
    await assert.rejects(connect({ expectedSubject: CLIENT_SUBJECT }), (e: unknown) => {
      assert.ok(isJpError(e, 'JP_TLS'), String(e));
      assert.match(e.message, new RegExp(`presented ${HOST_SUBJECT}, expected ${CLIENT_SUBJECT}`));
      return true;
    });
  });
});

describe('GridFTP client: the server\'s identity', { skip }, () => {
  it('a server certificate from an unknown CA: refused as untrusted', async (t) => {
    const certs = await gridCerts();
    const server = (await startGridftpServer(t, { hostCred: certs.rogueHost, caDir: certs.serverCaDir })) as GridftpServer;
    const mine = await creds(certs, certs.client);
    await server.explain(async () => {
      await assert.rejects(GridFtpClient.connect({ host: 'localhost', port: server.port, credentials: mine, timeoutMs: 15_000 }), (e: unknown) => {
        assert.ok(isJpError(e, 'JP_TLS'), String(e));
        assert.match(e.message, /untrusted GridFTP server certificate on the control channel of localhost:\d+: .*its CA must be in the CA directory/);
        return true;
      });
    });
  });

  it('a certificate naming another host: refused; accepted when its subject is the expected one', async (t) => {
    const certs = await gridCerts();
    const server = (await startGridftpServer(t, { hostCred: certs.wrongHost })) as GridftpServer;
    const mine = await creds(certs, certs.client);
    await server.explain(async () => {
      await assert.rejects(GridFtpClient.connect({ host: 'localhost', port: server.port, credentials: mine, timeoutMs: 15_000 }), (e: unknown) => {
        assert.ok(isJpError(e, 'JP_TLS'), String(e));
        assert.match(e.message, /wrong host name: the GridFTP server's certificate \/C=CZ\/O=jp grid test\/CN=host\/wrong\.example does not name localhost/);
        return true;
      });
      const c = await GridFtpClient.connect({ host: 'localhost', port: server.port, credentials: mine, timeoutMs: 15_000, expectedSubject: WRONGHOST_SUBJECT });
      try {
        assert.equal(c.serverSubject, WRONGHOST_SUBJECT);
        const data = randomBytes(70_000);
        const path = join(server.root, 'ds');
        await c.upload(path, source(data), { size: data.length });
        assert.ok((await readFile(path)).equals(data));
        await c.close();
      } finally {
        c.destroy();
      }
    });
  });
});

describe('GridFTP client: a server that never answers', () => {
  async function silent(greet: boolean): Promise<{ port: number; closed: Promise<void>; stop: () => Promise<void> }> {
    const sockets: Socket[] = [];
    let closedResolve: () => void = () => undefined;
    const closed = new Promise<void>((r) => (closedResolve = r));
    const srv = createServer((s) => {
      sockets.push(s);
      s.on('error', () => undefined);
      s.on('close', () => closedResolve());
      s.resume(); // read (and drop) what comes, so the end of the connection is seen
      if (greet) s.write('220 silent GridFTP Server ready.\r\n');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    return {
      port,
      closed,
      stop: async () => {
        for (const s of sockets) s.destroy();
        await new Promise((r) => srv.close(r));
      },
    };
  }

  for (const greet of [false, true]) {
    it(greet ? 'greets, then never answers AUTH: timeout, the connection closed' : 'accepts TCP but never greets: timeout, the connection closed', async (t) => {
      const certs = await gridCerts();
      const mine = await creds(certs, certs.client);
      const s = await silent(greet);
      t.after(s.stop);
      const started = Date.now();
      await assert.rejects(GridFtpClient.connect({ host: '127.0.0.1', port: s.port, credentials: mine, timeoutMs: 400 }), (e: unknown) => {
        assert.ok(isJpError(e, 'JP_TIMEOUT'), String(e));
        assert.match(e.message, greet ? /login: no answer within 400 ms/ : /greeting: no answer within 400 ms/);
        return true;
      });
      assert.ok(Date.now() - started < 10_000);
      // Our side closed its socket: the server saw it go.
      await s.closed;
    });
  }

  it('an AbortSignal stops connecting at once', async (t) => {
    const certs = await gridCerts();
    const mine = await creds(certs, certs.client);
    const s = await silent(true);
    t.after(s.stop);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(GridFtpClient.connect({ host: '127.0.0.1', port: s.port, credentials: mine, timeoutMs: 60_000, signal: ac.signal }), (e: unknown) => {
      assert.ok(e instanceof JpError && e.code === 'JP_ABORTED', String(e));
      return true;
    });
    await s.closed;
  });
});
