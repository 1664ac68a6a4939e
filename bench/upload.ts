/**
 * Upload benchmarks (targets.md):
 *   P4a  2,000 dump files of 64 KiB through the upload handler
 *        (StartUpload → FTP → CommitUpload → remove), against `curl -T`
 *        of the same files, one process per file; target ≥ 2× files/s.
 *   P4b  one 1 GiB file through the handler against one `curl -T`;
 *        target ≥ 0.8× curl's MB/s.
 *
 * The reference primary service (mutual-TLS SOAP) with its FTP endpoint
 * runs in a child process, so the FTP server is the same for curl and for
 * the importer and does not share the importer's event loop.
 *
 * Environment:
 *   BENCH_UPLOAD_SCALE=0.1         shrink file counts and sizes (quick runs)
 *   BENCH_UPLOAD_CONCURRENCY=4     messages in flight (and FTP connections)
 *   BENCH_UPLOAD_ROUNDS=3          rounds alternating curl and the handler
 *   BENCH_UPLOAD_TLS=1             implicit FTPS with client certificates (curl too)
 *   BENCH_UPLOAD_FAKE_PRIMARY=1    an in-process stand-in instead of the SOAP service
 *   BENCH_UPLOAD_DIR=/path         where files go (default: the OS temp dir)
 *   BENCH_UPLOAD_ONLY=P4a|P4b      run one of the two parts
 *   BENCH_UPLOAD_CPU_PROF=/dir     P4b: CPU profiles (V8 inspector) of the importer side during
 *                                  the handler's uploads, and of the service during curl's and
 *                                  the handler's uploads (one file per round); prints summaries
 *
 * P4b also prints CPU seconds per GiB of each side (client: curl, or this
 * process around the handler; server: the service child), read from
 * /proc, and the per-round MB/s (the official figure is total bytes over
 * total time of all rounds). Each part prints its figure as a FIGURE line
 * (lib/figure.ts) for run-all.
 */
import { execFile, fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Session } from 'node:inspector/promises';
import { processCpuSplit, reapedChildrenCpu, selfCpu, subCpu, type Cpu } from './lib/cpu.js';
import { median } from './lib/stats.js';
import { makeBigFile, makeFiles, pool, register, removeLargeFiles, throughHandler, timedPrimary } from './lib/upload-load.js';
import { formatSummary, summariseProfile } from './lib/cpuprofile.js';
import { reportFigure } from './lib/figure.js';
import { silentLogger } from '../src/core/log.js';
import type { PrimaryApi } from '../src/primary/api.js';
import { FtpPool } from '../src/upload/ftp-pool.js';
import { FtpTransport } from '../src/upload/ftp-transport.js';
import { createUploadHandler, type UploadHandler } from '../src/upload/handler.js';

const run = promisify(execFile);
const CURL = '/usr/bin/curl';
const SCALE = Number(process.env['BENCH_UPLOAD_SCALE'] ?? '1');
const CONCURRENCY = Number(process.env['BENCH_UPLOAD_CONCURRENCY'] ?? '4');
const TLS = process.env['BENCH_UPLOAD_TLS'] === '1';
const FAKE = process.env['BENCH_UPLOAD_FAKE_PRIMARY'] === '1';
const ROUNDS = Math.max(1, Number(process.env['BENCH_UPLOAD_ROUNDS'] ?? '3'));
const SMALL_FILES = Math.max(10, Math.round(2000 * SCALE));
const SMALL_SIZE = 64 * 1024;
const BIG_SIZE = Math.max(1 << 20, Math.round(1024 * 1024 * 1024 * SCALE));
const OWNER = '/C=CZ/O=jp-importer dev/CN=jp-importer client';
const ONLY = process.env['BENCH_UPLOAD_ONLY'];
const PROF = process.env['BENCH_UPLOAD_CPU_PROF'];
if (ONLY !== undefined && ONLY !== 'P4a' && ONLY !== 'P4b') throw new Error(`BENCH_UPLOAD_ONLY=${ONLY}: expected P4a or P4b`);

