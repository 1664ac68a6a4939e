/**
 * Pure functions for spool file names.
 *
 * Message names: the LB C library writes `<sec>_<usec>.<host>`; this port
 * writes `<sec>_<usec>_<pid>_<seq>.<host>` (same leading time, unique across
 * processes on one host and across hosts sharing a spool).
 *
 * Claimed names in cur/: `<name>:<pid>-<life>@<host>` — the claimer is
 * recorded in the name itself, so the claim is one atomic rename. `<life>`
 * (`<start ticks>-<boot id prefix>`, see ./liveness.ts) tells a reused pid
 * apart; `<name>:<pid>@<host>` (older versions, or no /proc) is read too.
 *
 * Sidecars: the retry state of a message waiting in post/ is
 * `post/.<name>.meta` — a hidden name, because the C importer's retry scan
 * takes every name in post/ that does not start with '.' (spec/maildir.md
 * §5); `post/<name>.meta` (earlier versions of this port) is still read
 * and renamed. Beside a given-up message: `undeliverable/<name>.meta`
 * (nothing of the C world reads undeliverable/, and operators look there).
 */
import { LIFE_PATTERN } from './liveness.js';

export const META_SUFFIX = '.meta';

/** Host part safe for a file name (no '/', ':', '@' or blanks). */
export function sanitizeHost(host: string): string {
  const s = host.replace(/[^A-Za-z0-9.-]/g, '-').replace(/^\.+/, '');
  return s.length > 0 ? s.slice(0, 200) : 'localhost';
}

export interface NameParts {
  readonly sec: number;
  readonly usec: number;
}

export function generateName(nowMs: number, pid: number, seq: number, host: string, usecFraction = 0): string {
  const sec = Math.floor(nowMs / 1000);
  const usec = (nowMs % 1000) * 1000 + (usecFraction % 1000);
  return `${sec}_${String(usec).padStart(6, '0')}_${pid}_${seq}.${sanitizeHost(host)}`;
}

/** Creation time encoded in an LB-style name, or undefined for other names. */
export function parseNameTime(name: string): NameParts | undefined {
  const m = /^(\d{1,12})_(\d{1,6})(?:_\d+_\d+)?\./.exec(name);
  if (m === null) return undefined;
  return { sec: Number(m[1]), usec: Number(m[2]) };
}

/**
 * THE rule for what in a state directory is a message — used by the
 * workers' scans, `status`, `show`, `requeue`, the metrics and the
 * scheduler alike. Not messages, never counted, listed or touched:
 *  - hidden entries (a leading '.'): temporaries, ours and the C world's;
 *  - retry-state sidecars, `<name>.meta`;
 *  - subdirectories, when the caller knows the entry's kind (`isDirectory`):
 *    counted and listed nowhere. A consumer's scan of new/ does not know
 *    the kind (no stat per entry): a directory dropped there is claimed and
 *    set aside as "not a regular file", like any entry that cannot be read.
 * A message with a name that cannot be used (badMessageName) is still a
 * message: the worker sets it aside with the reason.
 */
export function isMessageEntry(name: string, isDirectory = false): boolean {
  return !name.startsWith('.') && !name.endsWith(META_SUFFIX) && !isDirectory;
}

/**
 * Why a name found in new/ (or post/) is not usable as a message name, or
 * undefined when it is fine. Dot files are skipped before this is asked.
 */
export function badMessageName(name: string): string | undefined {
  if (name.length === 0) return 'empty name';
  if (name.startsWith('.')) return 'hidden file';
  if (name.includes('/') || name.includes('\0')) return 'name contains a path separator or NUL';
  if (name.includes(':')) return "name contains ':' (reserved for claims)";
  if (name.endsWith(META_SUFFIX)) return `name ends with '${META_SUFFIX}' (reserved for sidecars)`;
  if (Buffer.byteLength(name) > 200) return 'name longer than 200 bytes';
  return undefined;
}

export function claimName(name: string, pid: number, host: string, life?: string): string {
  return `${name}:${holderTag(pid, life)}@${sanitizeHost(host)}`;
}

/** `<pid>` or `<pid>-<life>`: how a holder is written in claim and record names. */
export function holderTag(pid: number, life?: string): string {
  return life === undefined || !LIFE_PATTERN.test(life) ? String(pid) : `${pid}-${life}`;
}

export interface ClaimParts {
  readonly name: string;
  readonly pid: number;
  readonly host: string;
  /** The holder's life, when the claim records one. */
  readonly life?: string;
}

export interface HolderParts {
  readonly pid: number;
  readonly host: string;
  readonly life?: string;
}

/** `<pid>[-<life>]@<host>` → its parts; undefined for anything else. */
export function parseHolder(text: string): HolderParts | undefined {
  const m = /^(\d{1,10})(?:-(\d{1,20}-[0-9a-f]{8}))?@([A-Za-z0-9.-]+)$/.exec(text);
  if (m === null) return undefined;
  const pid = Number(m[1]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  return m[2] === undefined ? { pid, host: m[3] as string } : { pid, host: m[3] as string, life: m[2] };
}

export function parseClaimName(claimed: string): ClaimParts | undefined {
  const colon = claimed.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const h = parseHolder(claimed.slice(colon + 1));
  return h === undefined ? undefined : { name: claimed.slice(0, colon), ...h };
}

/** The record beside a given-up message (`undeliverable/<name>.meta`); also the legacy retry-state name in post/. */
export function metaName(name: string): string {
  return name + META_SUFFIX;
}

/** The retry state beside a message in post/: hidden from the C importer's retry scan. */
export function retryMetaName(name: string): string {
  return `.${name}${META_SUFFIX}`;
}

/** The message a hidden retry-state name belongs to (`.<name>.meta` → `<name>`), or undefined for other names. */
export function messageOfRetryMeta(entry: string): string | undefined {
  if (!entry.startsWith('.') || !entry.endsWith(META_SUFFIX)) return undefined;
  const name = entry.slice(1, -META_SUFFIX.length);
  return badMessageName(name) === undefined ? name : undefined;
}

export function isMetaName(entry: string): boolean {
  return entry.endsWith(META_SUFFIX);
}
