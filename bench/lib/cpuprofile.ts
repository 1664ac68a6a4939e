/**
 * Summarise V8 .cpuprofile files (node --cpu-prof): self time by function
 * and by origin (project file, package, node internals, GC, idle), so a
 * bench can say where a process spent its time.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  readonly file: string;
  readonly totalMs: number;
  /** Sampled time minus (idle). */
  readonly busyMs: number;
  readonly byFunction: [string, number][];
  readonly byOrigin: [string, number][];
}

function origin(url: string, fn: string): string {
  if (url === '') return fn.startsWith('(') ? fn : '(native/builtin)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm !== null) return `pkg ${nm[1]}`;
  if (url.startsWith('node:')) return `node ${url.slice(5).split('/')[0] ?? ''}`;
  const src = /\/(src|bench|test)\/(.+)$/.exec(url);
  if (src !== null) return `${src[1]}/${src[2]}`;
  return url;
}

export async function summariseProfile(file: string, top = 12): Promise<ProfileSummary> {
  const p = JSON.parse(await readFile(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const fn = new Map<string, number>();
  const org = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (n === undefined) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const short = url.replace(/^.*\/(node_modules|dist)\//, '$1/').replace(/^file:\/\//, '');
    const key = `${functionName || '(anonymous)'} ${short === '' ? '' : `${short}:${lineNumber + 1}`}`.trim();
    fn.set(key, (fn.get(key) ?? 0) + us);
    const o = origin(url, functionName);
    org.set(o, (org.get(o) ?? 0) + us);
    total += us;
  }
  const sorted = (m: Map<string, number>): [string, number][] =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) => [k, us / 1000]);
  const idle = (org.get('(idle)') ?? 0) / 1000;
  return { file, totalMs: total / 1000, busyMs: total / 1000 - idle, byFunction: sorted(fn), byOrigin: sorted(org) };
}

/** Every .cpuprofile in dir, busiest first. */
export async function summariseDir(dir: string, top = 12): Promise<ProfileSummary[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  const out = await Promise.all(files.map((f) => summariseProfile(join(dir, f), top)));
  return out.sort((a, b) => b.busyMs - a.busyMs);
}

export function formatSummary(s: ProfileSummary, label: string): string {
  const pct = (ms: number): string => `${((100 * ms) / Math.max(1, s.totalMs)).toFixed(1).padStart(5)} %`;
  const lines = [`  ${label}: ${s.file} (${(s.totalMs / 1000).toFixed(2)} s sampled, ${(s.busyMs / 1000).toFixed(2)} s not idle)`, '    self time by origin:'];
  for (const [k, ms] of s.byOrigin) lines.push(`      ${pct(ms)}  ${k}`);
  lines.push('    self time by function:');
  for (const [k, ms] of s.byFunction) lines.push(`      ${pct(ms)}  ${k}`);
  return lines.join('\n');
}
