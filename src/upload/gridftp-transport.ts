/**
 * gsiftp:// destinations (the only kind a real JP primary service hands
 * out): the native GSI client (src/gridftp) through a pool of connections
 * per server (./gridftp-pool.ts). Stream mode, so a cut transfer resumes
 * from the server's size (`ESTO A <offset>`, or `REST` + `STOR`) and the
 * result is byte-identical; the server's SIZE must equal the local size
 * after every transfer, so a short file is never committed. At most
 * `attempts` tries within one call, as for FTP; refusals the server would
 * repeat (login, permission, a refused handshake) go back to the queue.
 */
import { describeError, JpError } from '../core/errors.js';
import { silentLogger } from '../core/log.js';
import { FileSender } from './file-sender.js';
import { retryableInPlace } from './ftp-errors.js';
import { parseGridftpUrl, type GridFtpPool } from './gridftp-pool.js';
import type { TransferOptions, TransferResult, UploadSource, UploadTransport } from './transport.js';

export class GridFtpTransport implements UploadTransport {
  constructor(readonly pool: GridFtpPool) {}

  async upload(destination: string, src: UploadSource, opts: TransferOptions = {}): Promise<TransferResult> {
    const target = parseGridftpUrl(destination);
    const attempts = opts.attempts ?? 3;
    const log = opts.log ?? silentLogger;
    const signal = opts.signal;
    const what = `GridFTP upload of ${src.path} to ${destination}`;
    const resumedFrom: number[] = [];
    let resume = opts.resume === true;
    for (let attempt = 1; ; attempt++) {
      if (aborted(signal)) throw new JpError('JP_ABORTED', `${what}: aborted`);
      const lease = await this.pool.acquire(target, signal);
      const call = signal !== undefined ? { signal } : {};
      let sent = 0;
      try {
        let from = 0;
        let holds: number | undefined;
        if (resume) {
          holds = await lease.client.size(target.path, call);
          from = holds !== undefined && holds <= src.size ? holds : 0;
          resumedFrom.push(from);
        }
        if (holds !== src.size) {
          const reader = new FileSender(src.handle, from, src.size);
          try {
            await lease.client.upload(target.path, reader, { ...call, offset: from, size: src.size });
          } finally {
            sent += reader.bytesRead;
            reader.destroy();
          }
          const now = (await src.handle.stat()).size;
          if (reader.bytesRead !== src.size - from || now !== src.size) {
            throw new JpError('JP_LOCAL_FILE', `file ${src.path} changed while being uploaded (${src.size} bytes when checked, ${now} now)`, { temporary: true });
          }
        }
        lease.release();
        return { bytes: src.size, attempts: attempt, resumedFrom, reusedConnection: lease.reused };
      } catch (e) {
        // A refusal leaves the control connection in step (the client ends it otherwise).
        lease.release();
        if (aborted(signal)) throw new JpError('JP_ABORTED', `${what}: aborted`, { cause: e });
        const err = e instanceof JpError ? e : new JpError('JP_NETWORK', `${what}: ${describeError(e)}`, { cause: e });
        if (attempt >= attempts || !retryableInPlace(err, sent)) throw err;
        log.warn({ attempt, sent, reason: err.message }, 'GridFTP upload broke off; resuming');
        resume = true;
      }
    }
  }

  async size(destination: string, signal?: AbortSignal): Promise<number | undefined> {
    const target = parseGridftpUrl(destination);
    const lease = await this.pool.acquire(target, signal);
    try {
      return await lease.client.size(target.path, signal !== undefined ? { signal } : {});
    } finally {
      lease.release();
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** A function, so TypeScript does not narrow `aborted` across awaits. */
function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
