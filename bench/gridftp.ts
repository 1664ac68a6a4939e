/**
 * GridFTP upload benchmarks (targets.md P7), against the real Globus
 * GridFTP server on loopback:
 *   P7a  2,000 dump files of 64 KiB through the upload handler
 *        (StartUpload → GridFTP (GSI) → CommitUpload → remove), with the
 *        daemon's concurrency (--ftp-connections, default 4 in flight),
 *        against `globus-url-copy -fast -f <list>` of the same number of
 *        files (one process for the whole list); target ≥ 1.5× files/s.
 *   P7b  one 1 GiB file through the handler against one `globus-url-copy`
 *        of it (stream mode); target ≥ 0.8× MB/s.
 *
 * Both sides talk to the same globus-gridftp-server, started here with the
 * dev PKI (certs/make-dev-certs.sh: its server certificate as the host
 * credential, its CA directory and grid-mapfile). jp-primary-dev runs in a
 * child process with --gridftp-url, so StartUpload hands out gsiftp://
 * destinations in the job directories it makes at RegisterJob (done before
 * the timing, like LB does long before a dump is uploaded).
 *
 * What each side does per file (printed at start; globus-url-copy's
 * commands are read from one `-dbg` run):
 *  - globus-url-copy -fast: one control connection with delegation, MODE E
 *    (extended block mode), one data channel authenticated once (the
 *    server's default DCAU A: no DCAU command) and reused for every file;
 *    per file only ALLO + STOR, no size check. Extended block mode is what
 *    lets it keep the data channel.
 *  - the handler: StartUpload (SOAP over mutual TLS), then on a pooled
 *    GSI control connection, for files up to the whole-file limit (8 MiB,
 *    so every P7a file): MODE E (and TREV PERF 0, TREV RESTART 0: no markers) once, one data connection authenticated
 *    with GSI (DCAU A sent as `DCAU S <our subject>`, PROT C) opened by the
 *    first file and reused by every later one, per file STOR + SIZE (a
 *    short file is never committed; a failed file is sent whole again,
 *    never resumed); larger files (P7b) in stream mode: PASV, a new data
 *    connection with its handshake, STOR, SIZE (resumable). Then
 *    CommitUpload and removing the local file.
 * Each side starts cold in every round (a new globus-url-copy process; a
 * new handler with an empty connection pool), so both pay their
 * connection set-up inside the timing.
 *
 * Environment:
 *   BENCH_GRIDFTP_SCALE=0.05        shrink file counts and sizes (quick runs)
 *   BENCH_GRIDFTP_ROUNDS=3          rounds; the order of the contenders alternates
 *   BENCH_GRIDFTP_ONLY=P7a|P7b      run one of the two parts
 *   BENCH_GRIDFTP_CONCURRENCY=4     messages in flight (and connections), as --ftp-connections
 *   BENCH_GRIDFTP_DCAU=A|N          data channel authentication of both sides (N: `-nodcau`; default A)
 *   BENCH_GRIDFTP_DIR=/path         where files go (default: the OS temp dir)
 *   BENCH_GRIDFTP_SERVER=/path, BENCH_GRIDFTP_URL_COPY=/path   the Globus binaries (default:
 *                                  /usr/sbin, /usr/bin); missing ones: the bench prints how to
 *                                  install them and "skipped", and exits 0
 *
 * CPU seconds of each side are read from /proc: globus-url-copy (a reaped
 * child), this process around the handler plus the jp-primary-dev child,
 * and globus-gridftp-server (the listener, its live sessions and the
 * sessions it reaped). Each part prints its figure as a FIGURE line
 * (lib/figure.ts) for run-all; without the Globus tools both read "skipped".
 */
