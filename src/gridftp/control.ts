/**
 * The GridFTP control connection: one TCP socket, commands out, replies in
 * (./reply.ts), every wait bounded by a timeout and an AbortSignal. Once GSI
 * authentication finished, a Protection (./protection.ts) wraps every
 * command as `ENC …` and unwraps every `63x` reply; a command is never sent
 * in clear text after that (the server would never answer it).
 */
import { connect, type Socket } from 'node:net';
import { JpError, describeError } from '../core/errors.js';
import { FtpReplyError, type FtpCommand } from '../core/ftp-reply.js';
import {
  isProtectedReply,
  LineSplitter,
  protectedTokens,
  ReplyAssembler,
  ReplySyntaxError,
  replySummary,
  type FtpReply,
} from './reply.js';

/** Wraps commands and unwraps protected reply tokens (the GSI security context). */
export interface Protection {
  wrap(command: string): Promise<string>;
  unwrap(token: string): Promise<Buffer>;
}

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
}

/** Where the control connection goes, for messages. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export function abortedError(what: string): JpError {
  return new JpError('JP_ABORTED', `${what}: aborted`);
}

/**
 * Run `work` with a timeout and an AbortSignal: on either, `cancel` is
 * called (it must make `work` settle, e.g. by destroying a socket) and the
 * result is the timeout / abort error.
 */
export async function bounded<T>(what: string, opts: WaitOptions, work: Promise<T>, cancel: (e: Error) => void): Promise<T> {
  if (opts.signal?.aborted === true) {
    const e = abortedError(what);
    cancel(e);
    work.catch(() => undefined);
    throw e;
  }
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const e = new JpError('JP_TIMEOUT', `${what}: no answer within ${opts.timeoutMs} ms`);
      cancel(e);
      reject(e);
    }, opts.timeoutMs);
    if (opts.signal !== undefined) {
      onAbort = () => {
        const e = abortedError(what);
        cancel(e);
        reject(e);
      };
      opts.signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  try {
    return await Promise.race([work, stop]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) opts.signal?.removeEventListener('abort', onAbort);
    work.catch(() => undefined);
    stop.catch(() => undefined);
  }
}

