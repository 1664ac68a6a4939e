/**
 * The daemon's pidfile, held with proper-lockfile (a `<pidfile>.lock`
 * directory whose mtime the holder refreshes). A second instance is refused
 * with the running pid; the lock of a dead process is taken over.
 *
 * The pidfile holds the pid alone (what service managers and `kill $(cat …)`
 * expect), so a reused pid cannot be told apart here as it is for claims
 * (../queue/liveness.ts); it does not need to: the lock counts only while
 * its holder refreshes it (stale after 10 s), so after a crash or a reboot
 * the lock is stale and taken over whatever process has that pid by then.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import lockfile from 'proper-lockfile';
import { JpError, systemCode } from '../core/errors.js';
import { writeFileAtomic } from '../queue/fs.js';
import { holderAlive } from '../queue/liveness.js';

export class AlreadyRunningError extends JpError {
  readonly pid: number;
  constructor(pidfile: string, pid: number) {
    super('JP_CONFIG', `another jp-importer is already running as pid ${pid} (pidfile ${pidfile})`);
    this.pid = pid;
  }
}

export interface Pidfile {
  readonly path: string;
  release(): Promise<void>;
}

async function readPid(path: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(path, 'utf8')).trim());
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch (e) {
    if (systemCode(e) === 'ENOENT') return undefined;
    throw e;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function acquirePidfile(path: string, onCompromised: (err: Error) => void): Promise<Pidfile> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  let release: (() => Promise<void>) | undefined;
  for (let attempt = 0; release === undefined; attempt++) {
    try {
      release = await lockfile.lock(path, { realpath: false, stale: 10_000, update: 3_000, onCompromised });
    } catch (e) {
      if (systemCode(e) !== 'ELOCKED') throw e;
      const pid = await readPid(path);
      if (pid !== undefined && pid !== process.pid && holderAlive(pid)) throw new AlreadyRunningError(path, pid);
      // The holder may have locked a moment ago and not written its pid yet:
      // look again a few times before deciding the lock is a dead process's.
      if (attempt < 4) {
        await sleep(250);
        continue;
      }
      await rm(`${path}.lock`, { recursive: true, force: true });
    }
  }
  await writeFileAtomic(path, `${process.pid}\n`, 0o644);
  const held = release;
  return {
    path,
    async release() {
      await rm(path, { force: true });
      await held().catch(() => undefined);
    },
  };
}
