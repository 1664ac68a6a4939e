/**
 * The data side of a GridFTP control connection (./client.ts): the
 * transfer mode the server is in, the data connections (a new one per
 * stream-mode transfer; in MODE E one cached across transfers), and the
 * STOR exchanges with their preliminary and final replies. A transfer that
 * leaves any doubt about a data connection's state destroys it; one that
 * leaves the control connection out of step ends the whole client.
 */
import type { Readable } from 'node:stream';
import { JpError, describeError } from '../core/errors.js';
import { FtpReplyError } from '../core/ftp-reply.js';
import { bounded, type ControlConnection, type WaitOptions } from './control.js';
import { openData, parseEpsv, parsePasv, pump, secureData, type DataConnection, type DataSecurity, type PassiveAddress } from './data-channel.js';
import type { GridTls } from './identity.js';
import { sendBlocks } from './mode-e-send.js';
import { replySummary, type FtpReply } from './reply.js';

/** The server refused the transfer command before any byte was sent (so the same source can be sent again). */
export class RefusedBeforeData extends FtpReplyError {}

/** What the transfers need of their client. */
export interface TransferContext {
  readonly ctl: ControlConnection;
  readonly tls: GridTls;
  readonly security: DataSecurity;
  readonly serverSubject: string;
  /** The control connection's host, for SNI, checks and messages. */
  readonly host: string;
  readonly where: string;
  readonly ipv6: boolean;
  readonly passive: 'PASV' | 'EPSV' | undefined;
  readonly resume: 'ESTO' | 'REST' | undefined;
  readonly timeoutMs: number;
  /** End the whole client (a reply out of step). */
  destroyAll(): void;
}

export type StreamCommand = 'STOR' | 'ESTO' | 'REST+STOR';

export class Transfers {
  /** The transfer mode the server is in now. */
  private mode: 'S' | 'E' = 'S';
  /** The server refused MODE E once: stream mode only from then on. */
  private noModeE = false;
  /** MODE E: the data connection the server keeps cached after a complete transfer. */
  private cachedData: DataConnection | undefined;
  /** MODE E: the data connection of the transfer in progress. */
  private activeData: DataConnection | undefined;
  /** Data connections opened (each with its own handshake when authenticated). */
  dataConnections = 0;

  constructor(private readonly c: TransferContext) {}

  /** Whether a MODE E data connection is cached now. */
  get hasCached(): boolean {
    return this.cachedData !== undefined;
  }

  /** MODE E: the socket of the data connection in use or kept for the next upload (diagnostics and tests). */
  get dataSocket(): DataConnection['socket'] | undefined {
    return (this.activeData ?? this.cachedData)?.socket;
  }

  /** Close every data connection. */
  destroy(): void {
    this.activeData?.destroy();
    this.activeData = undefined;
    this.dropCachedData();
  }

  /** Put the server in MODE E (once); false when it refuses (stream mode from then on). */
  async enterModeE(wait: WaitOptions): Promise<boolean> {
    if (this.mode === 'E') return true;
    if (this.noModeE) return false;
    const r = await this.c.ctl.command('MODE E', 'setup', wait);
    if (r.code !== 200) {
      this.noModeE = true;
      return false;
    }
    this.mode = 'E';
    // In MODE E the Globus server sends per file two 112 performance markers and a 111 restart marker before
    // its 226: three more protected replies to unwrap, which we never use (a failed file is sent whole again).
    // `TREV <event> <seconds>` (its server-lib) sets their frequency; 0 stops them. Whatever it answers
    // (a server without TREV: 500), the markers are skipped anyway.
    for (const command of ['TREV PERF 0', 'TREV RESTART 0']) await this.c.ctl.command(command, 'setup', wait);
    return true;
  }

  /** Back to stream mode (a changed mode ends the server's cached data connection; ours goes too). */
  async enterStreamMode(wait: WaitOptions): Promise<void> {
    if (this.mode === 'S') return;
    this.dropCachedData();
    const r = await this.c.ctl.command('MODE S', 'setup', wait);
    if (r.code !== 200) throw this.c.ctl.replyError('setup', r, 'after MODE S');
    this.mode = 'S';
  }

