/**
 * Prometheus metrics and a health endpoint for the jp-importer master.
 *
 *   const metrics = await createMetrics({ listen: '127.0.0.1:9464', log, health });
 *   metrics.workerCounts('dump-1', 'dump', counts, pid);   // per IPC report
 *   …
 *   await metrics.close();
 *
 * Workers keep a WorkerStats and send `take()` to the master; the master
 * feeds it to workerCounts / inFlight / observeLatencies. A MetricsSampler
 * counts the spool subtrees and reads the certificate expiry every 15 s.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Logger } from '../core/log.js';
import type { OutcomeCounts } from '../core/outcome.js';
import type { SpoolState } from '../queue/layout.js';
import { ImporterMetrics, METRIC_PREFIX } from './importer-metrics.js';
import { parseListen } from './listen.js';
import { startMetricsServer, type HealthResult } from './server.js';
import type { FoldedLatency } from './worker-stats.js';

export { DELIVERY_BUCKETS_SECONDS } from './buckets.js';
export { METRIC_PREFIX } from './importer-metrics.js';
export { parseListen, type ListenAddress } from './listen.js';
export type { HealthResult } from './server.js';
export { countSpool, surveySpool, type SpoolCounts, type SpoolSurvey } from '../queue/list.js';
export { certificateExpirySeconds } from './certificate.js';
export { MetricsSampler, type MetricsSamplerOptions } from './sampler.js';
export {
  isWorkerStatsReport, WorkerStats, type FoldedLatency, type WorkerStatsOptions, type WorkerStatsReport,
} from './worker-stats.js';

export interface MetricsOptions {
  /** `host:port` to serve on (port 0 = any free port). */
  listen: string;
  log: Logger;
  /** Called for each GET /healthz: 200 when ok, else 503; detail is the JSON body's `detail`. */
  health: () => Promise<HealthResult>;
  /** Name of the flag/key the address came from, for error messages (default "metrics listen address"). */
  listenOption?: string;
  /** Node process metrics of this process, prefixed jp_importer_ (default true; cannot be undone in a process). */
  defaultMetrics?: boolean;
  /** /healthz answers 503 when health() takes longer (default 5000 ms). */
  healthTimeoutMs?: number;
}

export interface Metrics {
  /** Bound address and port (the real port when 0 was asked for). */
  readonly host: string;
  readonly port: number;
  /** Cumulative counts of a worker process; see ImporterMetrics.workerCounts for `incarnation`. */
  workerCounts(workerId: string, kind: string, counts: OutcomeCounts, incarnation?: string | number): void;
  /** The worker was started again (counts from 0, in-flight cleared, restart counter + 1). */
  workerRestarted(workerId: string, kind: string): void;
  inFlight(workerId: string, kind: string, n: number): void;
  /** Whether the worker's destination answers (false while its gate holds the messages). */
  destinationReachable(workerId: string, kind: string, reachable: boolean): void;
  observeLatencies(kind: string, msList: readonly number[], folded?: readonly FoldedLatency[]): void;
  queueDepth(subtree: string, state: SpoolState, n: number): void;
  /** Age in seconds of the oldest message of a spool subtree in a state (0 when none). */
  oldestAge(subtree: string, state: SpoolState, seconds: number): void;
  /** Certificate notAfter in seconds since the epoch. */
  certificateExpiry(seconds: number): void;
  /** The text a scrape would return (for tests and a `status` command). */
  text(): Promise<string>;
  close(): Promise<void>;
}

/** Validate the address, create the metrics and start serving. Throws JP_CONFIG for a bad or unusable address. */
export async function createMetrics(opts: MetricsOptions): Promise<Metrics> {
  const display = opts.listen;
  const address = parseListen(opts.listen, opts.listenOption ?? 'metrics listen address');
  const healthTimeoutMs = opts.healthTimeoutMs ?? 5000;
  if (!Number.isFinite(healthTimeoutMs) || healthTimeoutMs <= 0) throw new RangeError(`healthTimeoutMs must be positive, not ${healthTimeoutMs}`);
  const registry = new Registry();
  const m = new ImporterMetrics(registry, opts.log);
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  const server = await startMetricsServer({ address, display, registry, health: opts.health, healthTimeoutMs, log: opts.log });
  return {
    host: server.host,
    port: server.port,
    workerCounts: (id, kind, counts, incarnation) => m.workerCounts(id, kind, counts, incarnation),
    workerRestarted: (id, kind) => m.workerRestarted(id, kind),
    inFlight: (id, kind, n) => m.inFlight(id, kind, n),
    destinationReachable: (id, kind, r) => m.destinationReachable(id, kind, r),
    observeLatencies: (kind, list, folded) => m.observeLatencies(kind, list, folded),
    queueDepth: (subtree, state, n) => m.queueDepth(subtree, state, n),
    oldestAge: (subtree, state, seconds) => m.oldestAge(subtree, state, seconds),
    certificateExpiry: (s) => m.certificateExpiry(s),
    text: () => registry.metrics(),
    close: () => server.close(),
  };
}
