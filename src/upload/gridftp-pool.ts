/**
 * Logged-in GridFTP (GSI) control connections kept per server, like the
 * FTP pool (./ftp-pool.ts): a GSI handshake, login and setup cost several
 * round trips and an RSA signature, so a connection goes from file to
 * file. At most `maxPerHost` per server; idle ones close after `idleMs`; a
 * connection that broke, or that authenticated with credentials of an
 * older generation (a renewed certificate, a changed CRL), is closed
 * instead of being handed out again.
 */
import { JpError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { GridFtpClient, GRIDFTP_DEFAULT_PORT, type GridFtpOptions } from '../gridftp/client.js';
import type { Credentials } from '../primary/credentials.js';
import { redactUrl } from './transport.js';

export interface GridFtpTarget {
  readonly host: string;
  readonly port: number;
  /** Decoded URL path: where the file goes on the server. */
  readonly path: string;
}

/** Parse a gsiftp:// destination (user and password, never used by GSI, are ignored). */
export function parseGridftpUrl(destination: string): GridFtpTarget {
  let u: URL;
  try {
    u = new URL(destination);
  } catch {
    throw new JpError('JP_BAD_REPLY', `upload destination ${JSON.stringify(redactUrl(destination).slice(0, 200))} is not a URL`);
  }
  if (u.protocol !== 'gsiftp:') throw new JpError('JP_BAD_REPLY', `upload destination ${redactUrl(destination)}: not a gsiftp:// URL`);
  let path: string;
  try {
    path = decodeURIComponent(u.pathname);
  } catch {
    throw new JpError('JP_BAD_REPLY', `upload destination ${redactUrl(destination)}: bad %-escape in the path`);
  }
  if (path.length <= 1 || path.endsWith('/') || /[\r\n\0]/.test(path)) {
    throw new JpError('JP_BAD_REPLY', `upload destination ${redactUrl(destination)}: the path does not name a file`);
  }
  if (u.hostname === '') throw new JpError('JP_BAD_REPLY', `upload destination ${redactUrl(destination)}: no host`);
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port === '' ? GRIDFTP_DEFAULT_PORT : Number(u.port), path };
}

export interface GridFtpPoolOptions {
  /** The importer's credentials now (asked per new connection; a reload makes a new object). */
  readonly credentials: () => Promise<Credentials>;
  /** Connections per server at most (default 4). */
  readonly maxPerHost?: number;
  /** Close a connection idle this long (default 30 s). */
  readonly idleMs?: number;
  /** Bound of every protocol step (default 30 s). */
  readonly timeoutMs?: number;
  /** Data channel authentication (default 'A'). */
  readonly dcau?: 'A' | 'N';
  /** Data channel protection with DCAU A (default 'C'). */
  readonly protection?: 'C' | 'P';
  /** The subject every GridFTP server must present, instead of a certificate naming its host. */
  readonly expectedSubject?: string;
  /** Makes the connections (tests). */
  readonly connect?: (opts: GridFtpOptions) => Promise<GridFtpClient>;
  readonly log?: Logger;
}

export interface GridFtpLease {
  readonly client: GridFtpClient;
  /** true when the connection was used for an earlier file. */
  readonly reused: boolean;
  /** Give it back for reuse (closed instead when it is no longer usable). */
  release(): void;
  /** Close it. */
  discard(): void;
}

export interface GridFtpPoolStats {
  connects: number;
  reuses: number;
  active: number;
  idle: number;
}

interface Idle {
  client: GridFtpClient;
  timer: NodeJS.Timeout;
}

interface Server {
  active: number;
  idle: Idle[];
  waiters: Array<() => void>;
}

export class GridFtpPool {
  private readonly servers = new Map<string, Server>();
  private readonly maxPerHost: number;
  private readonly idleMs: number;
  private readonly log: Logger;
  private closed = false;
  private connects = 0;
  private reuses = 0;

