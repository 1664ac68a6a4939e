/**
 * StartUpload with the original importer's failsafe registration for dumps
 * (docs/uploads.md "Failsafe registration"): when StartUpload faults,
 * GetJobAttributes(jobid, [regtime]) decides —
 *   no fault                        → the job exists: retry later;
 *   fault ENOENT or without a code  → RegisterJob(jobid, owner), then
 *                                     StartUpload once more;
 *   any other fault                 → retry later.
 * Errors leave as StepError, naming the operation that failed.
 */
import { isJpError, JpError } from '../core/errors.js';
import { ERRNO } from '../core/classify.js';
import {
  REGTIME_ATTRIBUTE, UPLOAD_KINDS,
  type PrimaryApi, type StartUploadResult, type UploadKind,
} from '../primary/api.js';

export type UploadOperation =
  | 'StartUpload' | 'GetJobAttributes' | 'RegisterJob' | 'FTP upload' | 'FTP SIZE' | 'GridFTP upload' | 'GridFTP SIZE' | 'CommitUpload';

/** An error together with the operation it came from (for classify's context). */
export class StepError extends Error {
  constructor(readonly operation: UploadOperation, readonly error: unknown) {
    super(`${operation} failed`);
    this.name = 'StepError';
  }
}

export async function step<T>(operation: UploadOperation, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw e instanceof StepError ? e : new StepError(operation, e);
  }
}

export interface StartUploadParams {
  readonly primary: PrimaryApi;
  readonly kind: UploadKind;
  readonly jobid: string;
  /** Absent: no name (as the original importer). */
  readonly name?: string;
  readonly commitBefore: Date;
  readonly ownerDn: () => string;
  readonly signal?: AbortSignal;
  /** Called when the failsafe registered the job (for logs). */
  readonly onRegistered?: () => void;
}

export async function startUploadWithFailsafe(p: StartUploadParams): Promise<StartUploadResult> {
  const { class: cls, contentType } = UPLOAD_KINDS[p.kind];
  const req = { job: p.jobid, class: cls, ...(p.name !== undefined ? { name: p.name } : {}), commitBefore: p.commitBefore, contentType };
  const start = (): Promise<StartUploadResult> => step('StartUpload', () => p.primary.startUpload(req, p.signal));
  try {
    return await start();
  } catch (e) {
    const cause = e instanceof StepError ? e.error : e;
    if (p.kind !== 'dump' || !isJpError(cause, 'JP_SOAP_FAULT')) throw e;
    let jobKnown = true;
    try {
      await p.primary.getJobAttributes(p.jobid, [REGTIME_ATTRIBUTE], p.signal);
    } catch (ge) {
      if (!isJpError(ge, 'JP_SOAP_FAULT')) throw new StepError('GetJobAttributes', ge);
      if (ge.faultCode !== undefined && ge.faultCode !== ERRNO.ENOENT) {
        throw new StepError('GetJobAttributes', retryLaterError(ge));
      }
      jobKnown = false;
    }
    if (jobKnown) {
      // The job exists, so the StartUpload fault is real; whatever its code, retry later.
      throw new StepError('StartUpload', retryLaterError(cause));
    }
    try {
      await p.primary.registerJob(p.jobid, p.ownerDn(), p.signal);
      p.onRegistered?.();
    } catch (re) {
      // Registered meanwhile by someone else: just as good.
      if (!(isJpError(re, 'JP_SOAP_FAULT') && re.faultCode === ERRNO.EEXIST)) throw new StepError('RegisterJob', re);
    }
    return start();
  }
}

/** The same error, marked temporary for the classifier. */
function retryLaterError(e: JpError): JpError {
  return new JpError(e.code, e.message, {
    cause: e.cause,
    temporary: true,
    ...(e.faultCode !== undefined ? { faultCode: e.faultCode } : {}),
  });
}