import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { silentLogger } from '../src/core/log.js';
import type { PrimaryApi } from '../src/primary/api.js';
import { PrimaryClient } from '../src/primary/client.js';
import { loadCredentials, type Credentials } from '../src/primary/credentials.js';
import { GridFtpPool } from '../src/upload/gridftp-pool.js';
import { GridFtpTransport } from '../src/upload/gridftp-transport.js';
import { createUploadHandler, type UploadHandler } from '../src/upload/handler.js';
import { SchemeTransports } from '../src/upload/transport.js';
import { makeDevCerts, type BenchCerts } from './lib/certs.js';
import { reportFigure } from './lib/figure.js';
import { processCpu, reapedChildrenCpu, selfCpu, serverTreeCpu } from './lib/cpu.js';
import { findGlobusTools, globusUrlCopy, sentCommands, startGlobusServer, urlCopyVersion, type GlobusServer, type GlobusTools } from './lib/globus.js';
import { interruptedBy, onCleanup, runCleanups } from './lib/procs.js';
import { startServiceChild, type ServiceChild } from './lib/service-child.js';
import { envInt, fix, median, verdict } from './lib/stats.js';
import { makeBigFile, makeFiles, register, removeLargeFiles, throughHandler, timedPrimary } from './lib/upload-load.js';

const SCALE = Number(process.env['BENCH_GRIDFTP_SCALE'] ?? '1');
if (!(SCALE > 0 && SCALE <= 1)) throw new Error(`BENCH_GRIDFTP_SCALE=${process.env['BENCH_GRIDFTP_SCALE'] ?? ''}: expected a number in (0, 1]`);
const ROUNDS = envInt('BENCH_GRIDFTP_ROUNDS', 3, 1, 100);
const CONCURRENCY = envInt('BENCH_GRIDFTP_CONCURRENCY', 4, 1, 64);
const ONLY = process.env['BENCH_GRIDFTP_ONLY'];
if (ONLY !== undefined && ONLY !== '' && ONLY !== 'P7a' && ONLY !== 'P7b') throw new Error(`BENCH_GRIDFTP_ONLY=${ONLY}: expected P7a or P7b`);
const DCAU = ((v: string): 'A' | 'N' => {
  if (v !== 'A' && v !== 'N') throw new Error(`BENCH_GRIDFTP_DCAU=${v}: expected A or N`);
  return v;
})(process.env['BENCH_GRIDFTP_DCAU'] ?? 'A');
const SMALL_FILES = Math.max(10, Math.round(2000 * SCALE));
const SMALL_SIZE = 64 * 1024;
const BIG_SIZE = Math.max(1 << 20, Math.round(1024 * 1024 * 1024 * SCALE));
const P7A_TARGET = 1.5;
const P7B_TARGET = 0.8;

const say = (s: string): void => void process.stdout.write(`${s}\n`);
/** globus-url-copy's data channel flags matching the importer's. */
const GUC_DCAU = DCAU === 'N' ? ['-nodcau'] : [];

interface Ctx {
  readonly root: string;
  readonly files: string;
  /** The directory the GridFTP server writes into (jp-primary-dev's --gridftp-url path). */
  readonly jpps: string;
  readonly certs: BenchCerts;
  readonly creds: Credentials;
  readonly tools: GlobusTools;
  readonly server: GlobusServer;
  readonly service: ServiceChild;
  readonly primary: PrimaryApi;
}

/** CPU seconds of the three parties so far. */
interface CpuMark { self: number; reaped: number; service: number; server: number }
function cpuMark(x: Ctx): CpuMark {
  const s = selfCpu();
  return { self: s.user + s.sys, reaped: reapedChildrenCpu(), service: processCpu(x.service.child.pid ?? -1) ?? Number.NaN, server: serverTreeCpu(x.server.pid) };
}
const cpuSince = (x: Ctx, a: CpuMark): CpuMark => {
  const b = cpuMark(x);
  return { self: b.self - a.self, reaped: b.reaped - a.reaped, service: b.service - a.service, server: b.server - a.server };
};

/** One timed run of a contender: wall time and CPU seconds of client, service (handler only) and GridFTP server. */
interface Run { ms: number; client: number; service: number; server: number }
const zero = (): Run => ({ ms: 0, client: 0, service: 0, server: 0 });
const add = (a: Run, b: Run): Run => ({ ms: a.ms + b.ms, client: a.client + b.client, service: a.service + b.service, server: a.server + b.server });

