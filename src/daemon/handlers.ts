/** Builds a worker's queue and message handler for its role. */
import { basename } from 'node:path';
import { JpError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { MessageQueue } from '../core/queue.js';
import { Spool } from '../maildir/spool.js';
import { primaryClientFor } from './primary-client.js';
import { createRegistrationHandler } from '../register/handler.js';
import type { MessageHandler } from '../core/handler.js';
import type { WorkerSpec } from './spec.js';

export interface WorkerParts {
  readonly queue: MessageQueue;
  readonly handler: MessageHandler;
  readonly concurrency: number;
}

export interface WorkerHooks {
  /** A jobman control file was found (compatibility mode). */
  onControl(action: 'quit' | 'restart'): void;
}

/** A request file in jobman's iqueue is taken only once it is this old. */
export const JOBMAN_MIN_AGE_MS = 500;

/** Largest jobman request accepted. */
export const MAX_JOBMAN_REQUEST_BYTES = 16 * 1024 * 1024;

export async function createWorkerParts(spec: WorkerSpec, log: Logger, hooks: WorkerHooks): Promise<WorkerParts> {
  const o = spec.options;
  switch (spec.role) {
    case 'reg': {
      const client = primaryClientFor(spec, o.jpps, log, o.concurrency);
      // Unusable credentials: fail at start (restarted with backoff) instead of failing every message.
      await client.identity();
      return { queue: new Spool(spec.spool, { policy: o.retry }), handler: createRegistrationHandler(client), concurrency: o.concurrency };
    }
    case 'jobman': {
      if (o.jobmanConfig === undefined) throw new JpError('JP_CONFIG', 'the jobman worker needs --jobman-config');
      // Loaded only by the workers that need them (start-up time, database drivers).
      const { createJobmanHandler, JobmanQueue, loadJobmanConfig } = await import('../jobman/index.js');
      const config = loadJobmanConfig(o.jobmanConfig, process.env);
      const queue: MessageQueue = o.jobmanMdir !== undefined
        ? new Spool(o.jobmanMdir, { policy: o.retry })
        : JobmanQueue.fromConfig(config, {
          policy: o.retry,
          onControl: (kind) => hooks.onControl(kind),
          // jobman clients may write request files in place: leave a file until it is 0.5 s old.
          minAgeMs: JOBMAN_MIN_AGE_MS,
        });
      const jh = createJobmanHandler(config, {
        logger: log,
        ...(o.jobmanMdir !== undefined ? { dir: basename(o.jobmanMdir) } : {}),
        ...(o.jobmanClient ? { mode: 'client' as const } : {}),
      });
      const handler: MessageHandler = { maxBytes: MAX_JOBMAN_REQUEST_BYTES, handle: (m, b, s) => jh.handle(m, b, s), close: () => jh.close() };
      // The handler serialises requests (one transaction at a time).
      return { queue, handler, concurrency: 1 };
    }
    case 'dump':
    case 'sandbox':
      return (await import('./upload-parts.js')).createUploadParts(spec, spec.role, log);
  }
}
