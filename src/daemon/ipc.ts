/** Typed messages between the master and its worker processes. */
import { isWorkerStatsReport, type WorkerStatsReport } from '../metrics/worker-stats.js';

export type MasterToWorker =
  | { readonly type: 'stop'; readonly graceMs: number }
  /** SIGHUP: reopen the log file. */
  | { readonly type: 'reopen-log' };

export type WorkerToMaster =
  | { readonly type: 'ready'; readonly id: string }
  /** Every 0.5 s and at stop: cumulative counts, in-flight, delivery latencies since the last report. */
  | { readonly type: 'stats'; readonly id: string; readonly report: WorkerStatsReport }
  | { readonly type: 'fatal'; readonly id: string; readonly message: string }
  /** A jobman control file arrived: quit the daemon, or restart the workers. */
  | { readonly type: 'control'; readonly id: string; readonly action: 'quit' | 'restart' };

/** Exit codes of a worker process. */
export const WORKER_EXIT = {
  /** Stopped on request. */
  OK: 0,
  /** Recording an outcome failed (disk?): restart so the claims are recovered. */
  FATAL: 70,
  /** Bad configuration (credentials, spool directory): restarting will not help at once. */
  CONFIG: 78,
} as const;

export function isWorkerToMaster(v: unknown): v is WorkerToMaster {
  if (typeof v !== 'object' || v === null) return false;
  const t = (v as { type?: unknown }).type;
  if (t === 'stats') return isWorkerStatsReport((v as { report?: unknown }).report);
  return t === 'ready' || t === 'fatal' || t === 'control';
}

export function isMasterToWorker(v: unknown): v is MasterToWorker {
  if (typeof v !== 'object' || v === null) return false;
  const t = (v as { type?: unknown }).type;
  return (t === 'stop' && typeof (v as { graceMs?: unknown }).graceMs === 'number') || t === 'reopen-log';
}
