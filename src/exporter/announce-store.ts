/**
 * Announcement: one key/value message per job (`jobid`, `file`, optional
 * `jpps`, each on its own line) stored in the maildir. This file: the
 * message body and the error. The announcing (messages written into tmp/
 * while splitting, linked after the final syncfs) is in announce-batch.ts.
 */
import { JpError } from '../core/errors.js';
import { formatUploadMessage, uploadMessageText } from '../messages/keyvalue.js';

export class AnnounceError extends JpError {
  /** Messages stored before the failure. */
  readonly announced: number;
  constructor(message: string, announced: number, cause: unknown) {
    super('JP_LOCAL_FILE', message, { cause });
    this.name = 'AnnounceError';
    this.announced = announced;
  }
}

/** The message body announcing one job file. */
export function jobMessage(jobid: string, file: string, jpps: string | undefined): string {
  return formatUploadMessage({ jobid, file, ...(jpps !== undefined ? { jpps } : {}) });
}

/**
 * jobMessage without its read-back check (6 µs a message), for values
 * already known to pass it: a job id accepted by jobUnique, a job file path
 * made of the store directory (checked once per run with jobMessage) and
 * `<unique>.<sec>_<usec>`, a jpps accepted by the options.
 */
export function checkedJobMessage(jobid: string, file: string, jpps: string | undefined): string {
  return uploadMessageText(jpps === undefined ? { jobid, file } : { jobid, file, jpps });
}
