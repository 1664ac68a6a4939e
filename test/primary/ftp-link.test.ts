import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JpError } from '../../src/core/errors.js';
import { UPLOAD_KINDS } from '../../src/primary/api.js';
import { CLIENT_SUBJECT, devCerts } from '../helpers/certs.js';
import { startDevService } from '../helpers/primary-dev.js';
import { startPrimaryDev } from '../../src/primary-dev/index.js';
import { fileVerifier, isSafeRelPath } from '../../src/primary-dev/uploads.js';
import { makeDestinations } from '../../src/primary-dev/addresses.js';

const ftpModule = fileURLToPath(new URL('../../src/primary-dev/ftp/index.js', import.meta.url));
const haveFtp = existsSync(ftpModule);

describe('the FTP endpoint link', () => {
  it(haveFtp ? 'destinations point at the in-process FTP endpoint' : 'without the FTP module, --ftp-listen fails with a clear JP_CONFIG', async () => {
    if (!haveFtp) {
      const dir = await mkdtemp(join(tmpdir(), 'jp-ftp-link-'));
      const certs = devCerts();
      try {
        await assert.rejects(
          startPrimaryDev({ listen: '127.0.0.1:0', ftpListen: '127.0.0.1:0', certFile: certs.server, keyFile: certs.serverKey, caPath: certs.caDir, dataDir: dir }),
          (e: unknown) => e instanceof JpError && e.code === 'JP_CONFIG' && /not part of this build/.test(e.message),
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      return;
    }
    for (const ftps of [false, true]) {
      const svc = await startDevService({ ftpListen: '127.0.0.1:0', ftps });
      try {
        assert.equal(typeof svc.dev.ftpPort, 'number');
        const c = svc.client();
        const job = `https://lb.example.org:9000/ftpLink${ftps ? 'S' : ''}`;
        await c.registerJob(job, CLIENT_SUBJECT);
        const r = await c.startUpload({ job, ...UPLOAD_KINDS.dump, name: '', commitBefore: new Date(Date.now() + 60_000) });
        assert.equal(r.destination, `${ftps ? 'ftps' : 'ftp'}://127.0.0.1:${svc.dev.ftpPort}/ftpLink${ftps ? 'S' : ''}/lb`);
      } finally {
        await svc.close();
      }
    }
  });
});

describe('uploads through the in-process FTP endpoint', { skip: haveFtp ? false : 'src/primary-dev/ftp is not in this build' }, () => {
  it('StartUpload → FTP → CommitUpload; FTP hooks from the admin side are forwarded', async () => {
    const { Client } = await import('basic-ftp');
    const { Readable } = await import('node:stream');
    const svc = await startDevService({ ftpListen: '127.0.0.1:0' });
    const ftp = new Client(10_000);
    try {
      const c = svc.client();
      const job = 'https://lb.example.org:9000/ftpFlow';
      await c.registerJob(job, CLIENT_SUBJECT);
      const r = await c.startUpload({ job, ...UPLOAD_KINDS.dump, name: '', commitBefore: new Date(Date.now() + 60_000) });
      const path = new URL(r.destination).pathname;
      const login = { host: '127.0.0.1', port: svc.dev.ftpPort ?? 0, user: 'anonymous', password: 'jp@' };

      svc.dev.setHooks({ ftpRefuseLogins: true });
      await assert.rejects(ftp.access(login));
      ftp.close();
      svc.dev.setHooks({ ftpRefuseLogins: false, ftpDropAfterBytes: 1000 });
      await ftp.access(login);
      const data = Buffer.alloc(64 * 1024, 7);
      await assert.rejects(ftp.uploadFrom(Readable.from([data]), path));
      ftp.close();
      await assert.rejects(c.commitUpload(r.destination), (e: unknown) => e instanceof JpError && e.faultCode === 11);

      await ftp.access(login);
      await ftp.uploadFrom(Readable.from([data]), path);
      await c.commitUpload(r.destination);
      const commit = (await svc.readCalls()).find((l) => l.op === 'CommitUpload' && l.ok);
      assert.equal(commit?.bytes, data.length);
    } finally {
      ftp.close();
      await svc.close();
    }
  });
});

describe('destinations and the file verifier', () => {
  it('maps relative paths to URLs and back, also across a port change', () => {
    const d = makeDestinations('ftp://127.0.0.1:2121/');
    assert.equal(d.urlFor('AbC/out put.tar'), 'ftp://127.0.0.1:2121/AbC/out%20put.tar');
    assert.equal(d.relPathOf('ftp://127.0.0.1:2121/AbC/out%20put.tar'), 'AbC/out put.tar');
    assert.equal(d.relPathOf('ftp://127.0.0.1:9999/AbC/lb'), 'AbC/lb');
    // URL parsing resolves dot segments first: they cannot climb above the root
    assert.equal(d.relPathOf('ftp://h/../etc/passwd'), 'etc/passwd');
    assert.equal(d.relPathOf('ftp://h/a/%2e%2e/b'), 'b');
    for (const bad of ['ftps://127.0.0.1:2121/AbC/lb', 'ftp://h/a/%2F..%2Fb', 'ftp://h/a%00b', 'ftp://h/', 'not a url', 'ftp://h/a/%zz']) {
      assert.equal(d.relPathOf(bad), undefined, bad);
    }
    const sub = makeDestinations('ftp://h:1/jp/');
    assert.equal(sub.urlFor('a/b'), 'ftp://h:1/jp/a/b');
    assert.equal(sub.relPathOf('ftp://h:1/other/a/b'), undefined);
    assert.throws(() => makeDestinations('http://h/'), (e: unknown) => e instanceof JpError && e.code === 'JP_CONFIG');
  });

  it('isSafeRelPath and the file verifier refuse escapes and empty files', async () => {
    for (const p of ['', '/abs', 'a/../b', '..', 'a//b', 'a/./b', 'a\\b', 'a\0b']) assert.equal(isSafeRelPath(p), false, JSON.stringify(p));
    assert.equal(isSafeRelPath('AbC/lb'), true);
    const dir = await mkdtemp(join(tmpdir(), 'jp-verifier-'));
    try {
      const { mkdir, writeFile } = await import('node:fs/promises');
      await mkdir(join(dir, 'j'));
      await writeFile(join(dir, 'j', 'empty'), '');
      await writeFile(join(dir, 'j', 'full'), 'abc');
      const v = fileVerifier(dir);
      assert.deepEqual(v.completed('j/full'), { bytes: 3 });
      assert.equal(v.completed('j/empty'), undefined);
      assert.equal(v.completed('j/missing'), undefined);
      assert.equal(v.completed('j'), undefined);
      assert.equal(v.completed('../etc/passwd'), undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
