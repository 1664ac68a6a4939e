/** Listing of a directory's regular files for the maintenance tasks (no recursion, no symlinks). */
import { promises as fsp, type Stats } from 'node:fs';
import { join } from 'node:path';
import { describeError, JpError, systemCode } from '../core/errors.js';

export interface RegularFile {
  readonly name: string;
  readonly path: string;
  /** lstat of the entry (never follows a symlink). */
  readonly stats: Stats;
}

/**
 * The regular files directly in `dir`, streamed: dot-files, directories,
 * symlinks and other special files are skipped; entries that vanish while
 * listed are skipped. A missing `dir` yields nothing when `missingOk`, else
 * throws JP_LOCAL_FILE naming the directory.
 */
export async function* regularFiles(dir: string, missingOk = false): AsyncGenerator<RegularFile> {
  let handle: Awaited<ReturnType<typeof fsp.opendir>>;
  try {
    handle = await fsp.opendir(dir, { bufferSize: 128 });
  } catch (e) {
    if (missingOk && systemCode(e) === 'ENOENT') return;
    throw new JpError('JP_LOCAL_FILE', `cannot list directory ${dir}: ${describeError(e)}`, { cause: e });
  }
  for await (const e of handle) {
    if (e.name.startsWith('.') || !e.isFile()) continue;
    const path = join(dir, e.name);
    let stats: Stats;
    try {
      stats = await fsp.lstat(path);
    } catch (err) {
      if (systemCode(err) === 'ENOENT') continue;
      throw err;
    }
    if (stats.isFile()) yield { name: e.name, path, stats };
  }
}

