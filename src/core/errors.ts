/**
 * One error base class with stable string codes (undici style). Every layer
 * throws a JpError (or lets a Node system error through); the classifier in
 * ./classify.ts is the only place that turns an error into an outcome.
 */
export type JpErrorCode =
  /** A message body that cannot be parsed (kept aside, never retried). */
  | 'JP_MALFORMED_MESSAGE'
  /** A message file name that the spool refuses (reserved/unsafe). */
  | 'JP_BAD_MESSAGE_NAME'
  /** The primary service answered with a SOAP fault (see `faultCode`). */
  | 'JP_SOAP_FAULT'
  /** The primary service answered something that is not the expected SOAP. */
  | 'JP_BAD_REPLY'
  /** HTTP status other than 200/500-with-fault. */
  | 'JP_HTTP_STATUS'
  /** Connection refused/reset, DNS, socket closed. */
  | 'JP_NETWORK'
  /** TLS handshake or certificate verification failed. */
  | 'JP_TLS'
  /** No answer in time. */
  | 'JP_TIMEOUT'
  /** Local credentials (cert/key/CA) missing or unreadable. */
  | 'JP_CREDENTIALS'
  /** A file named by a message lies outside the allowed directories. */
  | 'JP_PATH_NOT_ALLOWED'
  /** A file named by a message does not exist / is not a regular file. */
  | 'JP_LOCAL_FILE'
  /** FTP reply error (see `ftpCode`). */
  | 'JP_FTP'
  /** A request (jobman) was refused by validation. */
  | 'JP_BAD_REQUEST'
  /** A database error while running a jobman step. */
  | 'JP_DATABASE'
  /** Configuration/flag value invalid. */
  | 'JP_CONFIG'
  /** The operation was aborted because the worker is shutting down. */
  | 'JP_ABORTED';

export interface JpErrorOptions {
  cause?: unknown;
  /** errno-style code of a SOAP fault (17 = EEXIST, 2 = ENOENT, ...). */
  faultCode?: number;
  /** HTTP status code for JP_HTTP_STATUS. */
  status?: number;
  /** FTP reply code for JP_FTP. */
  ftpCode?: number;
  /** Force the classifier's answer: true = temporary, false = permanent. */
  temporary?: boolean;
}

export class JpError extends Error {
  readonly code: JpErrorCode;
  readonly faultCode: number | undefined;
  readonly status: number | undefined;
  readonly ftpCode: number | undefined;
  readonly temporary: boolean | undefined;

  constructor(code: JpErrorCode, message: string, opts: JpErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'JpError';
    this.code = code;
    this.faultCode = opts.faultCode;
    this.status = opts.status;
    this.ftpCode = opts.ftpCode;
    this.temporary = opts.temporary;
  }
}

export function isJpError(e: unknown, code?: JpErrorCode): e is JpError {
  return e instanceof JpError && (code === undefined || e.code === code);
}

/** Node system errors carry a string `code` such as ENOENT or ECONNRESET. */
export function systemCode(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e) {
    const c = (e as { code: unknown }).code;
    return typeof c === 'string' ? c : undefined;
  }
  return undefined;
}

/** A one-line description of an error including its cause chain. */
export function describeError(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 6; depth++) {
    if (cur instanceof Error) {
      const code = cur instanceof JpError ? undefined : systemCode(cur);
      const msg = cur.message || cur.name;
      // A cause whose text its wrapper already quotes is not said twice.
      if (!parts.some((p) => p.includes(msg))) parts.push(code !== undefined && !msg.includes(code) ? `${msg} (${code})` : msg);
      cur = cur.cause;
    } else {
      parts.push(String(cur));
      break;
    }
  }
  return parts.length > 0 && parts.some((p) => p.length > 0) ? parts.join(': ') : 'unknown error';
}
