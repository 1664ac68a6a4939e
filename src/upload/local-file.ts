/**
 * What happens to an uploaded local file once CommitUpload succeeded:
 * removed, or moved into the store directory (-S / --store) — only the
 * exact file that was uploaded, unchanged since its upload began, and only
 * inside an allowed directory (docs/operations.md "Path safety", R11 of docs/testing.md).
 *
 *   the open descriptor: same size and mtime as when the upload began?
 *   │   (else left in place: bytes the service never got would be lost)
 *   ▼
 *   where the kernel says it is now ─▶ inside an allowed dir? ─▶ walk to its
 *   directory without following symlinks (./beneath.ts) ─▶ make a private
 *   directory there (0700, ours) ─▶ rename the name into it ─▶ the same
 *   inode, size and mtime? ─▶ unlink it there, or link/copy it into the
 *   store and unlink it there ─▶ remove the private directory
 *
 * Nobody else can swap an entry inside the private directory, so what is
 * unlinked is what was checked. Anything else found at the name is put
 * back (never overwriting) and the file is left in place with a reason.
 * The store move never overwrites: a name taken gets a numeric suffix;
 * across file systems the file is copied to a temporary name, fsynced and
 * linked into place.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fsp, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { describeError, JpError, systemCode } from '../core/errors.js';
import { COUNTER_NAMES, moveInto, moveNoReplace, NamesTaken } from '../queue/move.js';
import { beneath, componentsBelow, descriptorPath, openDirBeneath } from './beneath.js';
import { resolveAllowedDirs, rootOf } from './allowed-paths.js';

export const STORE_DIR_MODE = 0o750;
/** Names of the private directories a disposal makes for a moment (left behind only by a crash, holding a committed file). */
export const DISPOSE_DIR_PREFIX = '.jp-importer-dispose.';

export interface UploadedFile {
  readonly realPath: string;
  readonly handle: fsp.FileHandle;
  readonly size: number;
  readonly dev: number;
  readonly ino: number;
  readonly mtimeNs: bigint;
}

export type Disposal = { readonly action: 'removed' } | { readonly action: 'stored'; readonly to: string };

const keep = (why: string): JpError => new JpError('JP_LOCAL_FILE', why);

export async function disposeUploaded(file: UploadedFile, allowedDirs: readonly string[], storeDir: string | undefined, now: () => number = Date.now): Promise<Disposal> {
  const shown = JSON.stringify(file.realPath);
  const st = await file.handle.stat({ bigint: true });
  if (st.nlink === 0n) throw keep(`file ${shown} was removed by someone else after the upload`);
  if (Number(st.size) !== file.size || st.mtimeNs !== file.mtimeNs) {
    const grew = Number(st.size) === file.size ? 'was modified' : `changed size from ${file.size} to ${st.size} bytes`;
    throw keep(`file ${shown} ${grew} since its upload began (the service holds the first ${file.size} bytes); left in place`);
  }
  const where = await descriptorPath(file.handle);
  if (where === undefined) throw keep(`file ${shown} was removed by someone else after the upload`);
  const roots = await resolveAllowedDirs(allowedDirs);
  const root = rootOf(where, roots);
  if (root === undefined) throw keep(`file ${shown} was moved out of the allowed directories after the upload (now ${JSON.stringify(where)}); left in place`);
  const parts = componentsBelow(root, where);
  const name = parts.pop();
  if (name === undefined) throw keep(`file ${shown} is an allowed directory`);
  const dir = await openDirBeneath(root, parts, shown);
  try {
    const dirNow = await descriptorPath(dir);
    if (dirNow === undefined || rootOf(dirNow, roots) === undefined) throw keep(`file ${shown}: its directory was moved out of the allowed directories; left in place`);
    return await disposeFrom(dir, name, st, shown, storeDir, now);
  } finally {
    await dir.close().catch(() => undefined);
  }
}

