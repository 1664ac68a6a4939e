/**
 * The figures of BENCHMARKS.md: which bench script reports which figure,
 * what it is and its target (targets.md). The values and the decision on
 * the target come from the scripts' FIGURE lines (./figure.ts); this file
 * only lays them out as the Markdown table.
 */
import { parseFigures, type Figure } from './figure.js';

export interface KnownFigure {
  readonly id: string;
  readonly what: string;
  readonly target: string;
}

export interface BenchSpec {
  /** As in BENCH_ONLY and the `## bench:<name>` headings. */
  readonly name: string;
  /** Compiled script next to run-all.js. */
  readonly script: string;
  readonly figures: readonly KnownFigure[];
}

export const BENCHES: readonly BenchSpec[] = [
  { name: 'register', script: 'register.js', figures: [
    { id: 'P1', what: 'registrations/s, 20,000 in new/, importer start-up included (compact replies)', target: '≥ 0.5 × baseline' },
    { id: 'P1g', what: 'P1 with the service answering in the real gSOAP shapes', target: '≥ 0.5 × baseline' },
    { id: 'P2', what: 'pickup latency, idle spool → service', target: 'p50 ≤ 50 ms, p99 ≤ 200 ms' },
  ] },
  { name: 'export', script: 'export.js', figures: [
    { id: 'P3', what: 'lb-dump-exporter MB/s, generated interleaved dump', target: '≥ 1.0 × awk (aim 2×)' },
    { id: 'P3 RSS', what: 'exporter peak RSS', target: '≤ 150 MiB' },
  ] },
  { name: 'upload', script: 'upload.js', figures: [
    { id: 'P4a', what: '2,000 × 64 KiB through StartUpload/FTP/CommitUpload', target: '≥ 2 × curl' },
    { id: 'P4b', what: 'one large file', target: '≥ 0.8 × curl' },
  ] },
  { name: 'gridftp', script: 'gridftp.js', figures: [
    { id: 'P7a', what: '2,000 × 64 KiB through StartUpload/GridFTP (GSI)/CommitUpload, real Globus server, 4 in flight', target: '≥ 1.5 × globus-url-copy -fast' },
    { id: 'P7b', what: 'one 1 GiB gsiftp:// upload', target: '≥ 0.8 × globus-url-copy' },
  ] },
  { name: 'idle', script: 'idle.js', figures: [
    { id: 'P5', what: 'idle daemon (master + 3 workers); 100,000 waiting', target: '< 1 % CPU, < 250 MiB, rise ≤ 50 MiB' },
  ] },
  { name: 'jobman', script: 'jobman.js', figures: [
    { id: 'P6', what: 'jobman 1,000 requests × 10 rows on SQLite', target: '≥ 0.5 × plain loop' },
  ] },
];

export const TABLE_HEAD = ['| id | what | measured | baseline (same run) | ratio | target | met |', '|---|---|---|---|---|---|---|'] as const;

const metCell = (met: boolean | null): string => (met === null ? 'not measured' : met ? 'yes' : '**no**');

/**
 * The table rows of the benches that ran, in the order of their figures,
 * and what was wrong with their FIGURE lines (a malformed line, a figure id
 * the bench does not report). A figure without a line reads 'no figure'.
 */
export function figureRows(results: readonly { bench: BenchSpec; stdout: string }[]): { rows: string[]; errors: string[] } {
  const rows: string[] = [];
  const errors: string[] = [];
  for (const { bench, stdout } of results) {
    let figures = new Map<string, Figure>();
    let broken = false;
    try {
      figures = parseFigures(stdout);
    } catch (e) {
      broken = true;
      errors.push(`bench:${bench.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
    for (const id of figures.keys()) {
      if (!bench.figures.some((f) => f.id === id)) errors.push(`bench:${bench.name}: FIGURE ${id} is not a figure of this bench (${bench.figures.map((f) => f.id).join(', ')})`);
    }
    for (const f of bench.figures) {
      const got = figures.get(f.id);
      const [measured, baseline, ratio, met] = got === undefined
        ? ['n/a', 'n/a', 'n/a', broken ? 'FIGURE error (below)' : 'no figure']
        : [got.measured, got.baseline, got.ratio, metCell(got.met)];
      rows.push(`| ${f.id} | ${f.what} | ${measured} | ${baseline} | ${ratio} | ${f.target} | ${met} |`);
    }
  }
  return { rows, errors };
}