/** A handler as the daemon builds it (src/daemon/worker-parts.ts), with a fresh GridFTP pool. */
function makeHandler(x: Ctx, primary: PrimaryApi, storeDir?: string): UploadHandler {
  const gsiftp = new GridFtpTransport(new GridFtpPool({
    maxPerHost: CONCURRENCY,
    dcau: DCAU,
    protection: 'C',
    log: silentLogger,
    credentials: async () => x.creds,
  }));
  return createUploadHandler({
    kind: 'dump',
    allowedDirs: [x.files],
    ...(storeDir !== undefined ? { storeDir } : {}),
    transport: new SchemeTransports({ gsiftp }),
    log: silentLogger,
    primary: () => primary,
    ownerDn: () => x.creds.subject,
  });
}

/** Time globus-url-copy (its CPU: the reaped child). */
async function timedGuc(x: Ctx, args: readonly string[]): Promise<Run> {
  const c0 = cpuMark(x);
  const r = await globusUrlCopy(x.tools, x.certs, args);
  const c = cpuSince(x, c0);
  return { ms: r.ms, client: c.reaped, service: 0, server: c.server };
}

/** Time the handler over files (its CPU: this process, and the service child). */
async function timedHandler(x: Ctx, files: readonly string[], tag: string, concurrency: number, primary = x.primary, storeDir?: string): Promise<Run> {
  const handler = makeHandler(x, primary, storeDir);
  try {
    const c0 = cpuMark(x);
    const s = await throughHandler(handler, files, tag, concurrency);
    const c = cpuSince(x, c0);
    return { ms: s * 1000, client: c.self, service: c.service, server: c.server };
  } finally {
    await handler.close();
  }
}

/** Each of `names` is in `dir` with `size` bytes (what globus-url-copy wrote). */
async function checkCopies(dir: string, names: readonly string[], size: number): Promise<void> {
  for (const n of names) {
    const st = await stat(join(dir, n)).catch(() => undefined);
    if (st?.size !== size) throw new Error(`globus-url-copy left ${join(dir, n)} with ${st?.size ?? 'no'} bytes, expected ${size}`);
  }
}

/** The uploaded files below the job directories (jp-primary-dev's data/), removed between rounds. */
async function clearUploads(x: Ctx): Promise<void> {
  for (const e of await readdir(x.jpps)) await rm(join(x.jpps, e), { recursive: true, force: true });
}

/** What globus-url-copy -fast sends, from one -dbg run of a one-line list. */
async function gucDialogue(x: Ctx): Promise<string> {
  const [src] = await makeFiles(join(x.files, 'probe'), 1, 1024, 'probe');
  const list = join(x.root, 'probe.list');
  await mkdir(join(x.jpps, 'probe'), { recursive: true });
  await writeFile(list, `file://${src as string} ${x.server.url(join(x.jpps, 'probe', 'p'))}\n`);
  const r = await globusUrlCopy(x.tools, x.certs, ['-dbg', '-fast', ...GUC_DCAU, '-f', list]);
  await rm(join(x.files, 'probe'), { recursive: true, force: true });
  await clearUploads(x);
  const cmds = sentCommands(r.output).map((c) => c.split(' ')[0] === 'SITE' ? c.split(' ').slice(0, 2).join(' ') : c);
  const dcau = cmds.find((c) => c.startsWith('DCAU'));
  const prot = cmds.find((c) => c.startsWith('PROT'));
  const mode = cmds.find((c) => c.startsWith('MODE'));
  return `${cmds.join(', ')}\n    → ${mode ?? 'stream mode'}; ${dcau ?? 'no DCAU command: the server default DCAU A (authenticated, with the delegated proxy)'}; ` +
    `${prot ?? 'no PROT: clear data'}; ${cmds.some((c) => c.startsWith('SIZE')) ? 'SIZE checked' : 'no SIZE check'}`;
}

