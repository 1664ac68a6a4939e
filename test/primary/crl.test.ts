/**
 * R13: CRLs in the CA directory (<hash>.r0, as fetch-crl writes them) are
 * enforced for HTTPS (the primary service client) and FTPS (the upload
 * pool): a revoked service gets nothing, a CA without a CRL still works, a
 * CRL changed on disk applies without restart, an expired CRL refuses (as
 * the grid tools do), a forged or damaged CRL is not honoured.
 */
import { describe, it, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { classify } from '../../src/core/classify.js';
import { JpError } from '../../src/core/errors.js';
import { PrimaryClient } from '../../src/primary/client.js';
import { CredentialWatcher } from '../../src/primary/credentials.js';
import { clientTlsOptions } from '../../src/primary/tls-trust.js';
import { FtpPool, parseFtpUrl } from '../../src/upload/ftp-pool.js';
import { CLIENT_SUBJECT, corruptCrlSignature, devCerts, forgedDevCa, makeCrl, privateCaDir } from '../helpers/certs.js';
import { startDevService, type DevService } from '../helpers/primary-dev.js';
import { startTestFtp, type TestFtp } from '../helpers/ftp.js';
import { tempDir } from '../helpers/tmp.js';
import { importerArgs, jobId, listMessages, OWNER, spoolDirs, startImporter } from '../helpers/daemon.js';
import { readCalls, registeredJobs, startService } from '../helpers/service.js';
import { pollUntil, storeManyLikeLb } from '../helpers/chaos.js';
import { captureLogger, WARN } from '../schedule/helpers.js';

const certs = devCerts();
const REVOKED_SUBJECT = '/C=CZ/O=jp-importer dev/CN=localhost';
const JOB = 'https://lb.example.org:9000/crlTestJob';
const DAY = 86_400_000;
const services: DevService[] = [];
after(async () => {
  await Promise.all(services.map((s) => s.close()));
});

async function service(which: 'revoked' | 'good' | 'rogue'): Promise<DevService> {
  const files = {
    revoked: { certFile: certs.serverRevoked, keyFile: certs.serverRevokedKey },
    good: { certFile: certs.server, keyFile: certs.serverKey },
    rogue: { certFile: certs.rogueServer, keyFile: certs.rogueServerKey },
  }[which];
  const s = await startDevService(files);
  services.push(s);
  return s;
}

/** SOAP requests the service received (any operation, also ones it could not parse). */
async function requestsAt(svc: DevService): Promise<number> {
  const st = svc.dev.stats();
  const counted = Object.values(st.calls).reduce((n, c) => n + c.ok + c.fault, 0);
  const recorded = (await svc.readCalls()).length;
  assert.equal(recorded, counted, 'calls.jsonl and the counters agree');
  return counted;
}

/** fetch-crl style: write a temp file, then rename it over <hash>.r0. */
async function installCrl(file: string, pem: string): Promise<void> {
  await writeFile(`${file}.tmp-${process.pid}`, pem);
  await rename(`${file}.tmp-${process.pid}`, file);
}

function refused(pattern: RegExp, ...mustName: string[]): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof JpError, String(e));
    assert.equal(e.code, 'JP_TLS', e.message);
    assert.match(e.message, pattern);
    for (const s of mustName) assert.ok(e.message.includes(s), `${JSON.stringify(e.message)} does not name ${s}`);
    const o = classify(e, { operation: 'RegisterJob' });
    assert.equal(o.kind, 'retry', 'kept for a later retry (the operator fixes the service certificate or the CRL)');
    assert.equal(o.kind === 'retry' ? o.contact : undefined, 'unreachable', 'the destination is held, not hammered');
    assert.ok(o.reason.includes(e.message), 'the reason is never lost');
    return true;
  };
}

function clientFor(svc: DevService, caPath: string): PrimaryClient {
  return svc.client({ caPath, credentialCheckIntervalMs: 0 });
}

