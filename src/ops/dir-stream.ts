/**
 * Per-file reads of the operator tools (their directory walks are
 * ../queue/list.ts eachMessage): an lstat that tolerates a file moved
 * meanwhile, a retry-state sidecar read without repairing anything.
 */
import { promises as fsp } from 'node:fs';
import type { Stats } from 'node:fs';
import { systemCode } from '../core/errors.js';
import { join } from 'node:path';
import { readBounded } from '../queue/fs.js';
import { metaName, retryMetaName } from '../queue/names.js';
import { parseSpoolMeta } from '../maildir/spool.js';
import type { MessageMeta } from '../queue/retry-state.js';

const MAX_META_BYTES = 64 * 1024;

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
    return parseSpoolMeta((await readBounded(path, MAX_META_BYTES, 'meta')).toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The retry state of a message in `postDir`: its hidden sidecar, else one an earlier version left visible. */
export async function readRetryMeta(postDir: string, name: string): Promise<MessageMeta | undefined> {
  return (await readMetaFile(join(postDir, retryMetaName(name)))) ?? readMetaFile(join(postDir, metaName(name)));
}
