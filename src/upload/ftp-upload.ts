/**
 * Send one local file to an FTP destination URL (the URL's path is where
 * the file goes). A transfer that breaks off is resumed on a fresh
 * connection: SIZE tells how much the server kept, APPE sends the rest
 * (a full STOR when the server kept nothing usable or lacks APPE). At most
 * `attempts` tries within one message processing; then the JpError is
 * thrown and the message is retried later. After a resumed transfer SIZE
 * must equal the local size: a short file is never reported as sent.
 *
 * A STOR refused before any data moved because the directory is missing
 * (by what the reply says, not its code: ProFTPD 550 "No such file or
 * directory", vsftpd 553 "Could not create file.") makes the directory (MKD
 * of the parent; then, if still refused, MKD of each component as
 * basic-ftp's ensureDir) and tries again: FTP servers do not create parents
 * on STOR. A refusal for permission or an existing file is not retried.
 * Transfers go through ./ftp-transfer.ts, which reads the server's reply
 * after a data-connection error (ProFTPD resets it just before its 550).
 */
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { FTPError, type Client } from 'basic-ftp';
import { JpError } from '../core/errors.js';
import { ftpReplyMeaning, type FtpCommand } from '../core/ftp-reply.js';
import { silentLogger } from '../core/log.js';
import { FileSender } from './file-sender.js';
import { retryableInPlace, toFtpJpError } from './ftp-errors.js';
import { parseFtpUrl, redactUrl, type FtpPool, type OriginHints } from './ftp-pool.js';
import { storeFrom } from './ftp-transfer.js';
import type { TransferOptions, TransferResult, UploadSource } from './transport.js';

export type { UploadSource };

export interface FtpUploadOptions extends TransferOptions {
  /**
   * Compare the remote size with the local one after the transfer:
   * 'always' (default), 'resumed' (only after an APPE resume), or 'never'.
   */
  verifySize?: 'always' | 'resumed' | 'never';
}

export type FtpUploadResult = TransferResult;

/** A reply meaning "command not implemented" (not a vsftpd `500 OOPS`). */
const notImplemented = (e: FTPError, command: FtpCommand): boolean => ftpReplyMeaning(e.code, e.message, command) === 'not-implemented';

/** The command a step is at, for the meaning of the server's reply. */
interface Step {
  command: FtpCommand;
}