describe('CRLs over HTTPS (jp-primary-dev)', () => {
  it('a revoked service certificate: 20 registrations, 0 reach the service, each refused as revoked naming the subject', async () => {
    const svc = await service('revoked');
    const c = svc.client(); // the dev CA directory: ca.pem, <hash>.0 and the CA's CRL <hash>.r0
    const serial = new X509Certificate(readFileSync(certs.serverRevoked)).serialNumber.replace(/^0+/, '').toUpperCase();
    for (let i = 0; i < 20; i++) {
      await assert.rejects(c.registerJob(`${JOB}${i}`, CLIENT_SUBJECT), refused(/certificate revoked/, REVOKED_SUBJECT, serial, '.r0'));
    }
    assert.equal(await requestsAt(svc), 0);
    // the same CA directory, a service whose certificate the CRL does not list
    const good = await service('good');
    await good.client().registerJob(JOB, CLIENT_SUBJECT);
    assert.equal(await requestsAt(good), 1);
  });

  it('no application byte reaches a TLS peer whose certificate is revoked (the handshake itself completes)', async () => {
    const tcp: Socket[] = [];
    let appBytes = 0;
    const srv = createTlsServer({ cert: readFileSync(certs.serverRevoked), key: readFileSync(certs.serverRevokedKey) }, (s: TLSSocket) => {
      s.on('data', (b: Buffer) => {
        appBytes += b.length;
      });
      s.on('error', () => undefined);
    });
    srv.on('connection', (s: Socket) => tcp.push(s));
    srv.on('tlsClientError', () => undefined);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const port = (srv.address() as AddressInfo).port;
      const c = new PrimaryClient({ endpoint: `127.0.0.1:${port}`, certFile: certs.client, keyFile: certs.clientKey, caPath: certs.caDir, timeoutMs: 10_000 });
      for (let i = 0; i < 5; i++) await assert.rejects(c.registerJob(JOB, CLIENT_SUBJECT), refused(/certificate revoked/, REVOKED_SUBJECT));
      await c.close();
      assert.ok(tcp.length >= 5, `connections: ${tcp.length}`);
      assert.equal(appBytes, 0, 'not one byte of HTTP');
    } finally {
      for (const s of tcp) s.destroy();
      await new Promise((r) => srv.close(r));
    }
  });

  it('a CA without any CRL still works, also next to a CA that has one (OpenSSL would refuse it: "unable to get certificate CRL")', async () => {
    const tmp = await tempDir(undefined, 'jp-crl-');
    const noCrl = privateCaDir(tmp, false);
    const svc = await service('revoked');
    await clientFor(svc, noCrl.dir).registerJob(JOB, CLIENT_SUBJECT);
    assert.equal(await requestsAt(svc), 1, 'no CRL for its CA: accepted, as the grid tools do');
    // dev CA with its CRL + the rogue CA without any
    const mixed = privateCaDir(tmp, true);
    await writeFile(`${mixed.dir}/rogue.0`, readFileSync(certs.rogueCa));
    const rogue = await service('rogue');
    await clientFor(rogue, mixed.dir).registerJob(JOB, CLIENT_SUBJECT);
    assert.equal(await requestsAt(rogue), 1, 'CA without CRL accepted');
    await assert.rejects(clientFor(svc, mixed.dir).registerJob(`${JOB}x`, CLIENT_SUBJECT), refused(/certificate revoked/, REVOKED_SUBJECT));
    assert.equal(await requestsAt(svc), 1);
  });

  it('a CRL written while the client runs applies without restart; un-revoking and removing it too', async () => {
    const tmp = await tempDir(undefined, 'jp-crl-');
    const ca = privateCaDir(tmp, false);
    const svc = await service('revoked');
    const c = clientFor(svc, ca.dir);
    await c.registerJob(`${JOB}1`, CLIENT_SUBJECT); // keeps a keep-alive connection in the pool
    assert.equal(await requestsAt(svc), 1);

    await installCrl(ca.crlFile, makeCrl({ revoke: [certs.serverRevoked] }));
    await assert.rejects(c.registerJob(`${JOB}2`, CLIENT_SUBJECT), refused(/certificate revoked/, REVOKED_SUBJECT, ca.crlFile));
    assert.equal(await requestsAt(svc), 1, 'the pooled connection was not reused');

    await writeFile(ca.crlFile, makeCrl({ revoke: [certs.server] })); // replaced in place: a newer CRL without it
    await c.registerJob(`${JOB}3`, CLIENT_SUBJECT);
    assert.equal(await requestsAt(svc), 2);

    await installCrl(ca.crlFile, makeCrl({ revoke: [certs.server, certs.serverRevoked] }));
    await assert.rejects(c.registerJob(`${JOB}4`, CLIENT_SUBJECT), refused(/certificate revoked/, REVOKED_SUBJECT));
    await rm(ca.crlFile);
    await c.registerJob(`${JOB}5`, CLIENT_SUBJECT);
    assert.equal(await requestsAt(svc), 3);
  });

  it('an expired CRL (nextUpdate passed) refuses the services of its CA, saying so; a fresh one is used at once', async () => {
    const tmp = await tempDir(undefined, 'jp-crl-');
    const ca = privateCaDir(tmp, false);
    const now = Date.now();
    await installCrl(ca.crlFile, makeCrl({ lastUpdate: new Date(now - 40 * DAY), nextUpdate: new Date(now - 10 * DAY) }));
    const svc = await service('good');
    const c = clientFor(svc, ca.dir);
    await assert.rejects(c.registerJob(JOB, CLIENT_SUBJECT), refused(/CRL .*expired/, ca.crlFile, 'jp-importer dev CA'));
    await installCrl(ca.crlFile, makeCrl({ lastUpdate: new Date(now + 2 * DAY), nextUpdate: new Date(now + 30 * DAY) }));
    await assert.rejects(c.registerJob(JOB, CLIENT_SUBJECT), refused(/CRL .*not valid before/, ca.crlFile));
    assert.equal(await requestsAt(svc), 0);
    await installCrl(ca.crlFile, makeCrl({}));
    await c.registerJob(JOB, CLIENT_SUBJECT);
    assert.equal(await requestsAt(svc), 1);
  });

  it('a forged, corrupted or unparsable CRL is not honoured: the CA is refused (fail closed), naming the file', async () => {
    const tmp = await tempDir(undefined, 'jp-crl-');
    const ca = privateCaDir(tmp, true); // the genuine CRL revokes server-revoked.pem
    const svc = await service('revoked');
    const good = await service('good');
    const c = clientFor(svc, ca.dir);
    const logged = captureLogger();
    const cg = good.client({ caPath: ca.dir, credentialCheckIntervalMs: 0, logger: logged.log });
    // a forger "un-revokes" by replacing the CRL with one of their own (same issuer name, other key)
    await installCrl(ca.crlFile, makeCrl({ signer: forgedDevCa() }));
    await assert.rejects(c.registerJob(JOB, CLIENT_SUBJECT), refused(/CRL .*signature/, ca.crlFile));
    await assert.rejects(cg.registerJob(JOB, CLIENT_SUBJECT), refused(/CRL .*signature/, ca.crlFile));
    const warning = logged.lines.find((l) => l.level === WARN && String(l.msg).includes(ca.crlFile));
    assert.match(String(warning?.msg), /is unusable: its signature does not verify .*forged or damaged/, 'a warning names the file');
    // ... or revokes a good service with a forged entry
    await installCrl(ca.crlFile, makeCrl({ signer: forgedDevCa(), revoke: [certs.server] }));
    await assert.rejects(cg.registerJob(JOB, CLIENT_SUBJECT), (e: unknown) => {
      assert.ok(e instanceof JpError && !/certificate revoked/.test(e.message), `a forged entry is not a revocation: ${String(e)}`);
      return refused(/CRL .*signature/, ca.crlFile)(e);
    });
    await installCrl(ca.crlFile, corruptCrlSignature(makeCrl({})));
    await assert.rejects(cg.registerJob(JOB, CLIENT_SUBJECT), refused(/CRL .*signature/, ca.crlFile));
    await installCrl(ca.crlFile, '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n');
    await assert.rejects(cg.registerJob(JOB, CLIENT_SUBJECT), refused(/CRL .*(unusable|cannot be parsed)/, ca.crlFile));
    assert.equal(await requestsAt(svc), 0);
    assert.equal(await requestsAt(good), 0);
    // a CRL of a CA that is not in the directory changes nothing
    await rm(ca.crlFile);
    const rogueCrl = makeCrl({ signer: { cert: certs.rogueCa, key: certs.rogueCaKey }, revoke: [certs.server] });
    await installCrl(`${ca.dir}/0badc0de.r0`, rogueCrl);
    await cg.registerJob(JOB, CLIENT_SUBJECT);
    assert.equal(await requestsAt(good), 1);
  });
});

