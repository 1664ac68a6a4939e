/**
 * R4: TLS faults between the importer and the primary service. Nothing is
 * sent (the service records no call), a log line says what is wrong with
 * which certificate, the messages wait (in post/, or held in new/ while the
 * worker probes with one); a renewed certificate (or
 * CA) on disk is used without restarting the importer.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, rename } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { PrimaryDevHandle } from '../../src/primary-dev/index.js';
import { devCerts } from '../helpers/certs.js';
import { importerArgs, jobId, listMessages, OWNER, spoolDirs, startImporter, type ImporterProc } from '../helpers/daemon.js';
import { readCalls, registeredJobs, startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { pollUntil, storeManyLikeLb } from '../helpers/chaos.js';
import { liveWorkers, stopImporter } from './procs.js';

const M = 5;
const RETRY = ['--retry-first', '1s', '--retry-max', '2s'];

interface Scenario {
  dir: string;
  reg: string;
  jobs: string[];
  imp: ImporterProc;
}

/** An importer with its own spool holding M registrations, against `port`. */
async function scenario(t: TestContext, port: number, tag: string, setup: (dir: string) => Promise<string[]> = async () => []): Promise<Scenario> {
  const dir = await tempDir(t);
  const extra = await setup(dir);
  const reg = join(dir, 'reg');
  await spoolDirs(reg);
  const jobs = Array.from({ length: M }, (_, i) => jobId(`${tag}_${i}`));
  await storeManyLikeLb(reg, jobs.map((j) => `${j}\n${OWNER}`));
  const args = importerArgs(port, dir, RETRY);
  // -c/-k/-C given by the setup replace the defaults
  for (let i = 0; i + 1 < extra.length; i += 2) {
    const at = args.indexOf(extra[i] as string);
    if (at >= 0) args[at + 1] = extra[i + 1] as string;
    else args.push(extra[i] as string, extra[i + 1] as string);
  }
  const imp = startImporter(args);
  t.after(() => imp.child.kill('SIGKILL'));
  return { dir, reg, jobs, imp };
}

/**
 * A message failed at least twice (the worker's probe), every message is
 * kept (in post/ after a failed attempt, or held untouched in new/ by the
 * destination gate), and the retry reason matches.
 */
async function assertKeptForRetry(s: Scenario, reason: RegExp, svc: PrimaryDevHandle): Promise<string> {
  const line = await s.imp.waitForLog((l) => l['outcome'] === 'retry' && Number(l['attempts']) >= 2, 30_000);
  assert.match(String(line['reason']), reason);
  const kept = async (): Promise<number> =>
    (await listMessages(join(s.reg, 'post'))).length + (await listMessages(join(s.reg, 'new'))).length;
  await pollUntil(async () => (await kept()) === M, 20_000, `${M} messages kept in post/ and new/`, 100);
  assert.ok((await listMessages(join(s.reg, 'post'))).length >= 1, 'the failed ones wait in post/');
  const held = s.imp.logs.find((l) => l['destination'] === 'unreachable');
  assert.match(String(held?.['reason']), reason, 'the worker holds its messages and says why');
  assert.deepEqual(await readCalls(svc.callsFile), [], 'the service recorded no call');
  assert.equal(svc.stats().jobs, 0);
  assert.equal(s.imp.logs.filter((l) => l['outcome'] === 'delivered' || l['outcome'] === 'giveup').length, 0, 'nothing delivered or given up');
  return String(line['reason']);
}

async function assertDelivered(s: Scenario, svc: PrimaryDevHandle): Promise<void> {
  await pollUntil(async () => (await registeredJobs(svc.callsFile)).size === M, 30_000, `${M} delivered`, 100);
  await pollUntil(async () => (await listMessages(join(s.reg, 'post'))).length === 0, 10_000, 'post/ empty', 100);
  assert.deepEqual(await listMessages(join(s.reg, 'undeliverable')), []);
}

/** Replace cert and key at their paths the way an operator's renewal does (each file atomically). */
async function renew(certPath: string, keyPath: string, cert: string, key: string): Promise<void> {
  await copyFile(key, `${keyPath}.new`);
  await copyFile(cert, `${certPath}.new`);
  await rename(`${keyPath}.new`, keyPath);
  await rename(`${certPath}.new`, certPath);
}

const startsOf = (imp: ImporterProc): number => imp.logs.filter((l) => l.msg === 'worker started').length;

