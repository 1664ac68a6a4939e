/**
 * Which database errors are worth retrying (the connection, a lock, the
 * server going away) and which blame the statement or the data (a failed
 * row). A transient error never marks a row failed: the request is retried.
 */
import { isJpError, systemCode } from '../../core/errors.js';

const NET_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN',
  'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'ENOSPC', 'EMFILE', 'ENFILE', 'EBUSY', 'EAGAIN',
  'ERR_SOCKET_CLOSED', 'ERR_STREAM_PREMATURE_CLOSE',
]);

const MYSQL_CODES = new Set([
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT', 'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS', 'ER_SERVER_SHUTDOWN', 'ER_CONNECTION_KILLED', 'ER_QUERY_INTERRUPTED',
  'ER_NET_READ_ERROR', 'ER_NET_READ_INTERRUPTED', 'ER_NET_WRITE_INTERRUPTED', 'ER_NET_ERROR_ON_WRITE',
  'ER_DISK_FULL', 'ER_OUT_OF_RESOURCES', 'ER_LOCK_TABLE_FULL', 'ER_CANT_LOCK', 'ER_READ_ONLY_MODE',
  'ER_OPTION_PREVENTS_STATEMENT',
]);

/** PostgreSQL SQLSTATEs: connection, serialization, deadlock, resources, shutdown, lock timeout, cancel. */
function pgTransient(state: string): boolean {
  if (!/^[0-9A-Z]{5}$/.test(state)) return false;
  const cls = state.slice(0, 2);
  if (cls === '08' || cls === '53' || cls === '58') return true;
  return ['40001', '40P01', '55P03', '57014', '57P01', '57P02', '57P03', '57P04', '25006'].includes(state);
}

export function isTransientDbError(e: unknown): boolean {
  if (isJpError(e)) return e.temporary === true;
  const code = systemCode(e);
  if (code !== undefined) {
    if (NET_CODES.has(code) || MYSQL_CODES.has(code)) return true;
    if (/^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL|NOMEM|INTERRUPT|READONLY)/.test(code)) return true;
    if (pgTransient(code)) return true;
  }
  if (typeof e === 'object' && e !== null && (e as { fatal?: unknown }).fatal === true) return true;
  const msg = e instanceof Error ? e.message : '';
  return /Connection terminated|connection error|not queryable|Connection lost|Can't add new command when connection is in closed state/i.test(msg);
}
