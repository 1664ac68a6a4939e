/**
 * basic-ftp errors → JpError. basic-ftp reports a server reply ≥ 400 as
 * FTPError (the client stays usable) and everything else — socket errors,
 * TLS failures, timeouts — as a plain Error after closing the client; a
 * later call on a closed client gets "Client is closed because …" carrying
 * the original `code`.
 */
import { FTPError } from 'basic-ftp';
import { describeError, JpError, systemCode } from '../core/errors.js';

const TLS_CODES = new Set([
  'EPROTO', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_REVOKED', 'CERT_UNTRUSTED', 'CERT_REJECTED',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'HOSTNAME_MISMATCH',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_TLS_HANDSHAKE_TIMEOUT',
]);

export function isTlsCode(code: string | undefined): boolean {
  return code !== undefined && (TLS_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_OSSL_')
    || code.startsWith('ERR_TLS_') || code.startsWith('CERT_'));
}

/** Map anything an FTP operation threw to a JpError; `what` names the operation and target. */
export function toFtpJpError(e: unknown, what: string): JpError {
  if (e instanceof JpError) return e;
  if (e instanceof FTPError) {
    return new JpError('JP_FTP', `${what}: server replied ${e.message.trim()}`, { ftpCode: e.code, cause: e });
  }
  const code = systemCode(e);
  const msg = e instanceof Error ? e.message : String(e);
  if (isTlsCode(code)) return new JpError('JP_TLS', `${what}: TLS failed: ${describeError(e)}`, { cause: e });
  if (code === 'ABORT_ERR' || (e instanceof Error && e.name === 'AbortError')) {
    return new JpError('JP_ABORTED', `${what}: aborted`, { cause: e });
  }
  if (code === 'ETIMEDOUT' || /\bTimeout\b/i.test(msg)) {
    return new JpError('JP_TIMEOUT', `${what}: no answer in time: ${describeError(e)}`, { cause: e });
  }
  return new JpError('JP_NETWORK', `${what}: ${describeError(e)}`, { cause: e });
}

/**
 * Whether an upload that failed this way is worth another attempt within
 * the same message processing (reconnect, resume). Refusals the server will
 * repeat (login, permissions, bad names) and failures to reach it at all go
 * back to the queue instead.
 */
export function retryableInPlace(err: JpError, bytesSent: number): boolean {
  switch (err.code) {
    case 'JP_NETWORK':
    case 'JP_TIMEOUT':
      return true;
    case 'JP_FTP': {
      const c = err.ftpCode ?? 0;
      if (c === 421 || c === 425 || c === 426 || c === 450 || c === 451) return true;
      // A server that lost the data connection may answer 550 (ftp-srv does).
      return c === 550 && bytesSent > 0;
    }
    default:
      return false;
  }
}
