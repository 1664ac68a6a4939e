/**
 * One STOR or APPE over a passive data connection, on a logged-in
 * basic-ftp client (its public FTPContext: request, handle, socket,
 * tlsOptions, tlsSessionStore).
 *
 * Why not basic-ftp's uploadFrom: it closes the whole client, control
 * connection included, on any data-socket error, so the server's reply to
 * the command is never read. ProFTPD refuses a STOR (no such directory, no
 * permission, AllowOverwrite off) by resetting the data connection about
 * 1 ms before its 550: the client saw only "ECONNRESET (data socket)",
 * took the server for unreachable and never made the directory. Here a
 * data-socket error waits (a few seconds at most) for the reply on the
 * control connection; a refusal there is what the transfer failed with, and
 * the client stays usable.
 *
 * Settles with the final (2xx) reply, or rejects with the server's refusal
 * (FTPError), or with the data connection's error when no reply came, or
 * with the control connection's error.
 */
import { Socket } from 'node:net';
import { pipeline, type Readable } from 'node:stream';
import { connect as tlsConnect, TLSSocket } from 'node:tls';
import { FTPError, type Client, type FTPContext, type FTPResponse } from 'basic-ftp';

/** Longest wait for the control reply after the data connection failed. */
const REPLY_AFTER_DATA_ERROR_MS = 10_000;

/** Whether a server answered EPSV (tried first) or needs PASV. */
const passiveMode = new WeakMap<Client, 'EPSV' | 'PASV'>();

export async function storeFrom(client: Client, source: Readable, command: 'STOR' | 'APPE', path: string): Promise<FTPResponse> {
  const data = await openDataConnection(client);
  try {
    return await transfer(client.ftp, data, source, `${command} ${path}`);
  } finally {
    data.socket.destroy();
  }
}

/** A data connection whose errors are caught from the start (recorded until someone listens). */
class DataConnection {
  error: Error | undefined;
  onError: ((e: Error) => void) | undefined;
  readonly secure: Promise<void>;

  constructor(readonly socket: Socket) {
    socket.on('error', (e: Error) => {
      this.error ??= e;
      this.onError?.(e);
    });
    this.secure = socket instanceof TLSSocket
      ? new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()))
      : Promise.resolve();
  }
}

async function openDataConnection(client: Client): Promise<DataConnection> {
  const ftp = client.ftp;
  let port: number | undefined;
  if (passiveMode.get(client) !== 'PASV') {
    try {
      port = parseEpsv((await ftp.request('EPSV')).message);
      passiveMode.set(client, 'EPSV');
    } catch (e) {
      if (!(e instanceof FTPError) || passiveMode.get(client) === 'EPSV') throw e;
      passiveMode.set(client, 'PASV');
    }
  }
  port ??= parsePasv((await ftp.request('PASV')).message);
  // Always the control connection's host: a PASV address is not trusted (FTP bounce).
  const host = ftp.socket.remoteAddress;
  if (host === undefined) throw new Error('the control connection is closed: cannot open a data connection');
  return new Promise<DataConnection>((resolve, reject) => {
    // No Nagle (as curl): the last small segment of a file must not wait for a delayed ACK.
    const raw = new Socket().setNoDelay(true);
    const fail = (err: Error): void => {
      raw.destroy();
      err.message = `cannot open the data connection to ${host}:${port}: ${err.message}`;
      reject(err);
    };
    raw.setTimeout(ftp.timeout, () => fail(new Error(`Timeout (data socket) connecting to ${host}:${port}`)));
    raw.once('error', fail);
    raw.connect({ host, port: port as number, ...(ftp.ipFamily !== undefined ? { family: ftp.ipFamily } : {}) }, () => {
      raw.setTimeout(0);
      raw.removeListener('error', fail);
      if (!(ftp.socket instanceof TLSSocket)) {
        resolve(new DataConnection(raw));
        return;
      }
      // Resume the control connection's TLS session: servers require it (vsftpd
      // require_ssl_reuse, ProFTPD's default) so that nobody else can take the port.
      const s = tlsConnect({ ...ftp.tlsOptions, socket: raw, session: ftp.tlsSessionStore ?? ftp.socket.getSession() });
      s.on('session', (session: Buffer) => {
        ftp.tlsSessionStore = session;
      });
      resolve(new DataConnection(s));
    });
  });
}

