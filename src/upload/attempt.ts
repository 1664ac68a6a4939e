/**
 * One attempt at an upload: StartUpload → transfer (FTP, FTPS or GridFTP,
 * ./transport.ts) → CommitUpload, or —
 * when an earlier attempt left a pending upload (the message's retry state)
 * — finishing that one first, because the service refuses a new StartUpload
 * of the same file while it is pending (EEXIST, up to 5 min) and for good
 * once it is committed:
 *
 *   pending, commit not sent     ─▶ resume the transfer into its destination
 *   (earlier transfer cut,          (SIZE + APPE/ESTO) ─▶ CommitUpload; ENOENT (no
 *    or commit refused)             upload in progress: expired) ─▶ start anew
 *   pending, commit sent but     ─▶ CommitUpload again: done ─▶ committed;
 *   unanswered (commitUnknown)      ENOENT ─▶ StartUpload: answered ─▶ it was
 *                                   never committed, upload anew; EEXIST ─▶
 *                                   stored, if the destination holds our size
 *
 * Why "CommitUpload ENOENT, then StartUpload EEXIST" means stored: ENOENT is
 * "No such upload in progress" for that destination, and EEXIST "File
 * already stored or upload in progress" for the job's file of that name —
 * whose destination is that same one. So nothing is in progress and the
 * file is stored; the stored file's size (SIZE of the destination) must be
 * ours as well before the message counts as delivered.
 *
 * Every failure leaves as StepError; `pending` is what the next attempt
 * needs, kept up to date as the steps go.
 */
