/**
 * The one answer to "is the process that wrote this still running?" for
 * every pid-keyed file: claims in cur/ (and jobman's work/), destination
 * records, the pidfile.
 *
 * A pid alone is not enough: after a crash (and even more after a reboot)
 * an unrelated process may get the same pid, and the dead holder's claims
 * would look alive for ever. So a holder also records its *life*:
 * `<start>-<boot>`, the process start time in clock ticks since boot
 * (field 22 of /proc/<pid>/stat) and the first 8 hex digits of the boot id
 * (/proc/sys/kernel/random/boot_id). A pid whose current life differs is a
 * reused pid: the recorded holder is gone.
 *
 * Without /proc (or when it hides other users' processes) no life is known:
 * the pid alone decides, as records without a life (older versions) are
 * always read.
 */
import { readFileSync } from 'node:fs';
import { systemCode } from '../core/errors.js';

/** `<start ticks>-<8 hex digits of the boot id>`. */
export const LIFE_PATTERN = /^\d{1,20}-[0-9a-f]{8}$/;

export type HolderLiveness = 'alive' | 'gone' | 'reused';

/** Field 22 (starttime, clock ticks since boot) of a /proc/<pid>/stat line; undefined when it is not one. */
export function parseProcStatStart(text: string): string | undefined {
  // The command name (field 2) is in parentheses and may hold blanks and ')': fields count from the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 1).trim().split(/\s+/);
  const start = fields[19]; // fields[0] is field 3 (state)
  return start !== undefined && /^\d{1,20}$/.test(start) ? start : undefined;
}

let bootCache: string | null | undefined;

/** First 8 hex digits of this boot's id; undefined when it cannot be read. */
export function bootIdPrefix(): string | undefined {
  if (bootCache === undefined) {
    try {
      const id = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().replace(/-/g, '').toLowerCase();
      bootCache = /^[0-9a-f]{8}/.test(id) ? id.slice(0, 8) : null;
    } catch {
      bootCache = null;
    }
  }
  return bootCache ?? undefined;
}

/** The life of the process now running as `pid`, or undefined when it cannot be read (gone, no /proc, hidden). */
export function processLife(pid: number): string | undefined {
  const boot = bootIdPrefix();
  if (boot === undefined || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const start = parseProcStatStart(text);
  return start === undefined ? undefined : `${start}-${boot}`;
}

let ownCache: { pid: number; life: string | undefined } | undefined;

/** This process's life (read once). */
export function ownLife(): string | undefined {
  if (ownCache === undefined || ownCache.pid !== process.pid) ownCache = { pid: process.pid, life: processLife(process.pid) };
  return ownCache.life;
}

/**
 * What became of the holder `pid` (with `life` when it was recorded):
 * alive; gone (no such process); reused (a process of that pid runs, but it
 * started at another time or in another boot). Without a recorded life, or
 * when the current one cannot be read, an existing pid counts as alive.
 */
export function holderState(pid: number, life?: string): HolderLiveness {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if (systemCode(e) !== 'EPERM') return 'gone'; // EPERM: it exists, owned by another user
  }
  if (life === undefined) return 'alive';
  const now = processLife(pid);
  return now === undefined || now === life ? 'alive' : 'reused';
}

/** true while the recorded holder runs (see holderState). */
export function holderAlive(pid: number, life?: string): boolean {
  return holderState(pid, life) === 'alive';
}
