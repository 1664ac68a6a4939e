/**
 * gsiftp:// destinations through the upload transports (src/upload/
 * transport.ts → gridftp-transport.ts → gridftp-pool.ts) against the real
 * Globus GridFTP server: the file's bytes arrive unchanged, connections are
 * reused from file to file and dropped when the credentials are reloaded,
 * missing directories are made, a destination already holding part of the
 * file (an earlier attempt) gets only the rest, and a server that breaks
 * off mid-transfer fails the call with an error the classifier retries —
 * nothing left open. Small files (at most the whole-file limit) go in
 * MODE E over one cached data connection per control connection, are sent
 * whole even into a destination holding part of them, and a cut data
 * connection makes the call send the file whole again, byte-identical.
 * Other schemes are refused naming the ones served.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, readFile, writeFile, mkdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { classify } from '../../src/core/classify.js';
import { isJpError, JpError } from '../../src/core/errors.js';
import { loadCredentials, type Credentials } from '../../src/primary/credentials.js';
import { FtpPool } from '../../src/upload/ftp-pool.js';
import { FtpTransport } from '../../src/upload/ftp-transport.js';
import { GridFtpPool, parseGridftpUrl } from '../../src/upload/gridftp-pool.js';
import { GRIDFTP_WHOLE_MAX_BYTES, GridFtpTransport } from '../../src/upload/gridftp-transport.js';
import { SchemeTransports, type UploadSource } from '../../src/upload/transport.js';
import { gridCerts, type GridCerts } from '../helpers/grid-certs.js';
import { gridftpSuiteSkip, startGridftpServer, type GridftpServer } from '../helpers/gridftp-server.js';
import { tempDir } from '../helpers/tmp.js';

const skip = gridftpSuiteSkip();
const cleanups: Array<() => Promise<void> | void> = [];
const hooks = { after: (fn: () => Promise<void> | void): void => void cleanups.push(fn), skip: (): void => undefined };
after(async () => {
  for (const fn of cleanups.splice(0)) await fn();
});

describe('parseGridftpUrl', () => {
  const cases: Array<[string, { host: string; port: number; path: string } | RegExp]> = [
    ['gsiftp://jp.example.org:8911/home/jpps/data/ab/2850/x/lb', { host: 'jp.example.org', port: 8911, path: '/home/jpps/data/ab/2850/x/lb' }],
    ['gsiftp://jp.example.org/jpps/f', { host: 'jp.example.org', port: 2811, path: '/jpps/f' }],
    ['gsiftp://[::1]:2811/a%20b', { host: '::1', port: 2811, path: '/a b' }],
    ['gsiftp://user:secret@h:1/p', { host: 'h', port: 1, path: '/p' }],
    ['gsiftp://h:1/', /does not name a file/],
    ['gsiftp://h:1/dir/', /does not name a file/],
    ['gsiftp://h:1/a%0d%0aDELE%20x', /does not name a file/],
    ['gsiftp://h:1/%zz', /bad %-escape/],
    ['ftp://h/p', /not a gsiftp:\/\/ URL/],
    ['not a url', /is not a URL/],
  ];
  for (const [url, want] of cases) {
    it(url, () => {
      if (want instanceof RegExp) {
        assert.throws(() => parseGridftpUrl(url), (e: unknown) => isJpError(e, 'JP_BAD_REPLY') && want.test(e.message));
      } else {
        assert.deepEqual(parseGridftpUrl(url), want);
      }
    });
  }
});

describe('SchemeTransports', () => {
  it('refuses a scheme no transport serves, naming the ones served (never logging a password)', () => {
    const ftp = new FtpTransport(new FtpPool());
    const t = new SchemeTransports({ ftp, ftps: ftp });
    assert.throws(() => t.for('gsiftp://u:pw@h/x'), (e: unknown) => {
      assert.ok(isJpError(e, 'JP_BAD_REPLY'));
      assert.match(e.message, /scheme gsiftp: is not supported \(ftp:\/\/, ftps:\/\/\)/);
      assert.doesNotMatch(e.message, /pw/);
      return true;
    });
    assert.equal(t.for('FTP://h/x'), ftp);
  });
});

/** The file as an UploadSource (open for the whole test). */
async function sourceOf(t: { after: (fn: () => Promise<void>) => void }, path: string): Promise<UploadSource> {
  const handle = await open(path, 'r');
  t.after(() => handle.close());
  return { handle, size: (await handle.stat()).size, path };
}