function ftpsPki(serverCert: string, serverKey: string): { cert: string; key: string; ca: string } {
  return { cert: readFileSync(serverCert, 'utf8'), key: readFileSync(serverKey, 'utf8'), ca: readFileSync(certs.ca, 'utf8') };
}

/** The pool as the upload worker builds it: TLS trust options from the credential watcher. */
function pool(t: TestContext, caPath: string): FtpPool {
  const watcher = new CredentialWatcher({ certFile: certs.client, keyFile: certs.clientKey, caPath }, { checkIntervalMs: 0 });
  const p = new FtpPool({ timeoutMs: 10_000, tls: async () => clientTlsOptions((await watcher.get()).creds) });
  t.after(() => p.close());
  return p;
}

async function put(p: FtpPool, ftp: TestFtp, name: string): Promise<void> {
  const lease = await p.acquire(parseFtpUrl(ftp.urlOf(name)));
  try {
    await lease.client.uploadFrom(Readable.from([Buffer.from(`data of ${name}\n`)]), name);
    lease.release();
  } catch (e) {
    lease.discard();
    throw e;
  }
}

describe('CRLs over FTPS (ftp-srv, implicit TLS)', () => {
  it('a revoked server certificate: no login, no STOR, refused as revoked', async (t) => {
    const ftp = await startTestFtp(t, { tls: ftpsPki(certs.serverRevoked, certs.serverRevokedKey), implicitTls: true });
    const p = pool(t, certs.caDir);
    for (let i = 0; i < 3; i++) await assert.rejects(put(p, ftp, `f${i}`), refused(/certificate revoked/, REVOKED_SUBJECT));
    assert.equal(ftp.stats().logins, 0);
    assert.equal(ftp.stats().stor + ftp.stats().appe, 0);
  });

  it('a CRL written while the pool runs applies to the next file, also instead of a pooled connection; un-revoking too', async (t) => {
    const tmp = await tempDir(t, 'jp-crl-');
    const ca = privateCaDir(tmp, false);
    const ftp = await startTestFtp(t, { tls: ftpsPki(certs.serverRevoked, certs.serverRevokedKey), implicitTls: true });
    const p = pool(t, ca.dir);
    await put(p, ftp, 'a');
    assert.equal(p.stats().idle, 1);
    await installCrl(ca.crlFile, makeCrl({ revoke: [certs.serverRevoked] }));
    await assert.rejects(put(p, ftp, 'b'), refused(/certificate revoked/, REVOKED_SUBJECT));
    assert.equal(ftp.stats().stor, 1, 'nothing stored after the CRL appeared');
    assert.equal(ftp.stats().logins, 1);
    await installCrl(ca.crlFile, makeCrl({}));
    await put(p, ftp, 'c');
    assert.equal(ftp.stats().stor, 2);
  });

  it('a CA without a CRL works for FTPS too', async (t) => {
    const tmp = await tempDir(t, 'jp-crl-');
    const ca = privateCaDir(tmp, false);
    const ftp = await startTestFtp(t, { tls: ftpsPki(certs.serverRevoked, certs.serverRevokedKey), implicitTls: true });
    await put(pool(t, ca.dir), ftp, 'x');
    assert.equal(ftp.stats().stor, 1);
  });
});

