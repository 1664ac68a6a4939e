/**
 * Real FTP servers from Debian as test peers beside ftp-srv: vsftpd 3.0.3,
 * ProFTPD 1.3.8 and Pure-FTPd 1.0.50, each configured by the test itself (its own config
 * file, a free loopback port, its own passive port range, a directory of
 * the test as its root), run in the foreground and stopped by the test
 * (`t.after`). A missing binary skips the test with the reason printed.
 *
 * Binaries: $JP_TEST_VSFTPD / $JP_TEST_PROFTPD / $JP_TEST_PUREFTPD, else
 * /usr/sbin/<name>, else unpacked under $JP_TEST_FTP_DIR (default
 * /opt/jp-test-ftp)/<name>/usr/sbin (the Debian packages conflict with each
 * other: .ci/run installs vsftpd and unpacks proftpd-core, pure-ftpd and
 * pure-ftpd-common there with `apt-get download` + `dpkg-deb -x`).
 *
 * As root the servers' sessions run as an unprivileged user (vsftpd's
 * anonymous user `ftp`, else `daemon`; ProFTPD and Pure-FTPd as `nobody`),
 * so permissions apply to them; as another user they run as that user
 * (vsftpd `run_as_launching_user`, ProFTPD without User/Group and without
 * chroot; Pure-FTPd needs root and is skipped).
 */
import { nsRun } from './netns.js';
import { peerMissing } from './peers.js';
import { freePort, freePortRange } from './ports.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type AfterHook = { after: (fn: () => Promise<void> | void) => void; skip: (msg?: string) => void };

export type RealFtpKind = 'vsftpd' | 'proftpd' | 'pure-ftpd';

export interface RealFtpServer {
  readonly kind: RealFtpKind;
  readonly port: number;
  /** The address it listens on (127.0.0.1 unless in a network namespace). */
  readonly host: string;
  /** Its passive (data) port range. */
  readonly pasvPorts: readonly [number, number];
  /** The directory the FTP root `/` shows (files arrive below it). */
  readonly root: string;
  /** The uid the server's sessions write files as. */
  readonly sessionUid: number;
  readonly sessionGid: number;
  /** The destination URL of an FTP path (`/up/x`), with the test's login. */
  url(ftpPath: string, scheme?: 'ftp' | 'ftps'): string;
  /** The local file an FTP path lands in. */
  fileOf(ftpPath: string): string;
  /** Make a directory below the root, writable by the sessions unless `writable` is false. */
  mkdir(ftpPath: string, writable?: boolean): Promise<string>;
  /** Put a file below the root, owned by the sessions' user (as an earlier upload would have left it). */
  writeFile(ftpPath: string, data: string | Buffer): Promise<void>;
  /** The server's own log (vsftpd protocol log, ProFTPD system log). */
  log(): Promise<string>;
  /** Processes of the server below its listener (the sessions), from /proc. */
  sessionProcesses(): Array<{ pid: number; ppid: number; uid: number }>;
  stop(): Promise<void>;
}

export interface VsftpdOptions {
  /** FTPS, explicit TLS (AUTH TLS) required for logins and data, TLS session reuse required. PEM file paths. */
  tls?: { cert: string; key: string; ca: string; requireClientCert?: boolean };
  /** vsftpd max_per_ip (0 = no limit). */
  maxPerIp?: number;
  /** vsftpd anon_max_rate, bytes/s (0 = no limit). */
  maxRate?: number;
  /**
   * Run it inside this network namespace (test/helpers/netns.ts), listening
   * on `address` there; `pasvAddress` (default `address`) is what PASV
   * replies name (EPSV names no address: the data host is the control host).
   */
  netns?: { name: string; address: string; pasvAddress?: string };
}

export interface PureftpdOptions {
  /** FTPS, explicit TLS required for logins and data (`-Y 3`). PEM file paths. */
  tls?: { cert: string; key: string };
  /** Pure-FTPd -C (max clients per IP; 0 = no limit). */
  maxPerIp?: number;
}

