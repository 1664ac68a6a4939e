/**
 * A small pool of logged-in basic-ftp clients, keyed by destination origin
 * (scheme, host, port, user). Connect + login costs ~190 ms, so the control
 * connection is reused from file to file (BENCHMARKS.md P4a). At most
 * `maxPerHost` clients per origin; idle clients close after `idleMs`; a
 * client whose connection broke is closed, never handed out again.
 *
 * A server that refuses a new connection because it has too many (a
 * per-client limit below `maxPerHost`: vsftpd `421 There are too many
 * connections from your internet address`) while our other connections to
 * it work is answered with fewer connections: the origin's limit shrinks to
 * the connections it does accept and the upload waits for one of them —
 * not an error, and not "server down". The limit grows back after
 * `regrowMs`. A refusal while we hold no other connection is retried a few
 * times (the server may not have noticed a connection we closed), then
 * thrown (retry later; the server answered).
 *
 * ftp://  plain, or explicit TLS (AUTH TLS) when `explicitTls` is set;
 * ftps:// implicit TLS. TLS presents the client certificate and verifies
 * the server against the CA given by `tls()` (called per new connection,
 * so renewed credentials apply without a restart).
 */
import { Socket } from 'node:net';
import { createSecureContext, type ConnectionOptions } from 'node:tls';
import { Client, FTPError } from 'basic-ftp';
import { JpError } from '../core/errors.js';
import { FtpReplyError, type FtpCommand } from '../core/ftp-reply.js';
import { silentLogger, type Logger } from '../core/log.js';
import { toFtpJpError } from './ftp-errors.js';
import { ServerPool, type ServerPoolStats } from './server-pool.js';
import { destinationPath, redactUrl } from './transport.js';

export { redactUrl };

export interface FtpPoolOptions {
  /** Clients per origin at most (default 4). */
  maxPerHost?: number;
  /** Close a client idle this long (default 30 s). */
  idleMs?: number;
  /** basic-ftp timeout per command / stalled transfer (default 30 s). */
  timeoutMs?: number;
  /** After a server limited our connections, try the full maxPerHost again after this long (default 5 min). */
  regrowMs?: number;
  /** Wait before connecting again when refused for too many connections while holding none (default 250 ms, doubling, 4 tries). */
  crowdedRetryMs?: number;
  /** Use AUTH TLS on ftp:// destinations (default: plain). */
  explicitTls?: boolean;
  /**
   * TLS options for each new connection: cert, key, ca (and servername if
   * needed). Asked per connection, so renewed credentials apply at once.
   */
  tls?: () => ConnectionOptions | Promise<ConnectionOptions>;
  log?: Logger;
}

export interface FtpTarget {
  readonly scheme: 'ftp' | 'ftps';
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** Decoded URL path: where the file goes. */
  readonly path: string;
}

/** What the uploader learnt about an origin, kept for its later files. */
export interface OriginHints {
  /** STOR failed for a missing directory before: make the directory first. */
  mkdirFirst: boolean;
}

export interface FtpLease {
  readonly client: Client;
  readonly hints: OriginHints;
  /** true when the control connection was reused from an earlier file. */
  readonly reused: boolean;
  /** Give the client back for reuse (closed instead if its connection broke). */
  release(): void;
  /** Close the client; the next acquire connects anew. */
  discard(): void;
}

export type FtpPoolStats = ServerPoolStats;

/** Parse an ftp:// or ftps:// destination. Other schemes are refused. */
export function parseFtpUrl(destination: string): FtpTarget {
  let u: URL;
  try {
    u = new URL(destination);
  } catch {
    throw new JpError('JP_BAD_REPLY', `upload destination ${JSON.stringify(redactUrl(destination))} is not a URL`);
  }
  if (u.protocol !== 'ftp:' && u.protocol !== 'ftps:') {
    throw new JpError('JP_BAD_REPLY', `upload destination ${redactUrl(destination)}: scheme ${u.protocol} is not supported (ftp://, ftps://)`);
  }
  const path = destinationPath(u, destination);
  const scheme = u.protocol === 'ftps:' ? 'ftps' : 'ftp';
  return {
    scheme,
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port === '' ? (scheme === 'ftps' ? 990 : 21) : Number(u.port),
    user: u.username === '' ? 'anonymous' : decodeURIComponent(u.username),
    password: u.password === '' ? 'anonymous@' : decodeURIComponent(u.password),
    path,
  };
}


/** Connect attempts refused for too many connections while we hold none, before giving up. */
const CROWDED_TRIES = 4;

export class FtpPool {
  private readonly pool: ServerPool<Client>;
  private readonly hints = new Map<string, OriginHints>();
  /** The TLS context each client connected with: one of an older credential generation (CRL, certificate) is not reused. */
  private readonly contexts = new WeakMap<Client, unknown>();
  private readonly timeoutMs: number;
  private readonly regrowMs: number;
  private readonly crowdedRetryMs: number;
  private readonly log: Logger;

  constructor(private readonly opts: FtpPoolOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.regrowMs = opts.regrowMs ?? 300_000;
    this.crowdedRetryMs = opts.crowdedRetryMs ?? 250;
    this.log = opts.log ?? silentLogger;
    this.pool = new ServerPool<Client>({ what: 'FTP', maxPerHost: opts.maxPerHost ?? 4, idleMs: opts.idleMs ?? 30_000 });
  }

