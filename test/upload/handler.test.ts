import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { JpError } from '../../src/core/errors.js';
import type { Outcome } from '../../src/core/outcome.js';
import type { ClaimedMessage } from '../../src/core/queue.js';
import { REGTIME_ATTRIBUTE, UPLOAD_KINDS, type UploadKind } from '../../src/primary/api.js';
import { nodePathFs, type PathFs } from '../../src/upload/allowed-paths.js';
import { FtpPool } from '../../src/upload/ftp-pool.js';
import { FtpTransport } from '../../src/upload/ftp-transport.js';
import { createUploadHandler, type UploadHandler } from '../../src/upload/handler.js';
import { startTestFtp, type TestFtp } from '../helpers/ftp.js';
import { tempDir } from '../helpers/tmp.js';
import { fault, FakePrimary } from './fake-primary.js';

const JOB = 'https://lb.example.org:9000/AbCdEf012';
const OWNER = '/O=jp-test/CN=importer host';
const NOW = Date.parse('2024-05-01T12:00:00Z');

interface Setup {
  ftp: TestFtp;
  dir: string;
  allowed: string;
  primary: FakePrimary;
  /** The jpps argument of every primary(...) call. */
  jpps: Array<string | undefined>;
  opened: string[];
  handler: UploadHandler;
  run(body: string): Promise<Outcome>;
  dump(name?: string, bytes?: number): Promise<{ path: string; data: Buffer }>;
}

async function setup(t: TestContext, opts: { kind?: UploadKind; storeDir?: (dir: string) => string; uploadName?: 'none' | 'basename' } = {}): Promise<Setup> {
  const ftp = await startTestFtp(t);
  const dir = await realpath(await tempDir(t, 'jp-handler-'));
  const allowed = join(dir, 'dumps');
  await mkdir(allowed);
  const primary = new FakePrimary(ftp.url, ftp.verifier);
  const jpps: Array<string | undefined> = [];
  const opened: string[] = [];
  const pathFs: PathFs = { ...nodePathFs, open: (p, f) => (opened.push(p), nodePathFs.open(p, f)) };
  const storeDir = opts.storeDir?.(dir);
  const handler = createUploadHandler({
    // These tests name files by their base names (--upload-name basename); the default (none) is tested apart.
    uploadName: opts.uploadName ?? 'basename',
    primary: (j) => (jpps.push(j), primary),
    kind: opts.kind ?? 'dump',
    allowedDirs: [allowed],
    ...(storeDir !== undefined ? { storeDir } : {}),
    ownerDn: () => OWNER,
    transport: new FtpTransport(new FtpPool({ timeoutMs: 10_000 })),
    clock: { now: () => NOW },
    pathFs,
  });
  t.after(() => handler.close());
  let n = 0;
  const claimed = (): ClaimedMessage => ({ name: `msg${++n}`, path: join(dir, 'unused'), from: 'new', meta: undefined });
  return {
    ftp, dir, allowed, primary, jpps, opened, handler,
    run: (body) => handler.handle(claimed(), Buffer.from(body), new AbortController().signal),
    dump: async (name = 'job.dump', bytes = 200_000) => {
      const path = join(allowed, name);
      const data = randomBytes(bytes);
      await writeFile(path, data);
      return { path, data };
    },
  };
}

const msg = (file: string, extra = ''): string => `jobid\t${JOB}\nfile\t${file}\n${extra}`;

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

/** The file the fake service handed out for the n-th StartUpload. */
function uploaded(s: Setup, n: number, name: string): string {
  return join(s.ftp.filesDir, 'jobs', String(n), name);
}

