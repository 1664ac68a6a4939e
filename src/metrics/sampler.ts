/**
 * Periodic metrics that cost a file-system walk: spool depths per subtree
 * and state, and (optionally) the client certificate's expiry, refreshed
 * every intervalMs (default 15 s) so a renewed certificate shows up without
 * a restart. Passes never overlap: the next one is scheduled when the
 * previous finished. A source that fails keeps its last value and is logged
 * once until it works again.
 */
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { STATES, type SpoolState } from '../queue/layout.js';
import { certificateExpirySeconds } from './certificate.js';
import { surveySpool, type SpoolCounts, type SpoolSurvey } from '../queue/list.js';

export interface MetricsSamplerOptions {
  /** Subtree label and its root directory; list each directory once (dump workers share one). */
  readonly spools: readonly { readonly subtree: string; readonly root: string }[];
  /** PEM certificate whose notAfter goes to certificateExpiry. */
  readonly certFile?: string;
  readonly sink: {
    queueDepth(subtree: string, state: SpoolState, n: number): void;
    /** Age in seconds of the oldest message of a state (0 when none), when the sink keeps it. */
    oldestAge?(subtree: string, state: SpoolState, seconds: number): void;
    certificateExpiry(seconds: number): void;
  };
  readonly log: Logger;
  readonly intervalMs?: number;
  /** Replaceable for tests: counts only (no ages). */
  readonly count?: (root: string) => Promise<SpoolCounts>;
  /** Replaceable for tests: counts and oldest messages. */
  readonly survey?: (root: string) => Promise<SpoolSurvey>;
  /** Seconds since the epoch (tests). */
  readonly nowSec?: () => number;
}

export class MetricsSampler {
  private readonly o: MetricsSamplerOptions;
  private readonly intervalMs: number;
  private readonly survey: (root: string) => Promise<SpoolSurvey>;
  private readonly failing = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private started = false;
  private stopped = false;

  constructor(o: MetricsSamplerOptions) {
    this.o = o;
    this.intervalMs = o.intervalMs ?? 15_000;
    if (!Number.isFinite(this.intervalMs) || this.intervalMs <= 0) throw new RangeError(`intervalMs must be positive, not ${this.intervalMs}`);
    const count = o.count;
    this.survey = o.survey ?? (count !== undefined ? async (root) => ({ counts: await count(root), oldest: {} }) : surveySpool);
  }

  /** Sample now, then every intervalMs until stop(). */
  start(): void {
    if (this.stopped || this.started) return;
    this.started = true;
    void this.sampleNow().finally(() => this.schedule());
  }

  /** One pass over every source (joins a pass already running). */
  sampleNow(): Promise<void> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sampleNow().finally(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    for (const { subtree, root } of this.o.spools) {
      const survey = await this.attempt(root, { subtree, spool: root }, 'cannot count the spool', () => this.survey(root));
      if (survey === undefined) continue;
      const now = this.o.nowSec?.() ?? Date.now() / 1000;
      for (const state of STATES) {
        this.o.sink.queueDepth(subtree, state, survey.counts[state]);
        const born = survey.oldest[state];
        this.o.sink.oldestAge?.(subtree, state, born === undefined ? 0 : Math.max(0, now - born));
      }
    }
    const certFile = this.o.certFile;
    if (certFile !== undefined) {
      const s = await this.attempt(`cert:${certFile}`, { certFile }, 'cannot read the certificate expiry', () => certificateExpirySeconds(certFile));
      if (s !== undefined) this.o.sink.certificateExpiry(s);
    }
  }

  /** Run one source; log its failure once, and its recovery. */
  private async attempt<T>(key: string, ctx: Record<string, unknown>, what: string, f: () => Promise<T>): Promise<T | undefined> {
    try {
      const v = await f();
      if (this.failing.delete(key)) this.o.log.info(ctx, `metrics: ${what.replace(/^cannot /, 'can ')} again`);
      return v;
    } catch (err) {
      if (!this.failing.has(key)) this.o.log.warn({ ...ctx, err: describeError(err) }, `metrics: ${what}`);
      this.failing.add(key);
      return undefined;
    }
  }
}