interface Certs { dir: string; ca: string; caDir: string; server: string; serverKey: string; client: string; clientKey: string }
interface Ports { httpsPort: number; ftpPort: number }
interface ChildArgs { certs: Certs; dataDir: string; tls: boolean; fake: boolean }

// ---------------------------------------------------------------- child: the service

async function serve(args: ChildArgs): Promise<void> {
  let close: () => Promise<void>;
  let ports: Ports;
  if (args.fake) {
    const { startFtpEndpoint } = await import('../src/primary-dev/ftp/index.js');
    const r = (f: string): string => readFileSync(f, 'utf8');
    const ep = await startFtpEndpoint({
      listen: '127.0.0.1:0',
      dataDir: args.dataDir,
      ...(args.tls ? { tls: { cert: r(args.certs.server), key: r(args.certs.serverKey), ca: r(args.certs.ca) }, implicitTls: true } : {}),
    });
    ports = { httpsPort: 0, ftpPort: ep.port };
    close = () => ep.close();
  } else {
    const { startPrimaryDev } = await import('../src/primary-dev/index.js');
    const dev = await startPrimaryDev({
      listen: '127.0.0.1:0',
      certFile: args.certs.server,
      keyFile: args.certs.serverKey,
      caPath: args.certs.caDir,
      dataDir: args.dataDir,
      ftpListen: '127.0.0.1:0',
      ftps: args.tls,
    });
    ports = { httpsPort: dev.httpsPort, ftpPort: dev.ftpPort ?? 0 };
    close = () => dev.close();
  }
  process.send?.({ ready: ports });
  const prof = new Profiler();
  process.on('message', (m: ProfRequest) => {
    const done = (): void => void process.send?.({ profDone: m.prof });
    if (m.prof === 'start') void prof.start().then(done);
    else if (m.prof === 'stop' && m.file !== undefined) void prof.stop(m.file).then(done);
  });
  process.on('disconnect', () => {
    void close().finally(() => process.exit(0));
  });
}

interface ProfRequest { prof?: 'start' | 'stop'; file?: string }

/** A V8 CPU profile of this process between start() and stop(file). */
class Profiler {
  private session: Session | undefined;

  async start(): Promise<void> {
    this.session = new Session();
    this.session.connect();
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.start');
  }

  async stop(file: string): Promise<void> {
    const s = this.session;
    if (s === undefined) return;
    this.session = undefined;
    const { profile } = await s.post('Profiler.stop');
    s.disconnect();
    await writeFile(file, JSON.stringify(profile));
  }
}

// ---------------------------------------------------------------- parent: the measurements

/** Ask the service child to start or stop (writing `file`) its CPU profile. */
function childProfile(child: ChildProcess, req: ProfRequest): Promise<void> {
  return new Promise((done) => {
    const on = (m: { profDone?: string }): void => {
      if (m.profDone !== req.prof) return;
      child.off('message', on);
      done();
    };
    child.on('message', on);
    child.send(req);
  });
}

const cpuOf = (pid: number | undefined): number => {
  const c: Cpu | undefined = pid === undefined ? undefined : processCpuSplit(pid);
  return c === undefined ? Number.NaN : c.user + c.sys;
};
function findProjectFile(rel: string): string {
  for (const start of [dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    for (let dir = resolve(start); ; dir = dirname(dir)) {
      if (existsSync(join(dir, rel))) return join(dir, rel);
      if (dirname(dir) === dir) break;
    }
  }
  throw new Error(`cannot find ${rel} above ${fileURLToPath(import.meta.url)} or ${process.cwd()}`);
}

async function makeCerts(root: string): Promise<Certs> {
  const dir = join(root, 'certs');
  await run('bash', [findProjectFile('certs/make-dev-certs.sh'), dir], { timeout: 120_000 });
  const p = (f: string): string => join(dir, f);
  return { dir, ca: p('ca.pem'), caDir: p('ca'), server: p('server.pem'), serverKey: p('server-key.pem'), client: p('client.pem'), clientKey: p('client-key.pem') };
}

function startChild(args: ChildArgs): Promise<{ child: ChildProcess; ports: Ports }> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', JSON.stringify(args)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error('service child did not start within 60 s')), 60_000);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`service child exited with ${code}`)));
    child.on('message', (m: { ready?: Ports }) => {
      if (m.ready === undefined) return;
      clearTimeout(timer);
      resolveReady({ child, ports: m.ready });
    });
  });
}

