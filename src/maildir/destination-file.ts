/**
 * `<spool>/destination-down.<pid>@<host>.json`: written by a worker while its
 * destination gate is closed (src/daemon/destination-gate.ts), removed when
 * it reopens, so that `jp-importer status` (a separate process reading only
 * the disk) can say why messages wait although their retry time has passed.
 * Informational: not fsynced; a file left by a dead process of this host is
 * removed by the next worker on that spool and ignored by status. The record
 * keeps the writer's life (../queue/liveness.ts) so that a reused pid does not keep
 * it alive.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { systemCode } from '../core/errors.js';
import { parseJsonRecord } from '../core/json.js';
import { holderAlive, LIFE_PATTERN, ownLife } from '../queue/liveness.js';
import { sanitizeHost } from '../queue/names.js';

export const DESTINATION_FILE_PREFIX = 'destination-down.';
const SUFFIX = '.json';
const MAX_BYTES = 16 * 1024;
const MAX_REASON = 2000;

export interface DestinationDown {
  readonly version: 1;
  readonly pid: number;
  readonly host: string;
  /** The writer's life (start time and boot), when known. */
  readonly life?: string;
  /** Worker id (`reg`, `dump-1`, …). */
  readonly worker: string;
  /** Epoch ms: first attempt without an answer in this outage. */
  readonly since: number;
  /** Epoch ms: when the next probe may go. */
  readonly nextProbeAt: number;
  /** Attempts without an answer in this outage. */
  readonly failures: number;
  readonly reason: string;
}

export function destinationFileName(pid: number, host: string): string {
  return `${DESTINATION_FILE_PREFIX}${pid}@${sanitizeHost(host)}${SUFFIX}`;
}

/** pid and host of a destination file name; undefined for any other name. */
export function parseDestinationFileName(name: string): { pid: number; host: string } | undefined {
  if (!name.startsWith(DESTINATION_FILE_PREFIX) || !name.endsWith(SUFFIX)) return undefined;
  const m = /^(\d{1,10})@([A-Za-z0-9.-]+)$/.exec(name.slice(DESTINATION_FILE_PREFIX.length, -SUFFIX.length));
  if (m === null) return undefined;
  const pid = Number(m[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? { pid, host: m[2] as string } : undefined;
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Parse a file's text; undefined when it is not a valid record. */
export function parseDestinationDown(text: string): DestinationDown | undefined {
  const o = parseJsonRecord(text);
  if (o === undefined) return undefined;
  const { pid, host, worker, since, nextProbeAt, failures, reason, life } = o;
  if (o['version'] !== 1 || !isTime(pid) || pid === 0 || typeof host !== 'string' || typeof worker !== 'string') return undefined;
  if (!isTime(since) || !isTime(nextProbeAt) || !isTime(failures) || typeof reason !== 'string') return undefined;
  if (life !== undefined && (typeof life !== 'string' || !LIFE_PATTERN.test(life))) return undefined;
  return {
    version: 1, pid, host: host.slice(0, 255), ...(life !== undefined ? { life } : {}), worker: worker.slice(0, 64), since, nextProbeAt, failures,
    reason: reason.slice(0, MAX_REASON),
  };
}

export function serializeDestinationDown(d: DestinationDown): string {
  return JSON.stringify({ ...d, reason: d.reason.replace(/[\r\n]+/g, ' ').slice(0, MAX_REASON) }) + '\n';
}

/** Write (replace) this process's record: temporary file, then rename. This process's life is added when not given. */
export async function writeDestinationDown(root: string, d: DestinationDown): Promise<void> {
  const path = join(root, destinationFileName(d.pid, d.host));
  const tmp = `${path}.tmp`;
  const life = d.life ?? (d.pid === process.pid ? ownLife() : undefined);
  await fsp.writeFile(tmp, serializeDestinationDown(life === undefined ? d : { ...d, life }), { mode: 0o600 });
  await fsp.rename(tmp, path);
}

/** Remove this process's record (no error when there is none). */
export async function removeDestinationDown(root: string, pid: number, host: string): Promise<void> {
  try {
    await fsp.unlink(join(root, destinationFileName(pid, host)));
  } catch (e) {
    if (systemCode(e) !== 'ENOENT') throw e;
  }
}

export interface DestinationRecord {
  readonly file: string;
  /** undefined when the file could not be parsed. */
  readonly record: DestinationDown | undefined;
  readonly pid: number;
  readonly host: string;
}

/** The records in `root` (bounded read of each; unreadable ones listed without a record). */
export async function readDestinationRecords(root: string): Promise<DestinationRecord[]> {
  let names: string[];
  try {
    names = await fsp.readdir(root);
  } catch (e) {
    if (systemCode(e) === 'ENOENT' || systemCode(e) === 'ENOTDIR') return [];
    throw e;
  }
  const out: DestinationRecord[] = [];
  for (const file of names.sort()) {
    const id = parseDestinationFileName(file);
    if (id === undefined) continue;
    let record: DestinationDown | undefined;
    try {
      const h = await fsp.open(join(root, file), 'r');
      try {
        const buf = Buffer.alloc(MAX_BYTES);
        const { bytesRead } = await h.read(buf, 0, MAX_BYTES, 0);
        record = bytesRead < MAX_BYTES ? parseDestinationDown(buf.subarray(0, bytesRead).toString('utf8')) : undefined;
      } finally {
        await h.close();
      }
    } catch (e) {
      if (systemCode(e) === 'ENOENT') continue; // removed meanwhile: the destination answered
      record = undefined;
    }
    out.push({ file, record, ...id });
  }
  return out;
}

/** Remove records left by processes of this host that no longer run (or whose pid was reused). Returns how many. */
export async function removeStaleDestinationRecords(
  root: string, host: string, isAlive: (pid: number, life?: string) => boolean = holderAlive,
): Promise<number> {
  let n = 0;
  for (const r of await readDestinationRecords(root)) {
    if (r.host !== sanitizeHost(host) || isAlive(r.pid, r.record?.life)) continue;
    await removeDestinationDown(root, r.pid, r.host);
    n++;
  }
  return n;
}
