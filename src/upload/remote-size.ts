/**
 * The size of the file at an upload destination (FTP SIZE), used to confirm
 * that a file the service reports as already stored is the one we sent.
 */
import { FTPError } from 'basic-ftp';
import { JpError } from '../core/errors.js';
import { toFtpJpError } from './ftp-errors.js';
import { parseFtpUrl, redactUrl, type FtpPool } from './ftp-pool.js';
import { remoteSize } from './ftp-upload.js';

/**
 * Bytes the server holds at `destination`; undefined when it has no such
 * file (550) or does not tell (no SIZE, or a reply without a number).
 * Throws JpError when the server cannot be asked.
 */
export async function destinationSize(pool: FtpPool, destination: string, signal?: AbortSignal): Promise<number | undefined> {
  const target = parseFtpUrl(destination);
  const what = `FTP SIZE of ${redactUrl(destination)}`;
  if (signal?.aborted === true) throw new JpError('JP_ABORTED', `${what}: aborted`);
  const lease = await pool.acquire(target, signal);
  try {
    const size = await remoteSize(lease.client, target.path);
    lease.release();
    return size;
  } catch (e) {
    if (e instanceof FTPError) {
      // A refusal leaves the control connection usable.
      lease.release();
      if (e.code >= 500) return undefined;
    } else {
      lease.discard();
    }
    throw toFtpJpError(e, what);
  }
}
