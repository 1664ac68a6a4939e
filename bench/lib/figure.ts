/**
 * The benchmarks' line protocol: each bench script prints every figure it
 * measures as one line on stdout,
 *
 *   FIGURE {"id":"P4a","measured":"251.9 files/s (one at a time)","baseline":"102.1 files/s (curl -T per file)","ratio":"2.47×","met":true}
 *
 * next to its human output, and bench/run-all.ts builds BENCHMARKS.md from
 * those lines (parseFigures) instead of reading the prose.
 *
 * A figure line is a line that starts with the word FIGURE; anything else
 * in the output (indented or not) is ignored. The JSON holds exactly the five fields below; the
 * display strings carry their units (they go into a Markdown table cell as
 * they are, so they hold no `|`). `met` is the bench's own decision on the
 * target, null when it could not measure the figure.
 */

export interface Figure {
  /** Figure id of targets.md: 'P1', 'P4a', 'P3 RSS'. */
  readonly id: string;
  readonly measured: string;
  readonly baseline: string;
  readonly ratio: string;
  readonly met: boolean | null;
}

const TAG = 'FIGURE';
const KEYS = ['id', 'measured', 'baseline', 'ratio', 'met'] as const;
/** The word FIGURE at the start of a line (not FIGURES, FIGURE_X): a figure line, well-formed or not. */
const FIGURE_LINE = /^FIGURE(?![A-Za-z0-9_])/;
const ID = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,31}$/;

/** Why `value` is not a Figure, or undefined when it is one. */
function problem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const rec = value as Record<string, unknown>;
  const extra = Object.keys(rec).filter((k) => !(KEYS as readonly string[]).includes(k));
  if (extra.length > 0) return `unknown field ${extra.map((k) => JSON.stringify(k)).join(', ')}`;
  const id = rec['id'];
  if (typeof id !== 'string' || !ID.test(id)) return `"id" must be a string like "P1" or "P3 RSS", got ${JSON.stringify(id) ?? 'nothing'}`;
  for (const k of ['measured', 'baseline', 'ratio'] as const) {
    const s = rec[k];
    if (typeof s !== 'string' || s.trim() === '') return `"${k}" must be a non-empty string, got ${JSON.stringify(s) ?? 'nothing'}`;
    if (/[|\r\n]/.test(s)) return `"${k}" must not hold '|' or a line break (it goes into a Markdown table cell): ${JSON.stringify(s)}`;
  }
  const met = rec['met'];
  if (met !== true && met !== false && met !== null) return `"met" must be true, false or null, got ${JSON.stringify(met) ?? 'nothing'}`;
  return undefined;
}

/** The line for `figure` (without the newline); throws when it is not a valid figure. */
export function formatFigure(figure: Figure): string {
  const fig: Figure = { id: figure.id, measured: figure.measured, baseline: figure.baseline, ratio: figure.ratio, met: figure.met };
  const why = problem(fig);
  if (why !== undefined) throw new Error(`reportFigure(${JSON.stringify(figure.id)}): ${why}`);
  return `${TAG} ${JSON.stringify(fig)}`;
}

/** Print `figure` as one `FIGURE <json>` line on stdout (or through `write`). */
export function reportFigure(figure: Figure, write: (s: string) => void = (s) => void process.stdout.write(s)): void {
  write(`${formatFigure(figure)}\n`);
}

/**
 * Every figure line of a bench's output, by id. Strict: a figure line that
 * is not `FIGURE <one JSON object with the five fields>`, or a second line
 * for the same id, throws an error naming the line.
 */
export function parseFigures(output: string): Map<string, Figure> {
  const figures = new Map<string, Figure>();
  const lines = output.split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (!FIGURE_LINE.test(line)) continue;
    const where = `FIGURE line ${i + 1} (${JSON.stringify(line.length > 200 ? `${line.slice(0, 200)}…` : line)})`;
    if (!line.startsWith(`${TAG} `)) throw new Error(`${where}: expected "FIGURE " followed by a JSON object`);
    let value: unknown;
    try {
      value = JSON.parse(line.slice(TAG.length + 1));
    } catch (e) {
      throw new Error(`${where}: not JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
    const why = problem(value);
    if (why !== undefined) throw new Error(`${where}: ${why}`);
    const fig = value as Figure;
    if (figures.has(fig.id)) throw new Error(`${where}: a second figure ${fig.id}`);
    figures.set(fig.id, fig);
  }
  return figures;
}
