/**
 * flock(2) from Node, which has none in core: flock(1) of util-linux is
 * started with our open descriptor as its fd 3 and locks it
 * (`flock -n -x 3`, the shell's `exec 9>lock; flock -n 9` idiom). A flock
 * belongs to the open file description, which the child shares with us; when
 * the child exits our descriptor still refers to it, so the lock stays ours
 * until we close the descriptor or die. The kernel drops it when the process
 * ends however it ends (SIGKILL, crash, reboot): nothing stale can remain,
 * and no clock or timer decides whether a holder is alive.
 *
 * Who holds a lock: /proc/locks names the process that placed it, which here
 * is the short-lived flock(1) child, so the holders are found instead among
 * the descriptors open on the file whose /proc/PID/fdinfo/FD (Linux >= 4.1)
 * lists a lock held through that very descriptor.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { describeError, JpError } from '../core/errors.js';

/** flock(1)'s exit status when the lock is held by someone else (chosen with -E). */
const CONFLICT = 75;
/** Descriptors looked at, at most, when looking for a holder (a refusal must stay cheap). */
const HOLDER_SCAN_LIMIT = 20_000;

/**
 * Try to take an exclusive flock on `fd` without waiting: true when taken,
 * false when another open file description holds a lock on the file. Throws
 * JP_CONFIG when flock(1) cannot be run.
 */
export function tryFlock(fd: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let err = '';
    const child = spawn('flock', ['-n', '-x', '-E', String(CONFLICT), '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    child.stderr?.on('data', (d: Buffer) => {
      if (err.length < 1000) err += d.toString();
    });
    child.on('error', (e) => {
      reject(new JpError('JP_CONFIG', `cannot run flock(1) (util-linux) to take a lock: ${describeError(e)}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      if (code === 0) resolve(true);
      else if (code === CONFLICT) resolve(false);
      else reject(new JpError('JP_CONFIG', `flock(1) failed (${signal ?? `exit ${String(code)}`}): ${err.trim() || 'no message'}`));
    });
  });
}

export interface FileId {
  readonly dev: bigint;
  readonly ino: bigint;
}

/**
 * Processes holding an flock on the file `id`, as far as /proc lets us see
 * them; [] when none is visible. Cheap when nothing holds one (/proc/locks
 * is read first); otherwise each descriptor of each visible process is
 * compared with the file, and a match confirmed by its fdinfo lock line.
 */
export function flockHolders(id: FileId): number[] {
  const holders: number[] = [];
  const inode = `:${id.ino} `;
  const isOurLock = (l: string): boolean => l.includes(' FLOCK ') && l.includes(inode);
  try {
    if (!readFileSync('/proc/locks', 'latin1').split('\n').some(isOurLock)) return holders;
  } catch {
    // no /proc/locks: look anyway
  }
  let budget = HOLDER_SCAN_LIMIT;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return holders;
  }
  for (const p of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      if (--budget < 0) return holders;
      try {
        const st = statSync(`/proc/${p}/fd/${fd}`, { bigint: true });
        if (st.dev !== id.dev || st.ino !== id.ino) continue;
        const info = readFileSync(`/proc/${p}/fdinfo/${fd}`, 'latin1');
        if (!info.split('\n').some((l) => l.startsWith('lock:') && isOurLock(l))) continue;
      } catch {
        continue;
      }
      holders.push(Number(p));
      break;
    }
  }
  return holders;
}

/** `pid N ("command line")`, the command line shortened and quoted (it is another process's text). */
export function describePid(pid: number): string {
  let cmd = '';
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0+$/, '').replace(/\0/g, ' ');
  } catch {
    return `pid ${pid}`;
  }
  if (cmd.length > 160) cmd = `${cmd.slice(0, 157)}...`;
  return cmd === '' ? `pid ${pid}` : `pid ${pid} (${JSON.stringify(cmd)})`;
}
