/** Human-readable progress and summary lines of the dump exporter. */
import type { ExportSummary } from './export.js';
import type { ExportProgress } from './options.js';

const MIB = 1024 * 1024;

function rate(bytes: number, seconds: number): string {
  return seconds > 0 ? (bytes / 1e6 / seconds).toFixed(1) : '-';
}

export function formatProgress(p: ExportProgress): string {
  const s = p.elapsedMs / 1000;
  if (p.phase === 'sync') return `fsync of job files: ${p.done} of ${p.jobs}`;
  if (p.phase === 'announce') return `storing messages: ${p.done} of ${p.jobs}`;
  return `${(p.bytesRead / MIB).toFixed(1)} MiB read, ${p.jobs} jobs, ${p.events} events` +
    `${p.badLines > 0 ? `, ${p.badLines} bad lines` : ''}, ${rate(p.bytesRead, s)} MB/s`;
}

/** The one-line summary printed at the end. */
export function formatSummary(s: ExportSummary): string {
  return `${s.jobs} jobs, ${s.events} events, ${s.bytesRead} bytes, ${s.badLineCount} bad lines, ` +
    `${s.seconds.toFixed(2)} s (${rate(s.bytesRead, s.seconds)} MB/s; split ${s.phases.split.toFixed(2)} s, ` +
    `fsync ${s.phases.sync.toFixed(2)} s, announce ${s.phases.announce.toFixed(2)} s), ${s.announced} messages`;
}

/** Rewrites one status line on a terminal, at most every `intervalMs`. */
export class ProgressPrinter {
  private last = 0;
  private shown = false;
  private phase: ExportProgress['phase'] = 'split';
  constructor(
    private readonly out: { write(s: string): unknown },
    private readonly prefix: string,
    private readonly intervalMs = 250,
  ) {}

  update(p: ExportProgress): void {
    if (p.elapsedMs - this.last < this.intervalMs && p.phase === this.phase) return;
    this.phase = p.phase;
    this.last = p.elapsedMs;
    this.shown = true;
    this.out.write(`\r\x1b[K${this.prefix}${formatProgress(p)}`);
  }

  clear(): void {
    if (this.shown) this.out.write('\r\x1b[K');
    this.shown = false;
  }
}
