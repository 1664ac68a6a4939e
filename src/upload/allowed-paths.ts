/**
 * Path safety for files named by upload messages (docs/operations.md "Path
 * safety", tested by R5 and R11 of docs/testing.md): a message may only make the importer read — and
 * later remove — a regular file inside one of the allowed directories
 * (--allow-dir), whatever a local user swaps while it looks.
 *
 *   realpath(message path) ─▶ inside an allowed dir? (the decision, with a
 *   │                          reason naming the path; nothing opened yet)
 *   ▼
 *   walk from the allowed dir, one component at a time, never following a
 *   symlink (./beneath.ts) ─▶ lstat + open the last one (O_NOFOLLOW,
 *   O_NONBLOCK) ─▶ the same inode? a regular file? and where the kernel
 *   says the descriptor's file is: still inside? ─▶ read from the descriptor
 *
 * A component swapped for a symlink after realpath() is refused by the walk;
 * a directory moved elsewhere after the walk opened it is refused by the
 * kernel's path of the descriptor. No byte is read before both held.
 */
import { constants, promises as fsp, type Stats } from 'node:fs';
import { sep } from 'node:path';
import { JpError, systemCode } from '../core/errors.js';
import { beneath, componentsBelow, descriptorPath, isInside, localFileError, openDirBeneath } from './beneath.js';

export { isInside } from './beneath.js';

export interface AllowedFile {
  /** Where the opened file is, as the kernel told it after the open (inside an allowed dir). */
  readonly realPath: string;
  /** The resolved allowed directory it is in. */
  readonly root: string;
  /** Open for reading; the caller closes it. */
  readonly handle: fsp.FileHandle;
  readonly size: number;
  readonly dev: number;
  readonly ino: number;
  /** Modification time when opened (ns): a file changed after this is never removed. */
  readonly mtimeNs: bigint;
}

/** File-system calls, reachable from tests (e.g. to prove a refused file is never opened). */
export interface PathFs {
  realpath(path: string): Promise<string>;
  lstat(path: string): Promise<Stats>;
  open(path: string, flags: number): Promise<fsp.FileHandle>;
}

export const nodePathFs: PathFs = {
  realpath: (p) => fsp.realpath(p),
  lstat: (p) => fsp.lstat(p),
  open: (p, flags) => fsp.open(p, flags),
};

/** O_NONBLOCK: opening a FIFO swapped in after the check must not block the worker. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

/** The resolved forms of the allowed directories that exist (others are skipped). */
export async function resolveAllowedDirs(allowedDirs: readonly string[], fs: PathFs = nodePathFs): Promise<string[]> {
  const out: string[] = [];
  for (const d of allowedDirs) {
    try {
      const real = await fs.realpath(d);
      if ((await fs.lstat(real)).isDirectory()) out.push(real);
    } catch {
      /* a missing allowed directory allows nothing */
    }
  }
  return out;
}

/** The allowed directory `path` (resolved) lies in, the innermost one if they nest. */
export function rootOf(path: string, roots: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const r of roots) if (isInside(path, r) && (best === undefined || r.length > best.length)) best = r;
  return best;
}

/**
 * Check `path` against `allowedDirs`, then open it. Throws JpError
 * JP_PATH_NOT_ALLOWED (outside the allowed dirs, or swapped during the
 * check) or JP_LOCAL_FILE (missing, unreadable, not a regular file).
 */
export async function resolveAllowedFile(path: string, allowedDirs: readonly string[], fs: PathFs = nodePathFs): Promise<AllowedFile> {
  const shown = JSON.stringify(path);
  const dirsText = allowedDirs.length === 0 ? '(none configured, see --allow-dir)' : allowedDirs.join(', ');
  if (!path.startsWith(sep) || path.includes('\0')) {
    throw new JpError('JP_PATH_NOT_ALLOWED', `file ${shown} is not an absolute path; allowed directories: ${dirsText}`);
  }
  let realPath: string;
  try {
    realPath = await fs.realpath(path);
  } catch (e) {
    throw localFileError(shown, e);
  }
  const roots = await resolveAllowedDirs(allowedDirs, fs);
  const root = rootOf(realPath, roots);
  if (root === undefined) {
    const via = realPath === path ? '' : ` (resolves to ${JSON.stringify(realPath)})`;
    throw new JpError('JP_PATH_NOT_ALLOWED', `file ${shown}${via} is not inside the allowed directories: ${dirsText}`);
  }
  const parts = componentsBelow(root, realPath);
  const last = parts.pop();
  if (last === undefined) throw new JpError('JP_LOCAL_FILE', `file ${shown} is not a regular file (a directory)`);
  const dir = await openDirBeneath(root, parts, shown, fs.open);
  try {
    return await openLast(dir, last, shown, root, roots, fs);
  } finally {
    await dir.close().catch(() => undefined);
  }
}

async function openLast(dir: fsp.FileHandle, name: string, shown: string, root: string, roots: readonly string[], fs: PathFs): Promise<AllowedFile> {
  const at = beneath(dir, name);
  let checked: Stats;
  try {
    checked = await fs.lstat(at);
  } catch (e) {
    throw localFileError(shown, e);
  }
  if (checked.isSymbolicLink()) throw new JpError('JP_PATH_NOT_ALLOWED', `file ${shown} was replaced by a symlink while being checked`);
  if (!checked.isFile()) throw new JpError('JP_LOCAL_FILE', `file ${shown} is not a regular file (${fileKind(checked)})`);
  let handle: fsp.FileHandle;
  try {
    handle = await fs.open(at, OPEN_FLAGS);
  } catch (e) {
    if (systemCode(e) === 'ELOOP') throw new JpError('JP_PATH_NOT_ALLOWED', `file ${shown} was replaced by a symlink while being checked`);
    throw localFileError(shown, e);
  }
  try {
    const st = await handle.stat({ bigint: true });
    if (!st.isFile() || Number(st.dev) !== checked.dev || Number(st.ino) !== checked.ino) {
      throw new JpError('JP_PATH_NOT_ALLOWED', `file ${shown} was replaced while being checked`);
    }
    const now = await descriptorPath(handle);
    if (now === undefined) throw new JpError('JP_LOCAL_FILE', `file ${shown} was removed while being checked`);
    if (rootOf(now, roots) === undefined) {
      throw new JpError('JP_PATH_NOT_ALLOWED', `file ${shown} was moved out of the allowed directories while being checked (now ${JSON.stringify(now)})`);
    }
    return { realPath: now, root: rootOf(now, roots) ?? root, handle, size: Number(st.size), dev: Number(st.dev), ino: Number(st.ino), mtimeNs: st.mtimeNs };
  } catch (e) {
    await handle.close().catch(() => undefined);
    throw e;
  }
}

function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a file';
}
