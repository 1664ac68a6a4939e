/**
 * The real Globus GridFTP server (Debian's globus-gridftp-server-progs) as
 * a test peer: run in the foreground on a free loopback port with its own
 * (empty) config file, its own CA directory, host credential, grid-mapfile
 * and data port range, a temporary directory for the files, and its log in
 * a file (shown by explain() when a test fails). Stopped by the test: the
 * whole process group (the listener and the session processes it forks)
 * is killed and checked gone.
 *
 * Binary: $JP_TEST_GRIDFTP_SERVER, else globus-gridftp-server in PATH or
 * /usr/sbin. Missing: the test is skipped with the reason printed, or
 * fails in CI (.ci/run installs it; ./peers.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './tmp.js';
import { gridCerts, type GridCertPair } from './grid-certs.js';
import { peerMissing } from './peers.js';
import { freePortRange } from './ports.js';

type TestHooks = { after: (fn: () => Promise<void> | void) => void; skip: (msg?: string) => void };

const INSTALL_HINT =
  'apt-get install -y --no-install-recommends globus-gridftp-server-progs globus-gass-copy-progs globus-proxy-utils (.ci/run does it)';

/** The server binary, or why there is none. */
export function findGridftpServer(): { bin: string } | { missing: string } {
  const env = process.env['JP_TEST_GRIDFTP_SERVER'];
  const candidates = env !== undefined && env !== '' ? [env] : ['/usr/sbin/globus-gridftp-server', '/usr/bin/globus-gridftp-server'];
  for (const bin of candidates) {
    try {
      accessSync(bin, constants.X_OK);
      return { bin };
    } catch {
      // next
    }
  }
  return { missing: `globus-gridftp-server is not installed (looked at ${candidates.join(', ')}); ${INSTALL_HINT}` };
}

/** The server binary, or a skip reason for describe(): false when it is there; throws in CI when it is not (./peers.ts). */
export function gridftpSuiteSkip(): string | false {
  const found = findGridftpServer();
  if (!('missing' in found)) return false;
  if (process.env['CI'] === 'true') throw new Error(`${found.missing} — .ci/run installs it in CI, so its absence is a failure here`);
  process.stdout.write(`# skipped: ${found.missing}\n`);
  return found.missing;
}

/** globus-url-copy, or why there is none. */
export function findGlobusUrlCopy(): { bin: string } | { missing: string } {
  for (const bin of ['/usr/bin/globus-url-copy', '/usr/local/bin/globus-url-copy']) {
    try {
      accessSync(bin, constants.X_OK);
      return { bin };
    } catch {
      // next
    }
  }
  return { missing: `globus-url-copy is not installed; ${INSTALL_HINT}` };
}

export interface GridftpServerOptions {
  /** Host credential (default: CN=host/localhost from the grid CA). */
  readonly hostCred?: GridCertPair;
  /** CA directory the server trusts (default: the grid CA only). */
  readonly caDir?: string;
  /** grid-mapfile (default: the importer's subject → the current user). */
  readonly gridMap?: string;
  /** Seconds a control connection may stay idle (default 120). */
  readonly idleTimeout?: number;
  /** Listen on this port (a restart on the port of a killed server); default a free one. */
  readonly port?: number;
  /** Serve this existing directory as `root` (a restart keeps the files); default a new one. */
  readonly root?: string;
}

export interface GridftpServer {
  readonly port: number;
  /** A directory of the test: uploads go below it (the server serves the whole file system; paths are absolute). */
  readonly root: string;
  readonly logFile: string;
  readonly pid: number;
  /** The gsiftp:// URL of an absolute path. */
  url(path: string): string;
  log(): Promise<string>;
  /** Run `fn`; when it throws, add the server's log tail to the error. */
  explain<T>(fn: () => Promise<T>): Promise<T>;
  /** Pids of the server's process group still alive. */
  processes(): number[];
  stop(): Promise<void>;
}

