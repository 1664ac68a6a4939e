/**
 * The importer's Prometheus metrics, kept in the master. Workers report
 * cumulative counts per process (incarnation); this turns them into
 * monotonic counters: each report adds only its increase over the previous
 * report of the same incarnation, and a new incarnation starts from 0.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../core/log.js';
import type { OutcomeCounts } from '../core/outcome.js';
import type { SpoolState } from '../queue/layout.js';
import { DELIVERY_BUCKETS_SECONDS } from './buckets.js';
import type { FoldedLatency } from './worker-stats.js';
import { isOutcomeCounts, REPORT_LIMITS } from './worker-stats.js';

export const METRIC_PREFIX = 'jp_importer_';

/** Outcome label values, in OutcomeCounts order. */
const OUTCOMES: readonly { field: keyof OutcomeCounts; label: string }[] = [
  { field: 'delivered', label: 'delivered' },
  { field: 'retried', label: 'retried' },
  { field: 'gaveUp', label: 'gave_up' },
  { field: 'released', label: 'released' },
];

/** Last counts kept for this many incarnations per worker (late reports of a previous process). */
const KEPT_INCARNATIONS = 4;

interface WorkerState {
  kind: string;
  /** Bumped by workerRestarted; names the current incarnation when the caller gives none. */
  generation: number;
  last: Map<string, OutcomeCounts>;
  inFlight: number;
}

const zero = (): OutcomeCounts => ({ delivered: 0, retried: 0, gaveUp: 0, released: 0 });

export class ImporterMetrics {
  private readonly messages: Counter<'kind' | 'outcome'>;
  private readonly restarts: Counter<'worker' | 'kind'>;
  private readonly inFlightGauge: Gauge<'kind'>;
  private readonly delivery: Histogram<'kind'>;
  private readonly queue: Gauge<'subtree' | 'state'>;
  private readonly oldest: Gauge<'subtree' | 'state'>;
  private readonly certExpiry: Gauge;
  private readonly reachable: Gauge<'worker' | 'kind'>;
  private readonly workers = new Map<string, WorkerState>();
  private readonly kinds = new Set<string>();

  constructor(registry: Registry, private readonly log: Logger) {
    const registers = [registry];
    this.messages = new Counter({
      name: `${METRIC_PREFIX}messages_total`,
      help: 'Messages settled by the workers, by worker kind and outcome (delivered, retried, gave_up, released).',
      labelNames: ['kind', 'outcome'] as const,
      registers,
    });
    this.restarts = new Counter({
      name: `${METRIC_PREFIX}worker_restarts_total`,
      help: 'Worker processes started again after the first start, per worker.',
      labelNames: ['worker', 'kind'] as const,
      registers,
    });
    this.inFlightGauge = new Gauge({
      name: `${METRIC_PREFIX}in_flight`,
      help: 'Messages claimed and not yet settled, summed over the workers of a kind.',
      labelNames: ['kind'] as const,
      registers,
    });
    this.delivery = new Histogram({
      name: `${METRIC_PREFIX}delivery_seconds`,
      help: 'Time from claim to confirmed delivery of one message, per worker kind.',
      labelNames: ['kind'] as const,
      buckets: [...DELIVERY_BUCKETS_SECONDS],
      registers,
    });
    this.queue = new Gauge({
      name: `${METRIC_PREFIX}queue_messages`,
      help: 'Messages in a spool subtree by state (new, cur, post, undeliverable), as last counted.',
      labelNames: ['subtree', 'state'] as const,
      registers,
    });
    this.oldest = new Gauge({
      name: `${METRIC_PREFIX}queue_oldest_message_age_seconds`,
      help: 'Age of the oldest message in a spool subtree by state (from the creation time its name carries; 0 when none), as last counted.',
      labelNames: ['subtree', 'state'] as const,
      registers,
    });
    this.certExpiry = new Gauge({
      name: `${METRIC_PREFIX}certificate_expiry_timestamp_seconds`,
      help: 'Expiry time (notAfter) of the importer\'s client certificate, in seconds since the epoch.',
      registers,
    });
    this.reachable = new Gauge({
      name: `${METRIC_PREFIX}destination_reachable`,
      help: 'Per worker: 1 while its destination answers, 0 while it holds its messages and probes (the destination gate is closed).',
      labelNames: ['worker', 'kind'] as const,
      registers,
    });
  }

  /** Whether a worker's destination answers (false: its gate is closed). */
  destinationReachable(workerId: string, kind: string, reachable: boolean): void {
    this.worker(workerId, kind);
    this.reachable.set({ worker: workerId, kind }, reachable ? 1 : 0);
  }