test('R4: service certificate from an unknown CA, expired, or for another host: nothing sent, reason logged, kept; fixed: delivered without restart',
  { timeout: 120_000 }, async (t) => {
    const c = devCerts();
    const cases = [
      { name: 'unknown CA', cert: c.rogueServer, key: c.rogueServerKey, reason: /TLS: unknown CA: the service certificate is not signed by a trusted CA/ },
      { name: 'expired', cert: c.serverExpired, key: c.serverExpiredKey, reason: /TLS: the service certificate has expired/ },
      { name: 'wrong host', cert: c.serverWronghost, key: c.serverWronghostKey, reason: /TLS: hostname mismatch/ },
    ];
    await Promise.all(cases.map(async (k, idx) => {
      const svcDir = await tempDir(t);
      let svc = await startService(svcDir, { certFile: k.cert, keyFile: k.key });
      t.after(() => svc.close());
      // The importer trusts a copy of the CA directory (for the unknown-CA case the rogue CA is added later).
      const s = await scenario(t, svc.httpsPort, `r4srv${idx}`, async (dir) => {
        await mkdir(join(dir, 'ca'));
        await copyFile(c.ca, join(dir, 'ca', 'dev-ca.pem'));
        return ['-C', join(dir, 'ca')];
      });
      const reason = await assertKeptForRetry(s, k.reason, svc);
      t.diagnostic(`${k.name}: ${reason}`);
      assert.equal(svc.stats().calls['RegisterJob']?.ok ?? 0, 0);
      const starts = startsOf(s.imp);
      const master = s.imp.child.pid;
      if (k.name === 'unknown CA') {
        // the operator adds the issuing CA to the trust directory: picked up without restart
        await copyFile(c.rogueCa, join(s.dir, 'ca', 'rogue-ca.pem'));
      } else {
        // the service gets a good certificate (restarted on the same port)
        const port = svc.httpsPort;
        await svc.close();
        svc = await startService(svcDir, { listen: `127.0.0.1:${port}` });
      }
      await assertDelivered(s, svc);
      assert.equal(startsOf(s.imp), starts, `${k.name}: no worker restarted`);
      assert.equal(s.imp.child.pid, master);
      assert.equal(await stopImporter(s.imp), 0);
    }));
  });

test('R4: our certificate refused by the service (rogue CA) or expired: nothing recorded, reason logged, kept; renewed on disk: delivered without restart',
  { timeout: 120_000 }, async (t) => {
    const c = devCerts();
    const cases = [
      { name: 'rogue', cert: c.rogueClient, key: c.rogueClientKey, reason: /refusing our client certificate|unknown ca|certificate/i },
      { name: 'expired', cert: c.clientExpired, key: c.clientExpiredKey, reason: /our client certificate .* expired at .*not sending/ },
    ];
    await Promise.all(cases.map(async (k) => {
      const svc = await startService(await tempDir(t));
      t.after(() => svc.close());
      const certDir = await tempDir(t);
      const certPath = join(certDir, 'hostcert.pem');
      const keyPath = join(certDir, 'hostkey.pem');
      await copyFile(k.cert, certPath);
      await copyFile(k.key, keyPath);
      const s = await scenario(t, svc.httpsPort, `r4cli_${k.name}`, async () => ['-c', certPath, '-k', keyPath]);
      const reason = await assertKeptForRetry(s, k.reason, svc);
      t.diagnostic(`${k.name}: ${reason}`);
      if (k.name === 'rogue') assert.ok(svc.stats().tlsRefused > 0, 'the service refused the handshakes');
      else assert.equal(svc.stats().tlsRefused, 0, 'an expired certificate is not even offered');
      const starts = startsOf(s.imp);
      const workerPid = liveWorkers(s.imp).get('reg');
      await renew(certPath, keyPath, c.client, c.clientKey);
      await assertDelivered(s, svc);
      await s.imp.waitForLog((l) => /credentials changed on disk, reloaded/.test(String(l.msg)), 5_000);
      assert.equal(startsOf(s.imp), starts, 'no worker restarted');
      assert.equal(liveWorkers(s.imp).get('reg'), workerPid);
      assert.equal(await stopImporter(s.imp), 0);
    }));
  });

/** POST a SOAP-looking request without a client certificate. */
function postWithoutCert(port: number, ca: Buffer): Promise<{ status?: number; error?: string }> {
  return new Promise((resolve) => {
    const req = request({
      host: '127.0.0.1', port, method: 'POST', path: '/', ca, servername: 'localhost', agent: false,
      headers: { 'content-type': 'text/xml' }, timeout: 10_000,
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode }));
    });
    req.on('error', (e) => resolve({ error: e.message }));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end('<Envelope/>');
  });
}

test('R4: a client without a certificate is refused by the service; nothing recorded', { timeout: 30_000 }, async (t) => {
  const c = devCerts();
  const svc = await startService(await tempDir(t));
  t.after(() => svc.close());
  const r = await postWithoutCert(svc.httpsPort, await readFile(c.ca));
  t.diagnostic(`without a certificate: ${JSON.stringify(r)}`);
  assert.equal(r.status, undefined, `no HTTP answer: ${JSON.stringify(r)}`);
  assert.match(String(r.error), /certificate|alert|socket hang up|ECONNRESET/i);
  await pollUntil(() => svc.stats().tlsRefused === 1, 5_000, 'the refusal counted', 20);
  assert.deepEqual(await readCalls(svc.callsFile), []);
});