function groupPids(pgid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
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

/** The host credential, CA directory and grid-mapfile; the grid PKI is made only when a default is needed (four RSA keys). */
async function serverFiles(opts: GridftpServerOptions): Promise<{ cred: GridCertPair; caDir: string; gridMap: string }> {
  if (opts.hostCred !== undefined && opts.caDir !== undefined && opts.gridMap !== undefined) {
    return { cred: opts.hostCred, caDir: opts.caDir, gridMap: opts.gridMap };
  }
  const g = await gridCerts();
  return { cred: opts.hostCred ?? g.host, caDir: opts.caDir ?? g.caDir, gridMap: opts.gridMap ?? g.gridMap };
}

/** Start a server, or skip the test (with the reason) when the binary is missing. */
export async function startGridftpServer(t: TestHooks, opts: GridftpServerOptions = {}): Promise<GridftpServer | undefined> {
  const found = findGridftpServer();
  if ('missing' in found) {
    process.stdout.write(`# skipped: ${found.missing}\n`);
    peerMissing(t, found.missing);
    return undefined;
  }
  const files = await serverFiles(opts);
  const dir = await tempDir(t, 'jp-gridftp-');
  await chmod(dir, 0o755);
  const root = opts.root ?? join(dir, 'root');
  if (opts.root === undefined) await mkdir(root, { mode: 0o755 });
  const conf = join(dir, 'gridftp.conf');
  await writeFile(conf, '# jp-importer test server: everything is on the command line\n');
  const logFile = join(dir, 'server.log');
  // The listener and its data port range next to it; a given port gets a fresh data range of its own.
  const [first, last] = await freePortRange(opts.port === undefined ? 21 : 20);
  const port = opts.port ?? first;
  const range = opts.port === undefined ? ([first + 1, last] as const) : ([first, last] as const);
  // setpriv --pdeathsig: the listener dies with this process even when it is killed (no after hooks then).
  const setpriv = existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', '--pdeathsig', 'KILL', '--'] : [];
  const argv = [
    ...setpriv,
    found.bin,
    '-c', conf, '-p', String(port), '-control-interface', '127.0.0.1', '-data-interface', '127.0.0.1',
    '-allow-root', '-log-level', 'ALL', '-logfile', logFile, '-log-module', 'stdio:buffer=0', '-control-idle-timeout', String(opts.idleTimeout ?? 120),
  ];
  const child: ChildProcess = spawn(
    argv[0] as string,
    argv.slice(1),
    {
      cwd: dir,
      detached: true, // its own process group: stop() kills the sessions it forked too
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: dir,
        X509_CERT_DIR: files.caDir,
        X509_USER_CERT: files.cred.cert,
        X509_USER_KEY: files.cred.key,
        GRIDMAP: files.gridMap,
        GLOBUS_TCP_PORT_RANGE: `${range[0]},${range[1]}`,
      },
    },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  let exited = false;
  child.once('exit', () => (exited = true));
  const pgid = child.pid as number;
  const killAtExit = (): void => {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // gone
    }
  };
  process.on('exit', killAtExit);

  const log = async (): Promise<string> => {
    const text = await readFile(logFile, 'utf8').catch(() => '');
    return `${text}${output === '' ? '' : `\n[stdout/stderr]\n${output}`}`;
  };
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.off('exit', killAtExit);
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
    for (let i = 0; i < 200 && (groupPids(pgid).length > 0 || !exited); i++) await new Promise((r) => setTimeout(r, 10));
    const left = groupPids(pgid);
    if (left.length > 0) throw new Error(`globus-gridftp-server processes left after stop: ${left.join(', ')}`);
  };
  t.after(stop);

  for (let i = 0; i < 500; i++) {
    if (exited) throw new Error(`globus-gridftp-server exited at start:\n${await log()}`);
    if ((await readFile(logFile, 'utf8').catch(() => '')).includes('Server started') && (await accepts(port))) break;
    if (i === 499) throw new Error(`globus-gridftp-server did not start listening on ${port}:\n${await log()}`);
    await new Promise((r) => setTimeout(r, 20));
  }

  return {
    port,
    root,
    logFile,
    pid: pgid,
    url: (path: string) => `gsiftp://localhost:${port}${path}`,
    log,
    async explain<T>(fn: () => Promise<T>): Promise<T> {
      try {
        return await fn();
      } catch (e) {
        const tail = (await log()).split('\n').slice(-60).join('\n');
        if (e instanceof Error) e.message = `${e.message}\n--- globus-gridftp-server log (tail) ---\n${tail}`;
        throw e;
      }
    },
    processes: () => groupPids(pgid),
    stop,
  };
}

/** Run globus-url-copy with the importer's (RSA) credential; its exit status and output. */
export function globusUrlCopy(args: string[], cred: GridCertPair, caDir: string): { status: number | null; output: string } {
  const found = findGlobusUrlCopy();
  if ('missing' in found) throw new Error(found.missing);
  const r = spawnSync(found.bin, args, {
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', X509_USER_CERT: cred.cert, X509_USER_KEY: cred.key, X509_CERT_DIR: caDir, HOME: process.env['HOME'] ?? '/' },
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}
