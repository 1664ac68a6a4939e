/**
 * basic-ftp errors → JpError. basic-ftp reports a server reply ≥ 400 as
 * FTPError (the client stays usable) and everything else — socket errors,
 * TLS failures, timeouts — as a plain Error after closing the client; a
 * later call on a closed client gets "Client is closed because …" carrying
 * the original `code`. A reply becomes an FtpReplyError that carries what
 * the server meant (src/core/ftp-reply.ts), whatever code it chose.
 */
import { FTPError } from 'basic-ftp';
import { ftpMeaningOf } from '../core/classify.js';
import { describeError, JpError, systemCode } from '../core/errors.js';
import { FtpReplyError, type FtpCommand, type FtpMeaning } from '../core/ftp-reply.js';

const TLS_CODES = new Set([
  'EPROTO', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_REVOKED', 'CERT_UNTRUSTED', 'CERT_REJECTED',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'HOSTNAME_MISMATCH',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_TLS_HANDSHAKE_TIMEOUT',
]);

/**
 * OpenSSL's answers to bytes that are not a TLS record. On a TLS control
 * connection that was already working (logged in), they mean the server
 * wrote in clear text: vsftpd's privileged process does so (`500 OOPS:
 * priv_sock_get_cmd`) when the session's other process died.
 */
const NOT_A_TLS_RECORD = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_RECORD_LAYER_FAILURE',
  'ERR_SSL_UNEXPECTED_RECORD', 'ERR_SSL_BAD_RECORD_TYPE', 'ERR_SSL_HTTP_REQUEST',
]);

export function isTlsCode(code: string | undefined): boolean {
  return code !== undefined && (TLS_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_OSSL_')
    || code.startsWith('ERR_TLS_') || code.startsWith('CERT_'));
}

export interface FtpErrorContext {
  /** The command (or session stage) the error answered. */
  command?: FtpCommand;
  /** The control connection was logged in and working before the error. */
  established?: boolean;
}

/** Map anything an FTP operation threw to a JpError; `what` names the operation and target. */
export function toFtpJpError(e: unknown, what: string, ctx: FtpErrorContext = {}): JpError {
  if (e instanceof JpError) return e;
  // The reply is the whole story: no cause (describeError would repeat its text).
  if (e instanceof FTPError) return new FtpReplyError(what, ctx.command ?? 'session', { code: e.code, text: e.message });
  const code = systemCode(e);
  const msg = e instanceof Error ? e.message : String(e);
  if (ctx.established === true && code !== undefined && NOT_A_TLS_RECORD.has(code) && msg.includes('(control socket)')) {
    return new FtpReplyError(what, ctx.command ?? 'session', {
      text: '',
      meaning: 'session-failure',
      note: `it wrote clear text on the TLS control connection (${code}), as vsftpd does with "500 OOPS" when a session process dies`,
    }, e);
  }
  if (isTlsCode(code)) return new JpError('JP_TLS', `${what}: TLS failed: ${describeError(e)}`, { cause: e });
  if (code === 'ABORT_ERR' || (e instanceof Error && e.name === 'AbortError')) {
    return new JpError('JP_ABORTED', `${what}: aborted`, { cause: e });
  }
  if (code === 'ETIMEDOUT' || /\bTimeout\b/i.test(msg)) {
    return new JpError('JP_TIMEOUT', `${what}: no answer in time: ${describeError(e)}`, { cause: e });
  }
  return new JpError('JP_NETWORK', `${what}: ${describeError(e)}`, { cause: e });
}

/** Refusals a new connection would get again: never retried in place, even after data moved. */
const REFUSED_AGAIN = new Set<FtpMeaning>(['permission', 'exists', 'no-space', 'bad-name', 'login-refused', 'cannot-create', 'no-such-path']);

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
      const m = ftpMeaningOf(err);
      if (m === 'transfer-failed' || m === 'session-failure' || m === 'unavailable') return true;
      // A server that lost the data connection after data moved may answer anything (ftp-srv: 550).
      return bytesSent > 0 && !REFUSED_AGAIN.has(m);
    }
    default:
      return false;
  }
}
