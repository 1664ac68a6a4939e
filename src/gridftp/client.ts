/**
 * A GridFTP (GSI-FTP) client for uploads, on Node's own TLS: one control
 * connection, authenticated with the importer's certificate and key (no
 * proxy, no delegation), logged in through the server's grid-mapfile
 * (`USER :globus-mapping:`), then any number of uploads in stream mode.
 *
 *   const c = await GridFtpClient.connect({ host, port, credentials });
 *   await c.upload('/jpps/data/…/lb', source, { offset: 0, size });
 *   await c.close();
 *
 * Data channel authentication (`dcau`): 'A' (the default, as the original
 * importer) authenticates every data connection with TLS, both ways, with
 * the same credentials as the control channel. Globus' own `DCAU A` means
 * "the peer is myself" and only works with a delegated proxy (the server
 * then presents our proxy on the data connection; without one it presents
 * its host certificate and refuses ours: "Expected the peer to
 * authenticate as <host subject>"). We do not delegate, so 'A' is sent as
 * `DCAU S <our subject>`: the server accepts exactly our certificate on the
 * data connection, and we accept exactly the subject the control channel
 * authenticated. 'N' sends `DCAU N` (plain TCP). `protection` 'C' (PROT C,
 * default: authenticated, then clear data) or 'P' (PROT P: data in TLS).
 *
 * Small files can go in extended block mode instead (`uploadWhole`, see
 * ./mode-e.ts): `MODE E` once per connection, then the data connection
 * of the first such upload (with its GSI handshake) stays open and every
 * later STOR on this control connection reuses it (the server answers
 * `125 … reusing existing data connection`), as `globus-url-copy -fast`
 * does (`TREV PERF 0` and `TREV RESTART 0` stop the per-file markers we
 * would only skip). Such an upload is always sent whole from offset 0 (STOR, which
 * truncates) and checked with SIZE; it is never resumed (MODE E may leave
 * holes). Any failure closes the cached data connection, so the next file
 * opens a new one. A server that refuses `MODE E` gets stream mode.
 *
 * Every step is bounded by `timeoutMs` (connect, each reply, each TLS
 * handshake; a transfer by the time no byte moved) and by an AbortSignal.
 * A timeout or an abort ends the connection (destroy(); nothing lingers).
 */
import type { Readable } from 'node:stream';
import { JpError } from '../core/errors.js';
import { FtpReplyError, ftpReplyMeaning, type FtpCommand } from '../core/ftp-reply.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Credentials } from '../primary/credentials.js';
import { abortedError, ControlConnection, type WaitOptions } from './control.js';
import type { DataConnection, DataSecurity } from './data-channel.js';
import { gsiAuthenticate } from './gsi-auth.js';
import { gridTls, type GridTls, type TlsVersion } from './identity.js';
import type { FtpReply } from './reply.js';
import { RefusedBeforeData, Transfers } from './transfers.js';
import type { GsiProtection } from './protection.js';

export const GRIDFTP_DEFAULT_PORT = 2811;

export interface GridFtpOptions {
  readonly host: string;
  /** Default 2811. */
  readonly port?: number;
  /** Our certificate, key and trusted CAs (with their CRLs). */
  readonly credentials: Credentials;
  /** The exact subject the server must present, instead of a certificate naming `host` (globus-url-copy -ds). */
  readonly expectedSubject?: string;
  /** Data channel authentication: 'A' (default) or 'N'. */
  readonly dcau?: 'A' | 'N';
  /** Data channel protection when authenticated: 'C' (default) or 'P'. */
  readonly protection?: 'C' | 'P';
  /** How an upload continues at an offset: `ESTO A <offset>` (default) or `REST <offset>` + `STOR`. */
  readonly resume?: 'ESTO' | 'REST';
  /** Passive command: PASV (default for IPv4) or EPSV (always for IPv6). */
  readonly passive?: 'PASV' | 'EPSV';
  /** Bound of every step in ms (default 60 000). */
  readonly timeoutMs?: number;
  readonly minVersion?: TlsVersion;
  readonly maxVersion?: TlsVersion;
  /** Aborts connecting (and is the default signal of later calls). */
  readonly signal?: AbortSignal;
  readonly clock?: Clock;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
}

export interface UploadOptions extends CallOptions {
  /** Bytes already on the server: the source holds the file from here on (resume). Default 0 (STOR). */
  readonly offset?: number;
  /** The whole file's size: the server's SIZE must say exactly this afterwards. */
  readonly size?: number;
  /** Create missing directories with MKD when the server says the directory is not there (default true). */
  readonly mkdirs?: boolean;
}

export interface UploadResult {
  /** The server's SIZE of the file after the transfer. */
  readonly size: number;
  /** The command that carried the data. */
  readonly command: 'STOR' | 'ESTO' | 'REST+STOR';
}

