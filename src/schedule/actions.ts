/** One entry point for every task action. */
import { cleanTmp, pruneStore } from './cleanup.js';
import { exportDumps } from './export-dumps.js';
import { requeueTask } from './requeue.js';
import type { TaskDeps, TaskResult, TaskSpec } from './types.js';

/** Run one task's action once. Throws when the run as a whole failed. */
export function runTask(spec: TaskSpec, deps: TaskDeps): Promise<TaskResult> {
  switch (spec.action) {
    case 'export-dumps':
      return exportDumps(spec, deps);
    case 'prune-store':
      return pruneStore(spec, deps);
    case 'clean-tmp':
      return cleanTmp(spec, deps);
    case 'requeue':
      return requeueTask(spec, deps);
  }
}
