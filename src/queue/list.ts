/**
 * The one listing API of a queue's state directories, for everyone who
 * reads them (the operator tools, the metrics, the scheduler's requeue):
 * entries are streamed with opendir (never a whole listing in memory) and
 * filtered by the one rule of ./names.ts isMessageEntry.
 */
import type { Dir } from 'node:fs';
import { opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { systemCode } from '../core/errors.js';
import { STATES, type SpoolState } from './layout.js';
import { isMessageEntry, parseNameTime } from './names.js';

/** Asynchronous callbacks run this many at once (per-file stat or sidecar reads overlap). */
const BATCH = 64;

async function openIfExists(dir: string, bufferSize: number): Promise<Dir | undefined> {
  try {
    return await opendir(dir, { bufferSize });
  } catch (e) {
    if (systemCode(e) === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Call `fn` for every message in `dir` (isMessageEntry). A callback that
 * returns a promise runs in a batch of up to 64 at once; the first error is
 * thrown after the batch in flight has settled. Returns false when `dir`
 * does not exist; other errors are thrown.
 */
export async function eachMessage(dir: string, fn: (name: string) => Promise<void> | void, bufferSize = 128): Promise<boolean> {
  const d = await openIfExists(dir, bufferSize);
  if (d === undefined) return false;
  let failure: { error: unknown } | undefined;
  let pending: Promise<void>[] = [];
  for await (const e of d) {
    if (!isMessageEntry(e.name, e.isDirectory())) continue;
    let r: Promise<void> | void;
    try {
      r = fn(e.name);
    } catch (err) {
      failure ??= { error: err };
      break;
    }
    if (r === undefined) continue;
    pending.push(r.catch((err: unknown) => {
      failure ??= { error: err };
    }));
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

/** Message names of `dir`, all at once (for a requeue pass: short lists); none when it is missing. */
export async function messageNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  await eachMessage(dir, (n) => {
    names.push(n);
  });
  return names;
}

export type SpoolCounts = Record<SpoolState, number>;

/** Per state: the creation time (seconds since the epoch) of the oldest message whose name carries one. */
export type SpoolOldest = Partial<Record<SpoolState, number>>;

export interface SpoolSurvey {
  readonly counts: SpoolCounts;
  readonly oldest: SpoolOldest;
}

/**
 * Counts and the oldest message of each state of a maildir subtree
 * (new/, cur/, post/, undeliverable/; a missing state directory counts 0),
 * by the creation time LB names carry (`<seconds>_<microseconds>`), in one
 * pass over each directory and no stat per file. Measured: about 90 ms
 * (80 ms CPU) per 110,000 entries on a warm cache.
 */
export async function surveySpool(root: string): Promise<SpoolSurvey> {
  const counts: SpoolCounts = { new: 0, cur: 0, post: 0, undeliverable: 0 };
  const oldest: SpoolOldest = {};
  for (const state of STATES) {
    let n = 0;
    let first: number | undefined;
    await eachMessage(join(root, state), (name) => {
      n++;
      const t = parseNameTime(name);
      if (t !== undefined && (first === undefined || t.sec < first)) first = t.sec;
    }, 1024);
    counts[state] = n;
    if (first !== undefined) oldest[state] = first;
  }
  return { counts, oldest };
}

/** Message counts of new/, cur/, post/ and undeliverable/ under root. */
export async function countSpool(root: string): Promise<SpoolCounts> {
  return (await surveySpool(root)).counts;
}
