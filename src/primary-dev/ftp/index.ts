/**
 * The reference FTP(S) endpoint of the development primary service: an
 * in-process ftp-srv serving <dataDir>/files/, for uploads in tests and for
 * running the whole system on one machine.
 *
 * ftp-srv facts this relies on (read from its 4.6 source):
 *  - it installs SIGTERM/SIGINT/SIGQUIT listeners that call process.exit;
 *    they are removed again here, the owner handles signals;
 *  - explicit TLS (AUTH TLS) is racy, so TLS means implicit TLS (ftps://);
 *  - passive ports come from pasv_min..pasv_max, each probed with a
 *    throwaway listener first; here the kernel picks (port 0, no probe);
 *  - the data server listens on the control address; PASV answers the
 *    client's own address for loopback clients;
 *  - STOR waits for the data connection by polling every 50 ms; the poll
 *    interval is lowered here (see ./passive-wait.ts);
 *  - replies go out as separate small writes: the control socket gets
 *    TCP_NODELAY, or Nagle + delayed ACK cost ~40 ms per transfer.
 */
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import type { AddressInfo, Server, Socket } from 'node:net';
import { join } from 'node:path';
import type { TlsOptions } from 'node:tls';
import { FtpSrv, type FtpConnection } from 'ftp-srv';
import { silentLogger, type Logger } from '../../core/log.js';
import { EndpointFileSystem, type EndpointContext } from './filesystem.js';
import { speedUpPassiveWait } from './passive-wait.js';
import { UploadRecords, type UploadVerifier } from './verifier.js';

export type { UploadVerifier } from './verifier.js';
export { UploadRecords, uploadKey, type UploadState } from './verifier.js';

export interface FtpEndpointOptions {
  /** host:port to listen on; port 0 picks a free one. */
  listen: string;
  /** Files go below <dataDir>/files/. */
  dataDir: string;
  /** PEM contents (ca: one text or several); with it the endpoint speaks TLS. */
  tls?: { cert: string; key: string; ca: string | readonly string[] };
  /** ftps:// (TLS from the first byte). Without it, TLS means AUTH TLS (racy in ftp-srv). */
  implicitTls?: boolean;
  /** Require a client certificate signed by `tls.ca`. */
  requireClientCert?: boolean;
  log?: Logger;
}

export interface FtpEndpointHooks {
  /** Break off the data connection after N bytes of the next STOR/APPE (0 = off). */
  dropAfterBytes?: number;
  /** With dropAfterBytes: break off this many transfers in a row (default 1). */
  dropCount?: number;
  /** Answer every login with 530. */
  refuseLogins?: boolean;
}

export interface FtpEndpointStats {
  connections: number;
  logins: number;
  refusedLogins: number;
  stor: number;
  appe: number;
  /** STORs that started at a REST offset. */
  rest: number;
  completed: number;
  failed: number;
}

export interface FtpEndpoint {
  readonly port: number;
  /** ftp://host:port or ftps://host:port (no trailing slash). */
  readonly url: string;
  /** Absolute path of the directory served as '/'. */
  readonly filesDir: string;
  readonly verifier: UploadVerifier;
  readonly records: UploadRecords;
  setHooks(h: FtpEndpointHooks): void;
  stats(): FtpEndpointStats;
  close(): Promise<void>;
}

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const;

export async function startFtpEndpoint(opts: FtpEndpointOptions): Promise<FtpEndpoint> {
  const { host, port } = parseListen(opts.listen);
  const filesDir = join(opts.dataDir, 'files');
  mkdirSync(filesDir, { recursive: true, mode: 0o750 });
  speedUpPassiveWait();

  const records = new UploadRecords();
  const counters = { stor: 0, appe: 0, rest: 0, completed: 0, failed: 0 };
  let connections = 0;
  let logins = 0;
  let refusedLogins = 0;
  let hooks: FtpEndpointHooks = {};
  const ctx: EndpointContext = {
    records,
    counters,
    takeDropAfter: () => {
      const n = hooks.dropAfterBytes;
      if (n === undefined || n <= 0) return undefined;
      const left = (hooks.dropCount ?? 1) - 1;
      hooks = left > 0 ? { ...hooks, dropCount: left } : { ...hooks, dropAfterBytes: undefined, dropCount: undefined };
      return n;
    },
  };

  const secure = opts.tls !== undefined;
  const implicit = secure && opts.implicitTls === true;
  const requireCert = secure && opts.requireClientCert === true;
  const scheme = implicit ? 'ftps' : 'ftp';
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const tlsOptions: TlsOptions | false = opts.tls === undefined ? false : {
    cert: opts.tls.cert,
    key: opts.tls.key,
    ca: typeof opts.tls.ca === 'string' ? opts.tls.ca : [...opts.tls.ca],
    requestCert: requireCert,
    rejectUnauthorized: requireCert,
    // Every passive data server is a new tls.Server; shared ticket keys let
    // clients resume the control connection's session on data connections.
    ticketKeys: randomBytes(48),
  };
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  const srv = new FtpSrv({
    url: `${scheme}://${urlHost}:${port}`,
    pasv_url: host === '0.0.0.0' || host === 'localhost' || host.includes(':') ? '127.0.0.1' : host,
    pasv_min: 0,
    pasv_max: 0,
    anonymous: true,
    greeting: 'jp-primary-dev FTP endpoint',
    tls: tlsOptions,
    log: opts.log ?? silentLogger,
  });
  for (const s of SIGNALS) {
    for (const l of process.listeners(s)) if (!before.get(s)?.has(l)) process.removeListener(s, l);
  }
  // With pasv_min = pasv_max = 0, ftp-srv still opens and closes a probe
  // listener per transfer just to return 0; skip it, the kernel picks the port.
  (srv as unknown as { getNextPasvPort: () => Promise<number> }).getNextPasvPort = () => Promise.resolve(0);

  (srv as EventEmitter).on('connect', ({ connection }: { connection: { commandSocket?: Socket } }) => {
    connections++;
    // ftp-srv writes 150 and 226 as separate small segments; with Nagle the
    // 226 waits for the client's delayed ACK of the 150 (~40 ms per file).
    connection.commandSocket?.setNoDelay(true);
  });
  srv.on('client-error', () => {
    /* a broken client connection is that client's problem; ftp-srv logs it */
  });
  srv.on('login', ({ connection }: { connection: FtpConnection }, resolve, reject) => {
    if (hooks.refuseLogins === true) {
      refusedLogins++;
      reject(new Error('login refused (test hook)'));
      return;
    }
    logins++;
    resolve({ fs: new EndpointFileSystem(connection, filesDir, ctx) });
  });

  await srv.listen();
  const net = (srv as unknown as { server: Server }).server;
  const actual = (net.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;

  return {
    port: actual,
    url: `${scheme}://${urlHost}:${actual}`,
    filesDir,
    verifier: records,
    records,
    setHooks(h: FtpEndpointHooks): void {
      hooks = { ...h };
    },
    stats: () => ({ connections, logins, refusedLogins, ...counters }),
    close(): Promise<void> {
      closed ??= Promise.resolve(srv.close()).then(() => undefined);
      return closed;
    },
  };
}

/** "host:port", "[v6]:port" or ":port" (127.0.0.1). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen.trim());
  const port = Number(m?.[3]);
  if (m === null || !Number.isInteger(port) || port > 65535) {
    throw new Error(`FTP listen address ${JSON.stringify(listen)}: expected host:port (port 0 picks a free one)`);
  }
  const host = m[1] ?? m[2] ?? '';
  return { host: host.length === 0 ? '127.0.0.1' : host, port };
}
