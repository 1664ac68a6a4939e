export { parseTasks, taskSectionName, ACTION_KEYS, TASK_DEFAULTS, type TaskContext } from './parse.js';
export { runTask } from './actions.js';
export { exportDumps, readyDumps, moveInto, DUMP_SETTLE_MS } from './export-dumps.js';
export { pruneStore, cleanTmp, formatAge } from './cleanup.js';
export { requeueTask } from './requeue.js';
export {
  Scheduler, SCHEDULER_DEFAULTS,
  type RunRecord, type RunOutcome, type RunTrigger, type SchedulerEvent, type SchedulerOptions, type TaskStats,
} from './scheduler.js';
export {
  TASK_ACTIONS, REQUEUE_AREAS,
  type TaskAction, type RequeueArea, type SpoolRef, type TaskSpec, type TaskResult, type TaskDeps,
  type ExportDumpsSpec, type PruneStoreSpec, type CleanTmpSpec, type RequeueSpec,
} from './types.js';