import { ERRNO } from '../core/classify.js';
import { describeError, isJpError, JpError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { PendingUpload } from '../messages/pending-upload.js';
import type { PrimaryApi, StartUploadResult } from '../primary/api.js';
import { step, StepError } from './start-upload.js';
import { redactUrl, schemeOf, type UploadSource, type UploadTransport } from './transport.js';

export interface AttemptDeps {
  readonly primary: PrimaryApi;
  /** FTP, FTPS or GridFTP, by the destination's scheme. */
  readonly transport: UploadTransport;
  /** StartUpload for this message's file (with the failsafe registration for dumps). */
  readonly start: () => Promise<StartUploadResult>;
  readonly source: UploadSource;
  readonly now: () => number;
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** Transfer tries within the attempt (the transport's default when absent). */
  readonly ftpAttempts?: number;
}

export class UploadAttempt {
  /** The upload the next attempt should finish; undefined = start anew. */
  pending: PendingUpload | undefined;

  constructor(private readonly d: AttemptDeps, prior: PendingUpload | undefined) {
    this.pending = prior;
  }

  /** Resolves with a note for the log line once the file is committed; throws StepError. */
  async run(): Promise<string> {
    const prior = this.pending;
    let started: StartUploadResult | undefined;
    if (prior !== undefined) {
      const r = prior.commitUnknown ? await this.settleUnknownCommit(prior) : await this.finish(prior);
      if (typeof r === 'string') return r;
      started = r;
    }
    started ??= await this.d.start();
    const p = this.record(started);
    await this.transferAndCommit(p, false);
    return prior === undefined ? 'committed' : 'committed after a new StartUpload (the upload of an earlier attempt was no longer in progress)';
  }

  /** An earlier attempt's upload whose commit was not sent (or refused): resume and commit; undefined when it is gone. */
  private async finish(p: PendingUpload): Promise<string | undefined> {
    const { log } = this.d;
    if (p.commitBefore !== undefined && p.commitBefore <= this.d.now()) {
      // Kept as pending until a new StartUpload answers (our clock may be ahead of the service's).
      log.info({ destination: redactUrl(p.destination) }, 'the upload of an earlier attempt is past its commit deadline: starting anew');
      return undefined;
    }
    let resumedAt: number | undefined;
    try {
      resumedAt = await this.transferAndCommit(p, true);
    } catch (e) {
      if (!(e instanceof StepError && e.operation === 'CommitUpload' && faultCode(e.error) === ERRNO.ENOENT)) throw e;
      // Answered: no such upload in progress (expired or dropped by the service): start anew.
      log.info({ destination: redactUrl(p.destination), reason: describeError(e.error) }, 'the upload of an earlier attempt is no longer in progress: starting anew');
      this.pending = undefined;
      return undefined;
    }
    return `committed into the upload of an earlier attempt (${describeResume(resumedAt, p.size)})`;
  }

  /**
   * An earlier CommitUpload got no answer. Returns a note when the file is
   * committed (now or by that call), or StartUpload's answer when it never
   * was and the upload starts anew.
   */
  private async settleUnknownCommit(p: PendingUpload): Promise<string | StartUploadResult> {
    try {
      await this.commit(p);
      return 'committed on retry (the earlier CommitUpload, whose answer was lost, had not been done)';
    } catch (e) {
      if (!(e instanceof StepError && faultCode(e.error) === ERRNO.ENOENT)) throw e;
    }
    let started: StartUploadResult;
    try {
      started = await this.d.start();
    } catch (e) {
      if (!(e instanceof StepError && e.operation === 'StartUpload' && faultCode(e.error) === ERRNO.EEXIST)) throw e;
      return this.confirmStored(p);
    }
    // StartUpload accepted the file again: the earlier upload was never committed.
    this.d.log.info({ destination: redactUrl(p.destination) }, 'the earlier CommitUpload had not been done and its upload expired: uploading anew');
    return started;
  }

  /** CommitUpload said no upload in progress and StartUpload "already stored": stored, if it is our size. */
  private async confirmStored(p: PendingUpload): Promise<string> {
    const held = await step(`${protocolOf(p.destination)} SIZE`, () => this.d.transport.size(p.destination, this.d.signal));
    if (held !== p.size) {
      const holds = held === undefined ? 'does not tell its size' : `holds ${held} bytes`;
      throw new StepError('StartUpload', new JpError('JP_SOAP_FAULT',
        `the file is already stored (EEXIST, and no upload in progress for ${redactUrl(p.destination)}) but cannot be confirmed as ours: the destination ${holds}, ours has ${p.size}`,
        { temporary: true, faultCode: ERRNO.EEXIST }));
    }
    return `already stored: the earlier CommitUpload was done though its answer was lost (CommitUpload: no upload in progress; StartUpload: EEXIST; the destination holds all ${p.size} bytes)`;
  }

  private record(started: StartUploadResult): PendingUpload {
    const commitBefore = started.commitBefore?.getTime();
    this.pending = {
      destination: started.destination,
      size: this.d.source.size,
      startedAt: this.d.now(),
      ...(commitBefore !== undefined && Number.isFinite(commitBefore) ? { commitBefore } : {}),
      commitUnknown: false,
    };
    return this.pending;
  }

  /** Send (or resume) the file into p's destination, then commit. Returns the offset a resumed transfer started at. */
  private async transferAndCommit(p: PendingUpload, resume: boolean): Promise<number | undefined> {
    const { log } = this.d;
    const sent = await step(`${protocolOf(p.destination)} upload`, () => this.d.transport.upload(p.destination, this.d.source, {
      signal: this.d.signal, log, resume, ...(this.d.ftpAttempts !== undefined ? { attempts: this.d.ftpAttempts } : {}),
    }));
    const resumedFrom = resume ? sent.resumedFrom.slice(1) : sent.resumedFrom;
    if (resumedFrom.length > 0) log.info({ resumedFrom, attempts: sent.attempts }, 'upload resumed after a broken connection');
    await this.commit(p);
    return resume ? sent.resumedFrom[0] : undefined;
  }

  /**
   * Not aborted by a shutdown: a commit already sent is answered within the
   * hard stop limit. A fault is an answer (not done); anything else (lost
   * connection, timeout, garbled reply) leaves it unknown for the next attempt.
   */
  private async commit(p: PendingUpload): Promise<void> {
    try {
      await step('CommitUpload', () => this.d.primary.commitUpload(p.destination));
    } catch (e) {
      if (!(e instanceof StepError && isJpError(e.error, 'JP_SOAP_FAULT'))) this.pending = { ...p, commitUnknown: true };
      throw e;
    }
  }
}

/** How steps on this destination are named in reasons: `FTP upload`, `GridFTP SIZE`. */
function protocolOf(destination: string): 'FTP' | 'GridFTP' {
  try {
    return schemeOf(destination) === 'gsiftp' ? 'GridFTP' : 'FTP';
  } catch {
    return 'FTP';
  }
}

function faultCode(e: unknown): number | undefined {
  return isJpError(e, 'JP_SOAP_FAULT') ? e.faultCode : undefined;
}

function describeResume(from: number | undefined, size: number): string {
  if (from === undefined || from === 0) return 'sent again from the start';
  return from >= size ? `the destination already held all ${size} bytes` : `resumed at byte ${from} of ${size}`;
}
