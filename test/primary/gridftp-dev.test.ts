/**
 * jp-primary-dev in gsiftp:// mode (--gridftp-url, --gridftp-dir): the
 * destinations the real service hands out
 * (`<URL>/data/<md5 of owner DN>/<regtime / 604800>/<job unique>/<class>[.<name>]`),
 * the job directory made (0700) at RegisterJob — also when the importer's
 * failsafe registration registers the job — and CommitUpload checking the
 * file in the directory (refused with EAGAIN like the FTP modes while it is
 * missing or empty, ENOENT for a destination outside the base). Also the
 * CLI flags. The real GridFTP server: gridftp-dev-real.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { isJpError, JpError } from '../../src/core/errors.js';
import { REGTIME_ATTRIBUTE, UPLOAD_KINDS, type StartUploadRequest } from '../../src/primary/api.js';
import { startUploadWithFailsafe } from '../../src/upload/start-upload.js';
import { CLIENT_SUBJECT, devCerts } from '../helpers/certs.js';
import { startDevService, type DevService } from '../helpers/primary-dev.js';
import { tempDir } from '../helpers/tmp.js';

/** 2024-03-15T12:00:00Z: week 2828 (1710504000 s / 604800). */
const T0 = Date.UTC(2024, 2, 15, 12);
const WEEK = 2828;
/** md5 of CLIENT_SUBJECT and of another owner (python hashlib). */
const CLIENT_MD5 = 'fff75d2a8d51e78afdd45ca04ba35f49';
const JANE = '/DC=org/DC=example/CN=Jane Doe';
const JANE_MD5 = '039f52f0382bb8dded243b74de368269';
const LB = UPLOAD_KINDS.dump.class;
const ISB = UPLOAD_KINDS.sandbox.class;

const newJob = (): { job: string; unique: string } => {
  const unique = randomBytes(9).toString('base64url');
  return { job: `https://lb.example.org:9000/${unique}`, unique };
};
const upload = (job: string, kind: 'dump' | 'sandbox' = 'dump', name?: string): StartUploadRequest => ({
  job,
  class: UPLOAD_KINDS[kind].class,
  contentType: UPLOAD_KINDS[kind].contentType,
  ...(name !== undefined ? { name } : {}),
  commitBefore: new Date(T0 + 1000_000),
});

function fault(code: number, includes: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof JpError, String(e));
    assert.equal(e.code, 'JP_SOAP_FAULT', e.message);
    assert.equal(e.faultCode, code, e.message);
    assert.ok(e.message.includes(includes), `${e.message} should say ${includes}`);
    return true;
  };
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

