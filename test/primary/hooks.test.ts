import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { JpError } from '../../src/core/errors.js';
import { classify } from '../../src/core/classify.js';
import { CLIENT_SUBJECT } from '../helpers/certs.js';
import { admin, rawRequest, startDevService, type DevService } from '../helpers/primary-dev.js';

const newJob = (): string => `https://lb.example.org:9000/${randomBytes(9).toString('base64url')}`;

function code(c: JpError['code'], faultCode?: number): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof JpError, String(e));
    assert.equal(e.code, c, e.message);
    if (faultCode !== undefined) assert.equal(e.faultCode, faultCode);
    assert.equal(classify(e, { operation: 'RegisterJob' }).kind, 'retry');
    return true;
  };
}

describe('admin hooks of jp-primary-dev', () => {
  let svc: DevService;
  before(async () => {
    svc = await startDevService();
  });
  after(async () => {
    await svc.close();
  });

  it('failNext: the next N calls fault with EAGAIN (or failCode), then calls succeed', async () => {
    const c = svc.client();
    const set = await admin(svc, 'POST', '/admin/hooks', { failNext: 2 });
    assert.equal(set.status, 200);
    assert.deepEqual((set.json as { hooks: { failNext: number } }).hooks.failNext, 2);
    const job = newJob();
    await assert.rejects(c.registerJob(job, CLIENT_SUBJECT), code('JP_SOAP_FAULT', 11));
    await assert.rejects(c.registerJob(job, CLIENT_SUBJECT), code('JP_SOAP_FAULT', 11));
    await c.registerJob(job, CLIENT_SUBJECT);
    svc.dev.setHooks({ failNext: 1, failCode: 28 });
    await assert.rejects(c.getJobAttributes(job, ['x']), code('JP_SOAP_FAULT', 28));
    svc.dev.setHooks({ failCode: 11 });
    const lines = (await svc.readCalls()).filter((l) => l.job === job);
    assert.deepEqual(
      lines.map((l) => [l.op, l.ok, l.fault, l.injected]),
      [
        ['RegisterJob', false, 11, true],
        ['RegisterJob', false, 11, true],
        ['RegisterJob', true, undefined, undefined],
        ['GetJobAttributes', false, 28, true],
      ],
    );
    assert.equal(svc.dev.stats().injected, 3);
  });

  it('latencyMs beyond the client timeout: JP_TIMEOUT; back to normal afterwards', async () => {
    const c = svc.client({ timeoutMs: 300, connectTimeoutMs: 10_000 });
    await c.registerJob(newJob(), CLIENT_SUBJECT); // warm connection
    await admin(svc, 'POST', '/admin/hooks', { latencyMs: 5000 });
    try {
      await assert.rejects(c.registerJob(newJob(), CLIENT_SUBJECT), code('JP_TIMEOUT'));
    } finally {
      await admin(svc, 'POST', '/admin/hooks', { latencyMs: 0 });
    }
    await c.registerJob(newJob(), CLIENT_SUBJECT);
  });

  it('closeNext: the connection is dropped without an answer (JP_NETWORK), recorded as closed', async () => {
    const c = svc.client();
    await c.registerJob(newJob(), CLIENT_SUBJECT);
    svc.dev.setHooks({ closeNext: 1 });
    const job = newJob();
    await assert.rejects(c.registerJob(job, CLIENT_SUBJECT), code('JP_NETWORK'));
    await c.registerJob(job, CLIENT_SUBJECT); // not processed before: no EEXIST now
    const lines = (await svc.readCalls()).filter((l) => l.job === job);
    assert.deepEqual(
      lines.map((l) => [l.ok, l.closed]),
      [
        [false, true],
        [true, undefined],
      ],
    );
    assert.ok(svc.dev.stats().closed >= 1);
  });

  it('loseAnswerNext: the call is carried out, but the connection closes instead of the answer; loseAnswerOp picks the operation', async () => {
    const c = svc.client();
    const lost0 = svc.dev.stats().answersLost;
    svc.dev.setHooks({ loseAnswerNext: 1, loseAnswerOp: 'GetJobAttributes' });
    const job = newJob();
    await c.registerJob(job, CLIENT_SUBJECT); // another operation: answered
    svc.dev.setHooks({ loseAnswerOp: 'RegisterJob' });
    const other = newJob();
    await assert.rejects(c.registerJob(other, CLIENT_SUBJECT), (e: unknown) => e instanceof JpError && e.code === 'JP_NETWORK');
    // it was done all the same
    await assert.rejects(c.registerJob(other, CLIENT_SUBJECT), (e: unknown) => e instanceof JpError && e.faultCode === 17);
    svc.dev.setHooks({ loseAnswerOp: '' });
    const lines = (await svc.readCalls()).filter((l) => l.job === other);
    assert.deepEqual(lines.map((l) => [l.ok, l.fault, l['answerLost']]), [[true, undefined, true], [false, 17, undefined]]);
    assert.equal(svc.dev.stats().answersLost, lost0 + 1);
    assert.equal(svc.dev.hooks().loseAnswerNext, 0);
  });

  it('GET /admin/stats counts per operation; bad hooks are refused with a reason', async () => {
    const st = await admin(svc, 'GET', '/admin/stats');
    assert.equal(st.status, 200);
    const stats = st.json as { calls: Record<string, { ok: number; fault: number }>; jobs: number; tlsRefused: number };
    assert.ok((stats.calls['RegisterJob']?.ok ?? 0) >= 3);
    assert.ok((stats.calls['RegisterJob']?.fault ?? 0) >= 2);
    assert.equal(typeof stats.jobs, 'number');
    assert.deepEqual(stats, JSON.parse(JSON.stringify(svc.dev.stats())));

    const bad: [unknown, string][] = [
      [{ failNext: -1 }, 'failNext'],
      [{ latencyMs: 'slow' }, 'latencyMs'],
      [{ failCode: 0 }, 'failCode'],
      [{ bogus: 1 }, 'unknown hook'],
      [[1], 'JSON object'],
      [{ ftpRefuseLogins: 'yes' }, 'ftpRefuseLogins'],
      [{ loseAnswerNext: 1.5 }, 'loseAnswerNext'],
      [{ loseAnswerOp: 'Commit' }, 'loseAnswerOp'],
      [{ loseAnswerOp: 1 }, 'loseAnswerOp'],
    ];
    for (const [body, reason] of bad) {
      const r = await admin(svc, 'POST', '/admin/hooks', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match((r.json as { error: string }).error, new RegExp(reason));
    }
    const notJson = await rawRequest(svc.dev.httpsPort, { path: '/admin/hooks', body: '{oops', cert: svc.certs.client, key: svc.certs.clientKey, ca: svc.certs.ca });
    assert.equal(notJson.status, 400);
    const hooks = await admin(svc, 'GET', '/admin/hooks');
    assert.deepEqual(hooks.json, { hooks: svc.dev.hooks() });
    assert.equal((await admin(svc, 'GET', '/admin/nothing')).status, 404);
    const get = await rawRequest(svc.dev.httpsPort, { method: 'GET', path: '/', cert: svc.certs.client, key: svc.certs.clientKey, ca: svc.certs.ca });
    assert.equal(get.status, 405);
  });

  it('a request that is not SOAP gets a Client fault and is recorded as invalid', async () => {
    const r = await rawRequest(svc.dev.httpsPort, { body: 'hello', cert: svc.certs.client, key: svc.certs.clientKey, ca: svc.certs.ca });
    assert.equal(r.status, 500);
    assert.match(r.body, /SOAP-ENV:Client/);
    const last = (await svc.readCalls()).pop();
    assert.equal(last?.op, 'invalid');
    assert.equal(last?.fault, 22);
  });
});

describe('hooks set at start', () => {
  it('failNext from the options applies to the first calls', async () => {
    const svc = await startDevService({ hooks: { failNext: 1, failCode: 5 } });
    try {
      const c = svc.client();
      const job = newJob();
      await assert.rejects(c.registerJob(job, CLIENT_SUBJECT), code('JP_SOAP_FAULT', 5));
      await c.registerJob(job, CLIENT_SUBJECT);
    } finally {
      await svc.close();
    }
  });
});
