/** Open a connection to a DbTarget; failures are temporary JP_DATABASE errors (retry later). */
import { describeError, JpError } from '../../core/errors.js';
import { describeTarget } from '../config.js';
import type { DbTarget } from '../config-types.js';
import { MysqlConnection } from './mysql.js';
import { PostgresConnection } from './postgres.js';
import { SqliteConnection } from './sqlite.js';
import type { SqlConnection } from './types.js';

export interface OpenOptions {
  /** 'destination' or 'result store', for messages. */
  role: string;
  /** SQLite: refuse to create a missing file. */
  mustExist?: boolean;
  /** SQLite: WAL journaling. */
  wal?: boolean;
  readonly?: boolean;
  connectTimeoutMs?: number;
  busyTimeoutMs?: number;
}

export async function openConnection(target: DbTarget, opts: OpenOptions): Promise<SqlConnection> {
  const timeout = opts.connectTimeoutMs ?? 10_000;
  try {
    switch (target.driver) {
      case 'sqlite':
        return new SqliteConnection(target.file, {
          mustExist: opts.mustExist === true,
          busyTimeoutMs: opts.busyTimeoutMs ?? 10_000,
          wal: opts.wal === true,
          readonly: opts.readonly === true,
        });
      case 'postgres':
        return await PostgresConnection.open(target.url, timeout);
      case 'mysql':
        return await MysqlConnection.open(target.url, timeout);
    }
  } catch (e) {
    throw new JpError('JP_DATABASE', `cannot open the ${opts.role} (${describeTarget(target)}): ${describeError(e)}`, {
      cause: e,
      temporary: true,
    });
  }
}

/** Same database (so results can be written in the destination's own transaction)? */
export function sameDatabase(a: DbTarget, b: DbTarget): boolean {
  if (a.driver === 'sqlite' || b.driver === 'sqlite') {
    return a.driver === 'sqlite' && b.driver === 'sqlite' && a.file === b.file;
  }
  if (a.driver !== b.driver) return false;
  const ua = new URL(a.url);
  const ub = new URL(b.url);
  const port = (u: URL): string => u.port || (a.driver === 'postgres' ? '5432' : '3306');
  return ua.hostname.toLowerCase() === ub.hostname.toLowerCase() && port(ua) === port(ub)
    && decodeURIComponent(ua.username) === decodeURIComponent(ub.username) && ua.pathname === ub.pathname;
}
