/**
 * The exporter's locks: one per maildir (every run into it, whatever its
 * input) and one per dump file (whatever maildir it goes to). Both are
 * flock(2) locks (flock.ts), held by the process until it closes them or
 * dies, so a killed exporter never leaves one behind; a second run is
 * refused at once with ExportLocked naming the lock and its holder.
 *
 * The maildir's lock is `<maildir>/.lb-dump-exporter.lock`, mode 0600, in
 * the maildir's root (0700, made by the exporter). It is opened without
 * following a symlink and used only when it is a regular file of this user
 * with one link, so another user who could write there still cannot plant
 * a lock file that blocks exports unnoticed, nor make us truncate another
 * file. It is never removed (removing a lock file that others may be
 * opening lets two processes hold "the" lock); the holder writes who it is
 * into it (pid, host, start, input), which a refused run reports.
 *
 * The dump's lock is taken on the dump itself, through the descriptor the
 * exporter reads it from: it follows the file (inode), not the path, and
 * leaves nothing on disk.
 */
import { closeSync, constants, fchmodSync, fstatSync, ftruncateSync, lstatSync, openSync, readSync, writeSync, type BigIntStats } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describeError, JpError, systemCode } from '../core/errors.js';
import { Spool } from '../maildir/spool.js';
import { describePid, flockHolders, tryFlock, type FileId } from './flock.js';

export const SPOOL_LOCK_NAME = '.lb-dump-exporter.lock';
/** Exit status of lb-dump-exporter when another exporter holds a lock it needs (EX_TEMPFAIL). */
export const EXIT_LOCKED = 75;
const LOCK_MODE = 0o600;
const RECORD_MAX = 4096;
const OPEN_TRIES = 3;

/** Another process holds a lock the run needs: nothing was done; try again later. */
export class ExportLocked extends JpError {
  constructor(message: string, readonly lockPath: string, readonly holders: readonly number[]) {
    super('JP_LOCAL_FILE', message, { temporary: true });
    this.name = 'ExportLocked';
  }
}

export interface SpoolLock {
  /** Absolute maildir root. */
  readonly root: string;
  /** The lock file. */
  readonly path: string;
  /** Rewrite the holder's record for the next input (a caller running several exports under one lock). */
  setInput(input: string): void;
  /** Give the lock up (idempotent). */
  release(): void;
}

function holdersText(holders: readonly number[]): string {
  return holders.length === 0 ? 'a process not visible from here' : holders.map(describePid).join(', ');
}

/** The holder's record: `key value` lines (pid, host, since, input), bounded, control characters dropped. */
function readRecord(fd: number): Map<string, string> {
  const buf = Buffer.alloc(RECORD_MAX);
  let n = 0;
  try {
    n = readSync(fd, buf, 0, buf.length, 0);
  } catch {
    return new Map();
  }
  const out = new Map<string, string>();
  for (const line of buf.subarray(0, n).toString('utf8').split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0) out.set(line.slice(0, sp), line.slice(sp + 1).replace(/[\u0000-\u001f\u007f]/g, '?'));
  }
  return out;
}

function checkLockFile(path: string, st: BigIntStats): string | undefined {
  const uid = process.geteuid?.();
  if (!st.isFile()) return 'is not a regular file';
  if (uid !== undefined && st.uid !== BigInt(uid)) return `is owned by uid ${st.uid}, not by this user (uid ${uid}): remove it if no exporter of that user runs`;
  if (st.nlink !== 1n) return `has ${st.nlink} hard links (a lock file has one): remove ${path}`;
  return undefined;
}

/**
 * Lock the maildir `root` (its directories are made first) for one
 * exporter run reading `input`. Throws ExportLocked when another process
 * holds it, JP_CONFIG when the maildir or its lock file cannot be used.
 */
export async function lockSpool(root: string, input: string): Promise<SpoolLock> {
  try {
    await new Spool(root).init();
  } catch (e) {
    throw new JpError('JP_CONFIG', `cannot use maildir ${root}: ${describeError(e)}`, { cause: e });
  }
  const path = join(root, SPOOL_LOCK_NAME);
  for (let attempt = 1; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, LOCK_MODE);
    } catch (e) {
      const why = systemCode(e) === 'ELOOP' ? 'is a symbolic link (a lock file is a regular file of this user): remove it' : `cannot be opened: ${describeError(e)}`;
      throw new JpError('JP_CONFIG', `lock file ${path} ${why}`, { cause: e });
    }
    let keep = false;
    try {
      const st = fstatSync(fd, { bigint: true });
      const bad = checkLockFile(path, st);
      if (bad !== undefined) throw new JpError('JP_CONFIG', `lock file ${path} ${bad}`);
      if ((Number(st.mode) & 0o777) !== LOCK_MODE) fchmodSync(fd, LOCK_MODE);
      if (!(await tryFlock(fd))) {
        const holders = flockHolders({ dev: st.dev, ino: st.ino });
        const rec = readRecord(fd);
        const recPid = Number(rec.get('pid'));
        const known = holders.length === 0 ? (Number.isSafeInteger(recPid) && recPid > 0 ? [recPid] : []) : holders;
        const what = known.includes(recPid) && rec.has('input') ? `, exporting ${rec.get('input') ?? ''} since ${rec.get('since') ?? '?'}` : '';
        throw new ExportLocked(`maildir ${root} is in use by another dump exporter: lock file ${path} is held by ${holdersText(known)}${what}`, path, known);
      }
      // Locked: make sure the path still names the file we locked (not replaced meanwhile).
      let now: BigIntStats | undefined;
      try {
        now = lstatSync(path, { bigint: true });
      } catch {
        now = undefined;
      }
      if (now === undefined || now.ino !== st.ino || now.dev !== st.dev) {
        if (attempt < OPEN_TRIES) continue;
        throw new JpError('JP_CONFIG', `lock file ${path} keeps being replaced while it is locked`);
      }
      const writeRecord = (what: string): void => {
        ftruncateSync(fd, 0);
        writeSync(fd, `pid ${process.pid}\nhost ${hostname()}\nsince ${new Date().toISOString()}\ninput ${what.replace(/[\u0000-\u001f\u007f]/g, '?')}\n`, 0);
      };
      writeRecord(input);
      keep = true;
      let open = true;
      return {
        root,
        path,
        setInput(what) {
          // informative only: a failure to rewrite it must not stop an export
          if (open) {
            try {
              writeRecord(what);
            } catch {
              /* the previous record stays */
            }
          }
        },
        release() {
          if (!open) return;
          open = false;
          closeSync(fd);
        },
      };
    } finally {
      if (!keep) closeSync(fd);
    }
  }
}

/**
 * Lock the dump open on `fd` (`name` for messages, e.g. `dump file X`).
 * Throws ExportLocked when another open of it holds the lock. The lock goes
 * with the descriptor: closing it releases the lock.
 */
export async function lockDump(fd: number, id: FileId, name: string): Promise<void> {
  if (await tryFlock(fd)) return;
  const holders = flockHolders(id);
  throw new ExportLocked(`${name} is being exported by another process: a lock on it is held by ${holdersText(holders)}`, name, holders);
}
