/**
 * Maintenance actions on plain files: prune-store (old files of the
 * importer's store) and clean-tmp (leftovers in the spools' tmp/).
 */
import { describeError } from '../core/errors.js';
import { dirOf } from '../queue/layout.js';
import { unlinkIfExists } from '../queue/fs.js';
import { regularFiles, type RegularFile } from './fs-walk.js';
import type { CleanTmpSpec, PruneStoreSpec, TaskDeps, TaskResult } from './types.js';

interface Tally {
  removed: number;
  kept: number;
  errors: number;
  aborted: boolean;
}

/** Remove the files of `dir` that `shouldRemove` picks; one file's error does not stop the others. */
async function sweep(dir: string, missingOk: boolean, deps: TaskDeps, t: Tally, shouldRemove: (f: RegularFile) => boolean): Promise<void> {
  for await (const f of regularFiles(dir, missingOk)) {
    if (deps.signal?.aborted === true) {
      t.aborted = true;
      return;
    }
    if (!shouldRemove(f)) {
      t.kept++;
      continue;
    }
    try {
      if (await unlinkIfExists(f.path)) {
        t.removed++;
        deps.log.debug({ file: f.path }, 'removed old file');
      }
    } catch (e) {
      t.errors++;
      deps.log.warn({ file: f.path, err: describeError(e) }, 'cannot remove old file');
    }
  }
}

/** 30d, 36h, 90m, 45s: the largest unit that divides the duration. */
export function formatAge(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

function result(t: Tally, what: string): TaskResult {
  const parts = [`removed ${t.removed} ${what}`, `kept ${t.kept}`];
  if (t.errors > 0) parts.push(`${t.errors} could not be removed`);
  if (t.aborted) parts.push('stopped early (shutdown)');
  return { ok: t.errors === 0, summary: parts.join(', '), counts: { removed: t.removed, kept: t.kept, errors: t.errors } };
}

/** prune-store: regular files directly in `dir` whose mtime is older than `older-than`. */
export async function pruneStore(spec: PruneStoreSpec, deps: TaskDeps): Promise<TaskResult> {
  const t: Tally = { removed: 0, kept: 0, errors: 0, aborted: false };
  const cutoff = deps.clock.now() - spec.olderThanMs;
  await sweep(spec.dir, false, deps, t, (f) => f.stats.mtimeMs < cutoff);
  return result(t, `files older than ${formatAge(spec.olderThanMs)} from ${spec.dir}`);
}

/**
 * clean-tmp: in tmp/ of every spool, regular files older than `older-than`
 * with one link only. A tmp/ file with more links is the twin of a message
 * in new/ (the LB C producer keeps it) and stays.
 */
export async function cleanTmp(spec: CleanTmpSpec, deps: TaskDeps): Promise<TaskResult> {
  const t: Tally = { removed: 0, kept: 0, errors: 0, aborted: false };
  const cutoff = deps.clock.now() - spec.olderThanMs;
  for (const s of spec.spools) {
    if (t.aborted) break;
    try {
      await sweep(dirOf(s.root, 'tmp'), true, deps, t, (f) => f.stats.nlink === 1 && f.stats.mtimeMs < cutoff);
    } catch (e) {
      t.errors++;
      deps.log.warn({ spool: s.name, err: describeError(e) }, 'cannot clean tmp/ of spool');
    }
  }
  return result(t, `files older than ${formatAge(spec.olderThanMs)} from tmp/ of ${spec.spools.length} spools`);
}