describe('jp-primary-dev --gridftp-url: destinations, job directories, CommitUpload', () => {
  let svc: DevService;
  let root: string;
  let base: string;
  const clock = { t: T0, now(): number { return this.t; } };

  before(async () => {
    root = join(await tempDir(undefined, 'jp-gridftp-dev-'), 'jpps');
    base = `gsiftp://localhost:2811${root}`;
    svc = await startDevService({ gridftpUrl: base, clock });
  });
  after(async () => {
    await svc.close();
  });

  it('the handle names the base and the directory; the directory is made (0700) when missing', async () => {
    assert.deepEqual(svc.dev.gridftp, { url: `${base}/`, dir: root });
    assert.equal(svc.dev.uploadDir, root);
    assert.equal(await mode(root), 0o700);
  });

  it('RegisterJob makes data/<md5 of owner>/<week>/<job unique> (0700, every level it made)', async () => {
    const c = svc.client();
    const { job, unique } = newJob();
    clock.t = T0;
    await c.registerJob(job, JANE);
    const dir = join(root, 'data', JANE_MD5, String(WEEK), unique);
    assert.ok((await stat(dir)).isDirectory(), `${dir} made at registration`);
    for (const d of [join(root, 'data'), join(root, 'data', JANE_MD5), join(root, 'data', JANE_MD5, String(WEEK)), dir]) {
      assert.equal(await mode(d), 0o700, d);
    }
    const reg = (await svc.readCalls()).find((l) => l.op === 'RegisterJob' && l.job === job);
    assert.equal(reg?.['dir'], `data/${JANE_MD5}/${WEEK}/${unique}`);
  });

  it('StartUpload: <URL>/data/<md5 of the OWNER>/<week of registration>/<unique>/<class>[.<name>]', async () => {
    const c = svc.client();
    const { job, unique } = newJob();
    clock.t = T0;
    await c.registerJob(job, JANE);
    // A week later the file still goes under the registration week.
    clock.t = T0 + 8 * 86_400_000;
    const dump = await c.startUpload(upload(job));
    assert.equal(dump.destination, `${base}/data/${JANE_MD5}/${WEEK}/${unique}/${LB}`);
    const sandbox = await c.startUpload(upload(job, 'sandbox', 'out.tar'));
    assert.equal(sandbox.destination, `${base}/data/${JANE_MD5}/${WEEK}/${unique}/${ISB}.out.tar`);
    // The URL's path (as the uploader decodes it) is the file on this machine.
    assert.equal(decodeURIComponent(new URL(sandbox.destination).pathname), join(root, 'data', JANE_MD5, String(WEEK), unique, `${ISB}.out.tar`));
    clock.t = T0;
  });

  it('CommitUpload: EAGAIN while the file is missing or empty (as for FTP), accepted when it is there, then ENOENT', async () => {
    const c = svc.client();
    const { job, unique } = newJob();
    await c.registerJob(job, CLIENT_SUBJECT);
    const r = await c.startUpload(upload(job));
    const file = join(root, 'data', CLIENT_MD5, String(WEEK), unique, LB);
    await assert.rejects(c.commitUpload(r.destination), fault(11, 'Uploaded file not found or incomplete'));
    await writeFile(file, '');
    await assert.rejects(c.commitUpload(r.destination), fault(11, 'Uploaded file not found or incomplete'));
    await writeFile(file, 'DG.JOBID=x\n'.repeat(10));
    await c.commitUpload(r.destination);
    await assert.rejects(c.commitUpload(r.destination), fault(2, 'No such upload in progress'));
    await assert.rejects(c.startUpload(upload(job)), fault(17, 'File already stored or upload in progress'));
    const commit = (await svc.readCalls()).find((l) => l.op === 'CommitUpload' && l.ok && l.job === job);
    assert.equal(commit?.bytes, 110);
    assert.equal(commit?.destination, r.destination);
  });

  it('a directory where the file should be is not a file: EAGAIN', async () => {
    const c = svc.client();
    const { job, unique } = newJob();
    await c.registerJob(job, CLIENT_SUBJECT);
    const r = await c.startUpload(upload(job, 'sandbox', 'd'));
    await mkdir(join(root, 'data', CLIENT_MD5, String(WEEK), unique, `${ISB}.d`));
    await assert.rejects(c.commitUpload(r.destination), fault(11, 'Uploaded file not found or incomplete'));
  });

  it('destinations outside the base, or escaping it, name no upload: ENOENT, nothing read', async () => {
    const c = svc.client();
    const { job, unique } = newJob();
    await c.registerJob(job, CLIENT_SUBJECT);
    const r = await c.startUpload(upload(job));
    const inJob = `${base}/data/${CLIENT_MD5}/${WEEK}/${unique}`;
    await writeFile(join(root, 'data', CLIENT_MD5, String(WEEK), unique, LB), 'x');
    for (const d of [
      `${inJob}/..%2f${LB}`,
      `${inJob}/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd`,
      `gsiftp://localhost:2811${root}2/data/${CLIENT_MD5}/${WEEK}/${unique}/${LB}`,
      `ftp://localhost:2811${root}/data/${CLIENT_MD5}/${WEEK}/${unique}/${LB}`,
      `${base}/data/%00/${LB}`,
      `${base}/`,
    ]) {
      await assert.rejects(c.commitUpload(d), fault(2, 'No such upload in progress'), d);
    }
    // The one handed out still commits.
    await c.commitUpload(r.destination);
  });

  it('the failsafe registration (StartUpload ENOENT → GetJobAttributes ENOENT → RegisterJob) makes the directory before the upload starts', async () => {
    const c = svc.client();
    const { job, unique } = newJob();
    let registered = 0;
    const r = await startUploadWithFailsafe({
      primary: c,
      kind: 'dump',
      jobid: job,
      commitBefore: new Date(T0 + 1000_000),
      ownerDn: () => CLIENT_SUBJECT,
      onRegistered: () => registered++,
    });
    assert.equal(registered, 1);
    const dir = join(root, 'data', CLIENT_MD5, String(WEEK), unique);
    assert.equal(r.destination, `${base}/data/${CLIENT_MD5}/${WEEK}/${unique}/${LB}`);
    assert.ok((await stat(dir)).isDirectory());
    assert.equal(await mode(dir), 0o700);
    const ops = (await svc.readCalls()).filter((l) => l.job === job).map((l) => [l.op, l.ok]);
    assert.deepEqual(ops, [['StartUpload', false], ['GetJobAttributes', false], ['RegisterJob', true], ['StartUpload', true]]);
    await c.getJobAttributes(job, [REGTIME_ATTRIBUTE]);
  });

  it('a job directory that cannot be made: RegisterJob faults with the errno, the job is not registered (a retry can succeed)', async () => {
    const c = svc.client();
    const owner = '/DC=org/CN=blocked owner';
    const { job } = newJob();
    const blocker = join(root, 'data', createHash('md5').update(owner).digest('hex'));
    await writeFile(blocker, 'a file where a directory should be');
    await assert.rejects(c.registerJob(job, owner), fault(20, "Cannot mkdir jobs's data directory"));
    await assert.rejects(c.getJobAttributes(job, [REGTIME_ATTRIBUTE]), fault(2, 'No records for this job'));
    await rm(blocker);
    await c.registerJob(job, owner);
  });

  it('destinations handed out before a restart still commit after it', async () => {
    const c = svc.client();
    const { job, unique } = newJob();
    await c.registerJob(job, CLIENT_SUBJECT);
    const r = await c.startUpload(upload(job, 'sandbox', 'keep'));
    await svc.stop();
    svc = await startDevService({ gridftpUrl: base, clock, dataDir: svc.dataDir });
    await writeFile(join(root, 'data', CLIENT_MD5, String(WEEK), unique, `${ISB}.keep`), 'tar');
    await svc.client().commitUpload(r.destination);
  });
});