async function p7a(x: Ctx): Promise<boolean> {
  const perRound = Math.ceil(SMALL_FILES / ROUNDS);
  const t = { guc: zero(), gucStream: zero(), gucCc: zero(), one: zero(), many: zero() };
  type Variant = keyof typeof t;
  const gucArgs: Partial<Record<Variant, string[]>> = {
    guc: ['-fast', ...GUC_DCAU],
    gucStream: [...GUC_DCAU],
    gucCc: ['-fast', '-cc', String(CONCURRENCY), ...GUC_DCAU],
  };
  const order: Variant[] = ['guc', 'gucStream', 'gucCc', 'one', 'many'];
  let done = 0;
  for (let r = 0; r < ROUNDS && done < SMALL_FILES; r++) {
    const n = Math.min(perRound, SMALL_FILES - done);
    done += n;
    // Alternate who goes first: the handler's variants before globus-url-copy's every other round.
    const variants = r % 2 === 0 ? order : [...order.slice(3), ...order.slice(0, 3)];
    for (const v of variants) {
      const args = gucArgs[v];
      if (args !== undefined) {
        const src = await makeFiles(join(x.files, `${v}${r}`), n, SMALL_SIZE, `${v}${r}-`);
        const dest = join(x.jpps, `${v}${r}`);
        await mkdir(dest, { recursive: true });
        const list = join(x.root, `${v}${r}.list`);
        await writeFile(list, src.map((f) => `file://${f} ${x.server.url(join(dest, f.slice(f.lastIndexOf('/') + 1)))}\n`).join(''));
        t[v] = add(t[v], await timedGuc(x, [...args, '-f', list]));
        await checkCopies(dest, src.map((f) => f.slice(f.lastIndexOf('/') + 1)), SMALL_SIZE);
        await rm(join(x.files, `${v}${r}`), { recursive: true, force: true });
      } else {
        const tag = `${v}${r}-`;
        await register(x.primary, tag, n, x.creds.subject);
        const ours = await makeFiles(join(x.files, tag), n, SMALL_SIZE, tag);
        t[v] = add(t[v], await timedHandler(x, ours, tag, v === 'one' ? 1 : CONCURRENCY));
      }
      await clearUploads(x);
    }
  }
  const rate = (run: Run): number => SMALL_FILES / (run.ms / 1000);
  const cpu = (run: Run, withService: boolean): string =>
    `CPU ms/file: client ${fix((1000 * run.client) / SMALL_FILES, 2)}${withService ? ` + service ${fix((1000 * run.service) / SMALL_FILES, 2)}` : ''} + server ${fix((1000 * run.server) / SMALL_FILES, 2)}`;
  const ratio = t.guc.ms / t.many.ms;
  const nd = GUC_DCAU.length > 0 ? ' -nodcau' : '';
  const row = (label: string, run: Run, extra: string): void => say(`  ${`${label}:`.padEnd(50)} ${fix(rate(run)).padStart(6)} files/s   ${extra}`);
  say(`\nP7a  ${SMALL_FILES} files × 64 KiB in ${ROUNDS} rounds (target ≥ ${P7A_TARGET}× globus-url-copy -fast -f list)`);
  row(`baseline globus-url-copy -fast${nd} -f list`, t.guc, cpu(t.guc, false));
  row(`globus-url-copy${nd} -f list, stream mode (info)`, t.gucStream, cpu(t.gucStream, false));
  row(`globus-url-copy -fast -cc ${CONCURRENCY}${nd} -f list (info)`, t.gucCc, cpu(t.gucCc, false));
  row('handler, 1 message at a time (info)', t.one, `ratio ${fix(t.guc.ms / t.one.ms, 2)}×   ${cpu(t.one, true)}`);
  row(`handler, ${CONCURRENCY} messages in flight`, t.many, `ratio ${fix(ratio, 2)}×   ${cpu(t.many, true)}`);
  say(`  (handler ${CONCURRENCY} in flight vs globus-url-copy in stream mode: ${fix(t.gucStream.ms / t.many.ms, 2)}×; vs ${CONCURRENCY} -fast connections: ${fix(t.gucCc.ms / t.many.ms, 2)}×)`);
  say(`  P7a target ≥ ${P7A_TARGET}×: ${verdict(ratio >= P7A_TARGET)}`);
  reportFigure({
    id: 'P7a', measured: `${fix(rate(t.many))} files/s (${CONCURRENCY} in flight)`,
    baseline: `${fix(rate(t.guc))} files/s (globus-url-copy -fast${nd} -f list, one process)`, ratio: `${fix(ratio, 2)}×`, met: ratio >= P7A_TARGET,
  });
  return ratio >= P7A_TARGET;
}

