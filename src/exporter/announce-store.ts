/**
 * Announcement: one key/value message per job (`jobid`, `file`, optional
 * `jpps`, each on its own line) stored in the maildir. This file: the
 * message body, the error, and announcing through a plain MessageStore
 * after every job file is durable. The default way (messages written into
 * tmp/ while splitting, linked after the final syncfs) is in announce-batch.ts.
 */
import { describeError, JpError } from '../core/errors.js';
import { formatUploadMessage } from '../messages/keyvalue.js';
import type { JobRecord } from './job-writer.js';
import type { MessageStore } from './options.js';

export class AnnounceError extends JpError {
  /** Messages stored before the failure. */
  readonly announced: number;
  constructor(message: string, announced: number, cause: unknown) {
    super('JP_LOCAL_FILE', message, { cause });
    this.name = 'AnnounceError';
    this.announced = announced;
  }
}

/** Messages stored (and made durable) together. */
const ANNOUNCE_BATCH = 4096;

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
  return jpps === undefined ? `jobid\t${jobid}\nfile\t${file}\n` : `jobid\t${jobid}\nfile\t${file}\njpps\t${jpps}\n`;
}

/** Store one message per job, `concurrency` at once; resolves to the number stored. */
export async function announceJobs(
  jobs: readonly JobRecord[],
  pathOf: (job: JobRecord) => string,
  messages: MessageStore,
  jpps: string | undefined,
  concurrency: number,
  onStored?: (done: number) => void,
): Promise<number> {
  let next = 0;
  let stored = 0;
  let failure: unknown;
  if (messages.storeMany !== undefined) {
    try {
      // bodies are made one batch at a time: memory does not grow with the number of jobs
      for (let start = 0; start < jobs.length; start += ANNOUNCE_BATCH) {
        const batch = jobs.slice(start, start + ANNOUNCE_BATCH).map((job) => jobMessage(job.jobid, pathOf(job), jpps));
        await messages.storeMany(batch, {
          chunk: ANNOUNCE_BATCH,
          concurrency,
          onStored: (n) => {
            stored = start + n;
            onStored?.(stored);
          },
        });
      }
      return jobs.length;
    } catch (e) {
      throw new AnnounceError(`cannot store a message in the maildir: ${describeError(e)}`, stored, e);
    }
  }
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < jobs.length) {
      const job = jobs[next++] as JobRecord;
      try {
        await messages.store(jobMessage(job.jobid, pathOf(job), jpps));
        stored++;
        onStored?.(stored);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, jobs.length)) }, worker));
  if (failure !== undefined) {
    throw new AnnounceError(`cannot store a message in the maildir: ${describeError(failure)}`, stored, failure);
  }
  return stored;
}
