/**
 * Housekeeping of the retry-state sidecars in a retry directory (post/):
 *
 *  - a visible `<name>.meta` left by an earlier version of this port is
 *    renamed to the hidden `.<name>.meta` (./names.ts retryMetaName): the C
 *    importer's retry scan takes every name that does not start with '.',
 *    and would read such a sidecar as a message and delete it
 *    (spec/maildir.md §5). When the hidden one exists already (written
 *    since), the visible one is only removed; nothing is ever replaced.
 *  - a hidden sidecar whose message is nowhere in the queue any more (a C
 *    importer took it from post/ and delivered it; a crash between the
 *    writes) is removed once it has not been written for `orphanAfterMs`.
 *    A message still claimed (a claim in `claimedDir` of any holder) or in
 *    one of `elsewhere` (incoming, the C importer's work/) keeps its state,
 *    and the sidecar is removed only when it is still the very file found
 *    old (same inode and mtime), looked at again just before the unlink: a
 *    retry recorded meanwhile replaces it with a new file.
 */
import { promises as fsp } from 'node:fs';
import { describeError, systemCode } from '../core/errors.js';
import { unlinkIfExists } from './fs.js';
import { moveNoReplace } from './move.js';
import { badMessageName, isMetaName, messageOfRetryMeta, parseClaimName, retryMetaName } from './names.js';

export interface SidecarSweep {
  /** Visible sidecars of earlier versions made hidden (or dropped for a newer hidden one). */
  readonly renamed: number;
  /** Hidden sidecars without their message, removed. */
  readonly orphansRemoved: number;
  /** Entries that could not be handled, with why (left where they are). */
  readonly skipped: readonly { readonly entry: string; readonly reason: string }[];
}

/** Default age after which a sidecar without its message goes: a day. */
export const ORPHAN_SIDECAR_AGE_MS = 24 * 3_600_000;

/** Where else a message may be while its retry state stays in the retry directory. */
export interface SweepPlaces {
  /** Claims (`<name>:<holder>`): a message claimed from retry is being processed. */
  readonly claimedDir: string;
  /** Directories holding messages under their own name (incoming, the C importer's work/). */
  readonly elsewhere: readonly string[];
}

/** Names claimed in `dir` (any holder); empty when it cannot be read. */
async function claimedNames(dir: string): Promise<Set<string>> {
  const out = new Set<string>();
  try {
    for await (const e of await fsp.opendir(dir, { bufferSize: 128 })) {
      const c = parseClaimName(e.name);
      if (c !== undefined) out.add(c.name);
    }
  } catch (err) {
    if (systemCode(err) !== 'ENOENT') throw err;
  }
  return out;
}

const exists = async (path: string): Promise<boolean> => (await fsp.lstat(path).catch(() => undefined)) !== undefined;

export async function sweepRetrySidecars(
  retryDir: string, now: number, places: SweepPlaces, orphanAfterMs = ORPHAN_SIDECAR_AGE_MS,
): Promise<SidecarSweep> {
  const messages = new Set<string>();
  const visible: string[] = [];
  const hidden: string[] = [];
  for await (const e of await fsp.opendir(retryDir, { bufferSize: 128 })) {
    if (messageOfRetryMeta(e.name) !== undefined) hidden.push(e.name);
    else if (e.name.startsWith('.')) continue;
    else if (isMetaName(e.name) && badMessageName(e.name.slice(0, -'.meta'.length)) === undefined) visible.push(e.name);
    else messages.add(e.name);
  }
  let renamed = 0;
  let orphansRemoved = 0;
  const skipped: { entry: string; reason: string }[] = [];
  const dir = `${retryDir}/`;
  for (const entry of visible) {
    try {
      const name = entry.slice(0, -'.meta'.length);
      const r = await moveNoReplace(dir + entry, dir + retryMetaName(name));
      if (r === 'exists') await unlinkIfExists(dir + entry);
      if (r !== 'gone') renamed++;
      if (!messages.has(name)) hidden.push(retryMetaName(name));
    } catch (err) {
      skipped.push({ entry, reason: describeError(err) });
    }
  }
  const candidates = hidden.filter((entry) => !messages.has(messageOfRetryMeta(entry) as string));
  const claimed = candidates.length === 0 ? new Set<string>() : await claimedNames(places.claimedDir);
  for (const entry of candidates) {
    const name = messageOfRetryMeta(entry) as string;
    if (claimed.has(name)) continue;
    try {
      const st = await fsp.lstat(dir + entry);
      if (now - st.mtimeMs < orphanAfterMs) continue;
      // Its message may be elsewhere, or back since the listing (a retry records the sidecar first): look again.
      if (await exists(dir + name)) continue;
      if ((await Promise.all(places.elsewhere.map((d) => exists(`${d}/${name}`)))).some((x) => x)) continue;
      const again = await fsp.lstat(dir + entry);
      if (again.ino !== st.ino || again.mtimeMs !== st.mtimeMs) continue; // rewritten meanwhile: in use
      if (await unlinkIfExists(dir + entry)) orphansRemoved++;
    } catch (err) {
      if (systemCode(err) !== 'ENOENT') skipped.push({ entry, reason: describeError(err) });
    }
  }
  return { renamed, orphansRemoved, skipped };
}