export async function uploadFile(pool: FtpPool, destination: string, src: UploadSource, opts: FtpUploadOptions = {}): Promise<FtpUploadResult> {
  const target = parseFtpUrl(destination);
  const attempts = opts.attempts ?? 3;
  const log = opts.log ?? silentLogger;
  const what = `FTP upload of ${src.path} to ${redactUrl(destination)}`;
  const resumedFrom: number[] = [];
  let resume = opts.resume === true;
  for (let attempt = 1; ; attempt++) {
    if (aborted(opts.signal)) throw new JpError('JP_ABORTED', `${what}: aborted`);
    const lease = await pool.acquire(target, opts.signal);
    const client = lease.client;
    const onAbort = (): void => client.close();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const progress = { sent: 0 };
    const step: Step = { command: 'SIZE' };
    try {
      let from = 0;
      if (resume) {
        from = await resumeOffset(client, target.path, src.size);
        resumedFrom.push(from);
      }
      if (from < src.size || src.size === 0) await send(client, target.path, src, from, progress, lease.hints, step);
      // Always by default: a transfer cut so that the server sees a clean end
      // of file is answered 226 for a short file (found by the R9 chaos test).
      const verify = opts.verifySize ?? 'always';
      step.command = 'SIZE';
      if (verify === 'always' || (verify === 'resumed' && resume)) await checkRemoteSize(client, target.path, src.size);
      lease.release();
      return { bytes: src.size, attempts: attempt, resumedFrom, reusedConnection: lease.reused };
    } catch (e) {
      // After a failed transfer the session state is unknown: never reuse it.
      lease.discard();
      if (aborted(opts.signal)) throw new JpError('JP_ABORTED', `${what}: aborted`, { cause: e });
      const err = toFtpJpError(e, what, { command: step.command, established: true });
      if (attempt >= attempts || !retryableInPlace(err, progress.sent)) throw err;
      log.warn({ attempt, sent: progress.sent, reason: err.message }, 'FTP upload broke off; reconnecting to resume');
      resume = true;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }
}

/** Bytes of `path` the server already holds that can be kept, else 0. */
async function resumeOffset(client: Client, path: string, size: number): Promise<number> {
  let remote: number | undefined;
  try {
    remote = await remoteSize(client, path);
  } catch (e) {
    if (e instanceof FTPError) return 0; // no such file yet, or no SIZE: send it all
    throw e;
  }
  return remote !== undefined && remote > 0 && remote <= size ? remote : 0;
}

async function send(
  client: Client, path: string, src: UploadSource, from: number, progress: { sent: number }, hints: OriginHints, step: Step,
): Promise<void> {
  if (from > 0) {
    try {
      step.command = 'APPE';
      await transfer(src, from, progress, (s) => storeFrom(client, s, 'APPE', path));
      return;
    } catch (e) {
      if (!(e instanceof FTPError && notImplemented(e, 'APPE') && progress.sent === 0)) throw e;
      // No APPE here: send everything.
    }
  }
  const store = (): Promise<void> => {
    step.command = 'STOR';
    return transfer(src, 0, progress, (s) => storeFrom(client, s, 'STOR', path));
  };
  const dir = posix.dirname(path);
  // Refused because the directory may be missing (not for permission, an existing file, space ...).
  const noDir = (e: unknown): boolean => {
    if (!(e instanceof FTPError) || progress.sent !== 0 || dir === '/') return false;
    const m = ftpReplyMeaning(e.code, e.message, 'STOR');
    return m === 'no-such-path' || m === 'cannot-create' || (m === 'other' && (e.code === 550 || e.code === 553));
  };
  const mkdir = async (): Promise<void> => {
    step.command = 'MKD';
    await client.sendIgnoringError(`MKD ${dir}`);
  };
  // A server that needed the directory made once gets it made up front (one
  // MKD round trip instead of a refused STOR with its data connection).
  if (hints.mkdirFirst && dir !== '/') await mkdir();
  try {
    await store();
  } catch (e) {
    if (!noDir(e)) throw e;
    // One MKD makes the usual single missing level (and all of them on servers with mkdir -p).
    await mkdir();
    hints.mkdirFirst = true;
    try {
      await store();
    } catch (e2) {
      if (!noDir(e2)) throw e2;
      step.command = 'MKD';
      try {
        await client.ensureDir(dir);
      } catch (e3) {
        // The STOR's refusal says more than a failed MKD or CWD.
        if (e3 instanceof FTPError) {
          step.command = 'STOR';
          throw e2;
        }
        throw e3;
      }
      await store();
    }
  }
}

/** One STOR/APPE of src from `from` to its end; throws if the file changed meanwhile. */
async function transfer(src: UploadSource, from: number, progress: { sent: number }, run: (s: Readable) => Promise<unknown>): Promise<void> {
  const reader = new FileSender(src.handle, from, src.size);
  try {
    await run(reader);
  } finally {
    progress.sent += reader.bytesRead;
    reader.destroy();
  }
  const now = (await src.handle.stat()).size;
  if (reader.bytesRead !== src.size - from || now !== src.size) {
    throw new JpError('JP_LOCAL_FILE', `file ${src.path} changed while being uploaded (${src.size} bytes when checked, ${now} now)`, { temporary: true });
  }
}

/** SIZE of a remote file: a number, or undefined when the reply carries none. */
export async function remoteSize(client: Client, path: string): Promise<number | undefined> {
  const res = await client.send(`SIZE ${path}`);
  const m = /^213[ -](\d+)\s*$/m.exec(res.message);
  return m === null ? undefined : Number(m[1]);
}

async function checkRemoteSize(client: Client, path: string, size: number): Promise<void> {
  let remote: number | undefined;
  try {
    remote = await remoteSize(client, path);
  } catch (e) {
    if (e instanceof FTPError && notImplemented(e, 'SIZE')) return; // no SIZE: trust 226
    throw e;
  }
  if (remote === undefined) return; // an answer without a number: trust 226
  if (remote !== size) {
    throw new JpError('JP_NETWORK', `transfer incomplete: the server holds ${remote} of ${size} bytes`);
  }
}

/** A function, so TypeScript does not narrow `aborted` across awaits. */
function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
