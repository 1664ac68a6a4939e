import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { JpError } from '../../src/core/errors.js';
import { classify } from '../../src/core/classify.js';
import { REGTIME_ATTRIBUTE, UPLOAD_KINDS, type StartUploadRequest } from '../../src/primary/api.js';
import { startPrimaryDev } from '../../src/primary-dev/index.js';
import { OWNER_ATTRIBUTE } from '../../src/primary-dev/ops.js';
import { CLIENT2_SUBJECT, CLIENT_SUBJECT } from '../helpers/certs.js';
import { startDevService, type DevService } from '../helpers/primary-dev.js';

const newJob = (): string => `https://lb.example.org:9000/${randomBytes(9).toString('base64url')}`;
const upload = (job: string, kind: 'dump' | 'sandbox' = 'dump', name = ''): StartUploadRequest => ({
  job,
  class: UPLOAD_KINDS[kind].class,
  contentType: UPLOAD_KINDS[kind].contentType,
  name,
  commitBefore: new Date(Date.now() + 1000_000),
});

function fault(code: number, includes?: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof JpError, String(e));
    assert.equal(e.code, 'JP_SOAP_FAULT', e.message);
    assert.equal(e.faultCode, code, e.message);
    if (includes !== undefined) assert.ok(e.message.includes(includes), e.message);
    return true;
  };
}

