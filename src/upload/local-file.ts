/**
 * What happens to an uploaded local file once CommitUpload succeeded:
 * removed, or moved into the store directory (-S / --store). Only the
 * resolved path inside an allowed directory is touched, and only while it
 * is still the inode that was uploaded.
 *
 * The move never overwrites: link into the store (a name taken gets a
 * numeric suffix), then unlink; across file systems copy to a temporary
 * name, fsync, link into place, unlink the original.
 */
import { constants, promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { JpError, systemCode } from '../core/errors.js';

export const STORE_DIR_MODE = 0o750;

export interface UploadedFile {
  readonly realPath: string;
  readonly dev: number;
  readonly ino: number;
}

export type Disposal = { readonly action: 'removed' } | { readonly action: 'stored'; readonly to: string };

export async function disposeUploaded(file: UploadedFile, storeDir: string | undefined, now: () => number = Date.now): Promise<Disposal> {
  const st = await fsp.lstat(file.realPath);
  if (st.dev !== file.dev || st.ino !== file.ino) {
    throw new JpError('JP_LOCAL_FILE', `file ${file.realPath} was replaced after the upload; left in place`);
  }
  if (storeDir === undefined) {
    await fsp.unlink(file.realPath);
    return { action: 'removed' };
  }
  await fsp.mkdir(storeDir, { recursive: true, mode: STORE_DIR_MODE });
  const to = await linkNoClobber(file.realPath, storeDir, basename(file.realPath), now);
  await fsp.unlink(file.realPath);
  await fsyncDir(storeDir);
  return { action: 'stored', to };
}

/** Link `from` into `dir` under `name` (or name.N), copying across file systems. Returns the new path. */
async function linkNoClobber(from: string, dir: string, name: string, now: () => number): Promise<string> {
  let copied: string | undefined;
  try {
    for (let i = 0; i < 100; i++) {
      const to = join(dir, i === 0 ? name : `${name}.${i}`);
      try {
        await fsp.link(copied ?? from, to);
        return to;
      } catch (e) {
        const code = systemCode(e);
        if (code === 'EEXIST') continue;
        if ((code === 'EXDEV' || code === 'EPERM') && copied === undefined) {
          copied = join(dir, `.${name}.${process.pid}.${now()}.tmp`);
          await copyDurably(from, copied);
          i--;
          continue;
        }
        throw e;
      }
    }
    throw new JpError('JP_LOCAL_FILE', `store directory ${dir}: no free name for ${name}`);
  } finally {
    if (copied !== undefined) await fsp.unlink(copied).catch(() => undefined);
  }
}

async function copyDurably(from: string, to: string): Promise<void> {
  await fsp.copyFile(from, to, constants.COPYFILE_EXCL);
  const fh = await fsp.open(to, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } catch (e) {
    if (systemCode(e) !== 'EINVAL') throw e;
  } finally {
    await fh.close();
  }
}
