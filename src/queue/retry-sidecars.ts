/**
 * Housekeeping of the retry-state sidecars in a retry directory (post/):
 *
 *  - a visible `<name>.meta` left by an earlier version of this port is
 *    renamed to the hidden `.<name>.meta` (./names.ts retryMetaName): the C
 *    importer's retry scan takes every name that does not start with '.',
 *    and would read such a sidecar as a message and delete it
 *    (spec/maildir.md §5). When the hidden one exists already (written
 *    since), the visible one is only removed; nothing is ever replaced.
 *  - a hidden sidecar whose message is no longer in post/ (a C importer
 *    took the message from there and delivered it; a crash between the
 *    writes) is removed once it has not been written for `orphanAfterMs`.
 *    A sidecar of a message being retried is rewritten at each attempt, so
 *    only a message claimed (in cur/) for longer than that loses its
 *    history — never the message itself.
 */
import { promises as fsp } from 'node:fs';
import { describeError, systemCode } from '../core/errors.js';
import { unlinkIfExists } from './fs.js';
import { moveNoReplace } from './move.js';
import { badMessageName, isMetaName, messageOfRetryMeta, retryMetaName } from './names.js';

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

export async function sweepRetrySidecars(retryDir: string, now: number, orphanAfterMs = ORPHAN_SIDECAR_AGE_MS): Promise<SidecarSweep> {
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
  for (const entry of hidden) {
    const name = messageOfRetryMeta(entry) as string;
    if (messages.has(name)) continue;
    try {
      const st = await fsp.lstat(dir + entry);
      if (now - st.mtimeMs < orphanAfterMs) continue;
      // Its message may have come back since the listing (a retry records the sidecar first): look again.
      if ((await fsp.lstat(dir + name).catch(() => undefined)) !== undefined) continue;
      if (await unlinkIfExists(dir + entry)) orphansRemoved++;
    } catch (err) {
      if (systemCode(err) !== 'ENOENT') skipped.push({ entry, reason: describeError(err) });
    }
  }
  return { renamed, orphansRemoved, skipped };
}
