/** A small parser of the Prometheus text exposition format, for assertions. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly samples: readonly Sample[];
  readonly types: ReadonlyMap<string, string>;
}

/** Like Prometheus (Go ParseFloat): NaN and Inf in any letter case (prom-client writes "Nan"). */
function parseValue(text: string): number {
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower === 'nan') return NaN;
  const v = Number(text);
  if (text.length === 0 || Number.isNaN(v)) throw new Error(`bad sample value ${JSON.stringify(text)}`);
  return v;
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)="/.exec(text.slice(i));
    if (m === null) throw new Error(`bad labels in ${JSON.stringify(line)}`);
    i += m[0].length;
    let v = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) throw new Error(`unterminated label value in ${JSON.stringify(line)}`);
      i++;
      if (c === '"') break;
      if (c === '\\') {
        const e = text[i++];
        v += e === 'n' ? '\n' : e === '\\' ? '\\' : e === '"' ? '"' : (() => { throw new Error(`bad escape in ${JSON.stringify(line)}`); })();
      } else v += c;
    }
    labels[m[1] as string] = v;
    if (text[i] === ',') i++;
    else if (i < text.length) throw new Error(`expected , in labels of ${JSON.stringify(line)}`);
  }
  return labels;
}

export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    if (line.startsWith('#')) {
      const t = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (t !== null) types.set(t[1] as string, t[2] as string);
      continue;
    }
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/.exec(line);
    if (m === null) throw new Error(`bad sample line ${JSON.stringify(line)}`);
    samples.push({ name: m[1] as string, labels: parseLabels(m[2] ?? '', line), value: parseValue(m[3] as string) });
  }
  return { samples, types };
}

/** The value of the one sample with exactly these labels, or undefined. */
export function valueOf(e: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).sort();
  const hits = e.samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(want));
  if (hits.length > 1) throw new Error(`${hits.length} samples of ${name} ${JSON.stringify(labels)}`);
  return hits[0]?.value;
}

/** Histogram buckets of one label set as [le, count] pairs in order. */
export function bucketsOf(e: Exposition, name: string, labels: Record<string, string>): [string, number][] {
  const keys = Object.keys(labels);
  return e.samples
    .filter((s) => s.name === `${name}_bucket` && keys.every((k) => s.labels[k] === labels[k])
      && Object.keys(s.labels).length === keys.length + 1)
    .map((s) => [s.labels['le'] as string, s.value]);
}
