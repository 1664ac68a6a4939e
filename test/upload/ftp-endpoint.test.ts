import assert from 'node:assert/strict';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { Client, FTPError } from 'basic-ftp';
import { parseListen, startFtpEndpoint } from '../../src/primary-dev/ftp/index.js';
import { UploadRecords, uploadKey } from '../../src/primary-dev/ftp/verifier.js';
import { startTestFtp, type TestFtp } from '../helpers/ftp.js';
import { tempDir } from '../helpers/tmp.js';

async function login(t: TestContext, ftp: TestFtp): Promise<Client> {
  const c = new Client(10_000);
  t.after(() => c.close());
  await c.access({ host: '127.0.0.1', port: ftp.port });
  return c;
}

const from = (s: string | Buffer): Readable => Readable.from([Buffer.from(s)]);

async function ftpCode(p: Promise<unknown>): Promise<number | undefined> {
  return p.then(() => undefined, (e: unknown) => (e instanceof FTPError ? e.code : -1));
}

describe('FTP endpoint', { timeout: 60_000 }, () => {
  it('serves <dataDir>/files on 127.0.0.1 and records completed uploads', async (t) => {
    const ftp = await startTestFtp(t);
    assert.equal(ftp.filesDir, join(ftp.dataDir, 'files'));
    assert.match(ftp.url, /^ftp:\/\/127\.0\.0\.1:\d+$/);
    const c = await login(t, ftp);
    await c.uploadFrom(from('hello'), '/a.txt');
    assert.equal(await readFile(join(ftp.filesDir, 'a.txt'), 'utf8'), 'hello');
    assert.deepEqual(ftp.verifier.completed('a.txt'), { bytes: 5 });
    assert.deepEqual(ftp.verifier.completed('/a.txt'), { bytes: 5 });
    assert.equal(ftp.verifier.completed('b.txt'), undefined);
    assert.equal(await c.size('/a.txt'), 5);
  });

  it('answers SIZE of an empty file with 0 (ftp-srv alone says "213 File status")', async (t) => {
    const ftp = await startTestFtp(t);
    const c = await login(t, ftp);
    await c.uploadFrom(from(''), '/empty');
    assert.equal(await c.size('/empty'), 0);
  });

  it('REST + STOR keeps the bytes before the offset; APPE appends', async (t) => {
    const ftp = await startTestFtp(t);
    const c = await login(t, ftp);
    await c.uploadFrom(from('0123456789'), '/r');
    await c.send('REST 4');
    await c.uploadFrom(from('abc'), '/r');
    assert.equal(await readFile(join(ftp.filesDir, 'r'), 'utf8'), '0123abc789');
    await c.appendFrom(from('XY'), '/r');
    assert.equal(await readFile(join(ftp.filesDir, 'r'), 'utf8'), '0123abc789XY');
    assert.deepEqual(ftp.verifier.completed('r'), { bytes: 12 });
    const s = ftp.stats();
    assert.deepEqual([s.stor, s.rest, s.appe], [2, 1, 1]);
  });

  it('does not create parent directories on STOR; MKD does and answers the client path', async (t) => {
    const ftp = await startTestFtp(t);
    const c = await login(t, ftp);
    assert.equal(await ftpCode(c.uploadFrom(from('x'), '/no/such/dir/f')), 550);
    const res = await c.send('MKD /no/such/dir');
    assert.equal(res.code, 257);
    assert.ok(!res.message.includes(ftp.dataDir), 'the server path is not revealed');
    await c.uploadFrom(from('x'), '/no/such/dir/f');
    assert.deepEqual(ftp.verifier.completed('no/such/dir/f'), { bytes: 1 });
  });

  it('keeps clients inside the root: .. is clamped, symlinks leading out are refused', async (t) => {
    const ftp = await startTestFtp(t);
    const outside = await tempDir(t, 'jp-ftp-outside-');
    await writeFile(join(outside, 'secret'), 'secret');
    await symlink(outside, join(ftp.filesDir, 'escape'));
    const c = await login(t, ftp);
    await c.uploadFrom(from('in'), '/../../x');
    assert.equal(await readFile(join(ftp.filesDir, 'x'), 'utf8'), 'in', '/../../x lands in the root');
    assert.equal(await ftpCode(c.uploadFrom(from('out'), '/escape/new')), 550);
    assert.equal(await ftpCode(c.size('/escape/secret')), 550);
    assert.equal(await ftpCode(c.cd('/escape')), 550);
    assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'secret');
  });

  it('dropAfterBytes breaks off the next transfer only, keeping what arrived; 0 means off', async (t) => {
    const ftp = await startTestFtp(t);
    const c = await login(t, ftp);
    ftp.setHooks({ dropAfterBytes: 0 });
    await c.uploadFrom(from('not dropped'), '/zero');
    assert.deepEqual(ftp.verifier.completed('zero'), { bytes: 11 });
    ftp.setHooks({ dropAfterBytes: 100_000 });
    await assert.rejects(c.uploadFrom(from(Buffer.alloc(1_000_000, 1)), '/d'));
    assert.equal(ftp.verifier.completed('d'), undefined);
    assert.equal(ftp.records.state('d')?.state, 'failed');
    const c2 = await login(t, ftp);
    assert.equal(await c2.size('/d'), 100_000);
    await c2.uploadFrom(from('whole'), '/d2');
    assert.deepEqual(ftp.verifier.completed('d2'), { bytes: 5 }, 'the hook was used up');
  });

  it('refuseLogins answers 530 and counts', async (t) => {
    const ftp = await startTestFtp(t);
    ftp.setHooks({ refuseLogins: true });
    const c = new Client(10_000);
    t.after(() => c.close());
    assert.equal(await ftpCode(c.access({ host: '127.0.0.1', port: ftp.port })), 530);
    assert.equal(ftp.stats().refusedLogins, 1);
    ftp.setHooks({});
    await c.access({ host: '127.0.0.1', port: ftp.port });
    assert.equal(ftp.stats().logins, 1);
  });

  it('leaves no signal handlers behind (ftp-srv installs process.exit ones)', async (t) => {
    const before = ['SIGTERM', 'SIGINT', 'SIGQUIT'].map((s) => process.listenerCount(s));
    const dir = await tempDir(t, 'jp-ftp-sig-');
    const ep = await startFtpEndpoint({ listen: '127.0.0.1:0', dataDir: dir });
    await ep.close();
    await ep.close();
    assert.deepEqual(['SIGTERM', 'SIGINT', 'SIGQUIT'].map((s) => process.listenerCount(s)), before);
  });

  it('a late end of an older transfer does not overwrite the newer record', () => {
    const r = new UploadRecords();
    const old = r.begin('p', 'STOR', 0);
    const cur = r.begin('/p', 'APPE', 10);
    r.complete('p', 20, cur);
    r.fail('p', 'old one broke', old);
    assert.deepEqual(r.completed('p'), { bytes: 20 });
  });
});

