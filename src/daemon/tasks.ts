/**
 * Scheduled tasks of the configuration file ([task NAME]) in the daemon and
 * for `jp-importer run-task`: parsing against the options, and runs that
 * never overlap — within the scheduler, and across processes (the daemon's
 * scheduler and a systemd timer running the same task) by a lock per task.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import lockfile from 'proper-lockfile';
import type { ConfigFile } from '../config/file.js';
import { defaultAllowDirs, type ImporterOptions } from '../config/options.js';
import { systemClock } from '../core/clock.js';
import { systemCode } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { lbSpoolsOf } from '../queue/spools.js';
import { parseTasks } from '../schedule/parse.js';
import type { TaskResult, TaskSpec } from '../schedule/types.js';

export function tasksOf(file: ConfigFile | undefined, o: ImporterOptions): TaskSpec[] {
  if (file === undefined) return [];
  return parseTasks(file.ini, file.path, {
    dumpMdir: o.dumpMdir,
    store: o.store,
    spools: lbSpoolsOf(o),
    allowDirs: [...defaultAllowDirs(o.sandboxMdir), ...o.allowDirs],
  });
}

/** Where the per-task locks live: beside the pidfile. */
export function taskLockDir(o: ImporterOptions): string {
  return join(dirname(o.pidfile), 'tasks');
}

/** Run a task unless another process runs it now (then: skipped, ok). */
export async function runTaskLocked(spec: TaskSpec, o: ImporterOptions, log: Logger, signal?: AbortSignal): Promise<TaskResult> {
  const dir = taskLockDir(o);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const target = join(dir, spec.name.replace(/[^A-Za-z0-9._-]/g, '_') || 'task');
  let release: (() => Promise<void>) | undefined;
  try {
    release = await lockfile.lock(target, { realpath: false, stale: 30_000, update: 10_000 });
  } catch (err) {
    if (systemCode(err) === 'ELOCKED') {
      return { ok: true, summary: 'skipped: another process is running this task', counts: { skipped: 1 } };
    }
    throw err;
  }
  try {
    const { runTask } = await import('../schedule/actions.js');
    return await runTask(spec, { log, clock: systemClock, ...(signal !== undefined ? { signal } : {}) });
  } finally {
    await release().catch(() => undefined);
  }
}
