/**
 * Find a message by its name in every state directory of every subtree
 * (read-only). In cur/ a message is found by its base name (the claim
 * suffix `:<pid>@<host>` is matched by a streamed scan) or by the full
 * claimed name.
 */
import { join } from 'node:path';
import { describeError, systemCode } from '../core/errors.js';
import { parseClaimName } from '../queue/names.js';
import { eachMessage } from '../queue/list.js';
import { lstatIfExists } from './dir-stream.js';
import type { OpsSubtree } from './subtrees.js';

export const LOCATION_STATES = ['new', 'cur', 'post', 'undeliverable', 'work', 'tmp'] as const;
export type LocationState = (typeof LOCATION_STATES)[number];

export interface Location {
  readonly subtree: string;
  readonly root: string;
  readonly state: LocationState;
  /** File name in the state directory (the claimed name in cur/). */
  readonly entry: string;
  readonly path: string;
}

export interface LocateResult {
  /** Every place the message was found, in LOCATION_STATES order per subtree. */
  readonly found: Location[];
  /** Subtrees or directories that could not be searched (other than missing). */
  readonly problems: string[];
}

/** The message name behind an id (a claimed name gives its base name). */
export function baseName(id: string): string {
  return parseClaimName(id)?.name ?? id;
}

async function inCur(t: OpsSubtree, id: string): Promise<string[]> {
  const dir = join(t.root, 'cur');
  if (id.includes(':')) {
    const st = await lstatIfExists(join(dir, id));
    return st === undefined ? [] : [id];
  }
  const hits: string[] = [];
  await eachMessage(dir, (entry) => {
    if (entry === id || parseClaimName(entry)?.name === id) hits.push(entry);
  });
  return hits.sort();
}

/** Search `id` (already validated with badId) in the given subtrees. */
export async function locate(subtrees: readonly OpsSubtree[], id: string): Promise<LocateResult> {
  const found: Location[] = [];
  const problems: string[] = [];
  for (const t of subtrees) {
    try {
      for (const state of LOCATION_STATES) {
        if (state === 'cur') {
          for (const entry of await inCur(t, id)) found.push({ subtree: t.name, root: t.root, state, entry, path: join(t.root, 'cur', entry) });
          continue;
        }
        if (id.includes(':')) continue;
        const path = join(t.root, state, id);
        const st = await lstatIfExists(path);
        if (st !== undefined && !st.isDirectory()) found.push({ subtree: t.name, root: t.root, state, entry: id, path });
      }
    } catch (e) {
      if (systemCode(e) === 'ENOENT' || systemCode(e) === 'ENOTDIR') continue;
      problems.push(`${t.name}: ${describeError(e)}`);
    }
  }
  return { found, problems };
}
