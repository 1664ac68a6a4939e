/**
 * The one place that maps an error to an outcome (delivered / retry later /
 * give up). Handlers call classify() on whatever they caught.
 */
import { describeError, JpError, systemCode } from './errors.js';
import { ftpReplyMeaning, FtpReplyError, type FtpMeaning } from './ftp-reply.js';
import { delivered, giveUp, retryLater, type Contact, type PlainOutcome } from './outcome.js';

/** errno values the primary service puts into genericFault/code. */
export const ERRNO = { EPERM: 1, ENOENT: 2, EACCES: 13, EEXIST: 17, EINVAL: 22 } as const;

export interface ClassifyContext {
  /** The SOAP operation that failed, when the error came from one. */
  operation?: string;
}

const TEMPORARY_SYSTEM_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
  'EHOSTDOWN', 'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'ENOSPC', 'EMFILE',
  'ENFILE', 'EBUSY', 'EAGAIN', 'ERR_SOCKET_CLOSED', 'ERR_STREAM_PREMATURE_CLOSE',
]);

/** System errors that mean no connection to the destination at all. */
const UNREACHABLE_SYSTEM_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
  'EHOSTDOWN', 'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'ERR_SOCKET_CLOSED',
]);
/** HTTP statuses of a gateway or an overloaded service: nobody behind it answered. */
const UNREACHABLE_HTTP_STATUSES = new Set([502, 503, 504]);
/**
 * FTP refusals, decided by what the server meant (src/core/ftp-reply.ts
 * reads it from the reply text and the command, then the code), never by
 * the code alone: servers give the same refusal different codes.
 *
 *   meaning               examples                                   outcome      contact      in place (src/upload)
 *   ────────────────────  ─────────────────────────────────────────  ───────────  ───────────  ─────────────────────────────
 *   bad-name              553 File name not allowed; 501 bad arg     give up      answered     —
 *   permission            550 …: Permission denied (ProFTPD);        retry later  answered     —
 *                         553 Can't open that file: Permission
 *                         denied (Pure-FTPd)
 *   cannot-create         553 Could not create file. (vsftpd: no     retry later  answered     MKD of the directory, STOR again
 *                         permission or no directory)
 *   no-such-path          550 …: No such file or directory           retry later  answered     MKD of the directory, STOR again
 *   exists                550 Overwrite permission denied            retry later  answered     —
 *                         (ProFTPD AllowOverwrite off)
 *   no-space              452/552, quota, disk full                  retry later  answered     —
 *   login-refused         530 Login incorrect                        retry later  answered     —
 *   not-implemented       500/502/504 (not OOPS)                     retry later  answered     APPE → STOR; no SIZE: trust 226
 *   transfer-failed       425/426/450/451                            retry later  answered     reconnect, SIZE + APPE
 *   session-failure       500 OOPS: … (vsftpd; also clear text on    retry later  answered     reconnect, SIZE + APPE
 *                         a TLS control connection)
 *   too-many-connections  421 too many connections from your         retry later  answered     the pool for that server
 *                         address; 530 maximum number of clients                               shrinks, the upload waits
 *   unavailable           421 Service not available (other)          retry later  unreachable  reconnect
 *   other                 anything else                              retry later  answered     —
 *
 * Why: only a refusal of the name itself can never get better; everything
 * else is the FTP server's state or setup (its permissions, directories,
 * space, accounts, limits), which an operator can fix without touching the
 * message, and retrying loses nothing (bounded by the give-up limit). A
 * permission refusal is the same refusal whichever code the server chose.
 * Only "service not available" says the server is not serving at all.
 */
const FTP_GIVE_UP = new Set<FtpMeaning>(['bad-name']);
const FTP_UNREACHABLE = new Set<FtpMeaning>(['unavailable']);