describe('uploadKey', () => {
  const table: Array<[string, string | undefined]> = [
    ['a/b', 'a/b'],
    ['/a/b', 'a/b'],
    ['//a//b/', 'a/b'],
    ['a/./b', 'a/b'],
    ['a/../b', 'b'],
    ['../a', 'a'], // clamped at the root, as the server does
    ['/../a', 'a'],
    ['', undefined],
    ['/', undefined],
    ['a\0b', undefined],
  ];
  for (const [input, want] of table) {
    it(`${JSON.stringify(input)} → ${JSON.stringify(want)}`, () => assert.equal(uploadKey(input), want));
  }
});

describe('parseListen', () => {
  const good: Array<[string, { host: string; port: number }]> = [
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['localhost:2121', { host: 'localhost', port: 2121 }],
    ['[::1]:21', { host: '::1', port: 21 }],
    [':0', { host: '127.0.0.1', port: 0 }],
  ];
  for (const [input, want] of good) it(`accepts ${input}`, () => assert.deepEqual(parseListen(input), want));
  for (const bad of ['127.0.0.1', '127.0.0.1:65536', 'host:port', '', ':', '1.2.3.4:-1']) {
    it(`refuses ${JSON.stringify(bad)}`, () => assert.throws(() => parseListen(bad), /expected host:port/));
  }
});

describe('FTP endpoint directory setup', () => {
  it('creates <dataDir>/files', async (t) => {
    const dir = await tempDir(t, 'jp-ftp-mk-');
    await mkdir(join(dir, 'sub'));
    const ep = await startFtpEndpoint({ listen: '127.0.0.1:0', dataDir: join(dir, 'sub', 'new') });
    t.after(() => ep.close());
    assert.equal(ep.filesDir, join(dir, 'sub', 'new', 'files'));
    assert.ok(ep.port > 0);
  });
});