  /** The cached MODE E data connection, when it is still open; a closed one is dropped. */
  private takeCachedData(): DataConnection | undefined {
    const d = this.cachedData;
    this.cachedData = undefined;
    if (d === undefined) return undefined;
    if (d.socket.destroyed || !d.socket.writable || d.sink.destroyed || !d.sink.writable) {
      d.destroy();
      return undefined;
    }
    return d;
  }

  private dropCachedData(): void {
    this.cachedData?.destroy();
    this.cachedData = undefined;
  }

  /**
   * One MODE E transfer of the whole file: over the cached data connection
   * (no PASV: the server reuses its own), or over a new one (PASV, connect,
   * STOR, handshake). The connection is cached again only after the
   * server's 226. Whether the cached connection was used.
   */
  async transferE(path: string, source: Readable, wait: WaitOptions): Promise<boolean> {
    let data = this.takeCachedData();
    const reused = data !== undefined;
    let socket: DataConnection['socket'] | undefined;
    /** The final reply, once the server said 1xx (it must be read, or the connection is out of step). */
    let finalP: Promise<FtpReply> | undefined;
    try {
      let secured: Promise<DataConnection> | undefined;
      if (data !== undefined) {
        const prelim = await this.c.ctl.command(`STOR ${path}`, 'STOR', wait);
        if (prelim.code < 100 || prelim.code >= 200) {
          throw new RefusedBeforeData(`GridFTP server ${this.c.where}`, 'STOR', {
            code: prelim.code,
            text: replySummary(prelim),
            ...(prelim.code < 300 ? { note: 'the server completed the transfer without opening it' } : {}),
          });
        }
      } else {
        const addr = await this.passive(wait);
        const s = await openData(addr, wait);
        socket = s;
        this.dataConnections++;
        await this.c.ctl.send(`STOR ${path}`);
        secured = (await this.secureAfterPrelim(s, wait)).secured;
      }
      const final = this.finalReply();
      final.catch(() => undefined);
      finalP = final;
      if (secured !== undefined) {
        const s = socket;
        data = await bounded(`GridFTP data connection to ${this.c.host}`, wait, secured, () => s?.destroy());
      }
      if (data === undefined) throw new JpError('JP_FTP', `GridFTP data connection to ${this.c.host}: none after STOR`);
      this.activeData = data;
      const early = final.then((r) => (r.code >= 300 ? Promise.reject(this.c.ctl.replyError('STOR', r)) : new Promise<never>(() => undefined)));
      early.catch(() => undefined);
      await Promise.race([sendBlocks(source, data, { ...wait, host: this.c.host }), early]);
      const done = await this.c.ctl.bound('STOR', wait, final);
      finalP = undefined;
      if (done.code !== 226 && done.code !== 250) throw this.c.ctl.replyError('STOR', done);
      this.activeData = undefined;
      this.cachedData = data;
      return reused;
    } catch (e) {
      this.activeData = undefined;
      // Any doubt about the data connection's state: it goes (the next file opens a new one).
      data?.destroy();
      socket?.destroy();
      throw await this.afterFailedTransfer(e, finalP, wait);
    }
  }

  /** The transfer's final reply, past any 111/112 restart and performance markers (MODE E; see enterModeE). */
  private async finalReply(): Promise<FtpReply> {
    for (;;) {
      const r = await this.c.ctl.nextReply();
      if (r.code >= 200) return r;
    }
  }

  /**
   * After the transfer command went out on a new data connection: start
   * securing it (DCAU/PROT) while the server's preliminary reply comes; a
   * refusal before data is a RefusedBeforeData (or our own refusal of the
   * peer). The handshake still running (the caller reads the final reply
   * meanwhile).
   */
  private async secureAfterPrelim(socket: DataConnection['socket'], wait: WaitOptions): Promise<{ secured: Promise<DataConnection> }> {
    const secured = secureData(socket, {
      ...wait,
      security: this.c.security,
      tls: this.c.tls,
      check: this.c.tls.dataCheck(this.c.serverSubject, this.c.host),
      host: this.c.host,
    });
    let ownFailure: unknown;
    secured.catch((e: unknown) => {
      ownFailure = e;
    });
    const prelim = await this.c.ctl.read('STOR', wait);
    if (prelim.code < 100 || prelim.code >= 200) {
      socket.destroy();
      await secured.catch(() => undefined);
      if (ownFailure instanceof JpError && ownFailure.code === 'JP_TLS') throw ownFailure;
      throw new RefusedBeforeData(`GridFTP server ${this.c.where}`, 'STOR', {
        code: prelim.code,
        text: replySummary(prelim),
        ...(prelim.code < 300 ? { note: 'the server completed the transfer without opening it' } : {}),
      });
    }
    return { secured };
  }

