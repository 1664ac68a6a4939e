/**
 * `npm run demo`: the whole system on loopback, as an operator would run it.
 * Makes dev certificates if missing, starts jp-primary-dev (mutual-TLS SOAP +
 * FTP), starts `jp-importer -g` on spools under maildir/demo/, plays the LB
 * server (registrations, one malformed), exports a purge dump with
 * lb-dump-exporter and queues sandboxes with jp-upload-files, shows the
 * service receiving them, stops everything and prints a summary.
 *
 * With globus-gridftp-server installed it also shows a gsiftp:// upload the
 * way a real deployment runs: the Globus GridFTP server in the foreground on
 * a loopback port (its own config, the dev server certificate, CA directory
 * and grid-mapfile), a second jp-primary-dev handing out gsiftp://
 * destinations under it (--gridftp-url), and one dump for that service
 * (the message's jpps line) uploaded by the same importer over GSI and
 * committed. Without it, one line says how to install it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PACKAGE_ROOT } from '../src/config/paths.js';
import { storeLikeLb } from '../src/maildir/lb-writer.js';
import { formatUploadMessage } from '../src/messages/keyvalue.js';

const ROOT = PACKAGE_ROOT;
const CERTS = join(ROOT, 'certs');
const SPOOLS = join(ROOT, 'maildir', 'demo');
const DATA = join(ROOT, 'demo-data');
const JOBS = 12;
const SANDBOXES = 3;
const TIMEOUT_MS = 90_000;
const job = (i: number) => `https://lb.example.org:9000/demo_job_${i}`;
const OWNER = '/DC=org/DC=example/CN=Jane Doe';

const GRIDFTP_INSTALL = 'apt-get install -y --no-install-recommends globus-gridftp-server-progs globus-gass-copy-progs globus-proxy-utils';

const say = (s: string) => process.stdout.write(`\x1b[1mdemo\x1b[0m  ${s}\n`);
const children: ChildProcess[] = [];

function start(name: string, args: string[], prefix: string): ChildProcess {
  const child = spawn(process.execPath, [join(ROOT, 'bin', name), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  for (const s of [child.stdout, child.stderr]) {
    if (s !== null) createInterface({ input: s }).on('line', (l) => process.stdout.write(`${prefix} ${l}\n`));
  }
  return child;
}

function run(name: string, args: string[]): string {
  return execFileSync(process.execPath, [join(ROOT, 'bin', name), ...args], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

async function countFiles(dir: string): Promise<number> {
  try {
    return (await readdir(dir)).filter((n) => !n.startsWith('.') && !n.endsWith('.meta')).length;
  } catch {
    return 0;
  }
}

type Call = { op: string; ok: boolean; job?: string; fault?: number; class?: string; bytes?: number; destination?: string };
async function calls(file: string): Promise<Call[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Call);
}

function sampleDump(): string {
  // A small LB purge dump: three events per job, interleaved across jobs.
  const lines: string[] = [];
  const events = ['RegJob', 'Accepted', 'Done'];
  for (let e = 0; e < events.length; e++) {
    for (let i = 0; i < JOBS; i++) {
      const t = `20261121${String(10 + e).padStart(2, '0')}0000.${String(i).padStart(6, '0')}`;
      lines.push(`DG.ARRIVED=${t} DATE=${t} HOST="lb.example.org" PROG=edg-wms LVL=SYSTEM DG.PRIORITY=0 ` +
        `DG.SOURCE="NetworkServer" DG.EVNT="${events[e]}" DG.JOBID="${job(i)}" DG.SEQCODE="UI=000000:NS=000000000${e}" ` +
        `DG.USER="${OWNER}" DG.DESCR="demo \\"event\\" ${e}"`);
    }
  }
  return lines.join('\n') + '\n';
}

async function waitFor(what: string, cond: () => Promise<boolean>): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > TIMEOUT_MS) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((res) => {
    child.once('exit', (code) => res(code));
    child.kill('SIGTERM');
  });
}

/** jp-primary-dev's ready line (`{"listening":…}` on stdout). */
function readyLine(child: ChildProcess): Promise<{ listening: { https: string; ftp?: string } }> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.on('line', (l) => {
      try {
        const v = JSON.parse(l) as { listening?: { https: string } };
        if (v.listening !== undefined) resolve(v as { listening: { https: string } });
      } catch {
        /* a log line */
      }
    });
    child.once('exit', (code) => reject(new Error(`jp-primary-dev exited with ${code}`)));
  });
}