/** A fast stand-in for the service: hands out destinations, commits everything. */
function fakePrimary(ftpBase: string): PrimaryApi {
  let n = 0;
  return {
    registerJob: async () => undefined,
    startUpload: async (req) => ({ destination: `${ftpBase}fake/${++n}/${req.name}`, commitBefore: req.commitBefore }),
    commitUpload: async () => undefined,
    getJobAttributes: async () => [],
    close: async () => undefined,
  };
}

function curlArgs(file: string, url: string, certs: Certs): string[] {
  const tls = TLS ? ['--ssl-reqd', '--cacert', certs.ca, '--cert', certs.client, '--key', certs.clientKey] : [];
  return ['-sS', '--ftp-create-dirs', '-T', file, ...tls, url];
}

const fmt = (x: number, digits = 1): string => x.toFixed(digits);

async function p4a(handler: UploadHandler, primary: PrimaryApi, files: string, ftpBase: string, certs: Certs): Promise<void> {
  // P4a: rounds alternate the variants so machine noise hits all of them alike.
  const perRound = Math.ceil(SMALL_FILES / ROUNDS);
  const t = { curl: 0, curlPar: 0, one: 0, many: 0 };
  let done = 0;
  for (let r = 0; r < ROUNDS && done < SMALL_FILES; r++) {
    const n = Math.min(perRound, SMALL_FILES - done);
    done += n;
    const curlFiles = await makeFiles(join(files, `curl${r}`), n, SMALL_SIZE, `c${r}-`);
    let t0 = performance.now();
    for (const [i, f] of curlFiles.entries()) await run(CURL, curlArgs(f, `${ftpBase}curl${r}/a${i}`, certs), { timeout: 60_000 });
    t.curl += performance.now() - t0;
    t0 = performance.now();
    await pool(curlFiles, CONCURRENCY, async (f, i) => {
      await run(CURL, curlArgs(f, `${ftpBase}curl${r}/p${i}`, certs), { timeout: 60_000 });
    });
    t.curlPar += performance.now() - t0;
    await rm(join(files, `curl${r}`), { recursive: true, force: true });
    for (const [variant, conc] of [['one', 1], ['many', CONCURRENCY]] as const) {
      const tag = `${variant}${r}-`;
      await register(primary, tag, n, OWNER);
      const ours = await makeFiles(join(files, tag), n, SMALL_SIZE, tag);
      t[variant] += 1000 * (await throughHandler(handler, ours, tag, conc));
    }
  }
  const rate = (ms: number): number => SMALL_FILES / (ms / 1000);
  console.log(`\nP4a  ${SMALL_FILES} files × 64 KiB in ${ROUNDS} rounds (target ≥ 2.0× curl, one process per file)`);
  console.log(`  baseline curl -T, sequential:         ${fmt(rate(t.curl))} files/s`);
  console.log(`  curl -T, ${CONCURRENCY} processes at once (info):  ${fmt(rate(t.curlPar))} files/s`);
  console.log(`  handler, 1 message at a time:         ${fmt(rate(t.one))} files/s   ratio ${fmt(t.curl / t.one, 2)}×`);
  console.log(`  handler, ${CONCURRENCY} messages in flight:        ${fmt(rate(t.many))} files/s   ratio ${fmt(t.curl / t.many, 2)}×` +
    `   (vs ${CONCURRENCY} curls at once: ${fmt(t.curlPar / t.many, 2)}×)`);
  const ratio = t.curl / t.one;
  reportFigure({
    id: 'P4a', measured: `${fmt(rate(t.one))} files/s (one at a time)`, baseline: `${fmt(rate(t.curl))} files/s (curl -T per file)`,
    ratio: `${fmt(ratio, 2)}×`, met: ratio >= 2,
  });
}

interface Side { wallMs: number; clientCpu: number; serverCpu: number; ftpMs?: number }

