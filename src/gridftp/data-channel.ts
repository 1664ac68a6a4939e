/**
 * GridFTP data connections in stream mode, passive (we connect, so on an
 * authenticated data connection we are the TLS client: GSI's initiator is
 * the side that connects, the listening side accepts).
 *
 * What travels on the connection depends on DCAU and PROT (Globus
 * globus_ftp_control_data.c / the GSI XIO driver):
 *  - DCAU N: plain TCP; PROT is not set.
 *  - authenticated, PROT C ('gsi-clear'): a GSI security context like the
 *    control channel's — raw TLS handshake records on the socket, then (TLS
 *    1.3) the acceptor's wrapped null byte, then our wrapped delegation
 *    flag `0` — after which the file's bytes go in clear on the same socket.
 *  - authenticated, PROT P ('private'): plain TLS ("SSL compatible" GSI: no
 *    null byte, no flag); the file's bytes are TLS application data.
 * The server's data connection credential is its host credential (we do
 * not delegate), so the server's subject there is the one the control
 * channel authenticated; the server checks ours against the subject named
 * by `DCAU S` (see ./client.ts for why not `DCAU A`).
 */
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { JpError, describeError } from '../core/errors.js';
import { bounded, connectTcp, type WaitOptions } from './control.js';
import { tlsRefusal } from './gsi-auth.js';
import type { PeerCheck, GridTls } from './identity.js';
import { MemoryTls } from './memory-tls.js';

export type DataSecurity = 'none' | 'gsi-clear' | 'private';

export interface PassiveAddress {
  readonly host: string;
  readonly port: number;
}

/** `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)`; the address 0.0.0.0 means the control connection's host. */
export function parsePasv(text: string, controlHost: string): PassiveAddress {
  const m = /(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})/.exec(text);
  if (m === null) throw new Error(`no address in the PASV reply ${JSON.stringify(text.slice(0, 120))}`);
  const n = m.slice(1, 7).map(Number);
  if (n.some((x) => x > 255)) throw new Error(`bad address in the PASV reply ${JSON.stringify(text.slice(0, 120))}`);
  const port = (n[4] as number) * 256 + (n[5] as number);
  if (port === 0) throw new Error(`port 0 in the PASV reply ${JSON.stringify(text.slice(0, 120))}`);
  const host = n.slice(0, 4).join('.');
  return { host: host === '0.0.0.0' ? controlHost : host, port };
}

/** `229 Entering Extended Passive Mode (|||port|)` (any delimiter); the host is the control connection's. */
export function parseEpsv(text: string, controlHost: string): PassiveAddress {
  const m = /\(([\x21-\x7e])\1\1(\d{1,5})\1\)/.exec(text);
  const port = m === null ? NaN : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`no port in the EPSV reply ${JSON.stringify(text.slice(0, 120))}`);
  return { host: controlHost, port };
}

export interface DataSecurityOptions extends WaitOptions {
  readonly security: DataSecurity;
  readonly tls: GridTls;
  readonly check: PeerCheck;
  /** The control connection's host, for SNI and messages. */
  readonly host: string;
}

/** An open data connection, ready for the file's bytes. */
export interface DataConnection {
  /** Where to write the file's bytes (the socket, or the TLS socket over it). */
  readonly sink: Writable;
  readonly socket: Socket;
  destroy(): void;
}

export async function openData(addr: PassiveAddress, opts: WaitOptions): Promise<Socket> {
  const socket = await connectTcp(addr, `GridFTP data connection to ${addr.host}:${addr.port}`, opts);
  // Errors between the steps are seen through 'close' and the transfer's own listeners; never unhandled.
  socket.on('error', () => undefined);
  return socket;
}

/** Make the connected socket what DCAU/PROT say (after the transfer command was sent). */
export async function secureData(socket: Socket, opts: DataSecurityOptions): Promise<DataConnection> {
  switch (opts.security) {
    case 'none':
      return { sink: socket, socket, destroy: () => socket.destroy() };
    case 'private':
      return privateData(socket, opts);
    case 'gsi-clear':
      await gsiClearHandshake(socket, opts);
      return { sink: socket, socket, destroy: () => socket.destroy() };
  }
}

function tlsOptions(opts: DataSecurityOptions): {
  secureContext: DataSecurityOptions['tls']['secureContext'];
  rejectUnauthorized: true;
  servername?: string;
  checkServerIdentity: (host: string, cert: Parameters<PeerCheck>[0]) => Error | undefined;
} {
  return {
    secureContext: opts.tls.secureContext,
    rejectUnauthorized: true,
    ...(/^[\d.]+$/.test(opts.host) || opts.host.includes(':') ? {} : { servername: opts.host }),
    checkServerIdentity: (_h, cert) => opts.check(cert),
  };
}

async function privateData(socket: Socket, opts: DataSecurityOptions): Promise<DataConnection> {
  const tls: TLSSocket = tlsConnect({ ...tlsOptions(opts), socket });
  const ready = new Promise<void>((resolve, reject) => {
    tls.once('secureConnect', () => {
      tls.off('error', reject);
      resolve();
    });
    tls.once('error', reject);
    socket.once('close', () => reject(new JpError('JP_NETWORK', `GridFTP data connection to ${opts.host}: closed during the TLS handshake`)));
  });
  const destroy = (): void => {
    tls.destroy();
    socket.destroy();
  };
  try {
    await bounded(`GridFTP data connection to ${opts.host}: TLS handshake`, opts, ready, destroy);
  } catch (e) {
    destroy();
    throw e instanceof JpError ? e : tlsRefusal(e as Error, opts.host, 'data connection');
  }
  tls.on('error', () => undefined); // reported through the transfer
  return { sink: tls, socket, destroy };
}

