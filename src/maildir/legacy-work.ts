/**
 * The C importer's claims: `work/` of an LB maildir (spec/maildir.md §2,
 * §5). A C consumer holds a message in work/X for its whole transaction,
 * then unlinks it; moving work/X back to new/ while it works makes the
 * message delivered twice. So a message there is taken over (moved into
 * new/ without replacing anything) only when
 *
 *  - its rename into work/ (the entry's ctime) is at least `minAgeMs` old:
 *    older than any C transaction, so its consumer died (the daemon's
 *    periodic pass, `--legacy-work-age`); or
 *  - an operator says no C consumer runs on the spool (`requeue
 *    --adopt-legacy`: minAgeMs 0).
 *
 * Producers (the exporter, the upload API) never come here.
 */
import { promises as fsp } from 'node:fs';
import { describeError, systemCode } from '../core/errors.js';

/**
 * Default --legacy-work-age: a message the C importer has held in work/
 * this long is taken over. Many times its longest transaction (a few
 * minutes: a SOAP call, or an FTP upload of one dump, each under its own
 * timeouts), so a C consumer that still runs is never robbed.
 */
export const DEFAULT_LEGACY_WORK_AGE_MS = 3_600_000;

export interface LegacyAdoption {
  readonly adopted: { readonly name: string; readonly heldMs: number }[];
  /** Entries younger than minAgeMs: a C consumer may still be working on them. */
  readonly held: number;
  readonly skipped: { readonly entry: string; readonly reason: string }[];
}

/** Moves `from` into `dir` as `name` without replacing anything; the name used, undefined when `from` is gone. */
export type MoveNoClobber = (from: string, dir: string, name: string) => Promise<string | undefined>;

/** Adopt from `workDir` into `newDir` the entries held at least `minAgeMs` at `now`. A missing work/ is an empty one. */
export async function adoptLegacyWork(workDir: string, newDir: string, minAgeMs: number, now: number, move: MoveNoClobber): Promise<LegacyAdoption> {
  const adopted: { name: string; heldMs: number }[] = [];
  const skipped: { entry: string; reason: string }[] = [];
  let held = 0;
  let dir;
  try {
    dir = await fsp.opendir(workDir, { bufferSize: 128 });
  } catch (e) {
    if (systemCode(e) === 'ENOENT') return { adopted, held, skipped };
    throw e;
  }
  for await (const e of dir) {
    if (e.name.startsWith('.')) continue;
    const path = `${workDir}/${e.name}`;
    try {
      // ctime: the rename into work/ (or any later change); a clock set back makes it look young, never old.
      const heldMs = Math.max(0, now - (await fsp.lstat(path)).ctimeMs);
      if (heldMs < minAgeMs) {
        held++;
        continue;
      }
      if ((await move(path, newDir, e.name)) !== undefined) adopted.push({ name: e.name, heldMs: Math.round(heldMs) });
    } catch (err) {
      if (systemCode(err) !== 'ENOENT') skipped.push({ entry: `work/${e.name}`, reason: describeError(err) });
    }
  }
  return { adopted, held, skipped };
}