export interface ProftpdOptions {
  /** FTP paths (directories) where `AllowOverwrite off` applies. */
  noOverwriteDirs?: string[];
}

const isRoot = (): boolean => process.getuid?.() === 0;

/** The server binary, or why there is none. */
export function findServer(kind: RealFtpKind): { bin: string } | { missing: string } {
  const env = process.env[{ vsftpd: 'JP_TEST_VSFTPD', proftpd: 'JP_TEST_PROFTPD', 'pure-ftpd': 'JP_TEST_PUREFTPD' }[kind]];
  const unpacked = join(process.env['JP_TEST_FTP_DIR'] ?? '/opt/jp-test-ftp', kind, 'usr', 'sbin', kind);
  const candidates = env !== undefined && env !== '' ? [env] : [`/usr/sbin/${kind}`, unpacked];
  for (const bin of candidates) {
    try {
      accessSync(bin, constants.X_OK);
    } catch {
      continue;
    }
    // An unpacked binary may lack its libraries: run it once.
    const r = spawnSync(bin, kind === 'pure-ftpd' ? ['--help'] : ['-v'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
    // vsftpd -v and pure-ftpd --help exit non-zero; a missing library shows as a signal or "error while loading".
    if (r.error === undefined && r.signal === null && !/error while loading shared libraries/.test(`${r.stderr}${r.stdout}`)) return { bin };
    return { missing: `${bin} does not run: ${(r.stderr || r.stdout || String(r.error)).trim().split('\n')[0] ?? ''}` };
  }
  return { missing: `${kind} is not installed (looked at ${candidates.join(', ')}; .ci/run installs it)` };
}

export { freePort };

interface PasswdEntry { name: string; uid: number; gid: number; home: string }

function passwd(name: string): PasswdEntry | undefined {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 7) return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '' };
  }
  return undefined;
}

function passwdByUid(uid: number): PasswdEntry | undefined {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (Number(f[2]) === uid && f[0] !== undefined && f.length >= 7) return passwd(f[0]);
  }
  return undefined;
}

function groupName(gid: number): string | undefined {
  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const f = line.split(':');
    if (Number(f[2]) === gid && f[0] !== undefined) return f[0];
  }
  return undefined;
}

/** Descendants of `pid` (from /proc), with their real uid. */
function descendants(pid: number): Array<{ pid: number; ppid: number; uid: number }> {
  const all: Array<{ pid: number; ppid: number; uid: number }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      all.push({ pid: Number(name), ppid, uid });
    } catch {
      // gone meanwhile
    }
  }
  const out: Array<{ pid: number; ppid: number; uid: number }> = [];
  const parents = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of all) {
      if (parents.has(p.ppid) && !parents.has(p.pid)) {
        parents.add(p.pid);
        out.push(p);
        grew = true;
      }
    }
  }
  return out;
}

/** Whether an FTP server greets (220) on host:port, asked from inside network namespace `ns`. */
async function greetsIn(ns: string, host: string, port: number): Promise<boolean> {
  const script = `const s=require('node:net').connect(${port},${JSON.stringify(host)});let t='';`
    + `s.setTimeout(2000,()=>process.exit(1));s.on('error',()=>process.exit(1));`
    + `s.on('data',(d)=>{t+=d;if(/^220[ -]/m.test(t)){s.end('QUIT\\r\\n');process.exit(0);}});`;
  const r = await nsRun(ns, process.execPath, ['-e', script], 10_000);
  return r.code === 0;
}