export interface WholeUploadOptions extends CallOptions {
  /** The whole file's size: the server's SIZE must say exactly this afterwards. */
  readonly size: number;
  /** Create missing directories with MKD when the server says the directory is not there (default true). */
  readonly mkdirs?: boolean;
}

export interface WholeUploadResult extends UploadResult {
  /** 'E': extended block mode; 'S': stream mode (the server refused MODE E). */
  readonly mode: 'E' | 'S';
  /** The data connection of an earlier upload carried this one (no new connection, no handshake). */
  readonly reusedData: boolean;
}

const DEFAULT_TIMEOUT = 60_000;


export class GridFtpClient {
  /** The subject the server authenticated as. */
  readonly serverSubject: string;
  /** The TLS version of the GSI context. */
  readonly tlsProtocol: string;
  /** The local account the server mapped us to (from its 230 reply), when it said. */
  readonly account: string | undefined;
  /** The credentials this connection authenticated with (a pool drops connections of an older generation). */
  readonly credentials: Credentials;
  private readonly timeoutMs: number;
  private readonly security: DataSecurity;
  private readonly ipv6: boolean;
  private busy = false;
  private readonly transfers: Transfers;

  private constructor(
    private readonly ctl: ControlConnection,
    private readonly protection: GsiProtection,
    private readonly tls: GridTls,
    private readonly opts: GridFtpOptions,
    info: { serverSubject: string; protocol: string; account: string | undefined },
  ) {
    this.serverSubject = info.serverSubject;
    this.tlsProtocol = info.protocol;
    this.account = info.account;
    this.credentials = opts.credentials;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT;
    this.security = (opts.dcau ?? 'A') === 'N' ? 'none' : (opts.protection ?? 'C') === 'P' ? 'private' : 'gsi-clear';
    this.ipv6 = opts.host.includes(':');
    this.transfers = new Transfers({
      ctl,
      tls,
      security: this.security,
      serverSubject: this.serverSubject,
      host: opts.host,
      where: ctl.where,
      ipv6: this.ipv6,
      passive: opts.passive,
      resume: opts.resume,
      timeoutMs: this.timeoutMs,
      destroyAll: () => this.destroy(),
    });
  }

  /** Data connections this client opened (each with its own handshake when authenticated). */
  get dataConnections(): number {
    return this.transfers.dataConnections;
  }

  /** Connect, authenticate (GSI), log in through the grid-mapfile and set up binary stream transfers. */
  static async connect(opts: GridFtpOptions): Promise<GridFtpClient> {
    if ((opts.dcau ?? 'A') === 'N' && opts.protection === 'P') {
      throw new JpError('JP_CONFIG', 'GridFTP: PROT P needs an authenticated data channel (DCAU A)', { temporary: false });
    }
    const host = opts.host.replace(/^\[|\]$/g, '');
    const port = opts.port ?? GRIDFTP_DEFAULT_PORT;
    const wait: WaitOptions = { timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT, signal: opts.signal };
    const tls = gridTls(opts.credentials, {
      clock: opts.clock ?? systemClock,
      ...(opts.minVersion !== undefined ? { minVersion: opts.minVersion } : {}),
      ...(opts.maxVersion !== undefined ? { maxVersion: opts.maxVersion } : {}),
    });
    const ctl = await ControlConnection.open({ host, port }, wait);
    let protection: GsiProtection | undefined;
    try {
      const session = await gsiAuthenticate(ctl, {
        ...wait,
        tls,
        identity: { host, ...(opts.expectedSubject !== undefined ? { expectedSubject: opts.expectedSubject } : {}) },
      });
      protection = session.protection;
      ctl.protect(session.protection);
      const account = await login(ctl, tls.subject, wait);
      const client = new GridFtpClient(ctl, session.protection, tls, { ...opts, host }, { serverSubject: session.serverSubject, protocol: session.protocol, account });
      await client.setup(wait);
      return client;
    } catch (e) {
      protection?.destroy();
      ctl.destroy();
      throw e;
    }
  }

  /** MODE E: the socket of the data connection in use or kept for the next upload (diagnostics and tests). */
  get dataSocket(): DataConnection['socket'] | undefined {
    return this.transfers.dataSocket;
  }

  /** The connection can take another call. */
  get usable(): boolean {
    return this.ctl.usable && !this.busy;
  }

  get where(): string {
    return this.ctl.where;
  }

  private wait(call?: CallOptions): WaitOptions {
    return { timeoutMs: this.timeoutMs, signal: call?.signal ?? this.opts.signal };
  }

