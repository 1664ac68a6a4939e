/**
 * Keeps `<spool>/destination-down.<pid>@<host>.json` in step with the
 * worker's destination gate (written when it closes or a probe fails,
 * removed when it reopens), one write at a time and in order. Failures are
 * logged, never fatal: the file only informs `jp-importer status`.
 */
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { pidAlive } from '../maildir/spool.js';
import {
  removeDestinationDown, removeStaleDestinationRecords, writeDestinationDown,
} from '../maildir/destination-file.js';
import type { GateChange } from './destination-gate.js';

export class DestinationStatusFile {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly root: string,
    private readonly worker: string,
    private readonly host: string,
    private readonly log: Logger,
    private readonly pid = process.pid,
  ) {}

  /** Remove records of dead processes of this host (a worker restarted after a crash). */
  cleanStale(): Promise<void> {
    return this.enqueue('removing stale destination records', async () => {
      const n = await removeStaleDestinationRecords(this.root, this.host, pidAlive);
      if (n > 0) this.log.info({ spool: this.root, count: n }, 'removed destination records of processes that are gone');
    });
  }

  update(change: GateChange): Promise<void> {
    if (change.kind !== 'closed') {
      return this.enqueue('removing the destination record', () => removeDestinationDown(this.root, this.pid, this.host));
    }
    return this.enqueue('writing the destination record', () => writeDestinationDown(this.root, {
      version: 1, pid: this.pid, host: this.host, worker: this.worker,
      since: change.since, nextProbeAt: change.nextProbeAt, failures: change.failures, reason: change.reason,
    }));
  }

  /** At shutdown: the record must not outlive the worker. */
  remove(): Promise<void> {
    return this.enqueue('removing the destination record', () => removeDestinationDown(this.root, this.pid, this.host));
  }

  private enqueue(what: string, fn: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(fn).catch((err: unknown) => {
      this.log.warn({ spool: this.root, err: describeError(err) }, `${what} failed`);
    });
    return this.chain;
  }
}