describe('PrimaryClient against jp-primary-dev over mutual TLS', () => {
  let svc: DevService;
  before(async () => {
    svc = await startDevService();
  });
  after(async () => {
    await svc.close();
  });

  it('RegisterJob: ok, then EEXIST 17 which classifies as delivered', async () => {
    const c = svc.client();
    const job = newJob();
    await c.registerJob(job, CLIENT_SUBJECT);
    const err = await c.registerJob(job, CLIENT_SUBJECT).then(
      () => assert.fail('second registration succeeded'),
      (e: unknown) => e,
    );
    assert.ok(fault(17, 'Job already registered')(err));
    assert.equal(classify(err, { operation: 'RegisterJob' }).kind, 'delivered');
    assert.equal(classify(err, { operation: 'StartUpload' }).kind, 'retry');
    const calls = (await svc.readCalls()).filter((l) => l.job === job);
    assert.deepEqual(
      calls.map((l) => [l.op, l.ok, l.fault]),
      [
        ['RegisterJob', true, undefined],
        ['RegisterJob', false, 17],
      ],
    );
  });

  it('GetJobAttributes: unknown job is ENOENT with the nested reason; a known job has regtime and owner', async () => {
    const c = svc.client();
    const job = newJob();
    await assert.rejects(c.getJobAttributes(job, [REGTIME_ATTRIBUTE]), fault(2, 'Cannot retrieve job info'));
    await assert.rejects(c.getJobAttributes(job, [REGTIME_ATTRIBUTE]), fault(2, 'No records for this job'));
    const t0 = Date.now();
    await c.registerJob(job, '/DC=org/CN=Jane Doe');
    const vals = await c.getJobAttributes(job, [REGTIME_ATTRIBUTE, OWNER_ATTRIBUTE]);
    assert.equal(vals.length, 2);
    assert.equal(vals[0]?.name, REGTIME_ATTRIBUTE);
    assert.match(vals[0]?.value ?? '', /^\d+\.\d{6}$/);
    assert.ok(Math.abs(Number(vals[0]?.value) * 1000 - t0) < 60_000);
    assert.equal(vals[0]?.origin, 'SYSTEM');
    assert.deepEqual(vals[1], { name: OWNER_ATTRIBUTE, value: '/DC=org/CN=Jane Doe', timestamp: vals[0]?.timestamp, origin: 'SYSTEM' });
    await assert.rejects(c.getJobAttributes(job, ['urn:unknown']), fault(22, 'Invalid attribute type'));
  });

  it('StartUpload/CommitUpload: commit needs the file under data-dir/files, then records bytes', async () => {
    const c = svc.client();
    const job = newJob();
    await c.registerJob(job, CLIENT_SUBJECT);
    const before = Date.now();
    const r = await c.startUpload(upload(job));
    const unique = job.split('/').pop() ?? '';
    assert.equal(r.destination, `file://${svc.dev.filesDir}/${unique}/lb`);
    const cb = r.commitBefore?.getTime() ?? 0;
    assert.ok(cb <= Date.now() + 5 * 60_000 + 1000 && cb >= before + 5 * 60_000 - 2000, `commitBefore capped at now+5min: ${r.commitBefore?.toISOString()}`);

    await assert.rejects(c.commitUpload(r.destination), fault(11, 'Uploaded file not found or incomplete'));
    await mkdir(join(svc.dev.filesDir, unique), { recursive: true });
    await writeFile(join(svc.dev.filesDir, unique, 'lb'), 'DG.JOBID=x\n'.repeat(10));
    await c.commitUpload(r.destination);
    await assert.rejects(c.commitUpload(r.destination), fault(2, 'No such upload in progress'));
    await assert.rejects(c.startUpload(upload(job)), fault(17, 'File already stored or upload in progress'));

    const calls = (await svc.readCalls()).filter((l) => l.job === job);
    const commit = calls.find((l) => l.op === 'CommitUpload' && l.ok);
    assert.deepEqual(commit && { destination: commit.destination, bytes: commit.bytes, client: commit.client }, {
      destination: r.destination,
      bytes: 110,
      client: CLIENT_SUBJECT,
    });
    const start = calls.find((l) => l.op === 'StartUpload' && l.ok);
    assert.equal(start?.destination, r.destination);
  });

  it('StartUpload refusals: unknown job, unknown class, upload in progress; CommitUpload by another identity is EPERM', async () => {
    const c = svc.client();
    const other = svc.client({ certFile: svc.certs.client2, keyFile: svc.certs.client2Key });
    const job = newJob();
    await assert.rejects(c.startUpload(upload(job)), fault(2, 'No such job registered'));
    await c.registerJob(job, CLIENT_SUBJECT);
    await assert.rejects(c.startUpload({ ...upload(job), class: 'urn:nope' }), fault(2, 'unknown file class'));
    await assert.rejects(c.startUpload({ ...upload(job), name: '../etc' }), fault(22, 'Invalid file name'));
    const r = await c.startUpload(upload(job, 'sandbox', 'out.tar'));
    assert.ok(r.destination.endsWith('/out.tar'));
    await assert.rejects(other.startUpload(upload(job, 'sandbox', 'out.tar')), fault(17));
    await assert.rejects(other.commitUpload(r.destination), fault(1, 'another identity'));
    const eperm = (await svc.readCalls()).find((l) => l.op === 'CommitUpload' && l.fault === 1);
    assert.equal(eperm?.client, CLIENT2_SUBJECT);
  });

  it('an invalid job id is EINVAL, which gives up', async () => {
    const err = await svc
      .client()
      .registerJob('not a url', CLIENT_SUBJECT)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(fault(22, 'Invalid job id')(err));
    assert.equal(classify(err, { operation: 'RegisterJob' }).kind, 'giveup');
  });

  it('many calls in flight over a small pool all arrive exactly once', async () => {
    const c = svc.client({ connections: 3 });
    const jobs = Array.from({ length: 60 }, newJob);
    await Promise.all(jobs.map((j) => c.registerJob(j, CLIENT_SUBJECT)));
    const calls = await svc.readCalls();
    for (const j of jobs) assert.equal(calls.filter((l) => l.job === j && l.op === 'RegisterJob').length, 1);
    assert.ok(svc.dev.stats().jobs >= 60);
  });

  it('calls.jsonl lines have the documented shape', async () => {
    const calls = await svc.readCalls();
    assert.ok(calls.length > 10);
    for (const l of calls) {
      assert.ok(['RegisterJob', 'StartUpload', 'CommitUpload', 'GetJobAttributes'].includes(l.op), l.op);
      assert.equal(typeof l.ok, 'boolean');
      assert.match(l.client, /^\/C=CZ\/O=jp-importer dev\/CN=jp-importer client( 2)?$/);
      assert.ok(!Number.isNaN(Date.parse(l.at)) && l.at.endsWith('Z'));
      if (l.ok) assert.equal(l.fault, undefined);
      else assert.equal(typeof l.fault, 'number');
      if (l.op === 'RegisterJob') assert.equal(typeof l.owner, 'string');
      if (l.op !== 'CommitUpload') assert.equal(typeof l.job, 'string');
      if (l.op === 'StartUpload' && l.ok) assert.match(l.destination ?? '', /^file:\/\//);
      if (l.op === 'CommitUpload') assert.equal(typeof l.destination, 'string');
      if (l.op === 'CommitUpload' && l.ok) assert.equal(typeof l.bytes, 'number');
    }
  });
});

describe('jp-primary-dev --upload-window-ms', () => {
  it('caps commitBefore: a StartUpload of the same file is refused (EEXIST) until the window passed, then accepted', async () => {
    const svc = await startDevService({ uploadWindowMs: 400 });
    try {
      const c = svc.client();
      const job = newJob();
      await c.registerJob(job, CLIENT_SUBJECT);
      const before = Date.now();
      const r = await c.startUpload(upload(job));
      const cb = r.commitBefore?.getTime() ?? 0;
      assert.ok(cb >= before + 400 - 1000 && cb <= Date.now() + 400 + 1000, `commitBefore capped at now+400ms: ${r.commitBefore?.toISOString()}`);
      await assert.rejects(c.startUpload(upload(job)), fault(17, 'File already stored or upload in progress'));
      await new Promise((res) => setTimeout(res, 1_500)); // past the window (commitBefore has whole seconds)
      const again = await c.startUpload(upload(job));
      assert.equal(again.destination, r.destination);
    } finally {
      await svc.close();
    }
  });

  it('refuses a window that is not a whole number of ms > 0', async () => {
    // refused before anything is read or made
    const opts = { listen: '127.0.0.1:0', certFile: '/nonexistent', keyFile: '/nonexistent', caPath: '/nonexistent', dataDir: '/nonexistent' };
    await assert.rejects(startPrimaryDev({ ...opts, uploadWindowMs: 0 }), /--upload-window-ms 0/);
    await assert.rejects(startPrimaryDev({ ...opts, uploadWindowMs: 1.5 }), /--upload-window-ms 1.5/);
  });
});

describe('jp-primary-dev state survives a restart', () => {
  it('registrations and uploads in progress are kept in state.json', async () => {
    const first = await startDevService();
    const job = newJob();
    const c1 = first.client();
    await c1.registerJob(job, CLIENT_SUBJECT);
    const r = await c1.startUpload(upload(job));
    await first.stop();
    const snap = JSON.parse(await readFile(join(first.dataDir, 'state.json'), 'utf8')) as { jobs: Record<string, unknown> };
    assert.ok(job in snap.jobs);

    const second = await startDevService({ dataDir: first.dataDir });
    try {
      const c2 = second.client();
      await assert.rejects(c2.registerJob(job, CLIENT_SUBJECT), fault(17));
      await assert.rejects(c2.startUpload(upload(job)), fault(17));
      const unique = job.split('/').pop() ?? '';
      await mkdir(join(second.dev.filesDir, unique), { recursive: true });
      await writeFile(join(second.dev.filesDir, unique, 'lb'), 'x');
      await c2.commitUpload(r.destination);
      const calls = await second.readCalls();
      assert.equal(calls.filter((l) => l.job === job && l.op === 'RegisterJob').length, 2, 'calls.jsonl is appended across restarts');
    } finally {
      await second.close();
    }
  });
});
