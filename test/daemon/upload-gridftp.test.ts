/**
 * gsiftp:// uploads end to end (issue 12 §2): the real jp-importer CLI (its
 * reg, dump and sandbox workers as child processes) against jp-primary-dev
 * handing out gsiftp:// destinations the way the real service does
 * (--gridftp-url; job directories made at RegisterJob) and the real Globus
 * GridFTP server from Debian, started per test on a loopback port.
 *
 * One PKI for everything, the dev one (certs/make-dev-certs.sh): the
 * importer's -c/-k/-C (client certificate, the CA directory with its
 * `<hash>.signing_policy` and CRL) serve both its HTTPS calls and GSI; the
 * service and the GridFTP server use the RSA server certificate for
 * localhost; the GridFTP server's grid-mapfile maps the importer's subject.
 * The fault cases use the dev PKI's other server certificates: from an
 * unknown CA (rogue), for another host name (wrong.example), revoked by the
 * CRL in the importer's CA directory.
 *
 * Then the faults, each with exact counts (committed once, nothing lost,
 * bytes identical): the server killed mid-transfer and started again on the
 * same port (the next attempt resumes from the server's size), the client
 * not in the grid-mapfile (fixed without restarting the importer), an
 * untrusted / wrong-host / revoked server certificate, and a server that
 * accepts and never answers (timeout; SIGTERM exits promptly).
 *
 * Skipped with the reason printed when globus-gridftp-server is missing; in
 * CI (CI=true) that fails instead (../helpers/peers.ts).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { extract } from 'tar-stream';
import { uploadFiles } from '../../src/index.js';
import { formatUploadMessage } from '../../src/messages/keyvalue.js';
import { storeLikeLb } from '../../src/maildir/lb-writer.js';
import { Spool } from '../../src/maildir/spool.js';
import type { PrimaryDevHandle } from '../../src/primary-dev/index.js';
import { CLIENT2_SUBJECT, CLIENT_SUBJECT, devCerts } from '../helpers/certs.js';
import { okPerJob, pollUntil, sized, spoolCounts, storeMany } from '../helpers/chaos.js';
import { importerArgs, jobId, listMessages, OWNER, spoolDirs, startImporter, type ImporterProc } from '../helpers/daemon.js';
import { findGlobusUrlCopy, globusUrlCopy, gridftpSuiteSkip, startGridftpServer, type GridftpServer, type GridftpServerOptions } from '../helpers/gridftp-server.js';
import { peerMissing } from '../helpers/peers.js';
import { readCalls, startService, type Call } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

const WRONGHOST_SUBJECT = '/C=CZ/O=jp-importer dev/CN=wrong.example';
const retryFast = ['--retry-first', '1s', '--retry-max', '2s'];

// ---- the rig: a GridFTP server, the service handing out its URLs, spools ----

interface Rig {
  readonly dir: string;
  readonly server: GridftpServer;
  readonly svc: PrimaryDevHandle;
  /** Where the dump files are (an --allow-dir). */
  readonly files: string;
  readonly reg: string;
  readonly dump: string;
  readonly sandbox: string;
  calls(): Promise<Call[]>;
  /** The importer with the dump (and other) workers; killed at the end of the test. */
  importer(extra?: string[]): ImporterProc;
}

/** The dev server credential and CA directory, and the dev grid-mapfile (overridable). */
function serverOptions(opts: GridftpServerOptions): GridftpServerOptions {
  const c = devCerts();
  return { hostCred: { cert: c.server, key: c.serverKey }, caDir: c.caDir, gridMap: c.gridMap, ...opts };
}