export function parseEpsv(message: string): number {
  const m = /\(([|!])\1\1(\d{1,5})\1\)/.exec(message);
  const port = Number(m?.[2]);
  if (m === null || !(port > 0 && port < 65536)) throw new Error(`cannot read the port of the EPSV reply: ${message.trim()}`);
  return port;
}

export function parsePasv(message: string): number {
  const m = /(?<![-\d])\d{1,3},\d{1,3},\d{1,3},\d{1,3},(\d{1,3}),(\d{1,3})/.exec(message);
  const port = Number(m?.[1]) * 256 + Number(m?.[2]);
  if (m === null || !(port > 0 && port < 65536)) throw new Error(`cannot read the port of the PASV reply: ${message.trim()}`);
  return port;
}

type Settle = { resolve: (r: FTPResponse) => void; reject: (e: Error) => void };

function transfer(ftp: FTPContext, data: DataConnection, source: Readable, command: string): Promise<FTPResponse> {
  let task: Settle | undefined;
  let settled = false;
  let started = false;
  let dataDone = false;
  let final: FTPResponse | undefined;
  let waiting: NodeJS.Timeout | undefined;
  let dataError: Error | undefined;
  let sourceError: Error | undefined;
  const onSourceError = (e: Error): void => {
    sourceError ??= e;
  };
  source.once('error', onSourceError);

  const settle = (t: Settle, outcome: { ok: FTPResponse } | { err: Error }): void => {
    if (settled) return;
    settled = true;
    clearTimeout(waiting);
    source.removeListener('error', onSourceError);
    data.onError = undefined;
    data.socket.destroy();
    if ('ok' in outcome) t.resolve(outcome.ok);
    else t.reject(outcome.err);
  };

  // The data connection failed: a local read error ends the transfer now; a
  // socket error waits for the server's reply, which says why.
  const onDataError = (err: Error): void => {
    if (settled || dataError !== undefined) return;
    dataError = err;
    if (sourceError !== undefined) {
      ftp.closeWithError(sourceError);
      return;
    }
    if (!/\(data socket\)/.test(err.message)) err.message += ' (data socket)';
    if (final !== undefined && task !== undefined) {
      // Already confirmed, but our side failed: not known to be complete (a resume checks).
      settle(task, { err });
      return;
    }
    ftp.socket.setTimeout(0);
    waiting = setTimeout(() => ftp.closeWithError(err), Math.min(ftp.timeout > 0 ? ftp.timeout : REPLY_AFTER_DATA_ERROR_MS, REPLY_AFTER_DATA_ERROR_MS));
  };
  data.onError = onDataError;
  if (data.error !== undefined) onDataError(data.error);

  const finishIfDone = (): void => {
    if (task === undefined || final === undefined || !dataDone) return;
    settle(task, { ok: final });
  };

  const start = (): void => {
    started = true;
    void data.secure.then(() => {
      if (settled || dataError !== undefined) return;
      // The data connection watches for a stall now; the control connection waits.
      ftp.socket.setTimeout(0);
      data.socket.setTimeout(ftp.timeout, () => {
        data.socket.destroy();
        onDataError(new Error('Timeout (data socket)'));
      });
      pipeline(source, data.socket, (err) => {
        if (err !== null && err !== undefined) {
          onDataError(err);
          return;
        }
        dataDone = true;
        data.socket.setTimeout(0);
        ftp.socket.setTimeout(ftp.timeout);
        finishIfDone();
      });
    });
  };

  return ftp.handle(command, (res: Error | FTPResponse, t: Settle) => {
    task = t;
    if (res instanceof FTPError) {
      // A refusal: what the transfer failed with, whatever the data connection did.
      settle(t, { err: res });
    } else if (res instanceof Error) {
      // The control connection broke (or waiting for the reply ended it).
      settle(t, { err: res });
    } else if (res.code === 150 || res.code === 125) {
      if (!started && dataError === undefined) start();
    } else if (res.code >= 200 && res.code < 300) {
      final = res;
      if (dataError !== undefined) {
        // Confirmed, but our side of the data connection failed: not known to be complete.
        settle(t, { err: dataError });
      } else if (!started) {
        settle(t, { err: new Error(`${command}: the server answered "${res.message.trim()}" before the transfer began`) });
      } else {
        finishIfDone();
      }
    } else if (res.code >= 300 && res.code < 400) {
      ftp.closeWithError(new Error(`Unexpected FTP response is requesting an answer: ${res.message}`));
    }
  }) as Promise<FTPResponse>;
}