// ---- the Globus GridFTP server (when installed) ----------------------------------

function findGridftpServer(): string | undefined {
  for (const bin of ['/usr/sbin/globus-gridftp-server', '/usr/bin/globus-gridftp-server']) {
    try {
      accessSync(bin, constants.X_OK);
      return bin;
    } catch {
      // next
    }
  }
  return undefined;
}

function portFree(port: number): Promise<boolean> {
  const s = createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** `n` consecutive free loopback ports (the control port and the data port range after it). */
async function freePorts(n: number): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    let all = true;
    for (let p = base; p < base + n && all; p++) all = await portFree(p);
    if (all) return base;
  }
  throw new Error(`no ${n} consecutive free loopback ports`);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

interface GridftpServer {
  readonly port: number;
  /** The directory the service hands out (the server serves the whole file system, paths are absolute). */
  readonly dir: string;
  readonly logFile: string;
  stop(): void;
}

/**
 * globus-gridftp-server in the foreground on loopback, as the tests run it:
 * its own (empty) config, the dev server certificate as host credential,
 * the dev CA directory (with <hash>.signing_policy) and grid-mapfile, data
 * ports next to the control port; its own process group, so stop() ends the
 * sessions it forked too.
 */
async function startGridftpServer(bin: string): Promise<GridftpServer> {
  const dir = join(DATA, 'gridftp');
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const conf = join(DATA, 'gridftp.conf');
  await writeFile(conf, '# jp-importer demo: everything is on the command line\n');
  const logFile = join(DATA, 'gridftp-server.log');
  const port = await freePorts(11);
  const child = spawn(bin, ['-c', conf, '-p', String(port), '-control-interface', '127.0.0.1', '-data-interface', '127.0.0.1',
    '-allow-root', '-log-level', 'ALL', '-logfile', logFile, '-log-module', 'stdio:buffer=0'], {
    detached: true,
    stdio: 'ignore',
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: DATA,
      X509_CERT_DIR: join(CERTS, 'ca'),
      X509_USER_CERT: join(CERTS, 'server.pem'),
      X509_USER_KEY: join(CERTS, 'server-key.pem'),
      GRIDMAP: join(CERTS, 'grid-mapfile'),
      GLOBUS_TCP_PORT_RANGE: `${port + 1},${port + 10}`,
    },
  });
  let exited = false;
  child.once('exit', () => (exited = true));
  const stop = (): void => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // gone
    }
  };
  process.once('exit', stop);
  for (let i = 0; ; i++) {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    if (exited || i >= 500) {
      stop();
      throw new Error(`globus-gridftp-server did not start on port ${port} (log ${logFile}):\n${log.split('\n').slice(-15).join('\n')}`);
    }
    if (log.includes('Server started') && (await accepts(port))) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return { port, dir, logFile, stop };
}

