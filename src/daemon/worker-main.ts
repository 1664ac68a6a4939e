/**
 * Entry of a worker process (forked by the master). Builds the handler for
 * its role, runs the loop over its spool subtree, reports counts, and stops
 * on the master's request or when the master goes away.
 */
import { createLogging } from '../core/log.js';
import { describeError } from '../core/errors.js';
import { createWorkerParts } from './worker-parts.js';
import { isMasterToWorker, WORKER_EXIT, type WorkerToMaster } from './ipc.js';
import { parseSpec, SPEC_ENV } from './spec.js';
import { WorkerLoop } from './worker-loop.js';
import { WorkerStats } from '../metrics/worker-stats.js';
import { HOUSEKEEPING_EVERY_MS } from './housekeeping.js';
import { Spool } from '../maildir/spool.js';
import { gatePolicyFromRetry } from './destination-gate.js';
import { DestinationStatusFile } from './destination-status.js';

const spec = parseSpec(process.env[SPEC_ENV]);
const logging = createLogging({ format: spec.log.format, level: spec.log.level, file: spec.log.file, name: 'jp-importer' });
const log = logging.logger.child({ worker: spec.id });

function send(m: WorkerToMaster): void {
  if (process.connected) process.send?.(m);
}

let loop: WorkerLoop | undefined;
let destinationFile: DestinationStatusFile | undefined;
const stats = new WorkerStats();

let lastReport = '';
/** The master judges a dead worker's progress (restart backoff) from these reports: the first outcome goes at once. */
let progressReported = false;
/** Report to the master; an idle worker whose figures did not change sends nothing. */
function report(force = false): void {
  if (loop === undefined) return;
  stats.setInFlight(loop.inFlight);
  stats.setDestinationDown(loop.destination !== undefined && loop.destination.state !== 'open');
  const r = stats.take();
  const key = JSON.stringify([r.counts, r.inFlight, r.destinationDown]);
  if (!force && key === lastReport && r.latenciesMs.length === 0 && r.foldedLatencies.length === 0) return;
  lastReport = key;
  send({ type: 'stats', id: spec.id, report: r });
}
let stopping: Promise<void> | undefined;

async function stop(graceMs: number, code: number): Promise<void> {
  stopping ??= (async () => {
    await loop?.stop(graceMs);
    await destinationFile?.remove();
    report(true);
    process.exit(code);
  })();
  return stopping;
}

process.on('message', (m: unknown) => {
  if (!isMasterToWorker(m)) return;
  if (m.type === 'stop') void stop(m.graceMs, WORKER_EXIT.OK);
  else logging.reopen();
});
// The master is gone (killed): finish quickly and leave.
process.on('disconnect', () => void stop(2000, WORKER_EXIT.OK));
// Signals go to the whole process group from a terminal: the master decides.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => void stop(2000, WORKER_EXIT.OK));

try {
  const o = spec.options;
  const parts = await createWorkerParts(spec, log, {
    onControl: (action) => {
      log.warn({ action }, `jobman control file: ${action}`);
      send({ type: 'control', id: spec.id, action });
    },
  });
  if (parts.queue instanceof Spool) {
    destinationFile = new DestinationStatusFile(parts.queue.root, spec.id, parts.queue.host, log);
    void destinationFile.cleanStale();
  }
  loop = new WorkerLoop({
    queue: parts.queue,
    handler: parts.handler,
    log,
    concurrency: parts.concurrency,
    pollMs: o.pollMs,
    retryScanMs: Math.min(30_000, Math.max(o.pollMs, Math.floor(o.retry.firstDelayMs / 4))),
    // A message held past --legacy-work-age is taken over within a quarter of that age (at most a minute later).
    housekeepingMs: o.legacyWorkAgeMs === null ? HOUSEKEEPING_EVERY_MS : Math.min(HOUSEKEEPING_EVERY_MS, Math.max(1000, Math.floor(o.legacyWorkAgeMs / 4))),
    onOutcome: (e) => {
      stats.record(e);
      if (!progressReported) {
        progressReported = true;
        report();
      }
    },
    gate: gatePolicyFromRetry(o.retry),
    onGateChange: (change) => {
      void destinationFile?.update(change);
      report(true);
    },
    onReady: () => {
      send({ type: 'ready', id: spec.id });
      log.info({ spool: spec.spool, role: spec.role }, 'worker running');
    },
    onFatal: (err) => {
      send({ type: 'fatal', id: spec.id, message: describeError(err) });
      void stop(0, WORKER_EXIT.FATAL);
    },
  });
  const timer = setInterval(() => report(), 500);
  timer.unref();
  await loop.run();
} catch (err) {
  log.fatal({ err: describeError(err), spool: spec.spool }, 'worker cannot start');
  send({ type: 'fatal', id: spec.id, message: describeError(err) });
  process.exit(WORKER_EXIT.CONFIG);
}