  private async setup(wait: WaitOptions): Promise<void> {
    await this.expect('TYPE I', 'setup', [200], wait);
    if (this.security === 'none') {
      await this.expect('DCAU N', 'setup', [200], wait);
      return;
    }
    await this.expect(`DCAU S ${this.tls.subject}`, 'setup', [200], wait);
    await this.expect(`PROT ${this.security === 'private' ? 'P' : 'C'}`, 'setup', [200], wait);
  }

  private async expect(command: string, stage: FtpCommand, codes: number[], wait: WaitOptions): Promise<FtpReply> {
    const r = await this.ctl.command(command, stage, wait);
    if (!codes.includes(r.code)) throw this.ctl.replyError(stage, r, `after ${command.split(' ')[0]}`);
    return r;
  }

  /** One call at a time on a connection. */
  private async exclusive<T>(what: string, call: CallOptions | undefined, work: () => Promise<T>): Promise<T> {
    if (this.busy) throw new JpError('JP_FTP', `GridFTP connection to ${this.where}: ${what} while another call is in progress`);
    if (!this.ctl.usable) throw await this.ctl.closedReason();
    const signal = call?.signal ?? this.opts.signal;
    if (signal?.aborted === true) throw abortedError(`GridFTP ${what}`);
    this.busy = true;
    const onAbort = (): void => this.destroy();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await work();
    } catch (e) {
      if (aborted(signal) && !(e instanceof JpError && e.code === 'JP_ABORTED')) throw abortedError(`GridFTP ${what} on ${this.where}`);
      throw e;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.busy = false;
    }
  }

  /** The file's size on the server, or undefined when there is no such file. */
  async size(path: string, call?: CallOptions): Promise<number | undefined> {
    return this.exclusive('SIZE', call, () => this.sizeNow(path, this.wait(call)));
  }

  private async sizeNow(path: string, wait: WaitOptions): Promise<number | undefined> {
    const r = await this.ctl.command(`SIZE ${checkPath(path)}`, 'SIZE', wait);
    if (r.code === 213) {
      const n = Number(r.text.trim());
      if (!Number.isSafeInteger(n) || n < 0) throw this.ctl.replyError('SIZE', r, 'not a size');
      return n;
    }
    if (r.code === 550 || ftpReplyMeaning(r.code, r.text, 'SIZE') === 'no-such-path') return undefined;
    throw this.ctl.replyError('SIZE', r);
  }

  /** Create `dir` and every missing level above it (existing ones are fine). */
  async mkdirs(dir: string, call?: CallOptions): Promise<void> {
    return this.exclusive('MKD', call, () => this.mkdirsNow(dir, this.wait(call)));
  }

  private async exists(dir: string, wait: WaitOptions): Promise<boolean> {
    const r = await this.ctl.command(`CWD ${checkPath(dir)}`, 'CWD', wait);
    return r.code >= 200 && r.code < 300;
  }

  private async mkdirsNow(dir: string, wait: WaitOptions): Promise<void> {
    const abs = checkPath(dir).replace(/\/+$/, '');
    if (abs === '' || abs === '/') return;
    const parts = abs.split('/').filter((p) => p !== '');
    const prefix = abs.startsWith('/') ? '/' : '';
    const levels = parts.map((_p, i) => prefix + parts.slice(0, i + 1).join('/'));
    // Find the deepest level that exists, from the bottom (usually the directory itself).
    let have = levels.length;
    while (have > 0 && !(await this.exists(levels[have - 1] as string, wait))) have--;
    for (const level of levels.slice(have)) {
      const r = await this.ctl.command(`MKD ${level}`, 'MKD', wait);
      if (r.code === 257 || r.code === 250) continue;
      // Made by someone else meanwhile?
      if (await this.exists(level, wait)) continue;
      throw this.ctl.replyError('MKD', r);
    }
  }

  /**
   * Send `source` to `path`: STOR when `offset` is 0, else ESTO A <offset>
   * (or REST + STOR), then SIZE. With `size`, a server size other than
   * that fails the upload (a short file is never taken as uploaded).
   */
  async upload(path: string, source: Readable, opts: UploadOptions = {}): Promise<UploadResult> {
    return this.exclusive('upload', opts, () => this.uploadStream(path, source, opts, this.wait(opts)));
  }

  /** Stream mode (MODE S first when the connection was in MODE E). */
  private async uploadStream(path: string, source: Readable, opts: UploadOptions, wait: WaitOptions): Promise<UploadResult> {
    await this.transfers.enterStreamMode(wait);
    const offset = opts.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0) throw new JpError('JP_FTP', `bad resume offset ${offset}`, { temporary: false });
    checkPath(path);
    let command: UploadResult['command'];
    try {
      command = await this.transfers.transfer(path, source, offset, wait);
    } catch (e) {
      const missingDir =
        e instanceof RefusedBeforeData && (e.meaning === 'no-such-path' || e.meaning === 'cannot-create');
      if (!missingDir || opts.mkdirs === false || !this.ctl.usable) throw e;
      const dir = path.slice(0, path.lastIndexOf('/'));
      if (dir === '') throw e;
      await this.mkdirsNow(dir, wait);
      command = await this.transfers.transfer(path, source, offset, wait);
    }
    const size = await this.checkSize(path, opts.size, wait);
    return { size, command };
  }

  /** The server's SIZE after a transfer; a missing file or (with `expected`) another size fails the upload. */
  private async checkSize(path: string, expected: number | undefined, wait: WaitOptions): Promise<number> {
    const size = await this.sizeNow(path, wait);
    if (size === undefined) throw new FtpReplyError(`GridFTP server ${this.where}`, 'SIZE', { text: '', meaning: 'transfer-failed', note: `${path} is not there after the transfer` });
    if (expected !== undefined && size !== expected) {
      throw new FtpReplyError(`GridFTP server ${this.where}`, 'SIZE', {
        text: `213 ${size}`,
        meaning: 'transfer-failed',
        note: `${path} holds ${size} bytes after the transfer, expected ${expected}`,
      });
    }
    return size;
  }

  /**
   * Send the whole of `source` (the file from byte 0) to `path` in
   * extended block mode over this connection's cached data connection
   * (opened, with its handshake, by the first such upload), then SIZE. A
   * failed upload is never resumed: send it whole again. Falls back to a
   * stream-mode STOR when the server refuses MODE E.
   */
  async uploadWhole(path: string, source: Readable, opts: WholeUploadOptions): Promise<WholeUploadResult> {
    return this.exclusive('upload', opts, async () => {
      const wait = this.wait(opts);
      checkPath(path);
      if (!Number.isSafeInteger(opts.size) || opts.size < 0) throw new JpError('JP_FTP', `bad file size ${opts.size}`, { temporary: false });
      if (!(await this.transfers.enterModeE(wait))) {
        const r = await this.uploadStream(path, source, { offset: 0, size: opts.size, ...(opts.mkdirs !== undefined ? { mkdirs: opts.mkdirs } : {}) }, wait);
        return { ...r, mode: 'S', reusedData: false };
      }
      let reusedData: boolean;
      const hadCached = this.transfers.hasCached;
      try {
        reusedData = await this.transfers.transferE(path, source, wait);
      } catch (e) {
        const refused = e instanceof RefusedBeforeData;
        const missingDir = refused && (e.meaning === 'no-such-path' || e.meaning === 'cannot-create');
        if (refused && !missingDir && hadCached && this.ctl.usable) {
          // Refused on the cached data connection before any byte went: try once on a new one (the cached one is gone now).
          reusedData = await this.transfers.transferE(path, source, wait);
          const size = await this.checkSize(path, opts.size, wait);
          return { size, command: 'STOR', mode: 'E', reusedData };
        }
        if (!missingDir || opts.mkdirs === false || !this.ctl.usable) throw e;
        const dir = path.slice(0, path.lastIndexOf('/'));
        if (dir === '') throw e;
        await this.mkdirsNow(dir, wait);
        reusedData = await this.transfers.transferE(path, source, wait);
      }
      const size = await this.checkSize(path, opts.size, wait);
      return { size, command: 'STOR', mode: 'E', reusedData };
    });
  }

  /** QUIT and close (bounded; the connection is closed whatever the server does). */
  async close(): Promise<void> {
    if (!this.ctl.usable || this.busy) {
      this.destroy();
      return;
    }
    try {
      await this.ctl.command('QUIT', 'session', { timeoutMs: Math.min(this.timeoutMs, 5_000) });
    } catch {
      // closing anyway
    } finally {
      this.destroy();
    }
  }

  /** Close at once (every socket of this client). */
  destroy(): void {
    this.transfers.destroy();
    this.ctl.destroy();
    this.protection.destroy();
  }
}

async function login(ctl: ControlConnection, subject: string, wait: WaitOptions): Promise<string | undefined> {
  const unmapped = `the server's grid-mapfile does not map ${subject}`;
  const user = await ctl.command('USER :globus-mapping:', 'login', wait);
  let done = user;
  if (user.code === 331 || user.code === 332) done = await ctl.command('PASS dummy', 'login', wait);
  if (done.code !== 230) {
    throw ctl.replyError('login', done, done.code === 530 ? unmapped : undefined);
  }
  const m = /User (\S+) logged in/i.exec(done.text);
  return m?.[1];
}

function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** Paths go into one command line: no line breaks, not empty. */
function checkPath(path: string): string {
  if (path === '' || /[\r\n\0]/.test(path)) throw new JpError('JP_FTP', `bad GridFTP path ${JSON.stringify(path.slice(0, 120))}`, { temporary: false });
  return path;
}