/**
 * The GSI context on a data connection that then carries clear data (PROT
 * C). The last steps follow the TLS version (we never resume sessions, so
 * the full handshake's order holds): TLS 1.3 ends with our Finished, so the
 * acceptor answers a wrapped null byte before our flag; TLS 1.2 ends with
 * the server's Finished, so the flag goes at once. TLS records may come
 * split over TCP segments: the loop runs on every socket chunk and every
 * change of the engine, and only acts on what the engine made of them.
 */
async function gsiClearHandshake(socket: Socket, opts: DataSecurityOptions): Promise<void> {
  const engine = new MemoryTls(tlsOptions(opts));
  let wake: (() => void) | undefined;
  let signaled = true;
  let closed: Error | undefined;
  const signal = (): void => {
    signaled = true;
    const w = wake;
    wake = undefined;
    w?.();
  };
  engine.onChange = signal;
  const onData = (chunk: Buffer): void => {
    engine.feed(chunk);
    signal();
  };
  const onClose = (): void => {
    closed ??= new JpError('JP_NETWORK', `GridFTP data connection to ${opts.host}: closed by the server during the GSI handshake`);
    signal();
  };
  const onError = (e: Error): void => {
    closed ??= new JpError('JP_NETWORK', `GridFTP data connection to ${opts.host}: ${describeError(e)}`, { cause: e });
    signal();
  };
  socket.on('data', onData);
  socket.on('close', onClose);
  socket.on('error', onError);
  const send = (): void => {
    const out = engine.takeOutput();
    if (out.length > 0 && !socket.destroyed) socket.write(out);
  };
  const run = async (): Promise<void> => {
    // Bounded by the caller's timeout; each round waits for the peer or the engine.
    for (;;) {
      if (!signaled) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      signaled = false;
      await engine.settle();
      if (engine.error !== undefined) throw tlsRefusal(engine.error, opts.host, 'data connection');
      send();
      if (closed !== undefined) throw closed;
      if (!engine.established) continue;
      if (engine.protocol === 'TLSv1.3' && engine.pendingApp === 0) continue; // the acceptor's null byte first
      engine.onChange = undefined;
      engine.takeApp();
      engine.write('0'); // no delegation
      await engine.settle(() => engine.pendingOutput > 0);
      if (engine.error !== undefined) throw tlsRefusal(engine.error, opts.host, 'data connection');
      send();
      return;
    }
  };
  try {
    await bounded(`GridFTP data connection to ${opts.host}: GSI handshake`, opts, run(), () => {
      socket.destroy();
      signal();
    });
  } catch (e) {
    socket.destroy();
    throw e;
  } finally {
    socket.off('data', onData);
    socket.off('close', onClose);
    socket.off('error', onError);
    engine.destroy();
  }
  // From here the socket carries the file in clear; the server sends nothing on it.
  socket.on('data', () => undefined);
}

export interface PumpOptions extends WaitOptions {
  readonly host: string;
}

/**
 * Send `source` into the data connection and close it (end of file in
 * stream mode), failing when no byte moved for timeoutMs. Resolves when the
 * server closed its side too.
 */
export async function pump(source: Readable, data: DataConnection, opts: PumpOptions): Promise<void> {
  const { sink, socket } = data;
  const what = `GridFTP data connection to ${opts.host}`;
  let last = socket.bytesWritten;
  let lastMove = Date.now();
  const done = new Promise<void>((resolve, reject) => {
    let finished = false;
    const fail = (e: unknown): void => {
      source.unpipe(sink);
      reject(e instanceof JpError ? e : new JpError('JP_NETWORK', `${what}: ${describeError(e)}`, { cause: e }));
    };
    source.once('error', (e) => fail(e));
    sink.once('error', (e) => fail(e));
    sink.once('finish', () => {
      finished = true;
    });
    socket.once('close', () => {
      if (finished) resolve();
      else fail(new JpError('JP_NETWORK', `${what}: closed by the server before the whole file was sent`));
    });
    source.pipe(sink);
  });
  const every = Math.max(50, Math.min(1000, Math.floor(opts.timeoutMs / 4)));
  let watchdog: NodeJS.Timeout | undefined;
  const idle = new Promise<never>((_resolve, reject) => {
    watchdog = setInterval(() => {
      const now = Date.now();
      if (socket.bytesWritten !== last) {
        last = socket.bytesWritten;
        lastMove = now;
      } else if (now - lastMove >= opts.timeoutMs) {
        reject(new JpError('JP_TIMEOUT', `${what}: no data moved for ${opts.timeoutMs} ms`));
      }
    }, every);
  });
  try {
    await bounded(what, { timeoutMs: 2_147_000_000, signal: opts.signal }, Promise.race([done, idle]), () => data.destroy());
  } catch (e) {
    data.destroy();
    throw e;
  } finally {
    clearInterval(watchdog);
    idle.catch(() => undefined);
  }
}
