/**
 * Race-free path walking beneath a trusted directory, for files named by
 * upload messages (docs/operations.md "Path safety"): a hostile local user who can
 * write inside an allowed directory may swap any path component for a
 * symlink at any moment, so no decision is taken on a path string.
 *
 *   open(root, O_DIRECTORY) ─▶ fd₀
 *   open("/proc/self/fd/fd₀/sub", O_DIRECTORY|O_NOFOLLOW) ─▶ fd₁   (each step
 *   open("/proc/self/fd/fd₁/file", O_NOFOLLOW) ─▶ the file           relative to
 *                                                                     the last fd)
 *
 * "/proc/self/fd/N" is the directory the descriptor N holds, wherever it is
 * now, so a parent swapped after it was opened changes nothing, and
 * O_NOFOLLOW refuses a component that is a symlink when it is opened (this
 * is openat(2) with RESOLVE_NO_SYMLINKS, which Node does not offer). The
 * kernel also tells where a descriptor's file is now (readlink of
 * /proc/self/fd/N): callers check that too, right before they read or remove.
 */
import { constants, promises as fsp } from 'node:fs';
import { sep } from 'node:path';
import { JpError, systemCode } from '../core/errors.js';

export type OpenFn = (path: string, flags: number) => Promise<fsp.FileHandle>;

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** The path by which a name inside the directory held by `dir` is reached, whatever happened to the directory's path. */
export function beneath(dir: fsp.FileHandle, name: string): string {
  return `/proc/self/fd/${dir.fd}/${name}`;
}

/** Where the file held by `fh` is now, as the kernel tells it; undefined once it was removed. */
export async function descriptorPath(fh: fsp.FileHandle): Promise<string | undefined> {
  let p: string;
  try {
    p = await fsp.readlink(`/proc/self/fd/${fh.fd}`);
  } catch (e) {
    throw new JpError('JP_PATH_NOT_ALLOWED', `cannot tell where an open file is (/proc/self/fd is needed for path safety): ${systemCode(e) ?? String(e)}`, { cause: e });
  }
  return p.endsWith(' (deleted)') || !p.startsWith(sep) ? undefined : p;
}

export function isInside(path: string, dir: string): boolean {
  if (dir === sep) return path.startsWith(sep);
  return path === dir || path.startsWith(dir + sep);
}

/** The components of `path` below `root` (path is inside root); [] for root itself. */
export function componentsBelow(root: string, path: string): string[] {
  const rest = root === sep ? path.slice(1) : path.slice(root.length + 1);
  return rest === '' ? [] : rest.split(sep);
}

/**
 * Open the directory `root` (a resolved allowed directory), then each of
 * `components` in turn relative to the last, refusing a symlink at every
 * step. The caller closes the returned handle. Throws JP_PATH_NOT_ALLOWED
 * when a component is (or became) a symlink or is no directory, and
 * JP_LOCAL_FILE when one is missing or unreadable.
 */
export async function openDirBeneath(root: string, components: readonly string[], shown: string, open: OpenFn = fsp.open): Promise<fsp.FileHandle> {
  let dir = await openStep(open, root, shown);
  try {
    const at = await descriptorPath(dir);
    if (at !== root) throw new JpError('JP_PATH_NOT_ALLOWED', `file ${shown}: the allowed directory ${root} was replaced while being checked`);
    for (const c of components) {
      const next = await openStep(open, beneath(dir, c), shown);
      await dir.close();
      dir = next;
    }
    return dir;
  } catch (e) {
    await dir.close().catch(() => undefined);
    throw e;
  }
}

async function openStep(open: OpenFn, path: string, shown: string): Promise<fsp.FileHandle> {
  try {
    return await open(path, DIR_FLAGS);
  } catch (e) {
    const code = systemCode(e);
    if (code === 'ELOOP' || code === 'ENOTDIR') {
      throw new JpError('JP_PATH_NOT_ALLOWED', `file ${shown}: a directory in its path was replaced by a symlink or a file while being checked`, { cause: e });
    }
    throw localFileError(shown, e);
  }
}

export function localFileError(shown: string, e: unknown): JpError {
  const code = systemCode(e);
  const what = code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist'
    : code === 'EACCES' || code === 'EPERM' ? 'is not readable by the importer'
      : code === 'ELOOP' ? 'has a symlink loop in its path'
        : 'cannot be opened';
  return new JpError('JP_LOCAL_FILE', `file ${shown} ${what}`, { cause: e });
}