async function main(): Promise<void> {
  if (!existsSync(join(CERTS, 'client.pem')) || !existsSync(join(CERTS, 'grid-mapfile'))) {
    say('making development certificates in certs/ (certs/make-dev-certs.sh)');
    execFileSync('bash', [join(CERTS, 'make-dev-certs.sh'), CERTS], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  await rm(DATA, { recursive: true, force: true });
  await rm(SPOOLS, { recursive: true, force: true });
  const dumpFiles = join(SPOOLS, 'dump-files');
  await mkdir(dumpFiles, { recursive: true, mode: 0o700 });
  const primaryData = join(DATA, 'primary');

  say('starting jp-primary-dev (HTTPS with mutual TLS + FTP) on 127.0.0.1, first 3 calls will fail');
  const primary = start('jp-primary-dev.js', ['--listen', '127.0.0.1:0', '--ftp-listen', '127.0.0.1:0', '--cert', join(CERTS, 'server.pem'),
    '--key', join(CERTS, 'server-key.pem'), '--CAdir', join(CERTS, 'ca'), '--data-dir', primaryData, '--fail-next', '3'], '\x1b[35mprimary \x1b[0m│');
  const ready = await readyLine(primary);
  const jpps = ready.listening.https;
  const callsFile = join(primaryData, 'calls.jsonl');
  say(`primary service at https://${jpps}/ , FTP at ${ready.listening.ftp ?? '-'}`);

  say('starting jp-importer -g (foreground, readable logs), spools under maildir/demo/');
  const importer = start('jp-importer.js', ['-g', '-p', jpps, '-c', join(CERTS, 'client.pem'), '-k', join(CERTS, 'client-key.pem'),
    '-C', join(CERTS, 'ca'), '-r', join(SPOOLS, 'reg'), '-d', join(SPOOLS, 'dump'), '-s', join(SPOOLS, 'sandbox'),
    '-i', join(SPOOLS, 'jp-importer.pid'), '--allow-dir', dumpFiles, '--retry-first', '1s', '--retry-max', '2s'], '\x1b[36mimporter\x1b[0m│');
  await waitFor('the importer to create its spools', async () => existsSync(join(SPOOLS, 'reg', 'new')) && existsSync(join(SPOOLS, 'sandbox', 'new')));

  say(`LB server: storing ${JOBS} registrations and 1 malformed one into maildir/demo/reg (tmp/ + hard link in new/)`);
  for (let i = 0; i < JOBS; i++) await storeLikeLb(join(SPOOLS, 'reg'), `${job(i)}\n${OWNER}`);
  await storeLikeLb(join(SPOOLS, 'reg'), 'this is not a registration');
  await waitFor('registrations', async () => new Set((await calls(callsFile)).filter((c) => c.op === 'RegisterJob' && c.ok).map((c) => c.job)).size === JOBS);

  say('lb-dump-exporter: splitting a purge dump into one file per job and announcing them in maildir/demo/dump');
  const dumpPath = join(DATA, 'purge.dump');
  await writeFile(dumpPath, sampleDump());
  process.stdout.write(run('lb-dump-exporter.js', ['-d', dumpPath, '-s', dumpFiles, '-m', join(SPOOLS, 'dump'), '-j', jpps]));

  say(`jp-upload-files: queueing ${SANDBOXES} sandboxes (tar) into maildir/demo/sandbox`);
  const sbFile = join(DATA, 'stdout.txt');
  await writeFile(sbFile, 'hello from the demo job\n');
  for (let i = 0; i < SANDBOXES; i++) {
    process.stdout.write(`        message ${run('jp-upload-files.js', ['-j', job(i), '-m', join(SPOOLS, 'sandbox'), '-p', join(CERTS, 'client.pem'), sbFile]).trim()}\n`);
  }
  // A sandbox's destination names the isb class (`…/isb`, `…:isb`, or a `.tar` name with --upload-name basename).
  const isSandbox = (d: unknown): boolean => /(?:\/isb|:isb(?:\.[^/]*)?|\.tar)$/.test(String(d));
  const commits = async (cls: string) => (await calls(callsFile)).filter((c) => c.op === 'CommitUpload' && c.ok)
    .filter((c) => (cls === 'lb' ? !isSandbox(c.destination) : isSandbox(c.destination))).length;
  await waitFor('dump uploads', async () => (await commits('lb')) >= JOBS);
  await waitFor('sandbox uploads', async () => (await commits('tar')) >= SANDBOXES);
  await waitFor('the malformed registration to be kept aside', async () => (await countFiles(join(SPOOLS, 'reg', 'undeliverable'))) === 1);

  const gsiftp = await gsiftpUpload(dumpFiles);

  say('stopping the importer (SIGTERM) and the primary service');
  const importerCode = await stop(importer);
  await stop(primary);
  await gsiftp.stop();

  const all = await calls(callsFile);
  const ok = (op: string) => all.filter((c) => c.op === op && c.ok).length;
  const faults = all.filter((c) => !c.ok).length;
  const undeliverable = (await countFiles(join(SPOOLS, 'reg', 'undeliverable'))) + (await countFiles(join(SPOOLS, 'dump', 'undeliverable')))
    + (await countFiles(join(SPOOLS, 'sandbox', 'undeliverable')));
  const queued = (await Promise.all(['reg', 'dump', 'sandbox'].flatMap((s) => ['new', 'cur', 'post'].map((d) => countFiles(join(SPOOLS, s, d))))))
    .reduce((a, b) => a + b, 0);
  say('summary');
  process.stdout.write([
    `  registrations delivered : ${ok('RegisterJob')}`,
    `  dumps uploaded+committed: ${await commits('lb')}`,
    `  sandboxes uploaded      : ${await commits('tar')}`,
    `  gsiftp:// dump          : ${gsiftp.summary}`,
    `  retried (service faults): ${faults}`,
    `  given up (kept aside)   : ${undeliverable}   (see maildir/demo/reg/undeliverable/*.meta)`,
    `  still queued            : ${queued}`,
    `  importer exit code      : ${importerCode}`,
    `  service call log        : ${callsFile}`,
    '',
  ].join('\n'));
  if (importerCode !== 0 || queued !== 0) process.exitCode = 1;
}

/**
 * A gsiftp:// upload, when the Globus GridFTP server is installed: a second
 * jp-primary-dev hands out gsiftp:// destinations under it, and one dump
 * whose message names that service (its jpps line) goes through the running
 * importer: failsafe registration (RegisterJob makes the job's directory),
 * StartUpload, the GSI upload, CommitUpload.
 */
async function gsiftpUpload(dumpFiles: string): Promise<{ summary: string; stop: () => Promise<void> }> {
  const bin = findGridftpServer();
  if (bin === undefined) {
    say(`globus-gridftp-server is not installed: no gsiftp:// upload in this demo (to see one: ${GRIDFTP_INSTALL})`);
    return { summary: 'skipped (globus-gridftp-server not installed)', stop: async () => undefined };
  }
  say('GridFTP: starting globus-gridftp-server on loopback (dev server certificate, certs/ca, certs/grid-mapfile)');
  const server = await startGridftpServer(bin);
  const url = `gsiftp://localhost:${server.port}${server.dir}`;
  let primary2: ChildProcess | undefined;
  const stopAll = async (): Promise<void> => {
    if (primary2 !== undefined) await stop(primary2);
    server.stop();
  };
  try {
    say(`GridFTP: starting a second jp-primary-dev handing out destinations under ${url}`);
    const dataDir = join(DATA, 'primary-gsiftp');
    primary2 = start('jp-primary-dev.js', ['--listen', '127.0.0.1:0', '--gridftp-url', url, '--cert', join(CERTS, 'server.pem'),
      '--key', join(CERTS, 'server-key.pem'), '--CAdir', join(CERTS, 'ca'), '--data-dir', dataDir], '\x1b[33mprimary2\x1b[0m│');
    const jpps = (await readyLine(primary2)).listening.https;
    const callsFile = join(dataDir, 'calls.jsonl');
    const jobid = 'https://lb.example.org:9000/demo_gsiftp_job';
    const file = join(dumpFiles, 'gsiftp-demo.dump');
    const data = `DG.EVNT="RegJob" DG.JOBID="${jobid}" DG.USER="${OWNER}" DG.DESCR="uploaded over gsiftp://"\n`.repeat(200);
    await writeFile(file, data);
    say(`GridFTP: queueing one dump for ${jobid} with "jpps ${jpps}" (the job is not registered there: failsafe registration)`);
    await storeLikeLb(join(SPOOLS, 'dump'), formatUploadMessage({ jobid, file, jpps }));
    await waitFor('the gsiftp:// upload', async () => (await calls(callsFile)).some((c) => c.op === 'CommitUpload' && c.ok));
    const all = await calls(callsFile);
    const commit = all.find((c) => c.op === 'CommitUpload' && c.ok) as Call;
    const destination = String(commit.destination);
    const stored = await readFile(decodeURIComponent(new URL(destination).pathname), 'utf8');
    if (stored !== data) throw new Error(`the file at ${destination} differs from the dump`);
    const registered = all.some((c) => c.op === 'RegisterJob' && c.ok && c.job === jobid);
    say(`GridFTP: uploaded to ${destination}`);
    say(`GridFTP: committed (CommitUpload ok, ${commit.bytes} bytes, identical to the dump${registered ? '; registered by the importer first' : ''}); server log ${server.logFile}`);
    return { summary: `1 committed, ${destination}`, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

main().catch(async (err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
  await Promise.all(children.map((c) => stop(c)));
});
