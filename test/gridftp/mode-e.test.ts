/**
 * Whole-file uploads in extended block mode (GridFtpClient.uploadWhole)
 * against the real Globus GridFTP server: several files over ONE cached,
 * authenticated data connection (proved by the client's count of data
 * connections it opened, the reuse flag of each upload, and the server
 * answering STOR without a PASV), byte-identical, with an empty file and a
 * file of exactly the transport's whole-file limit sent as several
 * blocks; every data channel setting (DCAU A — sent as DCAU S <own
 * subject> — with PROT C and PROT P, DCAU N) over TLS 1.3 and 1.2. A STOR
 * replaces a longer file; a data connection cut mid-transfer (its socket
 * destroyed, or the source failing) fails that upload, and the next one
 * sends the file whole over a new connection, byte-identical. Stream-mode
 * uploads (resumable) on the same control connection still work. The
 * sender's blocks, a stalled source (timeout) and a closed connection are
 * checked on a plain socket too (no Globus needed).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, connect as tcpConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { isJpError } from '../../src/core/errors.js';
import { GridFtpClient, type GridFtpOptions } from '../../src/gridftp/client.js';
import { sendBlocks } from '../../src/gridftp/mode-e-send.js';
import { EB_HEADER_SIZE, reassemble } from '../../src/gridftp/mode-e.js';
import { loadCredentials, type Credentials } from '../../src/primary/credentials.js';
import { GRIDFTP_WHOLE_MAX_BYTES } from '../../src/upload/gridftp-transport.js';
import { gridCerts } from '../helpers/grid-certs.js';
import { gridftpSuiteSkip, startGridftpServer, type GridftpServer } from '../helpers/gridftp-server.js';

const skip = gridftpSuiteSkip();
const cleanups: Array<() => Promise<void> | void> = [];
const hooks = { after: (fn: () => Promise<void> | void): void => void cleanups.push(fn), skip: (): void => undefined };
after(async () => {
  for (const fn of cleanups.splice(0)) await fn();
});

/** `data` in chunks of `chunk` bytes; after `cutAfter` bytes `onCut` runs (default: the source fails). */
function source(data: Buffer, opts: { chunk?: number; cutAfter?: number; onCut?: () => void } = {}): Readable {
  const chunk = opts.chunk ?? 256 * 1024;
  let pos = 0;
  let cut = false;
  return new Readable({
    highWaterMark: chunk,
    read() {
      if (opts.cutAfter !== undefined && pos >= opts.cutAfter && !cut) {
        cut = true;
        if (opts.onCut !== undefined) {
          opts.onCut();
          // Keep going: the sender must notice the dead connection itself.
        } else {
          this.destroy(new Error('source cut midway (test)'));
          return;
        }
      }
      if (pos >= data.length) {
        this.push(null);
        return;
      }
      const end = Math.min(data.length, pos + chunk, opts.cutAfter !== undefined && !cut ? opts.cutAfter : Infinity);
      this.push(data.subarray(pos, end));
      pos = end;
    },
  });
}

