/**
 * `npm run demo`: the whole system on loopback, as an operator would run it.
 * Makes dev certificates if missing, starts jp-primary-dev (mutual-TLS SOAP +
 * FTP), starts `jp-importer -g` on spools under maildir/demo/, plays the LB
 * server (registrations, one malformed), exports a purge dump with
 * lb-dump-exporter and queues sandboxes with jp-upload-files, shows the
 * service receiving them, stops everything and prints a summary.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PACKAGE_ROOT } from '../src/config/paths.js';
import { storeLikeLb } from '../src/maildir/lb-writer.js';

const ROOT = PACKAGE_ROOT;
const CERTS = join(ROOT, 'certs');
const SPOOLS = join(ROOT, 'maildir', 'demo');
const DATA = join(ROOT, 'demo-data');
const JOBS = 12;
const SANDBOXES = 3;
const TIMEOUT_MS = 90_000;
const job = (i: number) => `https://lb.example.org:9000/demo_job_${i}`;
const OWNER = '/DC=org/DC=example/CN=Jane Doe';

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

async function main(): Promise<void> {
  if (!existsSync(join(CERTS, 'client.pem'))) {
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
  const ready = await new Promise<{ listening: { https: string; ftp?: string } }>((resolve, reject) => {
    const rl = createInterface({ input: primary.stdout as NodeJS.ReadableStream });
    rl.on('line', (l) => {
      try {
        const v = JSON.parse(l) as { listening?: { https: string } };
        if (v.listening !== undefined) resolve(v as { listening: { https: string } });
      } catch {
        /* a log line */
      }
    });
    primary.once('exit', (code) => reject(new Error(`jp-primary-dev exited with ${code}`)));
  });
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
  const commits = async (cls: string) => (await calls(callsFile)).filter((c) => c.op === 'CommitUpload' && c.ok)
    .filter((c) => (cls === 'lb' ? !String(c.destination).endsWith('.tar') : String(c.destination).endsWith('.tar'))).length;
  await waitFor('dump uploads', async () => (await commits('lb')) >= JOBS);
  await waitFor('sandbox uploads', async () => (await commits('tar')) >= SANDBOXES);
  await waitFor('the malformed registration to be kept aside', async () => (await countFiles(join(SPOOLS, 'reg', 'undeliverable'))) === 1);

  say('stopping the importer (SIGTERM) and the primary service');
  const importerCode = await stop(importer);
  await stop(primary);

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
    `  retried (service faults): ${faults}`,
    `  given up (kept aside)   : ${undeliverable}   (see maildir/demo/reg/undeliverable/*.meta)`,
    `  still queued            : ${queued}`,
    `  importer exit code      : ${importerCode}`,
    `  service call log        : ${callsFile}`,
    '',
  ].join('\n'));
  if (importerCode !== 0 || queued !== 0) process.exitCode = 1;
}

main().catch(async (err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
  await Promise.all(children.map((c) => stop(c)));
});