describe('CRLs in the daemon (jp-importer against jp-primary-dev)', () => {
  it('a revoked service: every registration kept and retried with the reason, nothing recorded; un-revoked on disk: all delivered without restart', { timeout: 120_000 }, async (t) => {
    const M = 5;
    const dir = await tempDir(t, 'jp-crl-daemon-');
    const ca = privateCaDir(dir, true); // the dev CA's CRL: server-revoked.pem is revoked
    const svc = await startService(dir, { certFile: certs.serverRevoked, keyFile: certs.serverRevokedKey });
    t.after(() => svc.close());
    const reg = join(dir, 'reg');
    await spoolDirs(reg);
    const jobs = Array.from({ length: M }, (_, i) => jobId(`crl_${i}`));
    await storeManyLikeLb(reg, jobs.map((j) => `${j}\n${OWNER}`));
    const args = importerArgs(svc.httpsPort, dir, ['--retry-first', '1s', '--retry-max', '2s']);
    args[args.indexOf('-C') + 1] = ca.dir;
    const imp = startImporter(args);
    t.after(() => imp.child.kill('SIGKILL'));

    const line = await imp.waitForLog((l) => l['outcome'] === 'retry' && Number(l['attempts']) >= 2, 30_000);
    assert.match(String(line['reason']), /certificate revoked: the certificate of 127\.0\.0\.1 \(\/C=CZ\/O=jp-importer dev\/CN=localhost, serial [0-9A-F]+\) is listed in the CRL/);
    const kept = async (): Promise<number> => (await listMessages(join(reg, 'post'))).length + (await listMessages(join(reg, 'new'))).length;
    await pollUntil(async () => (await kept()) === M, 20_000, `${M} messages kept`, 100);
    assert.deepEqual(await readCalls(svc.callsFile), [], 'the service recorded no call');
    assert.equal(imp.logs.filter((l) => l['outcome'] === 'delivered' || l['outcome'] === 'giveup').length, 0);

    await installCrl(ca.crlFile, makeCrl({})); // the CA lifts the revocation (a newer CRL without it)
    await pollUntil(async () => (await registeredJobs(svc.callsFile)).size === M, 30_000, `${M} delivered`, 100);
    await pollUntil(async () => (await kept()) === 0, 10_000, 'spool empty', 100);
    assert.deepEqual(await listMessages(join(reg, 'undeliverable')), []);
    assert.equal(imp.logs.filter((l) => l.msg === 'worker started').length, 1, 'no worker restarted');
    imp.child.kill('SIGTERM');
    assert.equal(await imp.exited, 0);
  });
});
