/** File moves for jobman's queue folders: no-clobber, crash-tolerant, across file systems if need be. */
import { promises as fsp } from 'node:fs';
import { JpError } from '../core/errors.js';
import { moveInto as moveFile } from '../queue/move.js';

export const REASON_SUFFIX = '.reason';

/**
 * Move `from` into `dir` as `name` (or `name.<ms>_<n>` when taken), across
 * file systems if need be (../queue/move.ts). Returns the name used, or
 * undefined when `from` is gone (another process moved it). With
 * `sidecar`, `<target>.reason` is written before the file appears.
 */
export function moveInto(from: string, dir: string, name: string, now: number, sidecar?: string): Promise<string | undefined> {
  return moveFile(from, dir, name, { now, acrossDevices: true, ...(sidecar !== undefined ? { sidecar: { suffix: REASON_SUFFIX, text: sidecar } } : {}) });
}

/** mkdir -p with `mode` for what is created; existing folders keep their permissions (jobman's). */
export async function mkdirKeep(path: string, mode: number): Promise<void> {
  await fsp.mkdir(path, { recursive: true, mode });
  const st = await fsp.stat(path);
  if (!st.isDirectory()) throw new JpError('JP_CONFIG', `${path} is not a directory`);
}