describe('MODE E sender on a plain socket', () => {
  it('writes each chunk as a block at its offset, then EOF|EOD, and leaves the connection open', async (t) => {
    const received: Buffer[] = [];
    let peer: Socket | undefined;
    const srv = createServer((s) => {
      peer = s;
      s.on('data', (d: Buffer) => received.push(d));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    const socket = tcpConnect({ host: '127.0.0.1', port });
    t.after(() => {
      socket.destroy();
      peer?.destroy();
      srv.close();
    });
    await new Promise<void>((r) => socket.once('connect', r));
    const data = { sink: socket, socket, destroy: () => socket.destroy() };
    const file = randomBytes(300_001);
    const sent = await sendBlocks(source(file, { chunk: 100_000 }), data, { timeoutMs: 5_000, host: '127.0.0.1' });
    assert.equal(sent, file.length);
    const empty = await sendBlocks(source(Buffer.alloc(0)), data, { timeoutMs: 5_000, host: '127.0.0.1' });
    assert.equal(empty, 0);
    const want = file.length + 4 * EB_HEADER_SIZE + EB_HEADER_SIZE;
    for (let i = 0; i < 200 && Buffer.concat(received).length < want; i++) await new Promise((r) => setTimeout(r, 10));
    const stream = Buffer.concat(received);
    assert.equal(stream.length, want, 'four data blocks (3 × 100 000 + 1 byte), EOF|EOD, then the empty file\'s EOF|EOD');
    const first = reassemble(stream);
    assert.ok(first.data.equals(file));
    assert.deepEqual({ eof: first.eof, eod: first.eod, connections: first.connections, rest: first.rest }, { eof: true, eod: true, connections: 1, rest: EB_HEADER_SIZE });
    const second = reassemble(stream.subarray(stream.length - first.rest));
    assert.deepEqual({ size: second.data.length, eof: second.eof, rest: second.rest }, { size: 0, eof: true, rest: 0 });
    assert.equal(socket.destroyed, false, 'the connection stays open for the next transfer');
    assert.ok(peer !== undefined && !peer.destroyed);
  });

  it('a source that stalls: JP_TIMEOUT once no byte moved for timeoutMs', async (t) => {
    const srv = createServer((s) => s.resume());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const socket = tcpConnect({ host: '127.0.0.1', port: (srv.address() as { port: number }).port });
    t.after(() => {
      socket.destroy();
      srv.close();
    });
    await new Promise<void>((r) => socket.once('connect', r));
    let pushed = false;
    const stalling = new Readable({
      read() {
        if (!pushed) this.push(randomBytes(1000));
        pushed = true; // then never again
      },
    });
    const started = Date.now();
    await assert.rejects(sendBlocks(stalling, { sink: socket, socket, destroy: () => socket.destroy() }, { timeoutMs: 300, host: '127.0.0.1' }), (e: unknown) =>
      isJpError(e, 'JP_TIMEOUT') && /no data moved for 300 ms/.test(e.message),
    );
    assert.ok(Date.now() - started < 5_000);
  });

  it('a connection the peer closes fails the sending', async (t) => {
    const srv = createServer((s) => s.destroy());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const socket = tcpConnect({ host: '127.0.0.1', port: (srv.address() as { port: number }).port });
    t.after(() => {
      socket.destroy();
      srv.close();
    });
    socket.on('error', () => undefined);
    await new Promise<void>((r) => socket.once('connect', r));
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(
      sendBlocks(source(randomBytes(8 * 1024 * 1024), { chunk: 1024 * 1024 }), { sink: socket, socket, destroy: () => socket.destroy() }, { timeoutMs: 5_000, host: '127.0.0.1' }),
      (e: unknown) => isJpError(e, 'JP_NETWORK') && /closed/.test(e.message),
    );
  });
});

describe('MODE E whole-file uploads against the real Globus GridFTP server', { skip }, () => {
  let server: GridftpServer;
  let mine: Credentials;
  const open: GridFtpClient[] = [];
  const connect = async (o: Partial<GridFtpOptions> = {}): Promise<GridFtpClient> => {
    const c = await GridFtpClient.connect({ host: 'localhost', port: server.port, credentials: mine, timeoutMs: 15_000, ...o });
    open.push(c);
    return c;
  };
  before(async () => {
    const certs = await gridCerts();
    server = (await startGridftpServer(hooks)) as GridftpServer;
    mine = await loadCredentials({ certFile: certs.client.cert, keyFile: certs.client.key, caPath: certs.caDir });
  });
  after(() => {
    for (const c of open) c.destroy();
  });
  /** What the server's log says so far: PASV/EPSV commands, and STORs answered on a cached data connection. */
  const serverSaid = async (): Promise<{ passive: number; reusing: number; markers: number }> => {
    const log = await server.log();
    return {
      passive: (log.match(/\[CLIENT\]: (PASV|EPSV)\b/g) ?? []).length,
      reusing: (log.match(/\[SERVER\]: 125 Beginning transfer; reusing existing data connection/g) ?? []).length,
      markers: (log.match(/\[SERVER\]: 11[12][ -]/g) ?? []).length,
    };
  };

  const variants: Array<{ name: string; opts: Partial<GridFtpOptions>; tls: string }> = [
    { name: 'DCAU A (default), PROT C, TLS 1.3', opts: {}, tls: 'TLSv1.3' },
    { name: 'DCAU A, PROT P, TLS 1.3', opts: { protection: 'P' }, tls: 'TLSv1.3' },
    { name: 'DCAU N, TLS 1.3', opts: { dcau: 'N' }, tls: 'TLSv1.3' },
    { name: 'DCAU A, PROT C, TLS 1.2', opts: { maxVersion: 'TLSv1.2' }, tls: 'TLSv1.2' },
    { name: 'DCAU A, PROT P, TLS 1.2', opts: { maxVersion: 'TLSv1.2', protection: 'P' }, tls: 'TLSv1.2' },
    { name: 'DCAU N, TLS 1.2, EPSV', opts: { maxVersion: 'TLSv1.2', dcau: 'N', passive: 'EPSV' }, tls: 'TLSv1.2' },
  ];
  for (const v of variants) {
    it(`several files over one data connection: ${v.name}; byte-identical, an empty file and one of exactly the limit`, async () => {
      await server.explain(async () => {
        const c = await connect(v.opts);
        assert.equal(c.tlsProtocol, v.tls);
        const sizes = [65_536, 0, 1, GRIDFTP_WHOLE_MAX_BYTES, 65_536 + 17, 300_000, 0, 5];
        const dir = join(server.root, `e-${v.name.replace(/[^a-z0-9]+/gi, '-')}`);
        await mkdir(dir);
        const before = await serverSaid();
        for (const [i, size] of sizes.entries()) {
          const data = randomBytes(size);
          const path = join(dir, `f${i}`);
          const r = await c.uploadWhole(path, source(data, { chunk: 128 * 1024 }), { size });
          assert.deepEqual(r, { size, command: 'STOR', mode: 'E', reusedData: i > 0 }, `file ${i} (${size} bytes)`);
          assert.ok((await readFile(path)).equals(data), `file ${i} (${size} bytes) arrived unchanged`);
        }
        assert.equal(c.dataConnections, 1, 'one data connection (one handshake) for all files');
        // The server's own account (its log of the dialogue): one PASV, every later STOR answered on the cached connection.
        const now = await serverSaid();
        assert.equal(now.passive - before.passive, 1, 'one PASV/EPSV in the server log');
        assert.equal(now.reusing - before.reusing, sizes.length - 1, '125 … reusing existing data connection for every later file');
        assert.equal(now.markers - before.markers, 0, 'no 111/112 markers after TREV PERF 0, TREV RESTART 0');
        assert.equal(c.dataSocket?.destroyed, false, 'kept open for the next file');
        await c.close();
        assert.equal(c.dataSocket, undefined);
      });
    });
  }

  it('STOR in MODE E replaces a longer file (truncates); the server reuses the connection without a PASV', async () => {
    await server.explain(async () => {
      const c = await connect();
      const path = join(server.root, 'replace');
      await writeFile(path, randomBytes(500_000));
      const first = randomBytes(1000);
      await c.uploadWhole(path, source(first), { size: first.length });
      assert.ok((await readFile(path)).equals(first));
      const shorter = randomBytes(10);
      const r = await c.uploadWhole(path, source(shorter), { size: shorter.length });
      assert.equal(r.reusedData, true);
      assert.ok((await readFile(path)).equals(shorter));
      assert.equal(c.dataConnections, 1);
      await c.close();
    });
  });

  it('the cached data socket destroyed mid-transfer: that upload fails, the next sends the file whole over a new connection, byte-identical', async () => {
    await server.explain(async () => {
      const c = await connect();
      const warm = randomBytes(2000);
      await c.uploadWhole(join(server.root, 'warm'), source(warm), { size: warm.length });
      const cached = c.dataSocket;
      assert.ok(cached !== undefined);
      const data = randomBytes(GRIDFTP_WHOLE_MAX_BYTES);
      const path = join(server.root, 'cut-socket');
      await assert.rejects(
        c.uploadWhole(path, source(data, { chunk: 64 * 1024, cutAfter: 512 * 1024, onCut: () => cached.destroy() }), { size: data.length }),
        (e: unknown) => isJpError(e) && /closed|426|451|transfer/i.test(e.message),
      );
      assert.equal(c.usable, true, 'the control connection survives a cut data connection');
      assert.equal(c.dataSocket, undefined, 'the cut connection is not kept');
      const r = await c.uploadWhole(path, source(data, { chunk: 64 * 1024 }), { size: data.length });
      assert.deepEqual(r, { size: data.length, command: 'STOR', mode: 'E', reusedData: false });
      assert.ok((await readFile(path)).equals(data));
      assert.equal(c.dataConnections, 2);
      // …and the new connection is cached in turn.
      const after = randomBytes(3);
      assert.equal((await c.uploadWhole(join(server.root, 'after-cut'), source(after), { size: 3 })).reusedData, true);
      await c.close();
    });
  });

  it('the source failing mid-transfer on a new data connection: the next upload sends the file whole, byte-identical', async () => {
    await server.explain(async () => {
      const c = await connect({ maxVersion: 'TLSv1.2', protection: 'P' });
      const data = randomBytes(900_000);
      const path = join(server.root, 'cut-source');
      await assert.rejects(c.uploadWhole(path, source(data, { chunk: 64 * 1024, cutAfter: 300_000 }), { size: data.length }), /cut midway/);
      assert.equal(c.usable, true);
      const r = await c.uploadWhole(path, source(data), { size: data.length });
      assert.equal(r.reusedData, false);
      assert.ok((await readFile(path)).equals(data));
      await c.close();
    });
  });

  it('stream-mode uploads (resumable) and MODE E uploads take turns on one control connection; MKD of a missing directory', async () => {
    await server.explain(async () => {
      const c = await connect();
      const small = randomBytes(70_000);
      const big = randomBytes(3 * 1024 * 1024 + 1);
      const base = join(server.root, 'mixed', 'a', 'b');
      assert.equal((await c.uploadWhole(join(base, 's1'), source(small), { size: small.length })).mode, 'E');
      assert.deepEqual(await c.upload(join(base, 'big'), source(big), { size: big.length }), { size: big.length, command: 'STOR' });
      const r = await c.uploadWhole(join(base, 's2'), source(small), { size: small.length });
      assert.deepEqual({ mode: r.mode, reusedData: r.reusedData }, { mode: 'E', reusedData: false }, 'leaving MODE E drops the cached connection');
      for (const [name, data] of [['s1', small], ['big', big], ['s2', small]] as const) assert.ok((await readFile(join(base, name))).equals(data), name);
      // s1's first STOR (refused: no such directory, before MKD), s1, big (stream mode), s2.
      assert.equal(c.dataConnections, 4);
      await c.close();
    });
  });

  it('a refusal on the cached data connection (the path is a directory): the server\'s reason, and the next file goes through byte-identical', async () => {
    await server.explain(async () => {
      const c = await connect();
      const dir = join(server.root, 'is-a-dir');
      await mkdir(join(dir, 'sub'), { recursive: true });
      const data = randomBytes(5000);
      await c.uploadWhole(join(dir, 'first'), source(data), { size: data.length });
      await assert.rejects(c.uploadWhole(join(dir, 'sub'), source(data), { size: data.length }), (e: unknown) => {
        assert.ok(isJpError(e, 'JP_FTP'), String(e));
        assert.match(e.message, /STOR: server replied [45]\d\d/);
        return true;
      });
      assert.equal(c.usable, true);
      const r = await c.uploadWhole(join(dir, 'next'), source(data), { size: data.length });
      assert.equal(r.mode, 'E');
      assert.ok((await readFile(join(dir, 'next'))).equals(data));
      await c.close();
    });
  });

  it('a server SIZE other than the file\'s fails the upload (a short file is never taken as sent)', async () => {
    await server.explain(async () => {
      const c = await connect();
      const data = randomBytes(1000);
      await assert.rejects(c.uploadWhole(join(server.root, 'short'), source(data), { size: 1001 }), /holds 1000 bytes after the transfer, expected 1001/);
      assert.equal(c.usable, true);
      await c.close();
    });
  });
});
