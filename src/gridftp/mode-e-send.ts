/**
 * Sending one file over an open MODE E data connection (framing:
 * ./mode-e.ts). Each chunk of the source becomes one data block at its
 * offset, in order, over this one connection; the last block goes out
 * together with the EOF|EOD header (one connection), and the connection
 * stays open: the server caches it and the next STOR reuses it (no new
 * TCP connection, no new GSI handshake).
 *
 * The connection is only ever left for reuse when the whole file was
 * written and the caller read the server's 226; on any failure the caller
 * destroys it.
 */
import type { Readable } from 'node:stream';
import { JpError, describeError } from '../core/errors.js';
import { bounded, type WaitOptions } from './control.js';
import type { DataConnection } from './data-channel.js';
import { dataBlockHeader, eofHeader } from './mode-e.js';

export interface SendBlocksOptions extends WaitOptions {
  /** The control connection's host, for messages. */
  readonly host: string;
}

/**
 * Write `source` as MODE E blocks from offset 0, then EOF|EOD. Resolves
 * with the bytes sent once the last header was handed to the kernel;
 * rejects when the connection closes or fails, the source fails, or no
 * byte moved for timeoutMs.
 */
export async function sendBlocks(source: Readable, data: DataConnection, opts: SendBlocksOptions): Promise<number> {
  const { sink, socket } = data;
  const what = `GridFTP data connection to ${opts.host} (MODE E)`;
  let rejectBroken: ((e: JpError) => void) | undefined;
  const broken = new Promise<never>((_resolve, reject) => {
    rejectBroken = reject;
  });
  broken.catch(() => undefined);
  const onClose = (): void => rejectBroken?.(new JpError('JP_NETWORK', `${what}: closed before the whole file was sent`));
  const onError = (e: Error): void => rejectBroken?.(new JpError('JP_NETWORK', `${what}: ${describeError(e)}`, { cause: e }));
  if (socket.destroyed) throw new JpError('JP_NETWORK', `${what}: closed before the transfer`);
  socket.on('close', onClose);
  sink.on('error', onError);
  if (sink !== socket) socket.on('error', onError);

  /** Write buffers as one writev; wait for the kernel to take them when the socket's buffer is full (or `flush`). */
  const write = async (bufs: readonly Buffer[], flush: boolean): Promise<void> => {
    let done: Promise<void> | undefined;
    sink.cork();
    let ok = true;
    bufs.forEach((b, i) => {
      if (i === bufs.length - 1 && flush) {
        done = new Promise<void>((resolve, reject) => {
          ok = sink.write(b, (e) => (e === null || e === undefined ? resolve() : reject(e)));
        });
      } else {
        ok = sink.write(b);
      }
    });
    sink.uncork();
    const wait = done ?? (ok ? undefined : new Promise<void>((resolve) => sink.once('drain', resolve)));
    if (wait !== undefined) await bounded(what, opts, Promise.race([wait, broken]), () => data.destroy());
  };

  const run = async (): Promise<number> => {
    let offset = 0;
    let pending: Buffer | undefined;
    for await (const chunk of source as AsyncIterable<Buffer | string>) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (buf.length === 0) continue;
      if (pending !== undefined) {
        await write([dataBlockHeader(pending.length, offset), pending], false);
        offset += pending.length;
      }
      pending = buf;
    }
    if (pending !== undefined) {
      await write([dataBlockHeader(pending.length, offset), pending, eofHeader(1)], true);
      offset += pending.length;
    } else {
      await write([eofHeader(1)], true);
    }
    return offset;
  };

  // As in stream mode: fail when no byte moved for timeoutMs (a stalled source or peer).
  let last = socket.bytesWritten;
  let lastMove = Date.now();
  const watchdog = setInterval(() => {
    const now = Date.now();
    if (socket.bytesWritten !== last) {
      last = socket.bytesWritten;
      lastMove = now;
    } else if (now - lastMove >= opts.timeoutMs) {
      rejectBroken?.(new JpError('JP_TIMEOUT', `${what}: no data moved for ${opts.timeoutMs} ms`));
    }
  }, Math.max(50, Math.min(1000, Math.floor(opts.timeoutMs / 4))));
  try {
    const sending = run();
    sending.catch(() => undefined);
    return await bounded(what, { timeoutMs: 2_147_000_000, signal: opts.signal }, Promise.race([sending, broken]), () => data.destroy());
  } catch (e) {
    throw e instanceof JpError ? e : new JpError('JP_NETWORK', `${what}: ${describeError(e)}`, { cause: e });
  } finally {
    clearInterval(watchdog);
    rejectBroken = undefined;
    socket.off('close', onClose);
    sink.off('error', onError);
    if (sink !== socket) socket.off('error', onError);
  }
}