/** Resolves once the server greets on its port (or rejects with its output). */
async function waitForGreeting(port: number, child: ChildProcess, output: () => string, ms = 15_000, host = '127.0.0.1', ns?: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the FTP server exited (${child.exitCode ?? child.signalCode}) before greeting: ${output()}`);
    }
    const greeted = ns !== undefined ? await greetsIn(ns, host, port) : await new Promise<boolean>((resolve) => {
      const s = connect({ host, port });
      let text = '';
      const done = (ok: boolean): void => {
        s.destroy();
        resolve(ok);
      };
      s.setTimeout(2_000, () => done(false));
      s.on('data', (d) => {
        text += d.toString('latin1');
        if (/^220[ -]/m.test(text)) {
          s.end('QUIT\r\n');
          done(true);
        }
      });
      s.on('error', () => done(false));
    });
    if (greeted) return;
    if (Date.now() > deadline) throw new Error(`the FTP server on ${host}:${port} did not greet within ${ms} ms: ${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Until the server has ended the session of the greeting probe (a server
 * counting connections per client still counts it until then).
 */
async function waitForNoSessions(child: ChildProcess, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (descendants(child.pid ?? -1).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) {
    try {
      if (c.pid !== undefined) process.kill(-c.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/** Start `bin args` in its own process group; stop() ends the group (the listener and its sessions). */
function launch(bin: string, args: string[]): { child: ChildProcess; output: () => string; stop: () => Promise<void> } {
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  const keep = (d: Buffer): void => {
    out = (out + d.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.pid === undefined) return;
    const pid = child.pid;
    const sessions = descendants(pid);
    const kill = (sig: NodeJS.Signals): void => {
      try {
        process.kill(-pid, sig);
      } catch {
        // group gone
      }
      for (const s of sessions) {
        try {
          process.kill(s.pid, sig);
        } catch {
          // gone
        }
      }
    };
    if (child.exitCode === null && child.signalCode === null) {
      kill('SIGTERM');
      const t = setTimeout(() => kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    }
    kill('SIGKILL'); // sessions that outlived their listener
    running.delete(child);
  };
  return { child, output: () => out, stop };
}

async function baseDir(kind: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `jp-${kind}-`));
  await chmod(dir, 0o755);
  return dir;
}

function encodePath(ftpPath: string): string {
  return ftpPath.split('/').map(encodeURIComponent).join('/');
}

/**
 * vsftpd with anonymous upload into `<root>` (MKD, APPE and overwrite
 * allowed), FTP root owned by root and not writable (vsftpd refuses a
 * writable chroot), `/up` writable. Returns undefined (test skipped) when
 * vsftpd is missing.
 */
export async function startVsftpd(t: AfterHook, opts: VsftpdOptions = {}): Promise<RealFtpServer | undefined> {
  const found = findServer('vsftpd');
  if ('missing' in found) {
    peerMissing(t, found.missing);
    return undefined;
  }
  const dir = await baseDir('vsftpd');
  const root = join(dir, 'root');
  const empty = join(dir, 'empty');
  await mkdir(root, { mode: 0o755 });
  await mkdir(empty, { mode: 0o755 });
  const asRoot = isRoot();
  const anon = asRoot ? ['ftp', 'daemon'].map(passwd).find((p) => p !== undefined && p.home !== '' && existsSync(p.home)) : undefined;
  if (asRoot && anon === undefined) {
    t.skip('vsftpd as root needs an anonymous user with a home directory (ftp or daemon)');
    await rm(dir, { recursive: true, force: true });
    return undefined;
  }
  const sessionUid = anon?.uid ?? process.getuid?.() ?? 0;
  const sessionGid = anon?.gid ?? process.getgid?.() ?? 0;
  const port = await freePort();
  const [pasvMin, pasvMax] = await freePortRange(24);
  const tls = opts.tls;
  const host = opts.netns?.address ?? '127.0.0.1';
  const conf = [
    'listen=YES', 'listen_ipv6=NO', 'background=NO', `listen_address=${host}`, `listen_port=${port}`,
    'anonymous_enable=YES', 'local_enable=NO', 'no_anon_password=YES', 'write_enable=YES',
    'anon_upload_enable=YES', 'anon_mkdir_write_enable=YES', 'anon_other_write_enable=YES',
    'anon_world_readable_only=NO', 'anon_umask=022', `anon_root=${root}`, `secure_chroot_dir=${empty}`,
    asRoot ? `ftp_username=${anon?.name ?? 'ftp'}` : 'run_as_launching_user=YES',
    'pasv_enable=YES', `pasv_min_port=${pasvMin}`, `pasv_max_port=${pasvMax}`, `pasv_address=${opts.netns?.pasvAddress ?? host}`,
    'connect_from_port_20=NO', 'dirmessage_enable=NO', 'seccomp_sandbox=NO', 'isolate=NO', 'isolate_network=NO',
    `max_per_ip=${opts.maxPerIp ?? 0}`, 'max_clients=0', `anon_max_rate=${opts.maxRate ?? 0}`,
    'idle_session_timeout=600', 'data_connection_timeout=60',
    'xferlog_enable=YES', 'log_ftp_protocol=YES', `vsftpd_log_file=${join(dir, 'vsftpd.log')}`, 'syslog_enable=NO',
    ...(tls === undefined ? ['ssl_enable=NO'] : [
      'ssl_enable=YES', 'allow_anon_ssl=YES', 'force_anon_logins_ssl=YES', 'force_anon_data_ssl=YES',
      'require_ssl_reuse=YES', 'ssl_ciphers=HIGH', `rsa_cert_file=${tls.cert}`, `rsa_private_key_file=${tls.key}`,
      ...(tls.requireClientCert === true ? ['require_cert=YES', 'validate_cert=YES', `ca_certs_file=${tls.ca}`] : []),
    ]),
  ];
  const confFile = join(dir, 'vsftpd.conf');
  await writeFile(confFile, `${conf.join('\n')}\n`, { mode: 0o600 });
  // Without chroot (not root) FTP paths are the real paths: prefix them with the root.
  const server = makeServer('vsftpd', root, asRoot ? '' : root, port, sessionUid, sessionGid, undefined, join(dir, 'vsftpd.log'),
    host, [pasvMin, pasvMax]);
  await server.mkdir('/up');
  // `ip netns exec` execs the server: the process (group) is vsftpd's own.
  const proc = opts.netns === undefined ? launch(found.bin, [confFile]) : launch('ip', ['netns', 'exec', opts.netns.name, found.bin, confFile]);
  t.after(async () => {
    await proc.stop();
    if (process.env['JP_KEEP_TMP'] === undefined) await rm(dir, { recursive: true, force: true });
  });
  await waitForGreeting(port, proc.child, proc.output, 15_000, host, opts.netns?.name);
  await waitForNoSessions(proc.child);
  return { ...server, sessionProcesses: () => descendants(proc.child.pid ?? -1), stop: proc.stop };
}

const LOGIN_USER = 'jp';
const LOGIN_PASSWORD = 'jp-test';
/** crypt(3) SHA-512 of LOGIN_PASSWORD (`openssl passwd -6 -salt jptestsalt jp-test`). */
const LOGIN_HASH = '$6$jptestsalt$QQlhGmJcBViWfBKG8GbCvByTmSXt1BRx/xbA1rjAzw51ZbwYoeGS8YnfNdYyaCofdttT/AC/ZFK32LAOaV2qG1';

/**
 * ProFTPD (`-n`, foreground) with one virtual user (AuthUserFile) whose
 * home is the FTP root (chrooted when run as root), `/up` writable.
 */
export async function startProftpd(t: AfterHook, opts: ProftpdOptions = {}): Promise<RealFtpServer | undefined> {
  const found = findServer('proftpd');
  if ('missing' in found) {
    peerMissing(t, found.missing);
    return undefined;
  }
  const dir = await baseDir('proftpd');
  const root = join(dir, 'home');
  await mkdir(root, { mode: 0o755 });
  await mkdir(join(dir, 'run'), { mode: 0o755 });
  const asRoot = isRoot();
  // As root the sessions run as nobody; otherwise as ourselves (User/Group must still name us).
  const runAs = asRoot ? passwd('nobody') : passwdByUid(process.getuid?.() ?? -1);
  const group = runAs !== undefined ? groupName(runAs.gid) : undefined;
  if (runAs === undefined || group === undefined) {
    t.skip(`ProFTPD needs ${asRoot ? 'the user nobody' : 'our user'} and its group in /etc/passwd and /etc/group`);
    await rm(dir, { recursive: true, force: true });
    return undefined;
  }
  const uid = runAs.uid;
  const gid = runAs.gid;
  if (asRoot) await chown(root, uid, gid);
  const port = await freePort();
  const [pasvMin, pasvMax] = await freePortRange(24);
  const passwdFile = join(dir, 'passwd');
  const groupFile = join(dir, 'group');
  await writeFile(passwdFile, `${LOGIN_USER}:${LOGIN_HASH}:${uid}:${gid}::${root}:/bin/false\n`, { mode: 0o600 });
  await writeFile(groupFile, `${group}:x:${gid}:\n`, { mode: 0o644 });
  // Without chroot (not root) FTP paths are the real paths: prefix them with the root.
  const prefix = asRoot ? '' : root;
  const conf = [
    'ServerName "jp-importer test"', 'ServerType standalone', 'DefaultServer on', `Port ${port}`,
    'DefaultAddress 127.0.0.1', 'SocketBindTight on', `PassivePorts ${pasvMin} ${pasvMax}`,
    `User ${runAs.name}`, `Group ${group}`, ...(asRoot ? ['DefaultRoot ~'] : []),
    'Umask 022', 'MaxInstances 64', `PidFile ${join(dir, 'run', 'proftpd.pid')}`,
    `ScoreboardFile ${join(dir, 'run', 'proftpd.scoreboard')}`, 'DelayTable none', 'WtmpLog off', 'UseReverseDNS off',
    'AuthOrder mod_auth_file.c', `AuthUserFile ${passwdFile}`, `AuthGroupFile ${groupFile}`, 'RequireValidShell off',
    'AuthPAM off', 'AllowOverwrite on', 'AllowStoreRestart on', `SystemLog ${join(dir, 'proftpd.log')}`,
    `TransferLog ${join(dir, 'xfer.log')}`,
    '<IfModule mod_delay.c>', 'DelayEngine off', '</IfModule>',
    '<IfModule mod_ctrls.c>', 'ControlsEngine off', '</IfModule>',
    ...(opts.noOverwriteDirs ?? []).flatMap((d) => [`<Directory ${join(root, d)}>`, 'AllowOverwrite off', '</Directory>']),
  ];
  const confFile = join(dir, 'proftpd.conf');
  await writeFile(confFile, `${conf.join('\n')}\n`, { mode: 0o644 });
  const server = makeServer('proftpd', root, prefix, port, uid, gid,
    { user: LOGIN_USER, password: LOGIN_PASSWORD }, join(dir, 'proftpd.log'), '127.0.0.1', [pasvMin, pasvMax]);
  await server.mkdir('/up');
  const proc = launch(found.bin, ['-n', '-q', '-c', confFile]);
  t.after(async () => {
    await proc.stop();
    if (process.env['JP_KEEP_TMP'] === undefined) await rm(dir, { recursive: true, force: true });
  });
  await waitForGreeting(port, proc.child, proc.output);
  await waitForNoSessions(proc.child);
  return { ...server, sessionProcesses: () => descendants(proc.child.pid ?? -1), stop: proc.stop };
}

/** pure-pw next to the unpacked (or installed) pure-ftpd. */
function purePw(bin: string): string | undefined {
  const candidates = [join(bin, '..', '..', 'bin', 'pure-pw'), '/usr/bin/pure-pw'];
  return candidates.find((c) => {
    try {
      accessSync(c, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Pure-FTPd (foreground) with one virtual user (PureDB made by pure-pw)
 * whose home is the FTP root, chrooted, `/up` writable. Root only.
 */
export async function startPureftpd(t: AfterHook, opts: PureftpdOptions = {}): Promise<RealFtpServer | undefined> {
  const found = findServer('pure-ftpd');
  if ('missing' in found) {
    peerMissing(t, found.missing);
    return undefined;
  }
  const pw = purePw(found.bin);
  const nobody = passwd('nobody');
  if (!isRoot() || pw === undefined || nobody === undefined) {
    t.skip(!isRoot() ? 'Pure-FTPd runs its virtual users only when started as root'
      : pw === undefined ? `pure-pw (pure-ftpd-common) not found beside ${found.bin}` : 'Pure-FTPd needs the user nobody');
    return undefined;
  }
  const dir = await baseDir('pureftpd');
  const root = join(dir, 'home');
  await mkdir(root, { mode: 0o755 });
  await chown(root, nobody.uid, nobody.gid);
  const passwdFile = join(dir, 'pureftpd.passwd');
  const pdb = join(dir, 'pureftpd.pdb');
  // The `/./` ends the chroot at the home directory.
  await writeFile(passwdFile, `${LOGIN_USER}:${LOGIN_HASH}:${nobody.uid}:${nobody.gid}::${root}/./::::::::::::\n`, { mode: 0o600 });
  const mk = spawnSync(pw, ['mkdb', pdb, '-f', passwdFile], { encoding: 'utf8', timeout: 10_000 });
  if (mk.status !== 0) throw new Error(`pure-pw mkdb failed: ${mk.stderr}`);
  const port = await freePort();
  const [pasvMin, pasvMax] = await freePortRange(24);
  const args = ['-S', `127.0.0.1,${port}`, '-l', `puredb:${pdb}`, '-E', '-A', '-H', '-p', `${pasvMin}:${pasvMax}`, '-u', '1',
    '-U', '022:022', '-c', '64', '-C', String(opts.maxPerIp ?? 64),
    ...(opts.tls === undefined ? [] : ['-Y', '3', '-2', `${opts.tls.cert},${opts.tls.key}`])];
  const server = makeServer('pure-ftpd', root, '', port, nobody.uid, nobody.gid,
    { user: LOGIN_USER, password: LOGIN_PASSWORD }, join(dir, 'none.log'), '127.0.0.1', [pasvMin, pasvMax]);
  await server.mkdir('/up');
  const proc = launch(found.bin, args);
  t.after(async () => {
    await proc.stop();
    if (process.env['JP_KEEP_TMP'] === undefined) await rm(dir, { recursive: true, force: true });
  });
  await waitForGreeting(port, proc.child, proc.output);
  await waitForNoSessions(proc.child);
  return { ...server, log: async () => proc.output(), sessionProcesses: () => descendants(proc.child.pid ?? -1), stop: proc.stop };
}

function makeServer(
  kind: RealFtpKind, root: string, prefix: string, port: number, sessionUid: number, sessionGid: number,
  login: { user: string; password: string } | undefined, logFile: string, host: string, pasvPorts: readonly [number, number],
): Omit<RealFtpServer, 'sessionProcesses' | 'stop'> {
  const fileOf = (ftpPath: string): string => join(root, ftpPath);
  return {
    kind,
    port,
    host,
    pasvPorts,
    root,
    sessionUid,
    sessionGid,
    url(ftpPath: string, scheme: 'ftp' | 'ftps' = 'ftp'): string {
      const auth = login === undefined ? '' : `${encodeURIComponent(login.user)}:${encodeURIComponent(login.password)}@`;
      return `${scheme}://${auth}${host}:${port}${encodePath(prefix + ftpPath)}`;
    },
    fileOf,
    async mkdir(ftpPath: string, writable = true): Promise<string> {
      const p = fileOf(ftpPath);
      await mkdir(p, { recursive: true, mode: 0o755 });
      if (writable && isRoot()) await chown(p, sessionUid, sessionGid);
      if (!writable && !isRoot()) await chmod(p, 0o555);
      return p;
    },
    async writeFile(ftpPath: string, data: string | Buffer): Promise<void> {
      const p = fileOf(ftpPath);
      await writeFile(p, data, { mode: 0o644 });
      if (isRoot()) await chown(p, sessionUid, sessionGid);
    },
    log: () => readFile(logFile, 'utf8').catch(() => ''),
  };
}
