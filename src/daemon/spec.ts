/** What a worker process is told to do (passed in its environment as JSON). */
import type { ImporterOptions } from '../config/options.js';
import { consumedSpools, type SpoolName } from '../queue/spools.js';

export type WorkerRole = SpoolName;

export interface LogSpec {
  readonly format: 'json' | 'pretty';
  readonly level: string;
  readonly file: string | undefined;
}

export interface WorkerSpec {
  /** Unique within the master: `reg`, `dump-1`…`dump-N`, `sandbox`. */
  readonly id: string;
  readonly role: WorkerRole;
  /** The spool subtree this worker consumes (jobman compatibility mode: its config.ini). */
  readonly spool: string;
  readonly options: ImporterOptions;
  readonly log: LogSpec;
}

export const SPEC_ENV = 'JP_WORKER_SPEC';

export function workerSpecs(o: ImporterOptions, log: LogSpec): WorkerSpec[] {
  const specs: WorkerSpec[] = [];
  for (const { name: role, root: spool } of consumedSpools(o)) {
    if (role === 'dump') {
      for (let i = 1; i <= o.dumpSlaves; i++) specs.push({ id: `dump-${i}`, role, spool, options: o, log });
    } else if (role !== 'jobman' || o.jobmanConfig !== undefined) specs.push({ id: role, role, spool, options: o, log });
  }
  // jobman's own queue folders (no jobman maildir): the worker's "spool" is its config.ini
  if (o.workers.includes('jobman') && o.jobmanConfig !== undefined && o.jobmanMdir === undefined) {
    specs.push({ id: 'jobman', role: 'jobman', spool: o.jobmanConfig, options: o, log });
  }
  return specs;
}

export function parseSpec(text: string | undefined): WorkerSpec {
  if (text === undefined) throw new Error(`${SPEC_ENV} is not set: worker processes are started by the jp-importer master`);
  const v = JSON.parse(text) as WorkerSpec;
  if (typeof v.id !== 'string' || typeof v.spool !== 'string' || typeof v.options !== 'object') {
    throw new Error(`${SPEC_ENV} does not hold a worker spec`);
  }
  return v;
}

/** Roles whose queue is a maildir Spool at `spec.spool`. */
export function usesMaildir(spec: WorkerSpec): boolean {
  return spec.role !== 'jobman' || spec.options.jobmanMdir !== undefined;
}