describe('upload handler', { timeout: 60_000 }, () => {
  it('happy path: StartUpload, FTP, CommitUpload, then the local file is removed', async (t) => {
    const s = await setup(t);
    const { path, data } = await s.dump();
    const out = await s.run(msg(path));
    assert.equal(out.kind, 'delivered', JSON.stringify(out));
    assert.deepEqual(s.primary.ops(), ['StartUpload', 'CommitUpload']);
    const start = s.primary.calls[0];
    assert.ok(start?.op === 'StartUpload');
    assert.deepEqual(start.req, {
      job: JOB,
      class: UPLOAD_KINDS.dump.class,
      name: 'job.dump',
      commitBefore: new Date(NOW + 1_000_000),
      contentType: 'text/lb',
    });
    const commit = s.primary.calls[1];
    assert.ok(commit?.op === 'CommitUpload');
    assert.equal(commit.destination, `${s.ftp.url}/jobs/1/job.dump`);
    assert.ok((await readFile(uploaded(s, 1, 'job.dump'))).equals(data));
    assert.equal(await exists(path), false, 'local file removed');
    assert.deepEqual(s.jpps, [undefined]);
  });

  it('by default StartUpload carries no name, as the original importer (the service stores the file as <class>)', async (t) => {
    const s = await setup(t, { uploadName: 'none' });
    const { path } = await s.dump();
    const out = await s.run(msg(path));
    assert.equal(out.kind, 'delivered', JSON.stringify(out));
    const start = s.primary.calls[0];
    assert.ok(start?.op === 'StartUpload');
    assert.equal('name' in start.req, false, JSON.stringify(start.req));
  });

  it('sandbox: isb class and tar/lb content type', async (t) => {
    const s = await setup(t, { kind: 'sandbox' });
    const { path } = await s.dump('isb.tar', 1000);
    assert.equal((await s.run(msg(path))).kind, 'delivered');
    const start = s.primary.calls[0];
    assert.ok(start?.op === 'StartUpload');
    assert.equal(start.req.class, 'urn:org.glite.jp.primary:isb');
    assert.equal(start.req.contentType, 'tar/lb');
  });

  it('with a store directory the file is moved there (created 0750), never clobbering', async (t) => {
    const s = await setup(t, { storeDir: (d) => join(d, 'store', 'dumps') });
    const store = join(s.dir, 'store', 'dumps');
    const first = await s.dump('same.dump', 1000);
    assert.equal((await s.run(msg(first.path))).kind, 'delivered');
    assert.equal((await stat(store)).mode & 0o777, 0o750);
    assert.ok((await readFile(join(store, 'same.dump'))).equals(first.data));
    const second = await s.dump('same.dump', 1000);
    const out = await s.run(msg(second.path));
    assert.equal(out.kind, 'delivered');
    assert.ok(out.kind === 'delivered' && out.note?.includes('same.dump.1'), JSON.stringify(out));
    assert.ok((await readFile(join(store, 'same.dump'))).equals(first.data), 'first one kept');
    assert.ok((await readFile(join(store, 'same.dump.1'))).equals(second.data));
    assert.equal(await exists(second.path), false);
  });

  it('a file that grew between the end of the transfer and the commit answer is kept, with the reason (the new bytes were never sent)', async (t) => {
    const s = await setup(t);
    const { path, data } = await s.dump('growing.dump', 5000);
    s.primary.script('CommitUpload', async () => appendFile(path, 'written after the transfer'));
    const out = await s.run(msg(path));
    assert.equal(out.kind, 'delivered', JSON.stringify(out));
    assert.ok(out.kind === 'delivered' && /local file left in place: .*changed size from 5000 to 5026 bytes since its upload began/.test(out.note ?? ''), JSON.stringify(out));
    assert.ok((await readFile(uploaded(s, 1, 'growing.dump'))).equals(data), 'the service got the bytes there were when the upload began');
    assert.equal((await readFile(path)).length, 5026, 'the local file is kept with every byte');
  });

  it('failsafe registration: StartUpload ENOENT → GetJobAttributes ENOENT → RegisterJob(owner) → StartUpload → upload → commit', async (t) => {
    const s = await setup(t);
    s.primary.script('StartUpload', fault(2, 'No such job registered'));
    s.primary.script('GetJobAttributes', fault(2, 'Cannot retrieve job info'));
    const { path, data } = await s.dump();
    const out = await s.run(msg(path));
    assert.equal(out.kind, 'delivered', JSON.stringify(out));
    assert.deepEqual(s.primary.ops(), ['StartUpload', 'GetJobAttributes', 'RegisterJob', 'StartUpload', 'CommitUpload']);
    assert.deepEqual(s.primary.calls[1], { op: 'GetJobAttributes', jobid: JOB, attributes: [REGTIME_ATTRIBUTE] });
    assert.deepEqual(s.primary.calls[2], { op: 'RegisterJob', job: JOB, owner: OWNER });
    assert.ok((await readFile(uploaded(s, 1, 'job.dump'))).equals(data));
    assert.equal(await exists(path), false);
  });

  it('failsafe: a GetJobAttributes fault without a code also counts as "unknown job"', async (t) => {
    const s = await setup(t);
    s.primary.script('StartUpload', fault(2)).script('GetJobAttributes', fault(undefined, 'no detail'));
    const { path } = await s.dump();
    assert.equal((await s.run(msg(path))).kind, 'delivered');
    assert.deepEqual(s.primary.ops(), ['StartUpload', 'GetJobAttributes', 'RegisterJob', 'StartUpload', 'CommitUpload']);
  });

  it('failsafe: RegisterJob EEXIST (registered meanwhile) goes on to StartUpload', async (t) => {
    const s = await setup(t);
    s.primary.script('StartUpload', fault(2)).script('GetJobAttributes', fault(2)).script('RegisterJob', fault(17, 'File exists'));
    const { path } = await s.dump();
    assert.equal((await s.run(msg(path))).kind, 'delivered');
    assert.deepEqual(s.primary.ops(), ['StartUpload', 'GetJobAttributes', 'RegisterJob', 'StartUpload', 'CommitUpload']);
  });

  it('failsafe: the job exists (GetJobAttributes answers) → retry later, even for an EPERM StartUpload fault', async (t) => {
    const s = await setup(t);
    s.primary.script('StartUpload', fault(1, 'Operation not permitted'));
    const { path } = await s.dump();
    const out = await s.run(msg(path));
    assert.equal(out.kind, 'retry', JSON.stringify(out));
    assert.ok(out.kind === 'retry' && out.reason.startsWith('StartUpload: '), JSON.stringify(out));
    assert.deepEqual(s.primary.ops(), ['StartUpload', 'GetJobAttributes']);
    assert.equal(await exists(path), true);
  });

  it('failsafe: another GetJobAttributes fault → retry later, nothing registered', async (t) => {
    const s = await setup(t);
    s.primary.script('StartUpload', fault(2)).script('GetJobAttributes', fault(13, 'Permission denied'));
    const { path } = await s.dump();
    const out = await s.run(msg(path));
    assert.equal(out.kind, 'retry');
    assert.ok(out.kind === 'retry' && out.reason.startsWith('GetJobAttributes: '));
    assert.deepEqual(s.primary.ops(), ['StartUpload', 'GetJobAttributes']);
  });

  it('failsafe: the second StartUpload fails too → classified (retry), tried only once more', async (t) => {
    const s = await setup(t);
    s.primary.script('StartUpload', fault(2), fault(2)).script('GetJobAttributes', fault(2));
    const { path } = await s.dump();
    const out = await s.run(msg(path));
    assert.equal(out.kind, 'retry');
    assert.deepEqual(s.primary.ops(), ['StartUpload', 'GetJobAttributes', 'RegisterJob', 'StartUpload']);
    assert.equal(await exists(path), true);
  });

  it('sandboxes have no failsafe registration', async (t) => {
    const s = await setup(t, { kind: 'sandbox' });
    s.primary.script('StartUpload', fault(2));
    const { path } = await s.dump();
    const out = await s.run(msg(path));
    assert.equal(out.kind, 'retry');
    assert.deepEqual(s.primary.ops(), ['StartUpload']);
  });

  it('a StartUpload network error is retried without the failsafe', async (t) => {
    const s = await setup(t);
    s.primary.script('StartUpload', new JpError('JP_NETWORK', 'connect ECONNREFUSED'));
    const { path } = await s.dump();
    assert.equal((await s.run(msg(path))).kind, 'retry');
    assert.deepEqual(s.primary.ops(), ['StartUpload']);
  });

  it('the C exporter glued format uses the jpps override', async (t) => {
    const s = await setup(t);
    const { path } = await s.dump();
    const out = await s.run(`jobid  ${JOB}\nfile   ${path}jpps   jp.example.org:8901\n`);
    assert.equal(out.kind, 'delivered', JSON.stringify(out));
    assert.deepEqual(s.jpps, ['jp.example.org:8901']);
    assert.equal(await exists(path), false);
  });

  it('a jpps line on its own also overrides', async (t) => {
    const s = await setup(t);
    const { path } = await s.dump();
    assert.equal((await s.run(msg(path, 'jpps\tother.example.org:8900\n'))).kind, 'delivered');
    assert.deepEqual(s.jpps, ['other.example.org:8900']);
  });

  it('a file outside the allowed dirs is refused and never opened (FIFO: opening it would hang)', async (t) => {
    const s = await setup(t);
    const fifo = join(s.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const secret = join(s.dir, 'secret');
    await writeFile(secret, 'secret');
    for (const file of [fifo, secret, `${s.allowed}/../secret`, '/etc/shadow']) {
      const out = await s.run(msg(file));
      assert.equal(out.kind, 'giveup', `${file}: ${JSON.stringify(out)}`);
      assert.ok(out.kind === 'giveup' && out.reason.includes('not inside the allowed directories'));
      assert.ok(out.kind === 'giveup' && out.reason.includes(s.allowed), 'reason names the allowed dir');
    }
    assert.deepEqual(s.opened, []);
    assert.deepEqual(s.primary.calls, [], 'nothing asked of the service');
    assert.equal(await exists(secret), true);
  });

  it('a missing file is given up with a reason', async (t) => {
    const s = await setup(t);
    const out = await s.run(msg(join(s.allowed, 'gone.dump')));
    assert.equal(out.kind, 'giveup');
    assert.ok(out.kind === 'giveup' && /gone\.dump.*does not exist/.test(out.reason), JSON.stringify(out));
    assert.deepEqual(s.primary.calls, []);
  });

  const malformed: Array<[string, string]> = [
    ['no file line', `jobid\t${JOB}\n`],
    ['no jobid line', 'file\t/x\n'],
    ['key without value', `jobid\t${JOB}\nfile\n`],
    ['relative file', `jobid\t${JOB}\nfile\tx/y\n`],
    ['bad job id', 'jobid\tnot a url\nfile\t/x\n'],
    ['empty body', ''],
  ];
  for (const [name, body] of malformed) {
    it(`malformed message (${name}) is given up`, async (t) => {
      const s = await setup(t);
      const out = await s.run(body);
      assert.equal(out.kind, 'giveup', JSON.stringify(out));
      assert.ok(out.kind === 'giveup' && out.reason.startsWith('message: '));
      assert.deepEqual(s.primary.calls, []);
    });
  }

  it('CommitUpload fault → retry, and the local file is still there', async (t) => {
    const s = await setup(t);
    s.primary.script('CommitUpload', fault(2, 'No such upload in progress'));
    const { path, data } = await s.dump();
    const out = await s.run(msg(path));
    assert.equal(out.kind, 'retry');
    assert.ok(out.kind === 'retry' && out.reason.startsWith('CommitUpload: '));
    assert.ok((await readFile(path)).equals(data));
  });

  it('CommitUpload EPERM → give up (classified), local file kept', async (t) => {
    const s = await setup(t);
    s.primary.script('CommitUpload', fault(1, 'Operation not permitted'));
    const { path } = await s.dump();
    assert.equal((await s.run(msg(path))).kind, 'giveup');
    assert.equal(await exists(path), true);
  });

  it('FTP login refused → retry, nothing committed, local file kept', async (t) => {
    const s = await setup(t);
    s.ftp.setHooks({ refuseLogins: true });
    const { path } = await s.dump();
    const out = await s.run(msg(path));
    assert.equal(out.kind, 'retry');
    assert.ok(out.kind === 'retry' && out.reason.startsWith('FTP upload: ') && out.reason.includes('530'), JSON.stringify(out));
    assert.deepEqual(s.primary.ops(), ['StartUpload']);
    assert.equal(await exists(path), true);
  });

  it('R9: a dropped FTP connection is resumed and the upload committed once', async (t) => {
    const s = await setup(t);
    const { path, data } = await s.dump('big.dump', 3 * 1024 * 1024);
    s.ftp.setHooks({ dropAfterBytes: 700_000 });
    const out = await s.run(msg(path));
    assert.equal(out.kind, 'delivered', JSON.stringify(out));
    assert.deepEqual(s.primary.ops(), ['StartUpload', 'CommitUpload']);
    assert.equal(s.ftp.stats().appe, 1);
    assert.ok((await readFile(uploaded(s, 1, 'big.dump'))).equals(data));
    assert.equal(await exists(path), false);
  });

  it('committed but the file cannot be stored: still delivered (no second commit), file left', async (t) => {
    const s = await setup(t, { storeDir: (d) => join(d, 'store-is-a-file') });
    await writeFile(join(s.dir, 'store-is-a-file'), 'x');
    const { path } = await s.dump();
    const out = await s.run(msg(path));
    assert.equal(out.kind, 'delivered');
    assert.ok(out.kind === 'delivered' && out.note?.includes('left in place'), JSON.stringify(out));
    assert.deepEqual(s.primary.ops(), ['StartUpload', 'CommitUpload']);
    assert.equal(await exists(path), true);
  });

  it('many messages share one FTP control connection', async (t) => {
    const s = await setup(t);
    for (let i = 0; i < 5; i++) {
      const { path } = await s.dump(`d${i}`, 64 * 1024);
      assert.equal((await s.run(msg(path))).kind, 'delivered');
    }
    assert.equal(s.ftp.stats().logins, 1);
  });
});
