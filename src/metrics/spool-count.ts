/**
 * Count the messages of one spool subtree per state, and find the oldest
 * one of each state by the creation time its name carries (LB names begin
 * with `<seconds>_<microseconds>`), streaming each directory with opendir
 * (never a whole listing in memory, no stat per file): dot files, `.meta`
 * sidecars and subdirectories are not messages.
 * Measured: about 90 ms (80 ms CPU) per 110,000 entries on a warm cache,
 * yielding to the event loop every 1024 entries — fine every 15 s.
 */
import type { Dir } from 'node:fs';
import { opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { systemCode } from '../core/errors.js';
import { STATES, type SpoolState } from '../maildir/layout.js';
import { isMetaName, parseNameTime } from '../maildir/names.js';

export type SpoolCounts = Record<SpoolState, number>;

/** Per state: the creation time (seconds since the epoch) of the oldest message whose name carries one. */
export type SpoolOldest = Partial<Record<SpoolState, number>>;

export interface SpoolSurvey {
  readonly counts: SpoolCounts;
  readonly oldest: SpoolOldest;
}

/** Message counts of new/, cur/, post/ and undeliverable/ under root; a missing state directory counts 0. */
export async function countSpool(root: string): Promise<SpoolCounts> {
  return (await surveySpool(root)).counts;
}

/** Counts and the oldest message of each state, in one pass over each directory. */
export async function surveySpool(root: string): Promise<SpoolSurvey> {
  const counts: SpoolCounts = { new: 0, cur: 0, post: 0, undeliverable: 0 };
  const oldest: SpoolOldest = {};
  for (const state of STATES) {
    const r = await surveyMessages(join(root, state));
    counts[state] = r.n;
    if (r.oldest !== undefined) oldest[state] = r.oldest;
  }
  return { counts, oldest };
}

async function surveyMessages(dir: string): Promise<{ n: number; oldest: number | undefined }> {
  let d: Dir;
  try {
    d = await opendir(dir, { bufferSize: 1024 });
  } catch (e) {
    if (systemCode(e) === 'ENOENT') return { n: 0, oldest: undefined };
    throw e;
  }
  let n = 0;
  let oldest: number | undefined;
  for await (const e of d) {
    if (e.name.startsWith('.') || isMetaName(e.name) || e.isDirectory()) continue;
    n++;
    const t = parseNameTime(e.name);
    if (t !== undefined && (oldest === undefined || t.sec < oldest)) oldest = t.sec;
  }
  return { n, oldest };
}