/** The meaning of an FTP refusal (FtpReplyError carries it; a bare JP_FTP is read from its code and message). */
export function ftpMeaningOf(error: JpError): FtpMeaning {
  if (error instanceof FtpReplyError) return error.meaning;
  return ftpReplyMeaning(error.ftpCode, '', 'session');
}
/** HTTP statuses that blame the request rather than the service or our setup. */
const PERMANENT_HTTP_STATUSES = new Set([400, 413, 422]);
/** Fault codes that are permanent refusals for any operation. */
const PERMANENT_FAULTS = new Set<number>([ERRNO.EPERM, ERRNO.EACCES, ERRNO.EINVAL]);

/**
 * What the error says about the destination: `unreachable` when nothing
 * answered (or our credentials cannot be used, which stops every message the
 * same way), `answered` when it replied, undefined when it was not contacted.
 */
export function contactOfError(error: unknown): Contact | undefined {
  if (error instanceof JpError) {
    switch (error.code) {
      case 'JP_NETWORK':
      case 'JP_TLS':
      case 'JP_TIMEOUT':
      case 'JP_CREDENTIALS':
        return 'unreachable';
      case 'JP_SOAP_FAULT':
      case 'JP_BAD_REPLY':
        return 'answered';
      case 'JP_HTTP_STATUS':
        return error.status !== undefined && UNREACHABLE_HTTP_STATUSES.has(error.status) ? 'unreachable' : 'answered';
      case 'JP_FTP':
        if (error.ftpCode === undefined && !(error instanceof FtpReplyError)) return undefined;
        return FTP_UNREACHABLE.has(ftpMeaningOf(error)) ? 'unreachable' : 'answered';
      default:
        return undefined;
    }
  }
  const code = systemCode(error);
  return code !== undefined && UNREACHABLE_SYSTEM_CODES.has(code) ? 'unreachable' : undefined;
}

export function classify(error: unknown, ctx: ClassifyContext = {}): PlainOutcome {
  const o = decide(error, ctx);
  if (o.kind === 'delivered') return o;
  const contact = contactOfError(error);
  return contact === undefined ? o : { ...o, contact };
}

function decide(error: unknown, ctx: ClassifyContext): PlainOutcome {
  const reason = describeError(error);
  if (error instanceof JpError) {
    if (error.temporary === true) return retryLater(reason);
    if (error.temporary === false) return giveUp(reason);
    switch (error.code) {
      case 'JP_MALFORMED_MESSAGE':
      case 'JP_BAD_MESSAGE_NAME':
      case 'JP_PATH_NOT_ALLOWED':
      case 'JP_LOCAL_FILE':
      case 'JP_BAD_REQUEST':
        return giveUp(reason);
      case 'JP_SOAP_FAULT':
        return classifyFault(error, reason, ctx);
      case 'JP_HTTP_STATUS':
        return error.status !== undefined && PERMANENT_HTTP_STATUSES.has(error.status)
          ? giveUp(reason)
          : retryLater(reason);
      case 'JP_FTP':
        return FTP_GIVE_UP.has(ftpMeaningOf(error)) ? giveUp(reason) : retryLater(reason);
      case 'JP_CONFIG':
      case 'JP_NETWORK':
      case 'JP_TLS':
      case 'JP_TIMEOUT':
      case 'JP_CREDENTIALS':
      case 'JP_BAD_REPLY':
      case 'JP_DATABASE':
      case 'JP_ABORTED':
        return retryLater(reason);
    }
  }
  const code = systemCode(error);
  if (code !== undefined && TEMPORARY_SYSTEM_CODES.has(code)) return retryLater(reason);
  // Unknown errors are retried: the give-up limit bounds them, nothing is lost.
  return retryLater(reason);
}

function classifyFault(error: JpError, reason: string, ctx: ClassifyContext): PlainOutcome {
  const fc = error.faultCode;
  if (fc === ERRNO.EEXIST && ctx.operation === 'RegisterJob') {
    return delivered('job already registered (EEXIST)');
  }
  if (fc !== undefined && PERMANENT_FAULTS.has(fc)) return giveUp(reason);
  return retryLater(reason);
}