/** P4b: the file goes to a store dir (-S) after each upload and back for the next round. */
async function p4b(child: ChildProcess, primary: PrimaryApi, files: string, root: string, ftpBase: string, certs: Certs,
  tlsOpts: { cert: string; key: string; ca: string }): Promise<void> {
  const big = join(files, 'big', 'big.dump');
  const store = join(root, 'store');
  await mkdir(dirname(big), { recursive: true });
  await makeBigFile(big, BIG_SIZE);
  if (PROF !== undefined) await mkdir(PROF, { recursive: true });
  const timed = timedPrimary(primary);
  const bigHandler = createUploadHandler({
    primary: () => timed.api, kind: 'dump', allowedDirs: [files], ownerDn: () => OWNER, storeDir: store,
    transport: new FtpTransport(new FtpPool({ maxPerHost: 1, ...(TLS ? { tls: () => tlsOpts } : {}) })), log: silentLogger,
  });
  const curl: Side[] = [];
  const ours: Side[] = [];
  const profiles: Array<[string, string]> = [];
  const profiled = async <T>(name: string, client: boolean, fn: () => Promise<T>): Promise<T> => {
    if (PROF === undefined) return fn();
    const self = new Profiler();
    if (client) await self.start();
    await childProfile(child, { prof: 'start' });
    try {
      return await fn();
    } finally {
      const file = (who: string): string => join(PROF, `${name}-${who}.cpuprofile`);
      await childProfile(child, { prof: 'stop', file: file('service') });
      profiles.push([`service during ${name}`, file('service')]);
      if (client) {
        await self.stop(file('importer'));
        profiles.push([`importer during ${name}`, file('importer')]);
      }
    }
  };
  try {
    for (let r = 0; r < ROUNDS; r++) {
      let s0 = cpuOf(child.pid);
      const c0 = reapedChildrenCpu();
      let t0 = performance.now();
      await profiled(`curl${r}`, false, () => run(CURL, curlArgs(big, `${ftpBase}curl-big/big${r}.dump`, certs), { timeout: 900_000 }));
      curl.push({ wallMs: performance.now() - t0, clientCpu: reapedChildrenCpu() - c0, serverCpu: cpuOf(child.pid) - s0 });
      await removeLargeFiles(join(root, 'service'), BIG_SIZE);
      await register(primary, `b${r}-`, 1, OWNER);
      s0 = cpuOf(child.pid);
      const self0 = selfCpu();
      t0 = performance.now();
      await profiled(`handler${r}`, true, () => throughHandler(bigHandler, [big], `b${r}-`, 1));
      const self = subCpu(selfCpu(), self0);
      ours.push({ wallMs: performance.now() - t0, clientCpu: self.user + self.sys, serverCpu: cpuOf(child.pid) - s0, ftpMs: timed.ftpMs() });
      await rename(join(store, 'big.dump'), big);
      await removeLargeFiles(join(root, 'service'), BIG_SIZE);
    }
  } finally {
    await bigHandler.close();
  }
  const total = (xs: readonly Side[]): number => xs.reduce((a, x) => a + x.wallMs, 0);
  const mbs = (ms: number, rounds = ROUNDS): number => (rounds * BIG_SIZE) / 1e6 / (ms / 1000);
  const gib = BIG_SIZE / (1 << 30);
  const perGib = (xs: readonly Side[], k: 'clientCpu' | 'serverCpu'): string => fmt(median(xs.map((x) => x[k])) / gib, 2);
  const rounds = (xs: readonly Side[]): string => xs.map((x) => fmt(mbs(x.wallMs, 1), 0)).join(' ');
  const curlMed = median(curl.map((x) => mbs(x.wallMs, 1)));
  const oursMed = median(ours.map((x) => mbs(x.wallMs, 1)));
  console.log(`\nP4b  one ${fmt(BIG_SIZE / (1 << 20), 0)} MiB file, ${ROUNDS} rounds (target ≥ 0.8× curl)`);
  console.log(`  baseline curl -T:   ${fmt(mbs(total(curl)))} MB/s`);
  console.log(`  handler:            ${fmt(mbs(total(ours)))} MB/s   ratio ${fmt(total(curl) / total(ours), 2)}×`);
  console.log(`  per round, MB/s:    curl ${rounds(curl)}; handler ${rounds(ours)}   (medians ${fmt(curlMed, 0)} / ${fmt(oursMed, 0)}: ${fmt(oursMed / curlMed, 2)}×)`);
  console.log(`  handler rounds, of which FTP (StartUpload answered → CommitUpload asked), ms: ` +
    ours.map((x) => `${fmt(x.wallMs, 0)}/${fmt(x.ftpMs ?? Number.NaN, 0)}`).join(' '));
  console.log(`  CPU s per GiB (median of rounds): curl ${perGib(curl, 'clientCpu')} + service ${perGib(curl, 'serverCpu')};` +
    ` handler process ${perGib(ours, 'clientCpu')} + service ${perGib(ours, 'serverCpu')}`);
  const ratio = total(curl) / total(ours);
  reportFigure({
    id: 'P4b', measured: `${fmt(mbs(total(ours)))} MB/s`, baseline: `${fmt(mbs(total(curl)))} MB/s (curl -T)`, ratio: `${fmt(ratio, 2)}×`, met: ratio >= 0.8,
  });
  if (profiles.length > 0) {
    console.log(`\nCPU profiles in ${PROF ?? ''} (profiling slows both sides):`);
    for (const [label, file] of profiles) console.log(formatSummary(await summariseProfile(file, 14), label));
  }
}

