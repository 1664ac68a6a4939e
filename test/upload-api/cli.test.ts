import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseUploadMessage } from '../../src/messages/keyvalue.js';
import { runCli } from '../exporter/helpers.js';
import { assertNothingLeft, entries, readTar, tempDir } from './helpers.js';

const CLI = new URL('../../src/cli/jp-upload-files.js', import.meta.url);
const JOB = 'https://lb.example.org:9000/CliJob_1';

function envWithout(key: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (!(key in extra)) delete env[key];
  return env;
}

async function setup(t: Parameters<typeof tempDir>[0]) {
  const root = await tempDir(t);
  await mkdir(join(root, 'work', 'out'), { recursive: true });
  await writeFile(join(root, 'work', 'out', 'stdout.txt'), 'job output\n');
  await writeFile(join(root, 'proxy.pem'), 'proxy');
  return { root, maildir: join(root, 'spool', 'sandbox'), proxy: join(root, 'proxy.pem') };
}

describe('jp-upload-files CLI', () => {
  it('short options, relative file name: prints the message id; tar and message are right', async (t) => {
    const { root, maildir, proxy } = await setup(t);
    const r = await runCli(CLI, ['-p', proxy, '-j', JOB, '-m', maildir, '-s', 'jp.example.org:8901', 'out/stdout.txt'], {
      cwd: join(root, 'work'), env: envWithout('X509_USER_PROXY'),
    });
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.deepEqual(await entries(join(maildir, 'new')), [id]);
    const msg = parseUploadMessage(await readFile(join(maildir, 'new', id)));
    assert.deepEqual({ jobid: msg.jobid, proxy: msg.proxy, jpps: msg.jpps }, { jobid: JOB, proxy, jpps: 'jp.example.org:8901' });
    assert.ok(msg.file.startsWith(join(root, 'spool', 'sandbox-tars') + '/'), msg.file);
    const got = await readTar(msg.file);
    assert.deepEqual(got.map((e) => [e.name, e.data.toString()]), [['out/stdout.txt', 'job output\n']]);
  });

  it('long options; X509_USER_PROXY is the proxy default', async (t) => {
    const { root, maildir, proxy } = await setup(t);
    const file = join(root, 'work', 'out', 'stdout.txt');
    const r = await runCli(CLI, ['--jobid', JOB, '--maildir', maildir, '--jpps', 'h:1', '--tar-dir', join(root, 'tars'), file], {
      env: envWithout('X509_USER_PROXY', { X509_USER_PROXY: proxy }),
    });
    assert.equal(r.code, 0, r.stderr);
    const msg = parseUploadMessage(await readFile(join(maildir, 'new', r.stdout.trim())));
    assert.equal(msg.proxy, proxy);
    assert.equal(msg.jpps, 'h:1');
    assert.ok(msg.file.startsWith(join(root, 'tars') + '/'));
    assert.equal((await readTar(msg.file))[0]?.name, file.slice(1));
  });

  it('--proxy overrides X509_USER_PROXY', async (t) => {
    const { root, maildir, proxy } = await setup(t);
    const r = await runCli(CLI, ['--proxy', proxy, '-j', JOB, '-m', maildir, join(root, 'proxy.pem')], {
      env: envWithout('X509_USER_PROXY', { X509_USER_PROXY: '/nonexistent/proxy' }),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(parseUploadMessage(await readFile(join(maildir, 'new', r.stdout.trim()))).proxy, proxy);
  });

  it('a missing file: exit 1, a clear message, nothing left behind', async (t) => {
    const { root, maildir } = await setup(t);
    const missing = join(root, 'nope.txt');
    const r = await runCli(CLI, ['-j', JOB, '-m', maildir, missing], { env: envWithout('X509_USER_PROXY') });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `jp-upload-files: file ${missing} does not exist\n`);
    await assertNothingLeft(maildir, join(root, 'spool', 'sandbox-tars'));
  });

  const usage: [string, string[], RegExp][] = [
    ['no -j', ['x'], /Missing required argument: jobid/],
    ['no file', ['-j', JOB], /no FILE given/],
    ['unknown option', ['-j', JOB, '--bogus', 'x'], /Unknown argument: bogus/],
  ];
  for (const [name, args, re] of usage) {
    it(`usage error (${name}): exit 1 with the usage text`, async () => {
      const r = await runCli(CLI, args, { env: envWithout('X509_USER_PROXY') });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Usage: jp-upload-files/);
      assert.match(r.stderr, re);
    });
  }

  it('--help exits 0', async () => {
    const r = await runCli(CLI, ['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--jobid/);
  });
});