async function p7b(x: Ctx): Promise<boolean> {
  const big = join(x.files, 'big', 'big.dump');
  const store = join(x.root, 'store');
  await mkdir(dirname(big), { recursive: true });
  await mkdir(store, { recursive: true });
  await makeBigFile(big, BIG_SIZE);
  const timed = timedPrimary(x.primary);
  const guc: Run[] = [];
  const ours: Array<Run & { ftpMs: number }> = [];
  for (let r = 0; r < ROUNDS; r++) {
    const sides = r % 2 === 0 ? (['guc', 'handler'] as const) : (['handler', 'guc'] as const);
    for (const side of sides) {
      if (side === 'guc') {
        const dest = join(x.jpps, `gucbig${r}`);
        await mkdir(dest, { recursive: true });
        guc.push(await timedGuc(x, [...GUC_DCAU, `file://${big}`, x.server.url(join(dest, 'big.dump'))]));
        await checkCopies(dest, ['big.dump'], BIG_SIZE);
      } else {
        await register(x.primary, `big${r}-`, 1, x.creds.subject);
        const run = await timedHandler(x, [big], `big${r}-`, 1, timed.api, store);
        ours.push({ ...run, ftpMs: timed.ftpMs() });
        await rename(join(store, 'big.dump'), big);
      }
      await removeLargeFiles(x.jpps, BIG_SIZE);
      await clearUploads(x);
    }
  }
  const total = (xs: readonly Run[]): number => xs.reduce((a, b) => a + b.ms, 0);
  const mbs = (ms: number, rounds = ROUNDS): number => (rounds * BIG_SIZE) / 1e6 / (ms / 1000);
  const gib = BIG_SIZE / (1 << 30);
  const perGib = (xs: readonly Run[], k: 'client' | 'service' | 'server'): string => fix(median(xs.map((v) => v[k])) / gib, 2);
  const rounds = (xs: readonly Run[]): string => xs.map((v) => fix(mbs(v.ms, 1), 0)).join(' ');
  const gucMed = median(guc.map((v) => mbs(v.ms, 1)));
  const oursMed = median(ours.map((v) => mbs(v.ms, 1)));
  const ratio = total(guc) / total(ours);
  say(`\nP7b  one ${fix(BIG_SIZE / (1 << 20), 0)} MiB file, ${ROUNDS} rounds (target ≥ ${P7B_TARGET}× globus-url-copy)`);
  say(`  baseline globus-url-copy (stream mode):  ${fix(mbs(total(guc)))} MB/s`);
  say(`  handler:                                 ${fix(mbs(total(ours)))} MB/s   ratio ${fix(ratio, 2)}×`);
  say(`  per round, MB/s:  globus-url-copy ${rounds(guc)}; handler ${rounds(ours)}   (medians ${fix(gucMed, 0)} / ${fix(oursMed, 0)}: ${fix(oursMed / gucMed, 2)}×)`);
  say(`  handler rounds, of which GridFTP (StartUpload answered → CommitUpload asked), ms: ${ours.map((v) => `${fix(v.ms, 0)}/${fix(v.ftpMs, 0)}`).join(' ')}`);
  say(`  CPU s per GiB (median of rounds): globus-url-copy ${perGib(guc, 'client')} + server ${perGib(guc, 'server')};` +
    ` handler process ${perGib(ours, 'client')} + service ${perGib(ours, 'service')} + server ${perGib(ours, 'server')}`);
  say(`  P7b target ≥ ${P7B_TARGET}×: ${verdict(ratio >= P7B_TARGET)}`);
  reportFigure({
    id: 'P7b', measured: `${fix(mbs(total(ours)))} MB/s`, baseline: `${fix(mbs(total(guc)))} MB/s (globus-url-copy, stream mode)`,
    ratio: `${fix(ratio, 2)}×`, met: ratio >= P7B_TARGET,
  });
  return ratio >= P7B_TARGET;
}

