/**
 * Logged-in GridFTP (GSI) control connections kept per server
 * (./server-pool.ts): a GSI handshake, login and setup cost several round
 * trips and an RSA signature, so a connection goes from file to file. A
 * connection that broke, or that authenticated with credentials of an
 * older generation (a renewed certificate, a changed CRL), is closed
 * instead of being handed out again.
 */
import { JpError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { GridFtpClient, GRIDFTP_DEFAULT_PORT, type GridFtpOptions } from '../gridftp/client.js';
import type { Credentials } from '../primary/credentials.js';
import { ServerPool, type ServerPoolStats } from './server-pool.js';
import { destinationPath, redactUrl } from './transport.js';

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
  const path = destinationPath(u, destination);
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

export type GridFtpPoolStats = ServerPoolStats;

export class GridFtpPool {
  private readonly pool: ServerPool<GridFtpClient>;
  private readonly log: Logger;

  constructor(private readonly opts: GridFtpPoolOptions) {
    this.log = opts.log ?? silentLogger;
    this.pool = new ServerPool<GridFtpClient>({ what: 'GridFTP', maxPerHost: opts.maxPerHost ?? 4, idleMs: opts.idleMs ?? 30_000 });
  }

  stats(): GridFtpPoolStats {
    return this.pool.stats();
  }

  /** A logged-in connection to the target's server: an idle one of the current credentials, a new one, or the next one freed. */
  async acquire(target: GridFtpTarget, signal?: AbortSignal): Promise<GridFtpLease> {
    const creds = await this.opts.credentials();
    const lease = await this.pool.acquire(`[${target.host}]:${target.port}`, {
      connect: async (s) => {
        const connect = this.opts.connect ?? ((o: GridFtpOptions) => GridFtpClient.connect(o));
        const client = await connect({
          host: target.host,
          port: target.port,
          credentials: creds,
          ...(this.opts.timeoutMs !== undefined ? { timeoutMs: this.opts.timeoutMs } : {}),
          ...(this.opts.dcau !== undefined ? { dcau: this.opts.dcau } : {}),
          ...(this.opts.protection !== undefined ? { protection: this.opts.protection } : {}),
          ...(this.opts.expectedSubject !== undefined ? { expectedSubject: this.opts.expectedSubject } : {}),
          ...(s !== undefined ? { signal: s } : {}),
        });
        this.log.debug({ host: target.host, port: target.port, server: client.serverSubject, tls: client.tlsProtocol, account: client.account }, 'GridFTP connected');
        return client;
      },
      // A reload (renewed certificate, changed CRL) makes new credentials: connections of the old ones are closed.
      reusable: (c) => c.usable && c.credentials === creds,
      destroy: (c) => c.destroy(),
      close: (c) => c.close(),
    }, signal);
    return { client: lease.conn, reused: lease.reused, release: lease.release, discard: lease.discard };
  }

  /** Close idle connections now (QUIT); leased ones close when given back. */
  async close(): Promise<void> {
    await this.pool.close({ destroy: (c) => c.destroy(), close: (c) => c.close() });
  }
}