async function main(): Promise<void> {
  const base = process.env['BENCH_UPLOAD_DIR'] ?? tmpdir();
  const root = await mkdtemp(join(base, 'jp-bench-upload-'));
  let child: ChildProcess | undefined;
  let primaryClient: PrimaryApi | undefined;
  let handler: UploadHandler | undefined;
  try {
    const certs = await makeCerts(root);
    const started = await startChild({ certs, dataDir: join(root, 'service'), tls: TLS, fake: FAKE });
    child = started.child;
    const { httpsPort, ftpPort } = started.ports;
    const scheme = TLS ? 'ftps' : 'ftp';
    const ftpBase = `${scheme}://127.0.0.1:${ftpPort}/`;
    if (FAKE) {
      primaryClient = fakePrimary(ftpBase);
    } else {
      const { PrimaryClient } = await import('../src/primary/client.js');
      primaryClient = new PrimaryClient({
        endpoint: `127.0.0.1:${httpsPort}`, certFile: certs.client, keyFile: certs.clientKey, caPath: certs.caDir,
        connections: CONCURRENCY, timeoutMs: 60_000,
      });
    }
    const tlsOpts = { cert: readFileSync(certs.client, 'utf8'), key: readFileSync(certs.clientKey, 'utf8'), ca: readFileSync(certs.ca, 'utf8') };
    const primary = primaryClient;
    const files = join(root, 'files');
    handler = createUploadHandler({
      primary: () => primary,
      kind: 'dump',
      allowedDirs: [files],
      ownerDn: () => OWNER,
      transport: new FtpTransport(new FtpPool({ maxPerHost: CONCURRENCY, ...(TLS ? { tls: () => tlsOpts } : {}) })),
      log: silentLogger,
    });
    console.log(`upload bench: ${FAKE ? 'stand-in primary' : 'jp-primary-dev (mutual-TLS SOAP)'}, ${TLS ? 'implicit FTPS + client cert' : 'plain FTP'}, ` +
      `scale ${SCALE}, concurrency ${CONCURRENCY}, node ${process.version}`);

    if (ONLY !== 'P4b') await p4a(handler, primary, files, ftpBase, certs);
    if (ONLY !== 'P4a') await p4b(child, primary, files, root, ftpBase, certs, tlsOpts);
  } finally {
    await handler?.close();
    await primaryClient?.close();
    if (child !== undefined && child.connected) {
      const exited = new Promise((r) => child?.once('exit', r));
      child.disconnect();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000).unref())]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--serve') {
  serve(JSON.parse(process.argv[3] ?? '{}') as ChildArgs).catch((e: unknown) => {
    console.error('service child failed:', e);
    process.exit(1);
  });
} else {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
