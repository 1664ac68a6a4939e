/**
 * Path safety for files named by upload messages (targets.md R5): a message
 * may only make the importer read — and later remove — a regular file that,
 * after resolving every symlink, lies inside one of the allowed directories
 * (--allow-dir). The decision is made on the resolved path before anything
 * is opened; the file is then opened without following a final symlink and
 * must be the very inode that was checked (no swap between check and open).
 */
import { constants, promises as fsp, type Stats } from 'node:fs';
import { sep } from 'node:path';
import { JpError, systemCode } from '../core/errors.js';

export interface AllowedFile {
  /** The file's path with every symlink resolved (inside an allowed dir). */
  readonly realPath: string;
  /** Open for reading; the caller closes it. */
  readonly handle: fsp.FileHandle;
  readonly size: number;
  readonly dev: number;
  readonly ino: number;
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

export function isInside(path: string, dir: string): boolean {
  if (dir === sep) return path.startsWith(sep);
  return path === dir || path.startsWith(dir + sep);
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
  const dirs = await resolveAllowedDirs(allowedDirs, fs);
  if (!dirs.some((d) => isInside(realPath, d))) {
    const via = realPath === path ? '' : ` (resolves to ${JSON.stringify(realPath)})`;
    throw new JpError('JP_PATH_NOT_ALLOWED', `file ${shown}${via} is not inside the allowed directories: ${dirsText}`);
  }
  let checked: Stats;
  try {
    checked = await fs.lstat(realPath);
  } catch (e) {
    throw localFileError(shown, e);
  }
  if (!checked.isFile()) {
    throw new JpError('JP_LOCAL_FILE', `file ${shown} is not a regular file (${fileKind(checked)})`);
  }
  let handle: fsp.FileHandle;
  try {
    handle = await fs.open(realPath, OPEN_FLAGS);
  } catch (e) {
    if (systemCode(e) === 'ELOOP') {
      throw new JpError('JP_PATH_NOT_ALLOWED', `file ${shown} was replaced by a symlink while being checked`);
    }
    throw localFileError(shown, e);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile() || st.dev !== checked.dev || st.ino !== checked.ino) {
      throw new JpError('JP_PATH_NOT_ALLOWED', `file ${shown} was replaced while being checked`);
    }
    return { realPath, handle, size: st.size, dev: st.dev, ino: st.ino };
  } catch (e) {
    await handle.close().catch(() => undefined);
    throw e;
  }
}

function localFileError(shown: string, e: unknown): JpError {
  const code = systemCode(e);
  const what = code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist'
    : code === 'EACCES' || code === 'EPERM' ? 'is not readable by the importer'
      : code === 'ELOOP' ? 'has a symlink loop in its path'
        : 'cannot be opened';
  return new JpError('JP_LOCAL_FILE', `file ${shown} ${what}`, { cause: e });
}

function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSymbolicLink()) return 'a symlink';
  return 'not a file';
}