describe('gsiftp:// through the upload transport, against the real Globus GridFTP server', { skip }, () => {
  let certs: GridCerts;
  let server: GridftpServer;
  let creds: Credentials;
  before(async () => {
    certs = await gridCerts();
    server = (await startGridftpServer(hooks)) as GridftpServer;
    creds = await loadCredentials({ certFile: certs.client.cert, keyFile: certs.client.key, caPath: certs.caDir });
  });

  const transport = (o: { credentials?: () => Promise<Credentials> } = {}): { pool: GridFtpPool; t: SchemeTransports } => {
    const pool = new GridFtpPool({ credentials: o.credentials ?? (async () => creds), timeoutMs: 15_000, maxPerHost: 2 });
    return { pool, t: new SchemeTransports({ gsiftp: new GridFtpTransport(pool) }) };
  };

  it('uploads files byte for byte, reusing one connection; makes missing directories; SIZE through the same pool', async (t) => {
    await server.explain(async () => {
      const local = await tempDir(t, 'jp-gt-');
      const { pool, t: tr } = transport();
      t.after(() => tr.close());
      for (const [i, size] of [[1, 3 * 1024 * 1024 + 1], [2, 0], [3, 65_536]] as const) {
        const data = randomBytes(size);
        const file = join(local, `f${i}`);
        await writeFile(file, data);
        const dest = server.url(join(server.root, 'data', 'd41d8cd98f00b204e9800998ecf8427e', '2850', `job${i}`, 'lb'));
        const r = await tr.upload(dest, await sourceOf(t, file));
        assert.deepEqual(r, { bytes: size, attempts: 1, resumedFrom: [], reusedConnection: i > 1 });
        assert.ok((await readFile(join(server.root, 'data', 'd41d8cd98f00b204e9800998ecf8427e', '2850', `job${i}`, 'lb'))).equals(data));
        assert.equal(await tr.size(dest), size);
      }
      assert.equal(await tr.size(server.url(join(server.root, 'nothing-here'))), undefined);
      assert.equal(pool.stats().connects, 1);
    });
  });

  it('resumes into a destination that holds part of the file (an earlier attempt): only the rest is sent, byte-identical', async (t) => {
    await server.explain(async () => {
      const local = await tempDir(t, 'jp-gt-');
      const { t: tr } = transport();
      t.after(() => tr.close());
      // Above the whole-file limit: stream mode, resumable.
      const data = randomBytes(GRIDFTP_WHOLE_MAX_BYTES + 333);
      const file = join(local, 'dump');
      await writeFile(file, data);
      const remote = join(server.root, 'resume', 'dump');
      await mkdir(join(server.root, 'resume'), { recursive: true });
      await writeFile(remote, data.subarray(0, 1_000_001));
      const r = await tr.upload(server.url(remote), await sourceOf(t, file), { resume: true });
      assert.deepEqual(r.resumedFrom, [1_000_001]);
      assert.ok((await readFile(remote)).equals(data));
      // Holding all of it already: nothing is sent again.
      const again = await tr.upload(server.url(remote), await sourceOf(t, file), { resume: true });
      assert.deepEqual(again.resumedFrom, [data.length]);
      // Holding more than ours (not our file): sent anew from the start.
      await writeFile(remote, Buffer.concat([data, Buffer.from('trailing garbage')]));
      const anew = await tr.upload(server.url(remote), await sourceOf(t, file), { resume: true });
      assert.deepEqual(anew.resumedFrom, [0]);
      assert.ok((await readFile(remote)).equals(data));
    });
  });

  it('reloaded credentials (a renewed certificate, a changed CRL): the pooled connection of the old ones is not reused', async (t) => {
    await server.explain(async () => {
      const local = await tempDir(t, 'jp-gt-');
      let current = creds;
      const { pool, t: tr } = transport({ credentials: async () => current });
      t.after(() => tr.close());
      const file = join(local, 'f');
      await writeFile(file, randomBytes(10_000));
      await tr.upload(server.url(join(server.root, 'gen', 'a')), await sourceOf(t, file));
      await tr.upload(server.url(join(server.root, 'gen', 'b')), await sourceOf(t, file));
      assert.deepEqual({ connects: pool.stats().connects, reuses: pool.stats().reuses }, { connects: 1, reuses: 1 });
      current = await loadCredentials({ certFile: certs.client.cert, keyFile: certs.client.key, caPath: certs.caDir });
      const r = await tr.upload(server.url(join(server.root, 'gen', 'c')), await sourceOf(t, file));
      assert.equal(r.reusedConnection, false);
      assert.equal(pool.stats().connects, 2);
    });
  });

  it('small files go whole in MODE E over one cached data connection; the limit 0 keeps stream mode', async (t) => {
    await server.explain(async () => {
      const local = await tempDir(t, 'jp-gt-');
      const { pool, t: tr } = transport();
      t.after(() => tr.close());
      const sizes = [65_536, 0, GRIDFTP_WHOLE_MAX_BYTES, 12_345, GRIDFTP_WHOLE_MAX_BYTES + 1, 7];
      for (const [i, size] of sizes.entries()) {
        const data = randomBytes(size);
        const file = join(local, `s${i}`);
        await writeFile(file, data);
        const remote = join(server.root, 'small', `job${i}`, 'dump');
        const r = await tr.upload(server.url(remote), await sourceOf(t, file));
        assert.deepEqual(r, { bytes: size, attempts: 1, resumedFrom: [], reusedConnection: i > 0 });
        assert.ok((await readFile(remote)).equals(data), `file ${i} (${size} bytes)`);
      }
      const lease = await pool.acquire(parseGridftpUrl(server.url(join(server.root, 'x'))));
      // Each file goes to a new directory: its first STOR is refused (then MKD), and a refusal drops the cached connection.
      // Files 0, 4 (stream mode, above the limit) and 5 open one for the refused STOR and one for the transfer; files 1–3
      // were refused on the cached one and open one new connection each.
      assert.equal(lease.client.dataConnections, 2 + 1 + 1 + 1 + 2 + 2);
      lease.release();
      assert.equal(pool.stats().connects, 1);

      const { pool: pool0 } = transport();
      const stream = new GridFtpTransport(pool0, { wholeMaxBytes: 0 });
      t.after(() => stream.close());
      await mkdir(join(server.root, 'stream0'), { recursive: true });
      for (const i of [1, 2]) {
        const file = join(local, `z${i}`);
        await writeFile(file, randomBytes(1000));
        await stream.upload(server.url(join(server.root, 'stream0', `z${i}`)), await sourceOf(t, file));
      }
      const l0 = await pool0.acquire(parseGridftpUrl(server.url(join(server.root, 'x'))));
      assert.equal(l0.client.dataConnections, 2, 'stream mode: one data connection per file');
      l0.release();
    });
  });

  it('a small file into a destination holding part of it (resume asked): sent whole, never resumed; byte-identical', async (t) => {
    await server.explain(async () => {
      const local = await tempDir(t, 'jp-gt-');
      const { t: tr } = transport();
      t.after(() => tr.close());
      const data = randomBytes(200_000);
      const file = join(local, 'dump');
      await writeFile(file, data);
      const remote = join(server.root, 'resume-small', 'dump');
      await mkdir(join(server.root, 'resume-small'), { recursive: true });
      for (const held of [data.subarray(0, 50_000), Buffer.concat([data, Buffer.from('longer')]), Buffer.alloc(data.length)]) {
        await writeFile(remote, held);
        const r = await tr.upload(server.url(remote), await sourceOf(t, file), { resume: true });
        assert.deepEqual(r.resumedFrom, []);
        assert.ok((await readFile(remote)).equals(data));
      }
    });
  });

  it('a small file whose cached data connection is cut mid-transfer: sent whole again within the call, byte-identical', async (t) => {
    await server.explain(async () => {
      const local = await tempDir(t, 'jp-gt-');
      const { pool, t: tr } = transport();
      t.after(() => tr.close());
      await mkdir(join(server.root, 'cut-small'), { recursive: true });
      const warm = join(local, 'warm');
      await writeFile(warm, randomBytes(100));
      await tr.upload(server.url(join(server.root, 'cut-small', 'warm')), await sourceOf(t, warm));
      const lease = await pool.acquire(parseGridftpUrl(server.url(join(server.root, 'x'))));
      const client = lease.client;
      lease.release();
      const data = randomBytes(GRIDFTP_WHOLE_MAX_BYTES);
      const file = join(local, 'cut');
      await writeFile(file, data);
      const src = await sourceOf(t, file);
      // The second read of the file (the first half is on its way): the data connection goes.
      const cutting: UploadSource = {
        ...src,
        handle: stallAfter(src.handle, 1, async () => {
          assert.ok(client.dataSocket !== undefined, 'a cached data connection in use');
          client.dataSocket.destroy();
        }),
      };
      const remote = join(server.root, 'cut-small', 'dump');
      const r = await tr.upload(server.url(remote), cutting, { attempts: 2 });
      assert.deepEqual({ attempts: r.attempts, resumedFrom: r.resumedFrom }, { attempts: 2, resumedFrom: [] });
      assert.ok((await readFile(remote)).equals(data));
      assert.equal(client.dataConnections, 2);
    });
  });

  it('a server killed mid-transfer: the call fails with an error the classifier retries; the connection is dropped, nothing hangs', async (t) => {
    const doomed = (await startGridftpServer(t)) as GridftpServer;
    const local = await tempDir(t, 'jp-gt-');
    const { pool, t: tr } = transport();
    t.after(() => tr.close());
    const file = join(local, 'big');
    await writeFile(file, randomBytes(8 * 1024 * 1024));
    const src = await sourceOf(t, file);
    // A source that stalls after 1 MiB until the server is gone.
    let killed: Promise<void> | undefined;
    const slow: UploadSource = { ...src, handle: stallAfter(src.handle, 1024 * 1024, () => (killed ??= doomed.stop())) };
    const started = Date.now();
    await assert.rejects(tr.upload(doomed.url(join(doomed.root, 'cut')), slow, { attempts: 2 }), (e: unknown) => {
      assert.ok(e instanceof JpError, String(e));
      const o = classify(e);
      assert.equal(o.kind, 'retry', `${e.message} → ${o.kind}`);
      return true;
    });
    await killed;
    assert.ok(Date.now() - started < 30_000);
    assert.equal(pool.stats().active, 0);
    assert.equal(pool.stats().idle, 0);
  });
});

/** A FileHandle whose reads past `limit` bytes first run `onLimit` (once) and wait for it. */
function stallAfter(handle: FileHandle, limit: number, onLimit: () => Promise<void>): FileHandle {
  let fired: Promise<void> | undefined;
  return new Proxy(handle, {
    get(target, prop, receiver) {
      if (prop === 'read') {
        return async (buf: Buffer, offset: number, length: number, position: number) => {
          if (position >= limit) {
            fired ??= onLimit();
            await fired;
          }
          return target.read(buf, offset, length, position);
        };
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