describe('jp-primary-dev --gridftp-dir: the URL names the server\'s path, the files are here', () => {
  it('directories made and files checked under --gridftp-dir, destinations under the URL', async (t) => {
    const local = join(await tempDir(t, 'jp-gridftp-dir-'), 'mirror');
    const svc = await startDevService({ gridftpUrl: 'gsiftp://gridftp.example.org:2811/srv/jpps', gridftpDir: local });
    t.after(() => svc.close());
    const c = svc.client();
    const { job, unique } = newJob();
    await c.registerJob(job, CLIENT_SUBJECT);
    const r = await c.startUpload({ ...upload(job), commitBefore: new Date(Date.now() + 1000_000) });
    assert.match(r.destination, new RegExp(`^gsiftp://gridftp\\.example\\.org:2811/srv/jpps/data/${CLIENT_MD5}/\\d+/${unique}/urn:org\\.glite\\.jp\\.primary:lb$`));
    const rel = decodeURIComponent(new URL(r.destination).pathname).slice('/srv/jpps/'.length);
    await writeFile(join(local, rel), 'x');
    await c.commitUpload(r.destination);
  });

  const conflicts: [string, Record<string, unknown>, RegExp][] = [
    ['--gridftp-dir without --gridftp-url', { gridftpDir: '/tmp/x' }, /--gridftp-dir needs --gridftp-url/],
    ['with --ftp-listen', { gridftpUrl: 'gsiftp://h:1/srv', ftpListen: '127.0.0.1:0' }, /excludes --ftp-listen/],
    ['with --destination-base', { gridftpUrl: 'gsiftp://h:1/srv', destinationBase: 'ftp://h/' }, /excludes --ftp-listen and --destination-base/],
    ['a bad URL', { gridftpUrl: 'ftp://h:1/srv' }, /scheme must be gsiftp/],
  ];
  for (const [what, opts, re] of conflicts) {
    it(`refused at start: ${what}`, async () => {
      await assert.rejects(startDevService(opts), (e: unknown) => isJpError(e, 'JP_CONFIG') && re.test(e.message));
    });
  }
});

describe('jp-primary-dev CLI: --gridftp-url, --gridftp-dir', () => {
  const CLI = fileURLToPath(new URL('../../src/cli/jp-primary-dev.js', import.meta.url));
  const certs = devCerts();

  it('prints the gridftp base and directory in its ready line; made the directory; SIGTERM ends it', async (t) => {
    const dir = await tempDir(t, 'jp-gridftp-cli-');
    const local = join(dir, 'files here');
    const child = spawn(process.execPath, [CLI, '--listen', '127.0.0.1:0', '-c', certs.server, '-k', certs.serverKey, '-C', certs.caDir,
      '--data-dir', join(dir, 'data'), '--log-level', 'warn', '--gridftp-url', 'gsiftp://localhost:2811/srv/jp%20ps', '--gridftp-dir', local], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line within 20 s; stderr: ${stderr}`)), 20_000);
      createInterface({ input: child.stdout }).once('line', (l) => {
        clearTimeout(timer);
        resolve(l);
      });
      child.once('exit', (code) => reject(new Error(`exited ${String(code)} before ready: ${stderr}`)));
    });
    const ready = JSON.parse(line) as { gridftp?: { url: string; dir: string } };
    assert.deepEqual(ready.gridftp, { url: 'gsiftp://localhost:2811/srv/jp%20ps/', dir: local });
    assert.ok((await stat(local)).isDirectory());
    const exit = await new Promise<string>((resolve) => {
      child.once('exit', (code, signal) => resolve(`code ${String(code)} signal ${String(signal)}`));
      child.kill('SIGTERM');
    });
    assert.equal(exit, 'code 0 signal null', stderr);
  });

  it('--gridftp-dir alone: exit 1 with the reason; --help documents both flags', async () => {
    const run = (args: string[]): Promise<{ code: number | null; out: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (b: Buffer) => (out += b.toString()));
        child.stderr.on('data', (b: Buffer) => (out += b.toString()));
        child.once('exit', (code) => resolve({ code, out }));
      });
    const dir = await tempDir(undefined, 'jp-gridftp-cli-');
    const bad = await run(['--listen', '127.0.0.1:0', '-c', certs.server, '-k', certs.serverKey, '-C', certs.caDir, '--data-dir', dir, '--gridftp-dir', dir]);
    assert.equal(bad.code, 1, bad.out);
    assert.match(bad.out, /--gridftp-dir needs --gridftp-url/);
    const help = await run(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /--gridftp-url/);
    assert.match(help.out, /--gridftp-dir/);
    assert.match(help.out, /604800/);
  });
});
