/**
 * Turn whatever the HTTP/TLS stack threw into a JpError with a stable code
 * and a message an operator can act on (which TLS problem, which endpoint).
 * Pure: a table from Node/OpenSSL/undici error codes.
 */
import { describeError, isJpError, JpError, systemCode } from '../core/errors.js';

const SERVER_CERT_PROBLEMS: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unknown CA: the service certificate is not signed by a trusted CA',
  UNABLE_TO_GET_ISSUER_CERT: 'unknown CA: the issuer of the service certificate is not trusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unknown CA: the issuer of the service certificate is not in the CA directory',
  SELF_SIGNED_CERT_IN_CHAIN: 'unknown CA: the service certificate chain ends in an untrusted self-signed CA',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'unknown CA: the service certificate is self-signed',
  CERT_UNTRUSTED: 'unknown CA: the service certificate is not trusted',
  CERT_SIGNATURE_FAILURE: 'bad signature on the service certificate',
  CERT_HAS_EXPIRED: 'the service certificate has expired',
  CERT_NOT_YET_VALID: 'the service certificate is not valid yet',
  CERT_REVOKED: 'the service certificate is revoked',
  ERR_TLS_CERT_ALTNAME_INVALID: 'hostname mismatch: the service certificate does not name the host we connected to',
  INVALID_PURPOSE: 'the service certificate is not meant for TLS servers',
  ERR_SSL_WRONG_VERSION_NUMBER: 'the service did not answer with TLS (plain HTTP on that port?)',
};

/** TLS alerts from the peer: the service refused our side of the handshake. */
const REFUSED_BY_SERVICE: Record<string, string> = {
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'the service requires a client certificate and got none',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'the service refused our client certificate (bad certificate)',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: 'the service refused our client certificate as expired',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED: 'the service refused our client certificate as revoked',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN: 'the service refused our client certificate (certificate unknown)',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'the service does not trust the CA of our client certificate (unknown CA)',
  ERR_SSL_TLSV1_ALERT_ACCESS_DENIED: 'the service denied access to our client certificate',
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: 'the service aborted the TLS handshake (no common cipher, or our certificate refused)',
  ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: 'the service refused our TLS protocol version',
};

const TIMEOUTS: Record<string, string> = {
  UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
  UND_ERR_BODY_TIMEOUT: 'the answer stalled',
  UND_ERR_CONNECT_TIMEOUT: 'connecting timed out',
  ETIMEDOUT: 'connecting timed out',
};

const NETWORK: Record<string, string> = {
  ECONNREFUSED: 'connection refused (service not running?)',
  ECONNRESET: 'connection reset by the service',
  EPIPE: 'connection broken while sending',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed temporarily',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  UND_ERR_SOCKET: 'connection closed by the service before a complete answer',
  UND_ERR_CLOSED: 'the client was closed',
  UND_ERR_DESTROYED: 'the connection pool was destroyed',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'the answer was cut short',
};

function codesOf(e: unknown): string[] {
  const out: string[] = [];
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur !== undefined && cur !== null; i++) {
    const c = systemCode(cur);
    if (c !== undefined) out.push(c);
    cur = typeof cur === 'object' && 'cause' in cur ? (cur as { cause: unknown }).cause : undefined;
  }
  return out;
}

function isAbort(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const name = (e as { name?: unknown }).name;
  const code = systemCode(e);
  return name === 'AbortError' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR';
}

export interface NetErrorContext {
  /** Operation, e.g. RegisterJob. */
  readonly op: string;
  /** The service URL, for the message. */
  readonly url: string;
  /** A TLS alert seen on the connection that failed (undici reports only "closed"). */
  readonly tlsAlert?: unknown;
  /** The configured answer timeout, for the message. */
  readonly timeoutMs?: number;
}

/** Map an HTTP/TLS stack error to a JpError (JpErrors pass through). */
export function toJpError(err: unknown, ctx: NetErrorContext): JpError {
  if (isJpError(err)) return err;
  const where = `${ctx.op} to ${ctx.url}`;
  if (isAbort(err)) return new JpError('JP_ABORTED', `${where}: aborted`, { cause: err });
  const codes = codesOf(err);
  if (ctx.tlsAlert !== undefined && codes.some((c) => c === 'UND_ERR_SOCKET' || c === 'ECONNRESET' || c === 'EPIPE')) {
    const alert = toJpError(ctx.tlsAlert, ctx);
    if (alert.code === 'JP_TLS') return alert;
  }
  for (const c of codes) {
    const refused = REFUSED_BY_SERVICE[c];
    if (refused !== undefined) return new JpError('JP_TLS', `${where}: TLS: ${refused} (${c})`, { cause: err });
    const problem = SERVER_CERT_PROBLEMS[c];
    if (problem !== undefined) return new JpError('JP_TLS', `${where}: TLS: ${problem} (${c})`, { cause: err });
    const timeout = TIMEOUTS[c];
    if (timeout !== undefined) {
      const after = ctx.timeoutMs !== undefined && c !== 'UND_ERR_CONNECT_TIMEOUT' && c !== 'ETIMEDOUT' ? ` (${ctx.timeoutMs} ms)` : '';
      return new JpError('JP_TIMEOUT', `${where}: ${timeout}${after}`, { cause: err });
    }
    if (c.startsWith('ERR_SSL_') || c.startsWith('ERR_TLS_') || c === 'EPROTO') {
      return new JpError('JP_TLS', `${where}: TLS failed: ${describeError(err)}`, { cause: err });
    }
    if (c === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') {
      return new JpError('JP_BAD_REPLY', `${where}: the answer is larger than the allowed maximum`, { cause: err });
    }
    const net = NETWORK[c];
    if (net !== undefined) return new JpError('JP_NETWORK', `${where}: ${net} (${c})`, { cause: err });
  }
  return new JpError('JP_NETWORK', `${where}: ${describeError(err)}`, { cause: err });
}