async function disposeFrom(dir: fsp.FileHandle, name: string, uploaded: BigIntStats, shown: string, storeDir: string | undefined, now: () => number): Promise<Disposal> {
  if (storeDir !== undefined) await fsp.mkdir(storeDir, { recursive: true, mode: STORE_DIR_MODE });
  const priv = await PrivateDir.make(dir);
  try {
    const held = beneath(priv.handle, 'f');
    try {
      await fsp.rename(beneath(dir, name), held);
    } catch (e) {
      if (systemCode(e) === 'ENOENT') throw keep(`file ${shown} was removed or renamed by someone else after the upload`);
      throw e;
    }
    const moved = await fsp.lstat(held, { bigint: true });
    if (moved.dev !== uploaded.dev || moved.ino !== uploaded.ino || moved.size !== uploaded.size || moved.mtimeNs !== uploaded.mtimeNs) {
      throw keep(`file ${shown} was replaced after the upload; ${await putBack(held, beneath(dir, name))}`);
    }
    if (storeDir === undefined) {
      await fsp.unlink(held);
      return { action: 'removed' };
    }
    let to: string;
    try {
      to = await storeNoClobber(held, storeDir, name, now);
    } catch (e) {
      throw keep(`file ${shown} could not be stored in ${storeDir} (${describeError(e)}); ${await putBack(held, beneath(dir, name))}`);
    }
    return { action: 'stored', to };
  } finally {
    await priv.remove();
  }
}

/** Put what is held in the private directory back at its name, never overwriting; says where it is now. */
async function putBack(held: string, at: string): Promise<string> {
  // protected_hardlinks refuses a link to someone else's file: then a rename, if the name is still free (../queue/move.ts)
  if ((await moveNoReplace(held, at).catch(() => 'exists' as const)) !== 'exists') return 'left in place';
  return `it is kept in ${JSON.stringify(await descriptorDirOf(held))} (its name was taken meanwhile)`;
}

/** The path of `/proc/self/fd/N/f` as it is on disk. */
async function descriptorDirOf(held: string): Promise<string> {
  const slash = held.lastIndexOf('/');
  return `${await fsp.readlink(held.slice(0, slash))}${held.slice(slash)}`;
}

/** A directory of ours (0700) inside the directory held by `parent`, made for one disposal. */
class PrivateDir {
  private constructor(private readonly parent: fsp.FileHandle, private readonly name: string, readonly handle: fsp.FileHandle, private readonly st: BigIntStats) {}

  static async make(parent: fsp.FileHandle): Promise<PrivateDir> {
    const name = `${DISPOSE_DIR_PREFIX}${process.pid}.${randomBytes(8).toString('hex')}`;
    const at = beneath(parent, name);
    await fsp.mkdir(at, { mode: 0o700 });
    const handle = await fsp.open(at, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    const st = await handle.stat({ bigint: true });
    const uid = process.geteuid?.();
    if (!st.isDirectory() || (uid !== undefined && st.uid !== BigInt(uid)) || (st.mode & 0o077n) !== 0n) {
      await handle.close();
      throw keep(`directory ${JSON.stringify(name)} made for removing the file was tampered with; file left in place`);
    }
    return new PrivateDir(parent, name, handle, st);
  }

  /** rmdir, only while the name still holds this directory (an empty one: anything left in it stays). */
  async remove(): Promise<void> {
    try {
      const at = beneath(this.parent, this.name);
      const now = await fsp.lstat(at, { bigint: true });
      if (now.dev === this.st.dev && now.ino === this.st.ino) await fsp.rmdir(at);
    } catch {
      /* not empty (something was kept in it, and named in the reason) or already gone */
    } finally {
      await this.handle.close().catch(() => undefined);
    }
  }
}

/**
 * Move `from` into `dir` under `name` (or name.N), never overwriting; a
 * file that cannot be linked (another user's, another file system) is
 * copied (../queue/move.ts). Returns the new path.
 */
async function storeNoClobber(from: string, dir: string, name: string, now: () => number): Promise<string> {
  let moved: string | undefined;
  try {
    moved = await moveInto(from, dir, name, { now: now(), names: COUNTER_NAMES, tries: 100, withoutLink: 'copy', acrossDevices: true, takenCode: 'JP_LOCAL_FILE' });
  } catch (e) {
    if (e instanceof NamesTaken) throw new JpError('JP_LOCAL_FILE', `store directory ${dir}: no free name for ${name}`);
    throw e;
  }
  if (moved === undefined) throw new JpError('JP_LOCAL_FILE', `${from} vanished before it was stored`);
  return join(dir, moved);
}
