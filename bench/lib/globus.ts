/**
 * The Globus tools for the GridFTP bench: globus-gridftp-server run in the
 * foreground on a loopback port with its own (empty) config, the dev PKI's
 * CA directory, host credential and grid-mapfile (as
 * test/helpers/gridftp-server.ts does for the tests), and globus-url-copy
 * run with the dev client credential.
 */
import { execFile, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import type { BenchCerts } from './certs.js';
import { spawnTracked, stopChild } from './procs.js';

export const GLOBUS_INSTALL_HINT =
  'apt-get install -y --no-install-recommends globus-gridftp-server-progs globus-gass-copy-progs globus-proxy-utils';

export interface GlobusTools {
  readonly server: string;
  readonly urlCopy: string;
}

function firstExecutable(candidates: readonly string[]): string | undefined {
  for (const bin of candidates) {
    try {
      accessSync(bin, constants.X_OK);
      return bin;
    } catch {
      // next
    }
  }
  return undefined;
}

/** Both tools ($BENCH_GRIDFTP_SERVER / $BENCH_GRIDFTP_URL_COPY, else the usual places), or which are missing (with how to install them). */
export function findGlobusTools(env: NodeJS.ProcessEnv = process.env): GlobusTools | { missing: string } {
  const given = (name: string): string[] | undefined => (env[name] !== undefined && env[name] !== '' ? [env[name] as string] : undefined);
  const server = firstExecutable(given('BENCH_GRIDFTP_SERVER') ?? ['/usr/sbin/globus-gridftp-server', '/usr/bin/globus-gridftp-server', '/usr/local/sbin/globus-gridftp-server']);
  const urlCopy = firstExecutable(given('BENCH_GRIDFTP_URL_COPY') ?? ['/usr/bin/globus-url-copy', '/usr/local/bin/globus-url-copy']);
  if (server !== undefined && urlCopy !== undefined) return { server, urlCopy };
  const missing = [server === undefined ? 'globus-gridftp-server' : '', urlCopy === undefined ? 'globus-url-copy' : ''].filter((s) => s !== '');
  return { missing: `${missing.join(' and ')} not installed; install with: ${GLOBUS_INSTALL_HINT}` };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface GlobusServer {
  readonly child: ChildProcess;
  /** The listener's pid (it forks a process per session). */
  readonly pid: number;
  readonly port: number;
  readonly logFile: string;
  /** gsiftp://localhost:port<abs path> (the dev server certificate names localhost). */
  url(absPath: string): string;
  logTail(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

/** The server's environment and credentials: the dev PKI's server certificate as host credential. */
export async function startGlobusServer(tools: GlobusTools, certs: BenchCerts, dir: string): Promise<GlobusServer> {
  const conf = join(dir, 'gridftp.conf');
  await writeFile(conf, '# jp-importer bench server: everything is on the command line\n');
  const logFile = join(dir, 'gridftp-server.log');
  const port = await freePort();
  // setpriv --pdeathsig: the listener dies with the bench even when the bench is killed.
  const setpriv = existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', '--pdeathsig', 'KILL', '--'] : [];
  const argv = [...setpriv, tools.server, '-c', conf, '-p', String(port), '-control-interface', '127.0.0.1', '-data-interface', '127.0.0.1',
    '-allow-root', '-log-level', 'ERROR,WARN', '-logfile', logFile, '-log-module', 'stdio:buffer=0'];
  let output = '';
  const child = spawnTracked(argv[0] as string, argv.slice(1), {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: dir,
      X509_CERT_DIR: certs.caDir,
      X509_USER_CERT: certs.server,
      X509_USER_KEY: certs.serverKey,
      GRIDMAP: join(certs.dir, 'grid-mapfile'),
    },
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const logTail = async (lines = 40): Promise<string> => {
    const text = `${await readFile(logFile, 'utf8').catch(() => '')}${output}`;
    return text.split('\n').slice(-lines).join('\n');
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`globus-gridftp-server exited at start:\n${await logTail()}`);
    if (await accepts(port)) break;
    if (i === 500) throw new Error(`globus-gridftp-server did not start listening on ${port} within 10 s:\n${await logTail()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    child,
    pid: child.pid as number,
    port,
    logFile,
    url: (absPath) => `gsiftp://localhost:${port}${absPath}`,
    logTail,
    stop: async () => void (await stopChild(child, 5000)),
  };
}

/** `globus-url-copy: 10.12` (it prints its version and exits non-zero). */
export function urlCopyVersion(tools: GlobusTools): string {
  const r = spawnSync(tools.urlCopy, ['-version'], { encoding: 'utf8', timeout: 10_000 });
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? '?';
}

export interface UrlCopyResult {
  readonly ms: number;
  readonly output: string;
}

/** Run globus-url-copy with the dev client credential (not a proxy: it delegates from it); throws with its output on failure. */
export function globusUrlCopy(tools: GlobusTools, certs: BenchCerts, args: readonly string[], timeoutMs = 900_000): Promise<UrlCopyResult> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    execFile(tools.urlCopy, [...args], {
      timeout: timeoutMs,
      maxBuffer: 64 << 20,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/', X509_USER_CERT: certs.client, X509_USER_KEY: certs.clientKey, X509_CERT_DIR: certs.caDir },
    }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (err !== null) reject(new Error(`globus-url-copy ${args.join(' ')}: ${err.message}\n${output.slice(-3000)}`));
      else resolve({ ms: performance.now() - t0, output });
    });
  });
}

/** The commands globus-url-copy -dbg sent on the control channel, in order (`debug: sending command to …:` then the command). */
export function sentCommands(dbgOutput: string): string[] {
  const lines = dbgOutput.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length - 1; i++) {
    if (/^debug: sending command to /.test(lines[i] as string)) out.push((lines[i + 1] as string).trim());
  }
  return out;
}
