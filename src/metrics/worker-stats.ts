/**
 * What a worker keeps between two reports to the master: cumulative outcome
 * counts of this process, the number of messages in flight, and the delivery
 * times measured since the last report.
 *
 * Bounded: at most `maxSamples` (default 10,000) latency samples are kept
 * exactly per report. Samples beyond that are folded into the histogram's own
 * buckets (see ./buckets.ts): per bucket a count and the mean of its samples
 * (clamped to the smallest/largest sample seen there, so it lies in the same
 * bucket). The master observes the mean `count` times, so bucket counts,
 * `_count` and `_sum` of the histogram stay exact; only the individual values
 * inside a bucket are lost. A report therefore holds at most maxSamples + 16
 * latency entries whatever the message rate.
 */
import type { OutcomeCounts, OutcomeEvent } from '../core/outcome.js';
import { bucketIndex } from './buckets.js';

/** `count` delivery times, all to be observed as `ms`. */
export interface FoldedLatency {
  readonly ms: number;
  readonly count: number;
}

export interface WorkerStatsReport {
  /** Cumulative since this worker process started (never reset by take()). */
  readonly counts: OutcomeCounts;
  /** Messages claimed and not yet settled, at the time of take(). */
  readonly inFlight: number;
  /** Delivery times (ms) since the previous take(), exact. */
  readonly latenciesMs: number[];
  /** Delivery times beyond maxSamples, folded per histogram bucket (usually empty). */
  readonly foldedLatencies: FoldedLatency[];
  /** The worker's destination gate is closed: its messages are held (absent in older reports: false). */
  readonly destinationDown?: boolean;
}

export interface WorkerStatsOptions {
  /** Exact samples kept per report (default 10,000). */
  readonly maxSamples?: number;
}

export const DEFAULT_MAX_SAMPLES = 10_000;
/** Upper limits that isWorkerStatsReport accepts (a report is untrusted input to the master). */
export const REPORT_LIMITS = { latencies: 1_000_000, folded: 64, foldedCount: 10_000_000 } as const;

interface Fold {
  count: number;
  sum: number;
  min: number;
  max: number;
}

export class WorkerStats {
  private readonly maxSamples: number;
  private readonly counts: OutcomeCounts = { delivered: 0, retried: 0, gaveUp: 0, released: 0 };
  private inFlight = 0;
  private destinationDown = false;
  private samples: number[] = [];
  private folds: (Fold | undefined)[] = [];

  constructor(opts: WorkerStatsOptions = {}) {
    const max = opts.maxSamples ?? DEFAULT_MAX_SAMPLES;
    if (!Number.isSafeInteger(max) || max < 0) throw new RangeError(`maxSamples must be a non-negative integer, not ${String(max)}`);
    this.maxSamples = max;
  }

  /**
   * Count one outcome as reported by the worker loop's onOutcome; the time
   * of a delivered message is kept as a latency sample (retries, give-ups
   * and releases are counted but not timed).
   */
  record(e: Pick<OutcomeEvent, 'outcome' | 'ms'>): void {
    switch (e.outcome) {
      case 'delivered':
        this.counts.delivered++;
        this.observe(e.ms);
        break;
      case 'retry':
        this.counts.retried++;
        break;
      case 'giveup':
        this.counts.gaveUp++;
        break;
      case 'released':
        this.counts.released++;
        break;
    }
  }

  /** Keep one delivery time (ms). Negative values (a clock step) count as 0; NaN/∞ are dropped. */
  observe(ms: number): void {
    if (!Number.isFinite(ms)) return;
    const v = Math.max(0, ms);
    if (this.samples.length < this.maxSamples) {
      this.samples.push(v);
      return;
    }
    const i = bucketIndex(v);
    const f = this.folds[i];
    if (f === undefined) this.folds[i] = { count: 1, sum: v, min: v, max: v };
    else {
      f.count++;
      f.sum += v;
      if (v < f.min) f.min = v;
      if (v > f.max) f.max = v;
    }
  }

  /** The number of messages in flight now (from the loop: claimed, not yet settled). */
  setInFlight(n: number): void {
    this.inFlight = Number.isSafeInteger(n) && n > 0 ? n : 0;
  }

  /** Whether the worker holds its messages because the destination does not answer. */
  setDestinationDown(down: boolean): void {
    this.destinationDown = down;
  }

  /** The report to send: counts are cumulative; latency samples are handed over and cleared. */
  take(): WorkerStatsReport {
    const foldedLatencies: FoldedLatency[] = [];
    for (const f of this.folds) {
      if (f === undefined) continue;
      foldedLatencies.push({ ms: Math.min(f.max, Math.max(f.min, f.sum / f.count)), count: f.count });
    }
    const report: WorkerStatsReport = {
      counts: { ...this.counts }, inFlight: this.inFlight, latenciesMs: this.samples, foldedLatencies, destinationDown: this.destinationDown,
    };
    this.samples = [];
    this.folds = [];
    return report;
  }
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isMs = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

export function isOutcomeCounts(v: unknown): v is OutcomeCounts {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  return isCount(c['delivered']) && isCount(c['retried']) && isCount(c['gaveUp']) && isCount(c['released']);
}

/** Whether a value received over IPC is a well-formed, bounded WorkerStatsReport. */
export function isWorkerStatsReport(v: unknown): v is WorkerStatsReport {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  if (!isOutcomeCounts(r['counts']) || !isCount(r['inFlight'])) return false;
  if (r['destinationDown'] !== undefined && typeof r['destinationDown'] !== 'boolean') return false;
  const lat = r['latenciesMs'];
  const folded = r['foldedLatencies'];
  if (!Array.isArray(lat) || lat.length > REPORT_LIMITS.latencies || !lat.every(isMs)) return false;
  if (!Array.isArray(folded) || folded.length > REPORT_LIMITS.folded) return false;
  return folded.every((f: unknown) => {
    if (typeof f !== 'object' || f === null) return false;
    const { ms, count } = f as Record<string, unknown>;
    return isMs(ms) && isCount(count) && count > 0 && count <= REPORT_LIMITS.foldedCount;
  });
}
