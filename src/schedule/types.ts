/** Scheduled tasks of the master process: what a `[task NAME]` section becomes, and what a run returns. */
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';

export const TASK_ACTIONS = ['export-dumps', 'prune-store', 'clean-tmp', 'requeue'] as const;
export type TaskAction = (typeof TASK_ACTIONS)[number];

export const REQUEUE_AREAS = ['undeliverable', 'post'] as const;
export type RequeueArea = (typeof REQUEUE_AREAS)[number];

/** One spool subtree the importer serves (reg, dump, sandbox, ...). */
export interface SpoolRef {
  readonly name: string;
  readonly root: string;
}

interface TaskBase {
  /** NAME of `[task NAME]`. */
  readonly name: string;
  /** node-cron expression (5 or 6 fields). */
  readonly schedule: string;
  /** A run still going after this long is reported as overdue (not stopped). */
  readonly overdueMs: number | undefined;
  /** `FILE [task NAME]`, for messages. */
  readonly source: string;
}

export interface ExportDumpsSpec extends TaskBase {
  readonly action: 'export-dumps';
  readonly dumps: string;
  readonly store: string;
  readonly lbmaildir: string;
  readonly jpps: string | undefined;
  readonly done: string;
  readonly failed: string;
  readonly skipBadLines: boolean;
}

export interface PruneStoreSpec extends TaskBase {
  readonly action: 'prune-store';
  readonly dir: string;
  readonly olderThanMs: number;
}

export interface CleanTmpSpec extends TaskBase {
  readonly action: 'clean-tmp';
  readonly olderThanMs: number;
  readonly spools: readonly SpoolRef[];
}

export interface RequeueSpec extends TaskBase {
  readonly action: 'requeue';
  readonly spools: readonly SpoolRef[];
  readonly from: readonly RequeueArea[];
}

export type TaskSpec = ExportDumpsSpec | PruneStoreSpec | CleanTmpSpec | RequeueSpec;

export interface TaskResult {
  /** false when part of the work failed (e.g. one dump could not be exported). */
  readonly ok: boolean;
  /** One line for the log. */
  readonly summary: string;
  /** Counters (dumps, jobs, failed, removed, ...) for the log line and metrics. */
  readonly counts: Readonly<Record<string, number>>;
}

export interface TaskDeps {
  readonly log: Logger;
  readonly clock: Clock;
  /** Aborted at shutdown: actions stop between items (one dump, one file). */
  readonly signal?: AbortSignal;
}