  /**
   * Cumulative counts of one worker process. `incarnation` (e.g. the pid)
   * ties a report to its process, so a late report of a process that was
   * already replaced is still counted once; without it the report belongs
   * to the current incarnation (reset by workerRestarted). A report lower
   * than the previous one of the same incarnation is taken as a new,
   * unannounced incarnation counting from 0. Counters never go backwards.
   */
  workerCounts(workerId: string, kind: string, counts: OutcomeCounts, incarnation?: string | number): void {
    if (!isOutcomeCounts(counts)) {
      this.log.warn({ worker: workerId, counts }, 'metrics: ignored malformed outcome counts');
      return;
    }
    const w = this.worker(workerId, kind);
    const key = incarnation === undefined ? `g${w.generation}` : `i${String(incarnation)}`;
    let prev = w.last.get(key) ?? zero();
    if (OUTCOMES.some(({ field }) => counts[field] < prev[field])) {
      this.log.info({ worker: workerId, kind }, 'metrics: worker counts went down; counting a new incarnation from 0');
      prev = zero();
    }
    for (const { field, label } of OUTCOMES) {
      const d = counts[field] - prev[field];
      if (d > 0) this.messages.inc({ kind: w.kind, outcome: label }, d);
    }
    w.last.delete(key);
    w.last.set(key, { delivered: counts.delivered, retried: counts.retried, gaveUp: counts.gaveUp, released: counts.released });
    while (w.last.size > KEPT_INCARNATIONS) w.last.delete(w.last.keys().next().value as string);
  }

  /** A worker process was started again: its counts start from 0, its in-flight messages are gone. */
  workerRestarted(workerId: string, kind: string): void {
    const w = this.worker(workerId, kind);
    w.generation++;
    w.inFlight = 0;
    this.updateInFlight(w.kind);
    this.reachable.set({ worker: workerId, kind: w.kind }, 1);
    this.restarts.inc({ worker: workerId, kind: w.kind });
  }

  inFlight(workerId: string, kind: string, n: number): void {
    const w = this.worker(workerId, kind);
    w.inFlight = Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
    this.updateInFlight(w.kind);
  }

  /** Delivery times in ms; `folded` entries are observed `count` times each (see WorkerStats). */
  observeLatencies(kind: string, msList: readonly number[], folded: readonly FoldedLatency[] = []): void {
    this.ensureKind(kind);
    for (const ms of msList) {
      if (Number.isFinite(ms)) this.delivery.observe({ kind }, Math.max(0, ms) / 1000);
    }
    for (const f of folded) {
      if (!Number.isFinite(f.ms) || !Number.isSafeInteger(f.count) || f.count <= 0 || f.count > REPORT_LIMITS.foldedCount) {
        this.log.warn({ kind, folded: f }, 'metrics: ignored a malformed folded latency');
        continue;
      }
      const s = Math.max(0, f.ms) / 1000;
      for (let i = 0; i < f.count; i++) this.delivery.observe({ kind }, s);
    }
  }

  queueDepth(subtree: string, state: SpoolState, n: number): void {
    this.queue.set({ subtree, state }, Number.isFinite(n) && n > 0 ? n : 0);
  }

  oldestAge(subtree: string, state: SpoolState, seconds: number): void {
    this.oldest.set({ subtree, state }, Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds) : 0);
  }

  /** notAfter of the client certificate, in seconds since the epoch. */
  certificateExpiry(seconds: number): void {
    if (Number.isFinite(seconds)) this.certExpiry.set(seconds);
  }

  private worker(workerId: string, kind: string): WorkerState {
    let w = this.workers.get(workerId);
    if (w === undefined) {
      w = { kind, generation: 0, last: new Map(), inFlight: 0 };
      this.workers.set(workerId, w);
      this.ensureKind(kind);
      this.restarts.inc({ worker: workerId, kind }, 0);
      this.reachable.set({ worker: workerId, kind }, 1);
    }
    return w;
  }

  /** Make the series of a kind visible at 0 from its first mention. */
  private ensureKind(kind: string): void {
    if (this.kinds.has(kind)) return;
    this.kinds.add(kind);
    for (const { label } of OUTCOMES) this.messages.inc({ kind, outcome: label }, 0);
    this.delivery.zero({ kind });
    this.inFlightGauge.set({ kind }, 0);
  }

  private updateInFlight(kind: string): void {
    let sum = 0;
    for (const w of this.workers.values()) if (w.kind === kind) sum += w.inFlight;
    this.inFlightGauge.set({ kind }, sum);
  }
}
