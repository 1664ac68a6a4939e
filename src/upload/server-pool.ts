/**
 * Connections kept per server, for any protocol (./ftp-pool.ts for FTP and
 * FTPS, ./gridftp-pool.ts for GridFTP): a login costs round trips and
 * signatures, so a connection goes from file to file. Per server key: at
 * most `limit` connections leased or being opened (maxPerHost, lowered by
 * the protocol when a server accepts fewer, back after `regrowMs`); idle
 * ones closed after `idleMs`; one that is no longer reusable (broken, made
 * with credentials of an older generation) closed instead of handed out.
 * Waiters get the next connection freed, in order; an AbortSignal ends a
 * wait at once.
 */
import { JpError } from '../core/errors.js';

export interface ServerPoolHooks<C> {
  /** Open and log in a new connection. */
  connect(signal: AbortSignal | undefined): Promise<C>;
  /** Whether an idle connection may be handed out again (still open, current credentials). */
  reusable(c: C): boolean;
  /** Close at once. */
  destroy(c: C): void;
  /** Close politely (an idle one timing out, the pool closing); default destroy. */
  close?(c: C): Promise<void> | void;
  /**
   * A connect failed. Return true to try again (the pool waits for a free
   * slot first when the limit was lowered meanwhile); throw (or return
   * false) to give the error to the caller. `held` = connections leased,
   * opening or idle for this server besides the failed one.
   */
  connectFailed?(e: unknown, held: number, server: ServerSlots): Promise<boolean>;
}

/** What a protocol may change about one server's slots. */
export interface ServerSlots {
  /** Connections the server accepts from us now. */
  limit: number;
  /** When a lowered limit goes back to maxPerHost (ms since the epoch). */
  regrowAt: number;
}

export interface ServerPoolOptions {
  readonly maxPerHost: number;
  readonly idleMs: number;
  readonly regrowMs?: number;
  /** For messages: `FTP`, `GridFTP`. */
  readonly what: string;
}

export interface Lease<C> {
  readonly conn: C;
  /** The connection was used for an earlier file. */
  readonly reused: boolean;
  /** Give it back for reuse (closed instead when not reusable). */
  release(): void;
  /** Close it. */
  discard(): void;
}

export interface ServerPoolStats {
  connects: number;
  reuses: number;
  active: number;
  idle: number;
}

interface Idle<C> {
  conn: C;
  timer: NodeJS.Timeout;
}

interface Server<C> extends ServerSlots {
  active: number;
  idle: Array<Idle<C>>;
  waiters: Array<() => void>;
}

export class ServerPool<C> {
  private readonly servers = new Map<string, Server<C>>();
  private closed = false;
  private connects = 0;
  private reuses = 0;

  constructor(private readonly opts: ServerPoolOptions) {
    if (!Number.isInteger(opts.maxPerHost) || opts.maxPerHost < 1) {
      throw new JpError('JP_CONFIG', `${opts.what} pool maxPerHost must be a positive integer, got ${opts.maxPerHost}`);
    }
  }

  stats(): ServerPoolStats {
    let active = 0;
    let idle = 0;
    for (const s of this.servers.values()) {
      active += s.active;
      idle += s.idle.length;
    }
    return { connects: this.connects, reuses: this.reuses, active, idle };
  }

  /** Connections opened to this server at most now. */
  limitFor(key: string): number {
    const s = this.servers.get(key);
    return s === undefined ? this.opts.maxPerHost : this.currentLimit(s);
  }

  /** A connection to the server `key`: an idle reusable one, a new one, or the next one freed. */
  async acquire(key: string, hooks: ServerPoolHooks<C>, signal?: AbortSignal): Promise<Lease<C>> {
    let server = this.servers.get(key);
    if (server === undefined) {
      server = { active: 0, idle: [], waiters: [], limit: this.opts.maxPerHost, regrowAt: 0 };
      this.servers.set(key, server);
    }
    for (;;) {
      if (this.closed) throw new JpError('JP_ABORTED', `${this.opts.what} pool is closed`);
      if (aborted(signal)) throw new JpError('JP_ABORTED', `${this.opts.what} upload aborted`);
      let idle: Idle<C> | undefined;
      while ((idle = server.idle.pop()) !== undefined) {
        clearTimeout(idle.timer);
        if (hooks.reusable(idle.conn)) {
          server.active++;
          this.reuses++;
          return this.lease(server, idle.conn, true, hooks);
        }
        hooks.destroy(idle.conn);
      }
      if (server.active >= this.currentLimit(server)) {
        await waitTurn(server, signal);
        continue;
      }
      server.active++;
      try {
        const conn = await hooks.connect(signal);
        this.connects++;
        return this.lease(server, conn, false, hooks);
      } catch (e) {
        server.active--;
        server.waiters.shift()?.();
        if (aborted(signal)) throw new JpError('JP_ABORTED', `${this.opts.what} connect aborted`, { cause: e });
        const again = hooks.connectFailed !== undefined && (await hooks.connectFailed(e, server.active + server.idle.length, server));
        if (!again) throw e;
      }
    }
  }

  /** Close idle connections now; leased ones close when given back; waiters are woken (and fail). */
  async close(hooks: Pick<ServerPoolHooks<C>, 'destroy' | 'close'>): Promise<void> {
    this.closed = true;
    const closing: Array<Promise<void> | void> = [];
    for (const s of this.servers.values()) {
      for (const i of s.idle.splice(0)) {
        clearTimeout(i.timer);
        closing.push((hooks.close ?? hooks.destroy)(i.conn));
      }
      for (const w of s.waiters.splice(0)) w();
    }
    await Promise.all(closing);
  }

  private lease(server: Server<C>, conn: C, reused: boolean, hooks: ServerPoolHooks<C>): Lease<C> {
    let done = false;
    const finish = (keep: boolean): void => {
      if (done) return;
      done = true;
      server.active--;
      if (keep && !this.closed && hooks.reusable(conn)) {
        const timer = setTimeout(() => {
          const i = server.idle.findIndex((x) => x.conn === conn);
          if (i >= 0) server.idle.splice(i, 1);
          void (hooks.close ?? hooks.destroy)(conn);
        }, this.opts.idleMs);
        timer.unref();
        server.idle.push({ conn, timer });
      } else {
        hooks.destroy(conn);
      }
      server.waiters.shift()?.();
    };
    return { conn, reused, release: () => finish(true), discard: () => finish(false) };
  }

  private currentLimit(s: Server<C>): number {
    if (s.limit < this.opts.maxPerHost && Date.now() >= s.regrowAt) s.limit = this.opts.maxPerHost;
    return s.limit;
  }
}

function waitTurn(server: { waiters: Array<() => void> }, signal?: AbortSignal): Promise<void> {
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

/** A function, so TypeScript does not narrow `aborted` across awaits. */
function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