  stats(): FtpPoolStats {
    return this.pool.stats();
  }

  /** Connections the pool opens to this target's origin at most now (maxPerHost unless the server limited us). */
  limitFor(target: FtpTarget): number {
    return this.pool.limitFor(originKey(target));
  }

  /** A logged-in client for this origin: an idle one, a new one, or the next one freed. */
  async acquire(target: FtpTarget, signal?: AbortSignal): Promise<FtpLease> {
    const key = originKey(target);
    let hints = this.hints.get(key);
    if (hints === undefined) {
      hints = { mkdirFirst: false };
      this.hints.set(key, hints);
    }
    // A client made with the TLS context of an older credential generation (changed CRL or certificate) is not reused.
    const tlsNow = target.scheme === 'ftps' || this.opts.explicitTls === true ? (await this.opts.tls?.())?.secureContext : undefined;
    let crowded = 0;
    const lease = await this.pool.acquire(key, {
      connect: (s) => this.connect(target, s),
      reusable: (c) => !c.closed && (tlsNow === undefined || this.contexts.get(c) === tlsNow),
      destroy: (c) => c.close(),
      connectFailed: async (e, held, slots) => {
        const err = e instanceof JpError ? e : toFtpJpError(e, `FTP connect to ${target.scheme}://${target.host}:${target.port}`);
        if (!(err instanceof FtpReplyError && err.meaning === 'too-many-connections')) throw err;
        // Refused for too many connections: as many as we hold (or are opening) is what it takes.
        if (held > 0) {
          if (held < slots.limit) {
            slots.limit = held;
            this.log.warn({ host: target.host, port: target.port, connections: held, reply: err.reply },
              'the FTP server refuses more connections from us: using fewer');
          }
          slots.regrowAt = Date.now() + this.regrowMs;
          return true;
        }
        // We hold none: the server may still count one we closed a moment ago.
        if (++crowded >= CROWDED_TRIES) throw err;
        await sleep(this.crowdedRetryMs * 2 ** (crowded - 1), signal);
        return true;
      },
    }, signal);
    return { client: lease.conn, reused: lease.reused, hints, release: lease.release, discard: lease.discard };
  }

  /** Close idle clients now; leased ones close when released. */
  async close(): Promise<void> {
    await this.pool.close({ destroy: (c) => c.close() });
  }

  private async connect(target: FtpTarget, signal?: AbortSignal): Promise<Client> {
    const client = new Client(this.timeoutMs);
    // Data connections without Nagle (as curl does): the last small segment
    // of a file must not wait for a delayed ACK. basic-ftp makes every
    // plain socket (and the raw socket under TLS) through _newSocket().
    const ctx = client.ftp as unknown as { _newSocket?: () => Socket };
    if (typeof ctx._newSocket === 'function') {
      ctx._newSocket = () => new Socket().setNoDelay(true);
    }
    const implicit = target.scheme === 'ftps';
    const explicit = !implicit && this.opts.explicitTls === true;
    const where = `${target.scheme}://${target.host}:${target.port}`;
    const onAbort = (): void => client.close();
    signal?.addEventListener('abort', onAbort, { once: true });
    let stage = 'connect to';
    let command: FtpCommand = 'greeting';
    try {
      let secureOptions: ConnectionOptions = {};
      if (implicit || explicit) {
        const base = (await this.opts.tls?.()) ?? {};
        // One context per connection, reused by its data connections (basic-ftp
        // would otherwise parse the PEMs again for every file: ~1 ms each).
        secureOptions = { ...base, host: target.host, secureContext: base.secureContext ?? createSecureContext(base) };
      }
      if (implicit) await client.connectImplicitTLS(target.host, target.port, secureOptions);
      else await client.connect(target.host, target.port);
      if (explicit) {
        stage = 'AUTH TLS with';
        command = 'AUTH TLS';
        await client.useTLS(secureOptions);
      }
      stage = 'login to';
      command = 'login';
      await client.sendIgnoringError('OPTS UTF8 ON');
      await client.login(target.user, target.password);
      command = 'setup';
      await client.useDefaultSettings();
      if (secureOptions.secureContext !== undefined) this.contexts.set(client, secureOptions.secureContext);
      this.log.debug({ host: target.host, port: target.port, scheme: target.scheme }, 'FTP connected');
      return client;
    } catch (e) {
      client.close();
      if (stage === 'connect to' && implicit && !(e instanceof FTPError) && /FIN packet|closed connection/.test(String(e))) {
        // TLS 1.3: a server refusing our certificate hangs up right after the handshake.
        throw new JpError('JP_TLS', `FTP ${stage} ${where}: the server closed the TLS connection before its greeting (client certificate refused?)`, { cause: e });
      }
      throw toFtpJpError(e, `FTP ${stage} ${where}`, { command });
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

function originKey(target: FtpTarget): string {
  return `${target.scheme}://${encodeURIComponent(target.user)}:${encodeURIComponent(target.password)}@[${target.host}]:${target.port}`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