  private async passive(wait: WaitOptions): Promise<PassiveAddress> {
    const useEpsv = this.c.ipv6 || this.c.passive === 'EPSV';
    const r = await this.c.ctl.command(useEpsv ? 'EPSV' : 'PASV', 'setup', wait);
    if (r.code !== (useEpsv ? 229 : 227)) throw this.c.ctl.replyError('setup', r, `after ${useEpsv ? 'EPSV' : 'PASV'}`);
    try {
      return useEpsv ? parseEpsv(r.text, this.c.ctl.endpoint.host) : parsePasv(r.text, this.c.ctl.endpoint.host);
    } catch (e) {
      throw this.c.ctl.replyError('setup', r, describeError(e));
    }
  }

  /** One data transfer; the command that carried it. */
  async transfer(path: string, source: Readable, offset: number, wait: WaitOptions): Promise<StreamCommand> {
    let command: StreamCommand = 'STOR';
    let line = `STOR ${path}`;
    if (offset > 0 && (this.c.resume ?? 'ESTO') === 'REST') {
      const r = await this.c.ctl.command(`REST ${offset}`, 'setup', wait);
      if (r.code !== 350) throw this.c.ctl.replyError('setup', r, 'after REST');
      command = 'REST+STOR';
    } else if (offset > 0) {
      line = `ESTO A ${offset} ${path}`;
      command = 'ESTO';
    }
    const addr = await this.passive(wait);
    const socket = await openData(addr, wait);
    this.dataConnections++;
    let data: DataConnection | undefined;
    /** The final reply, once the server said 150 (it must be read, or the connection is out of step). */
    let finalP: Promise<FtpReply> | undefined;
    try {
      await this.c.ctl.send(line);
      const { secured } = await this.secureAfterPrelim(socket, wait);
      const final = this.c.ctl.nextReply();
      final.catch(() => undefined);
      finalP = final;
      data = await bounded(`GridFTP data connection to ${this.c.host}`, wait, secured, () => socket.destroy());
      // A refusal while we send (disk full, …) stops the sending.
      const early = final.then((r) => (r.code >= 300 ? Promise.reject(this.c.ctl.replyError('STOR', r)) : new Promise<never>(() => undefined)));
      early.catch(() => undefined);
      await Promise.race([pump(source, data, { ...wait, host: this.c.host }), early]);
      const done = await this.c.ctl.bound('STOR', wait, final);
      finalP = undefined;
      if (done.code !== 226 && done.code !== 250) throw this.c.ctl.replyError('STOR', done);
      return command;
    } catch (e) {
      data?.destroy();
      socket.destroy();
      throw await this.afterFailedTransfer(e, finalP, wait);
    }
  }

  /**
   * After a transfer failed with its final reply still due: read it (the
   * server says why: 426, 451…) so the connection stays in step, or end the
   * connection. A timeout or an abort ends it at once. The error to throw.
   */
  private async afterFailedTransfer(e: unknown, finalP: Promise<FtpReply> | undefined, wait: WaitOptions): Promise<unknown> {
    if (e instanceof FtpReplyError && e.command === 'STOR') return e; // that was the final reply
    if (finalP === undefined) return e;
    if (e instanceof JpError && (e.code === 'JP_ABORTED' || e.code === 'JP_TIMEOUT')) {
      this.c.destroyAll();
      return e;
    }
    const r = await this.c.ctl.bound('STOR', { timeoutMs: Math.min(this.c.timeoutMs, 10_000), signal: wait.signal }, finalP).catch(() => undefined);
    if (r === undefined) {
      this.c.destroyAll();
      return e;
    }
    if (r.code >= 400 && !(e instanceof JpError && e.code === 'JP_TLS')) {
      return new FtpReplyError(`GridFTP server ${this.c.where}`, 'STOR', { code: r.code, text: replySummary(r), note: describeError(e) }, e);
    }
    return e;
  }
}