/** Open a TCP connection within the timeout. */
export async function connectTcp(endpoint: Endpoint, what: string, opts: WaitOptions): Promise<Socket> {
  const socket = connect({ host: endpoint.host, port: endpoint.port });
  socket.setNoDelay(true);
  const ready = new Promise<Socket>((resolve, reject) => {
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
  try {
    return await bounded(what, opts, ready, () => socket.destroy());
  } catch (e) {
    socket.destroy();
    if (e instanceof JpError) throw e;
    throw new JpError('JP_NETWORK', `${what}: ${describeError(e)}`, { cause: e });
  }
}

export class ControlConnection {
  private readonly splitter = new LineSplitter();
  private readonly outer = new ReplyAssembler();
  private readonly inner = new ReplyAssembler();
  private readonly replies: FtpReply[] = [];
  private waiter: { resolve: () => void } | undefined;
  private failure: JpError | undefined;
  private protection: Protection | undefined;
  private busy = false;
  private closedFlag = false;

  private constructor(readonly socket: Socket, readonly endpoint: Endpoint) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.fail(new JpError('JP_NETWORK', `GridFTP control connection to ${this.where}: ${describeError(e)}`, { cause: e })));
    socket.on('close', () => {
      this.closedFlag = true;
      this.fail(new JpError('JP_NETWORK', `GridFTP control connection to ${this.where}: closed by the server`));
    });
  }

  /** Connect and read the greeting (`220`). */
  static async open(endpoint: Endpoint, opts: WaitOptions): Promise<ControlConnection> {
    const where = `${endpoint.host}:${endpoint.port}`;
    const socket = await connectTcp(endpoint, `GridFTP connection to ${where}`, opts);
    const conn = new ControlConnection(socket, endpoint);
    try {
      const greeting = await conn.read('greeting', opts);
      if (greeting.code !== 220) throw conn.replyError('greeting', greeting);
      return conn;
    } catch (e) {
      conn.destroy();
      throw e;
    }
  }

  get where(): string {
    return `${this.endpoint.host}:${this.endpoint.port}`;
  }

  /** The connection can take more commands. */
  get usable(): boolean {
    return this.failure === undefined && !this.closedFlag && !this.socket.destroyed;
  }

  get protected(): boolean {
    return this.protection !== undefined;
  }

  /** From now on every command is wrapped and every protected reply unwrapped. */
  protect(p: Protection): void {
    this.protection = p;
  }

  /** Send one command (wrapped when protected). Never more than one exchange at a time. */
  async send(command: string): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (/[\r\n]/.test(command)) throw new JpError('JP_FTP', `refusing to send an FTP command holding a line break: ${JSON.stringify(command.slice(0, 80))}`, { temporary: false });
    const line = this.protection === undefined ? command : await this.protection.wrap(command);
    if (this.failure !== undefined) throw this.failure;
    this.socket.write(`${line}\r\n`);
  }

  /** Send a command and read its reply. */
  async command(command: string, stage: FtpCommand, opts: WaitOptions): Promise<FtpReply> {
    if (this.busy) throw new JpError('JP_FTP', `GridFTP control connection to ${this.where}: a command is already in progress`);
    this.busy = true;
    try {
      if (this.replies.length > 0) {
        // A reply nobody asked for (421 idle timeout, …): the exchange is out of step, the connection is done.
        const r = await this.nextReply();
        const e = this.fail(this.replyError('session', r, 'a reply came unasked: the connection is closed'));
        this.socket.destroy();
        throw e;
      }
      await this.send(command);
      return await this.read(stage, opts);
    } finally {
      this.busy = false;
    }
  }

  /** The next reply (unwrapped when protected), within the timeout. */
  async read(stage: FtpCommand, opts: WaitOptions): Promise<FtpReply> {
    return this.bound(stage, opts, this.nextReply());
  }

  /**
   * Bound a pending read (from nextReply()): a reply that came late would
   * answer the wrong command, so a timeout or an abort ends the connection.
   */
  async bound(stage: FtpCommand, opts: WaitOptions, pending: Promise<FtpReply>): Promise<FtpReply> {
    const what = `GridFTP server ${this.where}: ${stage}`;
    return bounded(what, opts, pending, (e) => {
      this.fail(e instanceof JpError ? e : new JpError('JP_NETWORK', describeError(e)));
      this.socket.destroy();
    });
  }

  /** The next reply (unwrapped when protected), without a time limit: bound it with bound(). */
  async nextReply(): Promise<FtpReply> {
    for (;;) {
      const raw = await this.nextRaw();
      if (this.protection === undefined || !isProtectedReply(raw)) return raw;
      let tokens: string[];
      try {
        tokens = protectedTokens(raw);
      } catch (e) {
        throw this.fail(this.syntaxError(e));
      }
      let reply: FtpReply | undefined;
      const lines = new LineSplitter();
      for (const token of tokens) {
        let clear: Buffer;
        try {
          clear = await this.protection.unwrap(token);
        } catch (e) {
          throw this.fail(new JpError('JP_TLS', `GridFTP server ${this.where}: a protected reply cannot be unwrapped: ${describeError(e)}`, { cause: e }));
        }
        try {
          for (const line of lines.push(clear)) {
            const r = this.inner.push(line);
            if (r !== undefined) {
              if (reply !== undefined) throw new ReplySyntaxError('two replies in one protected reply');
              reply = r;
            }
          }
        } catch (e) {
          throw this.fail(this.syntaxError(e));
        }
      }
      if (lines.pending > 0) throw this.fail(this.syntaxError(new ReplySyntaxError('a protected reply line without its end')));
      if (reply !== undefined) return reply;
      // The inner reply continues in the next protected reply.
    }
  }

  private async nextRaw(): Promise<FtpReply> {
    for (;;) {
      const r = this.replies.shift();
      if (r !== undefined) return r;
      if (this.failure !== undefined) throw this.failure;
      await new Promise<void>((resolve) => {
        this.waiter = { resolve };
      });
    }
  }

  private onData(chunk: Buffer): void {
    try {
      for (const line of this.splitter.push(chunk)) {
        const r = this.outer.push(line);
        if (r !== undefined) this.replies.push(r);
      }
    } catch (e) {
      this.fail(this.syntaxError(e));
      this.socket.destroy();
    }
    this.wake();
  }

  private syntaxError(e: unknown): JpError {
    return new JpError('JP_FTP', `GridFTP server ${this.where} sent a malformed reply: ${describeError(e)}`, { cause: e });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve();
  }

  private fail(e: JpError): JpError {
    this.failure ??= e;
    this.wake();
    return this.failure;
  }

  /** An FtpReplyError for a refusal of `stage`. */
  replyError(stage: FtpCommand, reply: FtpReply, note?: string): FtpReplyError {
    return new FtpReplyError(`GridFTP server ${this.where}`, stage, { code: reply.code, text: replySummary(reply), ...(note !== undefined ? { note } : {}) });
  }

  /**
   * Why the connection cannot be used: an unasked reply the server left
   * before closing (`421 Idle timeout…`), else the failure that ended it.
   */
  async closedReason(): Promise<JpError> {
    if (this.replies.length > 0) {
      try {
        const r = await this.nextReply();
        return this.replyError('session', r, 'the server closed the connection');
      } catch (e) {
        if (e instanceof JpError) return e;
      }
    }
    return this.failure ?? new JpError('JP_NETWORK', `GridFTP control connection to ${this.where}: closed`);
  }

  /** Close without QUIT. */
  destroy(): void {
    this.fail(new JpError('JP_NETWORK', `GridFTP control connection to ${this.where}: closed`));
    this.socket.destroy();
  }
}
