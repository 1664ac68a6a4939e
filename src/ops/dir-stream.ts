/**
 * Streamed directory walks for the operator tools: entries are handled in
 * small concurrent batches, so a directory of 100,000 files never has all
 * its names in memory and per-file work (stat, reading a sidecar) overlaps.
 */
import { promises as fsp } from 'node:fs';
import type { Stats } from 'node:fs';
import { systemCode } from '../core/errors.js';
import { readBounded } from '../maildir/fsutil.js';
import { parseMeta, type MessageMeta } from '../maildir/retry-state.js';

const BATCH = 64;
const MAX_META_BYTES = 64 * 1024;

/**
 * Call `fn` for every entry of `dir` not starting with '.'. Returns false
 * when the directory does not exist; other errors are thrown (after the
 * batch in flight has settled).
 */
export async function eachEntry(dir: string, fn: (name: string) => Promise<void> | void): Promise<boolean> {
  let d;
  try {
    d = await fsp.opendir(dir, { bufferSize: 128 });
  } catch (e) {
    if (systemCode(e) === 'ENOENT') return false;
    throw e;
  }
  let failure: { error: unknown } | undefined;
  const guard = async (name: string): Promise<void> => {
    try {
      await fn(name);
    } catch (e) {
      failure ??= { error: e };
    }
  };
  let pending: Promise<void>[] = [];
  for await (const e of d) {
    if (e.name.startsWith('.')) continue;
    pending.push(guard(e.name));
    if (pending.length >= BATCH) {
      await Promise.all(pending);
      pending = [];
      if (failure !== undefined) break;
    }
  }
  await Promise.all(pending);
  if (failure !== undefined) throw failure.error;
  return true;
}

/** lstat that answers undefined when the file has gone (a worker moved it). */
export async function lstatIfExists(path: string): Promise<Stats | undefined> {
  try {
    return await fsp.lstat(path);
  } catch (e) {
    if (systemCode(e) === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * A retry-state sidecar, or undefined when it is absent, unreadable,
 * oversized, a symbolic link or not valid (the message is then shown
 * without retry state; nothing is repaired here).
 */
export async function readMetaFile(path: string): Promise<MessageMeta | undefined> {
  try {
    return parseMeta((await readBounded(path, MAX_META_BYTES, 'meta')).toString('utf8'));
  } catch {
    return undefined;
  }
}
