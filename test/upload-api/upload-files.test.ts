import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { isJpError } from '../../src/core/errors.js';
import { parseUploadMessage } from '../../src/messages/keyvalue.js';
import { defaultTarDir, uploadFiles } from '../../src/upload-api/index.js';
import { assertNothingLeft, entries, readTar, tempDir } from './helpers.js';

const JOB = 'https://lb.example.org:9000/AbCdEf_12-x';

async function makeFile(path: string, content: string | Buffer, mode: number, mtimeSec: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
  await chmod(path, mode);
  await utimes(path, mtimeSec, mtimeSec);
}

describe('uploadFiles', () => {
  it('writes a tar with the files (names without leading /, long names, modes, mtimes) and one message', async (t) => {
    const root = await tempDir(t);
    const maildir = join(root, 'spool', 'sandbox');
    const a = join(root, 'in', 'a.txt');
    const longDir = join(root, 'in', 'd'.repeat(120));
    const b = join(longDir, `${'n'.repeat(150)}.bin`);
    const binary = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) & 0xff));
    await makeFile(a, 'hello\n', 0o751, 1_000_000_000);
    await makeFile(b, binary, 0o600, 1_234_567_890);
    const proxy = join(root, 'x509up_u0');
    await writeFile(proxy, 'proxy');

    const id = await uploadFiles(JOB, [a, b], { maildir, proxy, jpps: 'jp.example.org:8901' });

    const body = await readFile(join(maildir, 'new', id));
    const msg = parseUploadMessage(body);
    assert.equal(msg.jobid, JOB);
    assert.equal(msg.proxy, proxy);
    assert.equal(msg.jpps, 'jp.example.org:8901');
    assert.equal(body.toString(), `jobid\t${JOB}\nfile\t${msg.file}\nproxy\t${proxy}\njpps\tjp.example.org:8901\n`);

    const tarDir = defaultTarDir(maildir);
    assert.equal(tarDir, join(root, 'spool', 'sandbox-tars'));
    assert.equal(dirname(msg.file), tarDir);
    assert.match(msg.file, /\/AbCdEf_12-x_\d+_\d{6}_[0-9a-f]{8}\.tar$/);
    assert.deepEqual(await entries(tarDir), [msg.file.slice(tarDir.length + 1)], 'only the final tar, no temporary');
    assert.equal((await stat(msg.file)).mode & 0o777, 0o600);
    assert.equal((await stat(tarDir)).mode & 0o777, 0o700);

    const got = await readTar(msg.file);
    assert.equal(got.length, 2);
    const [ea, eb] = got;
    assert.equal(ea?.name, a.slice(1));
    assert.equal(ea?.data.toString(), 'hello\n');
    assert.equal(ea?.mode, 0o751);
    assert.equal(ea?.mtime, 1_000_000_000_000);
    assert.equal(ea?.type, 'file');
    assert.equal(eb?.name, b.slice(1));
    assert.ok(eb !== undefined && eb.name.length > 255, 'the long name survives (pax)');
    assert.ok(eb?.data.equals(binary));
    assert.equal(eb?.mode, 0o600);
    assert.equal(eb?.mtime, 1_234_567_890_000);
    assert.equal(eb?.size, binary.length);
  });

  it('without proxy/jpps the message has only jobid and file; tarDir option is used', async (t) => {
    const root = await tempDir(t);
    const maildir = join(root, 'md');
    const tarDir = join(root, 'tars', 'deep');
    const f = join(root, 'f');
    await writeFile(f, '');
    const id = await uploadFiles(JOB, [f, f], { maildir, tarDir });
    const msg = parseUploadMessage(await readFile(join(maildir, 'new', id)));
    assert.deepEqual(Object.keys(msg).sort(), ['file', 'jobid']);
    assert.equal(dirname(msg.file), tarDir);
    const got = await readTar(msg.file);
    assert.deepEqual(got.map((e) => [e.name, e.size]), [[f.slice(1), 0], [f.slice(1), 0]]);
  });

  describe('errors leave nothing behind', () => {
    async function setup(t: Parameters<typeof tempDir>[0]) {
      const root = await tempDir(t);
      const maildir = join(root, 'md');
      const tarDir = join(root, 'tars');
      const ok = join(root, 'ok.txt');
      await writeFile(ok, 'ok');
      return { root, maildir, tarDir, ok };
    }

    it('a missing file: JP_LOCAL_FILE naming it', async (t) => {
      const { root, maildir, tarDir, ok } = await setup(t);
      const missing = join(root, 'missing.txt');
      await assert.rejects(uploadFiles(JOB, [ok, missing], { maildir, tarDir }), (e: unknown) => {
        assert.ok(isJpError(e, 'JP_LOCAL_FILE'));
        assert.equal(e.message, `file ${missing} does not exist`);
        return true;
      });
      await assertNothingLeft(maildir, tarDir);
    });

    it('a directory: JP_LOCAL_FILE, not a regular file', async (t) => {
      const { root, maildir, tarDir, ok } = await setup(t);
      await assert.rejects(uploadFiles(JOB, [ok, root], { maildir, tarDir }), (e: unknown) => {
        assert.ok(isJpError(e, 'JP_LOCAL_FILE'));
        assert.equal(e.message, `file ${root} is not a regular file`);
        return true;
      });
      await assertNothingLeft(maildir, tarDir);
    });

    it('a file that does not match its size while being read: JP_LOCAL_FILE, the half-written tar is removed', async (t) => {
      const proc = '/proc/self/status';
      if (!existsSync(proc)) {
        t.skip(`${proc} not available (a file whose stat size is 0 but has content)`);
        return;
      }
      const { maildir, tarDir, ok } = await setup(t);
      await assert.rejects(uploadFiles(JOB, [ok, proc], { maildir, tarDir }), (e: unknown) => {
        assert.ok(isJpError(e, 'JP_LOCAL_FILE'), String(e));
        assert.match(e.message, /cannot read \/proc\/self\/status into the tar/);
        return true;
      });
      await assertNothingLeft(maildir, tarDir);
    });

    it('a maildir that cannot be written: JP_CONFIG', async (t) => {
      const { root, tarDir, ok } = await setup(t);
      const maildir = join(root, 'afile');
      await writeFile(maildir, 'x');
      await assert.rejects(uploadFiles(JOB, [ok], { maildir, tarDir }), (e: unknown) => {
        assert.ok(isJpError(e, 'JP_CONFIG'));
        assert.match(e.message, new RegExp(`^maildir ${maildir} is not writable`));
        return true;
      });
      assert.deepEqual(await entries(tarDir), []);
    });

    it('a tar directory that cannot be used: JP_CONFIG', async (t) => {
      const { root, maildir, ok } = await setup(t);
      const tarDir = join(root, 'ok.txt', 'sub');
      await assert.rejects(uploadFiles(JOB, [ok], { maildir, tarDir }), (e: unknown) => {
        assert.ok(isJpError(e, 'JP_CONFIG'));
        assert.match(e.message, new RegExp(`^tar directory ${tarDir} is not usable`));
        return true;
      });
      await assertNothingLeft(maildir, tarDir);
    });

    const bad: [string, string, string[], { proxy?: string; jpps?: string }, string, RegExp][] = [
      ['an invalid job id', 'not a job', ['OK'], {}, 'JP_CONFIG', /^job id: job id "not a job"/],
      ['no files', JOB, [], {}, 'JP_CONFIG', /^no files to upload$/],
      ['a bad jpps', JOB, ['OK'], { jpps: 'no port' }, 'JP_CONFIG', /^jpps must be HOST:PORT/],
      ['a missing proxy file', JOB, ['OK'], { proxy: '/nonexistent/x509up' }, 'JP_LOCAL_FILE', /^proxy file \/nonexistent\/x509up does not exist$/],
      ['a file named "/"', JOB, ['/'], {}, 'JP_LOCAL_FILE', /has no name to store|not a regular file/],
    ];
    for (const [name, jobid, files, extra, code, re] of bad) {
      it(`${name}: ${code}`, async (t) => {
        const { maildir, tarDir, ok } = await setup(t);
        const list = files.map((f) => (f === 'OK' ? ok : f));
        await assert.rejects(uploadFiles(jobid, list, { maildir, tarDir, ...extra }), (e: unknown) => {
          assert.ok(isJpError(e), String(e));
          assert.equal(e.code, code);
          assert.match(e.message, re);
          return true;
        });
        await assertNothingLeft(maildir, tarDir);
      });
    }
  });
});