async function rig(t: TestContext, opts: GridftpServerOptions = {}): Promise<Rig | undefined> {
  const server = await startGridftpServer(t, serverOptions(opts));
  if (server === undefined) return undefined;
  const dir = await tempDir(t, 'jp-gsiftp-e2e-');
  const svc = await startService(dir, { gridftpUrl: server.url(server.root) });
  t.after(() => svc.close());
  const files = join(dir, 'files');
  await mkdir(files);
  const [reg, dump, sandbox] = ['reg', 'dump', 'sandbox'].map((s) => join(dir, s)) as [string, string, string];
  for (const s of [reg, dump, sandbox]) await spoolDirs(s);
  return {
    dir, server, svc, files, reg, dump, sandbox,
    calls: () => readCalls(svc.callsFile),
    importer(extra = []) {
      const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--workers', 'dump', '--allow-dir', files, ...retryFast, ...extra]));
      t.after(() => {
        imp.child.kill('SIGKILL');
      });
      return imp;
    },
  };
}

interface Dump {
  readonly job: string;
  readonly path: string;
  readonly data: Buffer;
}

/** Write dump files (random bytes, `size(i)` long) and queue one upload message each. */
async function queueDumps(r: Rig, prefix: string, n: number, size: (i: number) => number): Promise<Dump[]> {
  const plan = Array.from({ length: n }, (_, i) => ({ job: jobId(`${prefix}_${i}`), path: join(r.files, `${prefix}_${i}.dump`), data: randomBytes(size(i)) }));
  for (const p of plan) await writeFile(p.path, p.data);
  await storeMany(r.dump, plan.map((p) => formatUploadMessage({ jobid: p.job, file: p.path })));
  return plan;
}

/** The local path of a gsiftp:// destination (the server serves the whole file system; the service's directory is the URL's path). */
const serverPath = (destination: unknown): string => decodeURIComponent(new URL(String(destination)).pathname);

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The destination StartUpload gave `job` (the last one answered). */
function destinationOf(calls: readonly Call[], job: string): string | undefined {
  const d = calls.filter((c) => c.op === 'StartUpload' && c.ok && c.job === job).at(-1)?.['destination'];
  return d === undefined ? undefined : String(d);
}

/** Every dump committed exactly once, its file at the server byte-identical, the local file gone (once the spool drained: it is removed after the commit). */
async function assertDelivered(r: Rig, plan: readonly Dump[]): Promise<void> {
  await assertDrained(r.dump);
  const calls = await r.calls();
  const commits = okPerJob(calls, 'CommitUpload');
  for (const p of plan) {
    assert.equal(commits.get(p.job), 1, `${p.job}: committed once`);
    const dest = destinationOf(calls, p.job);
    assert.match(String(dest), /^gsiftp:\/\/localhost:\d+\//, `${p.job}: a gsiftp:// destination`);
    const commit = calls.find((c) => c.op === 'CommitUpload' && c.ok && c.job === p.job);
    assert.equal(commit?.['destination'], dest, `${p.job}: committed where StartUpload said`);
    assert.equal(commit?.['bytes'], p.data.length, `${p.job}: the service saw all bytes`);
    assert.ok((await readFile(serverPath(dest))).equals(p.data), `${p.job}: bytes at the server equal the dump`);
    assert.equal(existsSync(p.path), false, `${p.job}: local file removed after the commit`);
  }
}

/** new/, cur/, post/ and undeliverable/ of a spool all empty. */
async function assertDrained(root: string): Promise<void> {
  await pollUntil(async () => {
    const c = await spoolCounts(root);
    return c.new + c.cur + c.post === 0;
  }, 20_000, `${root} drained`, 50);
  assert.deepEqual(await listMessages(join(root, 'undeliverable')), [], `nothing given up in ${root}`);
}

/** The reasons kept in post/*.meta, by message name. */
async function postReasons(root: string): Promise<Map<string, { reason: string; attempts: number; destination: string | undefined }>> {
  const spool = new Spool(root);
  const out = new Map<string, { reason: string; attempts: number; destination: string | undefined }>();
  for (const name of await listMessages(join(root, 'post'))) {
    const m = await spool.readMeta('post', name);
    if (m !== undefined) out.set(name, { reason: m.lastError, attempts: m.attempts, destination: m.upload?.destination });
  }
  return out;
}

async function stopImporter(imp: ImporterProc): Promise<number> {
  const t0 = Date.now();
  imp.child.kill('SIGTERM');
  assert.equal(await imp.exited, 0, 'the importer exits 0 on SIGTERM');
  return Date.now() - t0;
}

const logTail = (imp: ImporterProc): string => imp.logs.slice(-12).map((l) => JSON.stringify(l)).join('\n');

/** Poll `cond` while the importer runs: fails at once when it exited, and with its last log lines on a timeout. */
async function waitWhileRunning(imp: ImporterProc, cond: () => Promise<boolean>, ms: number, what: string, everyMs = 50): Promise<void> {
  try {
    await pollUntil(async () => {
      if (imp.child.exitCode !== null || imp.child.signalCode !== null) {
        throw new Error(`the importer exited (${imp.child.exitCode ?? imp.child.signalCode}) while waiting for ${what}`);
      }
      return cond();
    }, ms, what, everyMs);
  } catch (e) {
    throw new Error(`${e instanceof Error ? e.message : String(e)}; importer log:\n${logTail(imp)}`, { cause: e });
  }
}

async function readTar(path: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        out.set(header.name, Buffer.concat(chunks));
        next();
      });
    });
    ex.on('finish', () => resolve());
    ex.on('error', reject);
  });
  createReadStream(path).pipe(ex);
  await done;
  return out;
}