async function main(): Promise<number> {
  const tools = findGlobusTools();
  if ('missing' in tools) {
    say(`gridftp bench: ${tools.missing}`);
    say('gridftp bench: skipped');
    for (const id of ['P7a', 'P7b']) reportFigure({ id, measured: 'skipped (Globus tools missing, see output)', baseline: 'n/a', ratio: 'n/a', met: null });
    return 0;
  }
  const root = await mkdtemp(join(process.env['BENCH_GRIDFTP_DIR'] ?? tmpdir(), 'jp-bench-gridftp-'));
  onCleanup(() => rm(root, { recursive: true, force: true }));
  const certs = await makeDevCerts(join(root, 'certs'));
  const jpps = join(root, 'jpps');
  const files = join(root, 'files');
  await mkdir(jpps, { recursive: true, mode: 0o755 });
  await mkdir(files, { recursive: true });
  const server = await startGlobusServer(tools, certs, root);
  const service = await startServiceChild({
    certs, dataDir: join(root, 'service'), logFile: join(root, 'service.log'),
    extraArgs: ['--gridftp-url', server.url(jpps)],
  });
  const primary = new PrimaryClient({
    endpoint: `127.0.0.1:${service.port}`, certFile: certs.client, keyFile: certs.clientKey, caPath: certs.caDir,
    connections: CONCURRENCY, timeoutMs: 60_000,
  });
  onCleanup(() => primary.close());
  const creds = await loadCredentials({ certFile: certs.client, keyFile: certs.clientKey, caPath: certs.caDir });
  const x: Ctx = { root, files, jpps, certs, creds, tools, server, service, primary };
  const versions = urlCopyVersion(tools);
  say(`gridftp bench: scale ${SCALE}, ${ROUNDS} rounds, ${CONCURRENCY} in flight, node ${process.version}, ${availableParallelism()} CPUs (load average ${loadavg().map((l) => fix(l, 2)).join(' ')})`);
  say(`  server: ${tools.server} (pid ${server.pid}, port ${server.port}); client: ${versions}; jp-primary-dev --gridftp-url ${server.url(jpps)}`);
  say(`  importer (per connection: TYPE I, ${DCAU === 'A' ? `DCAU S <own subject> (= DCAU A without delegation), PROT C` : 'DCAU N'}; files ≤ 8 MiB: MODE E, TREV PERF 0, TREV RESTART 0, ` +
    'one data connection per control connection, per file STOR, SIZE; larger files: stream mode, per file PASV, STOR, SIZE)');
  try {
    say(`  globus-url-copy -fast${GUC_DCAU.length > 0 ? ' -nodcau' : ''} sends (from -dbg): ${await gucDialogue(x)}`);
    let ok = true;
    if (ONLY !== 'P7b') ok = (await p7a(x)) && ok;
    if (ONLY !== 'P7a') ok = (await p7b(x)) && ok;
    return ok ? 0 : 1;
  } catch (e) {
    if (interruptedBy() === undefined) say(`\n--- globus-gridftp-server log (tail) ---\n${await server.logTail()}`);
    throw e;
  }
}

main()
  .then((code) => {
    process.exitCode = code;
  }, (e: unknown) => {
    if (interruptedBy() !== undefined) return;
    process.stderr.write(`gridftp bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 2;
  })
  .finally(() => runCleanups());
