import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CLIENT2_SUBJECT, CLIENT_SUBJECT } from '../helpers/certs.js';
import { startDevService, type DevService } from '../helpers/primary-dev.js';

const newJob = (): string => `https://lb.example.org:9000/${randomBytes(9).toString('base64url')}`;

describe('renewed credentials on disk are used without restarting the client', () => {
  let svc: DevService;
  let dir: string;
  before(async () => {
    svc = await startDevService();
    dir = await mkdtemp(join(tmpdir(), 'jp-rotation-'));
  });
  after(async () => {
    await svc.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function subjectOf(job: string): Promise<string | undefined> {
    return (await svc.readCalls()).find((l) => l.job === job)?.client;
  }

  it('checked on every use (interval 0): the next call presents the new certificate', async () => {
    const cert = join(dir, 'a-cert.pem');
    const key = join(dir, 'a-key.pem');
    await copyFile(svc.certs.client, cert);
    await copyFile(svc.certs.clientKey, key);
    const c = svc.client({ certFile: cert, keyFile: key, credentialCheckIntervalMs: 0 });
    const j1 = newJob();
    await c.registerJob(j1, (await c.identity()).subject);
    assert.equal(await subjectOf(j1), CLIENT_SUBJECT);

    await copyFile(svc.certs.client2, cert);
    await copyFile(svc.certs.client2Key, key);
    const j2 = newJob();
    await c.registerJob(j2, (await c.identity()).subject);
    assert.equal(await subjectOf(j2), CLIENT2_SUBJECT);
    const line = (await svc.readCalls()).find((l) => l.job === j2);
    assert.equal(line?.owner, CLIENT2_SUBJECT, 'identity() follows the renewal too');

    const j3 = newJob();
    await c.registerJob(j3, CLIENT2_SUBJECT);
    assert.equal(await subjectOf(j3), CLIENT2_SUBJECT);
  });

  it('with a check interval: the old certificate until the interval passes (clock from the options)', async () => {
    const cert = join(dir, 'b-cert.pem');
    const key = join(dir, 'b-key.pem');
    await copyFile(svc.certs.client, cert);
    await copyFile(svc.certs.clientKey, key);
    let now = Date.now();
    const c = svc.client({ certFile: cert, keyFile: key, credentialCheckIntervalMs: 60_000, clock: { now: () => now } });
    const j1 = newJob();
    await c.registerJob(j1, CLIENT_SUBJECT);
    await copyFile(svc.certs.client2, cert);
    await copyFile(svc.certs.client2Key, key);
    const j2 = newJob();
    await c.registerJob(j2, CLIENT_SUBJECT);
    assert.equal(await subjectOf(j2), CLIENT_SUBJECT, 'not looked at yet');
    now += 60_000;
    const j3 = newJob();
    await c.registerJob(j3, CLIENT_SUBJECT);
    assert.equal(await subjectOf(j3), CLIENT2_SUBJECT);
  });

  it('a half-written renewal (certificate without its key) keeps the old pair working', async () => {
    const cert = join(dir, 'c-cert.pem');
    const key = join(dir, 'c-key.pem');
    await copyFile(svc.certs.client, cert);
    await copyFile(svc.certs.clientKey, key);
    const c = svc.client({ certFile: cert, keyFile: key, credentialCheckIntervalMs: 0 });
    await c.registerJob(newJob(), CLIENT_SUBJECT);
    await copyFile(svc.certs.client2, cert);
    const j = newJob();
    await c.registerJob(j, CLIENT_SUBJECT);
    assert.equal(await subjectOf(j), CLIENT_SUBJECT);
    await copyFile(svc.certs.client2Key, key);
    const j2 = newJob();
    await c.registerJob(j2, CLIENT_SUBJECT);
    assert.equal(await subjectOf(j2), CLIENT2_SUBJECT);
  });
});