/** A big file whose every 4 KiB block starts with its own offset (a resume at a wrong offset cannot go unnoticed); its sha256. */
async function writePatterned(path: string, bytes: number): Promise<string> {
  const block = randomBytes(1 << 20);
  const h = createHash('sha256');
  const fh = await open(path, 'w');
  try {
    for (let off = 0; off < bytes; off += block.length) {
      const chunk = Buffer.from(block.subarray(0, Math.min(block.length, bytes - off)));
      for (let p = 0; p + 8 <= chunk.length; p += 4096) chunk.writeBigUInt64BE(BigInt(off + p), p);
      h.update(chunk);
      await fh.write(chunk);
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

const skip = gridftpSuiteSkip();

describe('gsiftp:// uploads through the real Globus GridFTP server', { skip }, () => {
  test(`end to end: ${sized(40, 400)} dumps (half with failsafe registration) and ${sized(4, 40)} sandboxes uploaded over GSI, each committed once, byte-identical, cross-checked with globus-url-copy`,
    { timeout: 180_000 }, async (t) => {
      const r = await rig(t);
      if (r === undefined) return;
      const N = sized(40, 400);
      const S = sized(4, 40);
      const registered = Array.from({ length: N / 2 }, (_, i) => jobId(`gsi_${i}`));
      const sandboxJobs = Array.from({ length: S }, (_, i) => jobId(`gsi_sb_${i}`));
      // The LB server registers half of the dump jobs and the sandbox jobs (sandboxes have no failsafe registration).
      for (const j of [...registered, ...sandboxJobs]) await storeLikeLb(r.reg, `${j}\n${OWNER}`);
      const started = Date.now();
      const imp = r.importer(['--workers', 'reg,dump,sandbox']);
      await waitWhileRunning(imp, async () => (await r.calls()).filter((c) => c.op === 'RegisterJob' && c.ok).length === registered.length + S,
        60_000, 'the registrations delivered');

      // Dumps: the first half of the jobs is registered, the second half is not (failsafe registration).
      const plan = await queueDumps(r, 'gsi', N, (i) => 1_000 + ((i * 7919) % 120_000));
      const sandboxInputs = await Promise.all(sandboxJobs.map(async (job, i) => {
        const d = join(r.dir, `job-output-${i}`);
        await mkdir(d);
        const inputs = new Map([[join(d, 'stdout.txt'), Buffer.from(`hello from ${job}\n`)], [join(d, 'result.bin'), randomBytes(50_000 + i * 1_000)]]);
        for (const [p, data] of inputs) await writeFile(p, data);
        const id = await uploadFiles(job, [...inputs.keys()], { maildir: r.sandbox });
        return { job, inputs, id };
      }));

      await r.server.explain(() => waitWhileRunning(imp, async () => okPerJob(await r.calls(), 'CommitUpload').size === N + S, 120_000, `${N + S} uploads committed`, 100));
      const elapsed = Date.now() - started;
      await assertDelivered(r, plan);
      await Promise.all([r.reg, r.dump, r.sandbox].map(assertDrained));

      const calls = await r.calls();
      // Failsafe registration: exactly the jobs the LB did not register, each once, by the importer, before their upload.
      const failsafeJobs = new Set(plan.slice(N / 2).map((p) => p.job));
      const regs = calls.filter((c) => c.op === 'RegisterJob');
      assert.equal(regs.filter((c) => !c.ok).length, 0, 'no RegisterJob refused (no duplicates)');
      assert.deepEqual(new Set(regs.map((c) => String(c.job))), new Set([...registered, ...sandboxJobs, ...failsafeJobs]));
      for (const job of failsafeJobs) {
        const mine = calls.filter((c) => c.job === job).map((c) => `${c.op}:${c.ok ? 'ok' : `fault ${c.fault}`}`);
        assert.deepEqual(mine.slice(0, 2), ['StartUpload:fault 2', 'GetJobAttributes:fault 2'], `${job}: not known to the service at first`);
        assert.deepEqual(mine.slice(2), ['RegisterJob:ok', 'StartUpload:ok', 'CommitUpload:ok'], `${job}: registered by the importer, then uploaded`);
        assert.equal(calls.find((c) => c.op === 'RegisterJob' && c.job === job)?.owner, CLIENT_SUBJECT, `${job}: registered with the importer's subject as owner`);
      }
      for (const job of registered) {
        assert.deepEqual(calls.filter((c) => c.job === job && c.op !== 'RegisterJob').map((c) => `${c.op}:${c.ok ? 'ok' : `fault ${c.fault}`}`),
          ['StartUpload:ok', 'CommitUpload:ok'], `${job}: registered by the LB, uploaded at once`);
      }
      assert.equal(imp.logs.filter((l) => l.msg === 'job was not registered: registered it (failsafe registration)').length, failsafeJobs.size);

      // Sandboxes: each tar committed once into its isb destination, holding the input files.
      const sbCommits = okPerJob(calls, 'CommitUpload');
      for (const sb of sandboxInputs) {
        assert.equal(sbCommits.get(sb.job), 1, `${sb.job}: committed once`);
        const dest = destinationOf(calls, sb.job);
        // No name in StartUpload (as the original importer): the service stores the file as its class.
        assert.match(String(dest), /^gsiftp:\/\/localhost:\d+\/.*\/urn:org\.glite\.jp\.primary:isb$/, `${sb.job}: ${String(dest)}`);
        const tar = await readTar(serverPath(dest));
        assert.equal(tar.size, sb.inputs.size);
        for (const [p, data] of sb.inputs) assert.ok(tar.get(p.replace(/^\/+/, ''))?.equals(data), `${sb.job}: ${p} in the tar at the server`);
      }
      assert.deepEqual(await readdir(join(r.dir, 'sandbox-tars')), [], 'the sandbox tars removed after their commits');
      assert.deepEqual(imp.logs.filter((l) => l['outcome'] === 'retry' || l['outcome'] === 'giveup').map((l) => l['reason']), [], 'no attempt failed');
      assert.equal(imp.logs.filter((l) => l['outcome'] === 'delivered').length, registered.length + S + N + S);

      // Connections are pooled: far fewer GSI logins than files.
      const logins = (await r.server.log()).split('\n').filter((l) => l.includes('[CLIENT]: USER :globus-mapping:')).length;
      assert.ok(logins >= 1 && logins < (N + S) / 2, `${logins} GSI logins for ${N + S} files`);
      const stopMs = await stopImporter(imp);
      t.diagnostic(`${N} dumps + ${S} sandboxes over gsiftp:// in ${elapsed} ms (${logins} GSI logins); SIGTERM exit in ${stopMs} ms`);

      // The Globus client fetches a sample back: the same sha256 as what was queued.
      const guc = findGlobusUrlCopy();
      if ('missing' in guc) {
        peerMissing(t, guc.missing);
        return;
      }
      const c = devCerts();
      const back = await tempDir(t, 'jp-guc-back-');
      const sample = [plan[0], plan[N / 2], plan[N - 1]] as Dump[];
      for (const [i, p] of sample.entries()) {
        const local = join(back, `dump-${i}`);
        const got = globusUrlCopy([String(destinationOf(calls, p.job)), `file://${local}`], { cert: c.client, key: c.clientKey }, c.caDir);
        assert.equal(got.status, 0, `globus-url-copy: ${got.output}`);
        assert.equal(await sha256File(local), sha256(p.data), `${p.job}: fetched back by globus-url-copy, same sha256`);
      }
      const sb = sandboxInputs[0];
      assert.ok(sb !== undefined);
      const sbDest = String(destinationOf(calls, sb.job));
      const local = join(back, 'sandbox.tar');
      const got = globusUrlCopy([sbDest, `file://${local}`], { cert: c.client, key: c.clientKey }, c.caDir);
      assert.equal(got.status, 0, `globus-url-copy: ${got.output}`);
      assert.equal(await sha256File(local), await sha256File(serverPath(sbDest)), `${sb.job}: the sandbox fetched back equals the stored one`);
      for (const [p, data] of sb.inputs) assert.ok((await readTar(local)).get(p.replace(/^\/+/, ''))?.equals(data), `${p} in the fetched tar`);
    });

  test('the GridFTP server killed mid-transfer and started again on the same port: the next attempt resumes from its size (ESTO), one commit, byte-identical',
    { timeout: 180_000 }, async (t) => {
      const r = await rig(t);
      if (r === undefined) return;
      const MiB = 1024 * 1024;
      const bigSize = sized(160, 400) * MiB;
      const big = { job: jobId('gsi_big'), path: join(r.files, 'big.dump') };
      const bigSha = await writePatterned(big.path, bigSize);
      const small = await queueDumps(r, 'gsi_small', sized(6, 60), (i) => 10_000 + i * 3_000);
      await storeMany(r.dump, [formatUploadMessage({ jobid: big.job, file: big.path })]);
      const imp = r.importer();

      // Kill the server (its listener and the session writing the file: the whole process group) while the file grows.
      let dest: string | undefined;
      await waitWhileRunning(imp, async () => (dest = destinationOf(await r.calls(), big.job)) !== undefined, 60_000, 'StartUpload of the big dump', 5);
      const target = serverPath(dest);
      let seen = 0;
      await pollUntil(async () => {
        seen = await stat(target).then((s) => s.size, () => 0);
        return seen > 0;
      }, 60_000, `${target} growing at the server`, 2);
      assert.ok(seen < bigSize, `the transfer must still be running when the server is killed (it already held ${seen} of ${bigSize} bytes)`);
      const port = r.server.port;
      await r.server.stop();
      assert.deepEqual(r.server.processes(), [], 'no server process left');
      const cutAt = (await stat(target)).size;
      assert.ok(cutAt < bigSize, `the server was killed mid-transfer (it holds ${cutAt} of ${bigSize} bytes)`);

      // The attempt fails and is kept for a retry with its destination.
      await waitWhileRunning(imp, async () => [...(await postReasons(r.dump)).values()].some((m) => m.destination === dest), 60_000, 'the cut upload kept in post/ with its destination');
      const kept = [...(await postReasons(r.dump)).values()].find((m) => m.destination === dest);
      assert.match(String(kept?.reason), /GridFTP upload/);
      t.diagnostic(`kept with: ${String(kept?.reason)}`);

      // Started again on the same port, over the same files.
      const again = await startGridftpServer(t, serverOptions({ port, root: r.server.root }));
      assert.ok(again !== undefined);
      assert.equal(again.port, port);
      const delivered = await again.explain(() => imp.waitForLog((l) => l['outcome'] === 'delivered' && l['job'] === big.job, 120_000));
      const m = /^committed into the upload of an earlier attempt \(resumed at byte (\d+) of (\d+)\)/.exec(String(delivered['note']));
      assert.ok(m !== null, `a resumed upload: ${String(delivered['note'])}`);
      const resumedAt = Number(m[1]);
      assert.equal(Number(m[2]), bigSize);
      assert.ok(resumedAt > 0 && resumedAt < bigSize, `resumed at byte ${resumedAt}`);
      assert.equal(resumedAt, cutAt, 'resumed at the size the server held after the kill');
      const serverLog = await again.log();
      assert.match(serverLog, new RegExp(`\\[CLIENT\\]: ESTO A ${resumedAt} ${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), 'the restarted server got ESTO A <its size>');

      await waitWhileRunning(imp, async () => okPerJob(await r.calls(), 'CommitUpload').size === small.length + 1, 60_000, 'every dump committed', 100);
      const calls = await r.calls();
      assert.equal(okPerJob(calls, 'CommitUpload').get(big.job), 1, 'the big dump committed once');
      assert.equal(calls.filter((c) => c.op === 'StartUpload' && c.ok && c.job === big.job).length, 1, 'no second StartUpload: the earlier upload was finished');
      assert.equal(calls.find((c) => c.op === 'CommitUpload' && c.ok && c.job === big.job)?.['bytes'], bigSize);
      assert.equal(await sha256File(target), bigSha, 'the resumed file is byte-identical');
      assert.equal(existsSync(big.path), false, 'the local file removed after the commit');
      await assertDelivered(r, small);
      await stopImporter(imp);
      t.diagnostic(`${bigSize} bytes: server killed holding ${cutAt} (seen ${seen}), resumed at byte ${resumedAt}; ${small.length} small dumps alongside`);
    });

  test('the importer not in the grid-mapfile (530): kept in post/ with a reason naming the grid-mapfile and our subject; delivered once the grid-mapfile maps it, without a restart',
    { timeout: 120_000 }, async (t) => {
      const gridDir = await tempDir(t, 'jp-gridmap-');
      const gridMap = join(gridDir, 'grid-mapfile');
      const account = userInfo().username;
      await writeFile(gridMap, `"${CLIENT2_SUBJECT}" ${account}\n`);
      const r = await rig(t, { gridMap });
      if (r === undefined) return;
      const plan = await queueDumps(r, 'gsi_unmapped', 3, (i) => 20_000 + i);
      const imp = r.importer();
      await waitWhileRunning(imp, async () => (await postReasons(r.dump)).size === plan.length, 60_000, 'every message in post/');
      for (const [name, m] of await postReasons(r.dump)) {
        assert.match(m.reason, /530/, `${name}: ${m.reason}`);
        assert.match(m.reason, /grid-mapfile/, `${name}: ${m.reason}`);
        assert.ok(m.reason.includes(CLIENT_SUBJECT), `${name}: names our subject: ${m.reason}`);
      }
      assert.equal((await r.calls()).filter((c) => c.op === 'CommitUpload').length, 0, 'nothing committed');
      for (const p of plan) assert.ok(existsSync(p.path), 'local files kept');
      t.diagnostic(`kept with: ${[...(await postReasons(r.dump)).values()][0]?.reason ?? ''}`);

      // The operator adds the line; the server reads the grid-mapfile per session.
      await writeFile(`${gridMap}.new`, `"${CLIENT2_SUBJECT}" ${account}\n"${CLIENT_SUBJECT}" ${account}\n`);
      await rename(`${gridMap}.new`, gridMap);
      await r.server.explain(() => waitWhileRunning(imp, async () => okPerJob(await r.calls(), 'CommitUpload').size === plan.length, 60_000, 'every dump committed', 100));
      assert.equal(imp.child.exitCode, null, 'the same importer process');
      await assertDelivered(r, plan);
      await stopImporter(imp);
    });

  /** A server whose certificate the importer must refuse: kept for a retry with `reason`, nothing committed, nothing sent. */
  async function refusedCertificate(t: TestContext, cred: { cert: string; key: string }, reason: RegExp): Promise<{ r: Rig; plan: Dump[]; imp: ImporterProc } | undefined> {
    const r = await rig(t, { hostCred: cred });
    if (r === undefined) return undefined;
    const plan = await queueDumps(r, 'gsi_refused', 2, (i) => 30_000 + i);
    const imp = r.importer();
    // Retried (at least twice: it stays a retry, never a give-up), the reason kept in post/.
    await waitWhileRunning(imp, async () => [...(await postReasons(r.dump)).values()].some((m) => m.attempts >= 2), 60_000, 'a message retried twice');
    const kept = await postReasons(r.dump);
    for (const [name, m] of kept) {
      assert.match(m.reason, reason, `${name}: ${m.reason}`);
      assert.match(String(m.destination), /^gsiftp:/, `${name}: the destination is kept for the next attempt`);
    }
    const calls = await r.calls();
    assert.equal(calls.filter((c) => c.op === 'CommitUpload').length, 0, 'nothing committed');
    for (const c of calls.filter((x) => x.op === 'StartUpload' && x.ok)) assert.equal(existsSync(serverPath(c['destination'])), false, 'no file at the server');
    assert.doesNotMatch(await r.server.log(), /\[CLIENT\]:/, 'not one command reached the server');
    const counts = await spoolCounts(r.dump);
    assert.equal(counts.new + counts.post + counts.cur, plan.length, 'every message kept');
    assert.equal(counts.undeliverable, 0);
    for (const p of plan) assert.ok(existsSync(p.path), 'local files kept');
    t.diagnostic(`kept with: ${[...kept.values()][0]?.reason ?? ''}`);
    return { r, plan, imp };
  }

  test('a GridFTP server certificate from an unknown CA: kept with "untrusted GridFTP server certificate", nothing committed', { timeout: 120_000 }, async (t) => {
    const c = devCerts();
    const got = await refusedCertificate(t, { cert: c.rogueServer, key: c.rogueServerKey }, /untrusted GridFTP server certificate/);
    if (got === undefined) return;
    await stopImporter(got.imp);
  });

  test('a revoked GridFTP server certificate (CRL in the importer\'s CA directory): kept with "certificate revoked", nothing sent', { timeout: 120_000 }, async (t) => {
    const c = devCerts();
    const got = await refusedCertificate(t, { cert: c.serverRevoked, key: c.serverRevokedKey }, /certificate revoked: the certificate of the GridFTP server localhost/);
    if (got === undefined) return;
    await stopImporter(got.imp);
  });

  test('a GridFTP server certificate for another host: kept with "wrong host name"; with --gridftp-subject naming it, delivered into the same destinations', { timeout: 120_000 }, async (t) => {
    const c = devCerts();
    const got = await refusedCertificate(t, { cert: c.serverWronghost, key: c.serverWronghostKey }, /wrong host name: the GridFTP server's certificate .*wrong\.example.* does not name localhost/);
    if (got === undefined) return;
    const { r, plan, imp } = got;
    await stopImporter(imp);
    const kept = new Set([...(await postReasons(r.dump)).values()].map((m) => m.destination));
    const second = r.importer(['--gridftp-subject', WRONGHOST_SUBJECT]);
    await r.server.explain(() => waitWhileRunning(second, async () => okPerJob(await r.calls(), 'CommitUpload').size === plan.length, 60_000, 'every dump committed', 100));
    await assertDelivered(r, plan);
    const calls = await r.calls();
    for (const p of plan) assert.equal(calls.filter((x) => x.op === 'StartUpload' && x.ok && x.job === p.job).length, 1, `${p.job}: one StartUpload`);
    for (const d of kept) assert.ok(calls.some((x) => x.op === 'CommitUpload' && x.ok && x['destination'] === d), `the kept destination ${String(d)} committed`);
    await stopImporter(second);
  });

  test('a gsiftp:// server that accepts and never answers: retried with a timeout reason, and SIGTERM ends the importer promptly (exit 0) even in the middle of a hung connection',
    { timeout: 120_000 }, async (t) => {
      const held = new Set<Socket>();
      let accepted = 0;
      const silent = createServer((s) => {
        accepted++;
        held.add(s);
        s.on('error', () => undefined);
        s.on('close', () => held.delete(s));
      });
      await new Promise<void>((res) => silent.listen(0, '127.0.0.1', res));
      t.after(() => {
        for (const s of held) s.destroy();
        silent.close();
      });
      const port = (silent.address() as { port: number }).port;
      const dir = await tempDir(t, 'jp-gsiftp-silent-');
      const svc = await startService(dir, { gridftpUrl: `gsiftp://localhost:${port}${join(dir, 'gridftp')}` });
      t.after(() => svc.close());
      const files = join(dir, 'files');
      await mkdir(files);
      const dump = join(dir, 'dump');
      await spoolDirs(dump);
      const path = join(files, 'silent.dump');
      await writeFile(path, randomBytes(10_000));
      await storeMany(dump, [formatUploadMessage({ jobid: jobId('gsi_silent'), file: path })]);
      const run = (timeout: string): ImporterProc => {
        const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--workers', 'dump', '--allow-dir', files, ...retryFast, '--ftp-timeout', timeout]));
        t.after(() => {
          imp.child.kill('SIGKILL');
        });
        return imp;
      };

      // --ftp-timeout 1s: each attempt ends after a second, the message waits in post/ with the reason.
      const imp = run('1s');
      await waitWhileRunning(imp, async () => [...(await postReasons(dump)).values()].some((m) => m.attempts >= 2), 60_000, 'the message retried twice');
      const [reason] = [...(await postReasons(dump)).values()].map((m) => m.reason);
      assert.match(String(reason), new RegExp(`GridFTP.*localhost:${port}.*no answer within 1000 ms`), String(reason));
      assert.ok(accepted >= 2, `${accepted} connections accepted`);
      t.diagnostic(`kept with: ${String(reason)}`);
      // SIGTERM while a connection hangs.
      const hungBefore = accepted;
      await waitWhileRunning(imp, async () => held.size > 0 && accepted > hungBefore, 30_000, 'a hung connection', 5);
      const stop1 = await stopImporter(imp);

      // --ftp-timeout 60s: the shutdown itself must end the hung connection.
      const imp2 = run('60s');
      const before = accepted;
      await waitWhileRunning(imp2, async () => held.size > 0 && accepted > before, 30_000, 'a connection of the second importer', 10);
      const stop2 = await stopImporter(imp2);
      assert.ok(stop1 < 10_000 && stop2 < 10_000, `SIGTERM exits promptly: ${stop1} ms and ${stop2} ms`);
      for (const l of [...imp.logs, ...imp2.logs]) assert.notEqual(l.msg, 'worker did not stop in time; killing it', 'no worker had to be killed');
      await pollUntil(() => held.size === 0, 10_000, 'the hung connections closed by the importer', 20);
      const c = await spoolCounts(dump);
      assert.equal(c.new + c.post, 1, 'the message kept');
      assert.equal(c.cur + c.undeliverable, 0);
      assert.equal((await readCalls(svc.callsFile)).filter((x) => x.op === 'CommitUpload').length, 0);
      t.diagnostic(`SIGTERM with a hung connection: exit 0 in ${stop1} ms (--ftp-timeout 1s) and ${stop2} ms (--ftp-timeout 60s)`);
    });
});