  constructor(private readonly opts: GridFtpPoolOptions) {
    this.maxPerHost = opts.maxPerHost ?? 4;
    this.idleMs = opts.idleMs ?? 30_000;
    this.log = opts.log ?? silentLogger;
    if (!Number.isInteger(this.maxPerHost) || this.maxPerHost < 1) {
      throw new JpError('JP_CONFIG', `GridFTP pool maxPerHost must be a positive integer, got ${this.maxPerHost}`);
    }
  }

  stats(): GridFtpPoolStats {
    let active = 0;
    let idle = 0;
    for (const s of this.servers.values()) {
      active += s.active;
      idle += s.idle.length;
    }
    return { connects: this.connects, reuses: this.reuses, active, idle };
  }

  /** A logged-in connection to the target's server: an idle one of the current credentials, a new one, or the next one freed. */
  async acquire(target: GridFtpTarget, signal?: AbortSignal): Promise<GridFtpLease> {
    const key = `[${target.host}]:${target.port}`;
    let server = this.servers.get(key);
    if (server === undefined) {
      server = { active: 0, idle: [], waiters: [] };
      this.servers.set(key, server);
    }
    for (;;) {
      if (this.closed) throw new JpError('JP_ABORTED', 'GridFTP pool is closed');
      if (signal?.aborted === true) throw new JpError('JP_ABORTED', 'GridFTP upload aborted');
      const creds = await this.opts.credentials();
      let idle: Idle | undefined;
      while ((idle = server.idle.pop()) !== undefined) {
        clearTimeout(idle.timer);
        if (idle.client.usable && idle.client.credentials === creds) {
          server.active++;
          this.reuses++;
          return this.lease(server, idle.client, true);
        }
        void idle.client.close();
      }
      if (server.active >= this.maxPerHost) {
        await waitTurn(server, signal);
        continue;
      }
      server.active++;
      try {
        const connect = this.opts.connect ?? ((o: GridFtpOptions) => GridFtpClient.connect(o));
        const client = await connect({
          host: target.host,
          port: target.port,
          credentials: creds,
          ...(this.opts.timeoutMs !== undefined ? { timeoutMs: this.opts.timeoutMs } : {}),
          ...(this.opts.dcau !== undefined ? { dcau: this.opts.dcau } : {}),
          ...(this.opts.protection !== undefined ? { protection: this.opts.protection } : {}),
          ...(this.opts.expectedSubject !== undefined ? { expectedSubject: this.opts.expectedSubject } : {}),
          ...(signal !== undefined ? { signal } : {}),
        });
        this.connects++;
        this.log.debug({ host: target.host, port: target.port, server: client.serverSubject, tls: client.tlsProtocol, account: client.account }, 'GridFTP connected');
        return this.lease(server, client, false);
      } catch (e) {
        server.active--;
        server.waiters.shift()?.();
        throw e;
      }
    }
  }

  /** Close idle connections now; leased ones close when given back. */
  async close(): Promise<void> {
    this.closed = true;
    const closing: Array<Promise<void>> = [];
    for (const s of this.servers.values()) {
      for (const i of s.idle.splice(0)) {
        clearTimeout(i.timer);
        closing.push(i.client.close());
      }
      for (const w of s.waiters.splice(0)) w();
    }
    await Promise.all(closing);
  }

  private lease(server: Server, client: GridFtpClient, reused: boolean): GridFtpLease {
    let done = false;
    const finish = (keep: boolean): void => {
      if (done) return;
      done = true;
      server.active--;
      if (keep && client.usable && !this.closed) {
        const timer = setTimeout(() => {
          const i = server.idle.findIndex((x) => x.client === client);
          if (i >= 0) server.idle.splice(i, 1);
          void client.close();
        }, this.idleMs);
        timer.unref();
        server.idle.push({ client, timer });
      } else {
        client.destroy();
      }
      server.waiters.shift()?.();
    };
    return { client, reused, release: () => finish(true), discard: () => finish(false) };
  }
}

function waitTurn(server: Server, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const wake = (): void => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = (): void => {
      const i = server.waiters.indexOf(wake);
      if (i >= 0) server.waiters.splice(i, 1);
      resolve();
    };
    server.waiters.push(wake);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
