/** File moves for jobman's queue folders: no-clobber, crash-tolerant, across file systems if need be. */
import { constants, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { JpError, systemCode } from '../core/errors.js';
import { fsyncDir, moveNoReplace, readBounded, unlinkIfExists, writeFileAtomic } from '../maildir/fsutil.js';

export const REASON_SUFFIX = '.reason';
const MAX_TRIES = 10;

type PlaceResult = 'ok' | 'exists' | 'gone';

/**
 * Put `from` at `to` without replacing anything there: on one file system
 * a hard link, or a rename where no link can be made (another user's file
 * under fs.protected_hardlinks, a directory, a FIFO: ../maildir/fsutil.ts
 * moveNoReplace); across file systems a copy (then `from` is left for the
 * caller to remove, as after a link).
 */
async function place(from: string, to: string): Promise<PlaceResult> {
  try {
    const r = await moveNoReplace(from, to);
    return r === 'moved' ? 'ok' : r;
  } catch (e) {
    if (systemCode(e) !== 'EXDEV') throw e;
  }
  try {
    await fsp.copyFile(from, to, constants.COPYFILE_EXCL);
  } catch (e) {
    if (systemCode(e) === 'EEXIST') return 'exists';
    if (systemCode(e) === 'ENOENT') return 'gone';
    throw e;
  }
  const fh = await fsp.open(to, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  return 'ok';
}

function candidate(name: string, i: number, now: number): string {
  return i === 0 ? name : `${name}.${now}_${i}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path);
    return true;
  } catch (e) {
    if (systemCode(e) === 'ENOENT') return false;
    throw e;
  }
}

/**
 * Move `from` into `dir` as `name` (or `name.<ms>_<n>` when taken). Returns
 * the name used, or undefined when `from` is gone (another process moved it).
 * With `sidecar`, `<target>.reason` is written before the file appears.
 */
export async function moveInto(from: string, dir: string, name: string, now: number, sidecar?: string): Promise<string | undefined> {
  for (let i = 0; i < MAX_TRIES; i++) {
    const target = candidate(name, i, now);
    const to = join(dir, target);
    if (await exists(to)) {
      const [a, b] = await Promise.all([fsp.lstat(from).catch(() => undefined), fsp.lstat(to).catch(() => undefined)]);
      if (a === undefined) return undefined;
      if (b === undefined || a.ino !== b.ino || a.dev !== b.dev) continue;
    }
    if (sidecar !== undefined) await writeFileAtomic(join(dir, target + REASON_SUFFIX), sidecar, 0o600);
    const r = await place(from, to);
    if (r === 'exists') continue;
    if (r === 'gone') {
      if (sidecar !== undefined) await unlinkIfExists(join(dir, target + REASON_SUFFIX));
      return undefined;
    }
    await unlinkIfExists(from);
    await fsyncDir(dir);
    return target;
  }
  throw new JpError('JP_CONFIG', `cannot move ${from} into ${dir}: ${MAX_TRIES} names taken`);
}

/** Read a claimed request file (never following a symlink), refusing more than maxBytes. */
export function readLimited(path: string, maxBytes: number): Promise<Buffer> {
  return readBounded(path, maxBytes, 'request');
}

/** mkdir -p with `mode` for what is created; existing folders keep their permissions (jobman's). */
export async function mkdirKeep(path: string, mode: number): Promise<void> {
  await fsp.mkdir(path, { recursive: true, mode });
  const st = await fsp.stat(path);
  if (!st.isDirectory()) throw new JpError('JP_CONFIG', `${path} is not a directory`);
}
