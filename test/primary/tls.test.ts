import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { JpError } from '../../src/core/errors.js';
import { classify } from '../../src/core/classify.js';
import { PrimaryClient } from '../../src/primary/client.js';
import { CLIENT_SUBJECT, devCerts } from '../helpers/certs.js';
import { rawRequest, startDevService, type DevService } from '../helpers/primary-dev.js';

const certs = devCerts();
const JOB = 'https://lb.example.org:9000/tlsTestJob';
const services: DevService[] = [];
after(async () => {
  await Promise.all(services.map((s) => s.close()));
});

async function service(kind: 'good' | 'rogue' | 'expired' | 'wronghost'): Promise<DevService> {
  const s = await startDevService({ serverCert: kind });
  services.push(s);
  return s;
}

function tlsError(includes: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof JpError, String(e));
    assert.equal(e.code, 'JP_TLS', e.message);
    assert.match(e.message, includes);
    assert.equal(classify(e, { operation: 'RegisterJob' }).kind, 'retry', 'messages are kept for retry');
    return true;
  };
}

async function nothingRecorded(svc: DevService): Promise<void> {
  assert.deepEqual(await svc.readCalls(), []);
  const st = svc.dev.stats();
  assert.equal(Object.values(st.calls).reduce((n, c) => n + c.ok + c.fault, 0), 0);
}

describe('TLS failures seen by the client (nothing reaches the service)', () => {
  it('service certificate from an unknown CA', async () => {
    const svc = await service('rogue');
    await assert.rejects(svc.client().registerJob(JOB, CLIENT_SUBJECT), tlsError(/unknown CA/));
    await nothingRecorded(svc);
  });

  it('expired service certificate', async () => {
    const svc = await service('expired');
    await assert.rejects(svc.client().registerJob(JOB, CLIENT_SUBJECT), tlsError(/expired/));
    await nothingRecorded(svc);
  });

  it('service certificate for another host name', async () => {
    const svc = await service('wronghost');
    await assert.rejects(svc.client().registerJob(JOB, CLIENT_SUBJECT), tlsError(/hostname mismatch/));
    await nothingRecorded(svc);
  });

  it('our own certificate expired: refused before sending', async () => {
    const svc = await service('good');
    const c = svc.client({ certFile: certs.clientExpired, keyFile: certs.clientExpiredKey });
    await assert.rejects(c.registerJob(JOB, CLIENT_SUBJECT), tlsError(/client certificate .* expired at 2020-02-01T00:00:00.000Z; not sending/));
    await nothingRecorded(svc);
    assert.equal(svc.dev.stats().tlsRefused, 0, 'not even a handshake');
  });

  it('a plain HTTP service on the port', async () => {
    const http = createHttpServer((_req, res) => res.end('hello'));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    try {
      const port = (http.address() as AddressInfo).port;
      const c = new PrimaryClient({ endpoint: `127.0.0.1:${port}`, certFile: certs.client, keyFile: certs.clientKey, caPath: certs.caDir, timeoutMs: 10_000 });
      await assert.rejects(c.registerJob(JOB, CLIENT_SUBJECT), tlsError(/did not answer with TLS/));
      await c.close();
    } finally {
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    }
  });

  it('nothing listening: JP_NETWORK connection refused', async () => {
    const net = createNetServer();
    await new Promise<void>((r) => net.listen(0, '127.0.0.1', r));
    const port = (net.address() as AddressInfo).port;
    await new Promise((r) => net.close(r));
    const c = new PrimaryClient({ endpoint: `127.0.0.1:${port}`, certFile: certs.client, keyFile: certs.clientKey, caPath: certs.caDir });
    await assert.rejects(c.registerJob(JOB, CLIENT_SUBJECT), (e: unknown) => e instanceof JpError && e.code === 'JP_NETWORK' && /refused/.test(e.message));
    await c.close();
  });

  it('missing credentials: JP_CREDENTIALS naming the file, retried later', async () => {
    const c = new PrimaryClient({ endpoint: '127.0.0.1:1', certFile: '/nonexistent/cert.pem', keyFile: certs.clientKey, caPath: certs.caDir });
    const err = await c.registerJob(JOB, CLIENT_SUBJECT).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof JpError && err.code === 'JP_CREDENTIALS' && err.message.includes('/nonexistent/cert.pem'));
    assert.equal(classify(err).kind, 'retry');
    await c.close();
  });
});

describe('the service refuses clients without an acceptable certificate', () => {
  const soap = '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><j:RegisterJob xmlns:j="http://glite.org/wsdl/elements/jp"><job>https://lb/x</job><owner>o</owner></j:RegisterJob></s:Body></s:Envelope>';

  const cases: [string, { cert?: string; key?: string }][] = [
    ['no client certificate', {}],
    ['expired client certificate', { cert: certs.clientExpired, key: certs.clientExpiredKey }],
    ['client certificate from an unknown CA', { cert: certs.rogueClient, key: certs.rogueClientKey }],
  ];
  for (const [name, cred] of cases) {
    it(name, async () => {
      const svc = await service('good');
      await assert.rejects(rawRequest(svc.dev.httpsPort, { ...cred, ca: certs.ca, body: soap }), (e: unknown) => e instanceof Error);
      await nothingRecorded(svc);
      assert.ok(svc.dev.stats().tlsRefused >= 1, 'the refusal is counted');
    });
  }

  it('the PrimaryClient with a certificate from an unknown CA fails with a retryable error and sends nothing', async () => {
    const svc = await service('good');
    const c = svc.client({ certFile: certs.rogueClient, keyFile: certs.rogueClientKey });
    const err = await c.registerJob(JOB, CLIENT_SUBJECT).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof JpError && (err.code === 'JP_TLS' || err.code === 'JP_NETWORK'), String(err));
    assert.equal(classify(err).kind, 'retry');
    await nothingRecorded(svc);
  });

  it('the same raw request with the dev client certificate is served', async () => {
    const svc = await service('good');
    const r = await rawRequest(svc.dev.httpsPort, { cert: certs.client, key: certs.clientKey, ca: certs.ca, body: soap.replace('https://lb/x', 'https://lb/rawOk') });
    assert.equal(r.status, 200);
    assert.match(r.body, /RegisterJobResponse/);
    assert.equal((await svc.readCalls()).length, 1);
  });
});
