/** Small output helpers shared by the operator tools. */
import type { Writable } from 'node:stream';
import { formatDuration } from '../queue/retry-state.js';

/** Write and wait until the stream took the data (back-pressure, errors). */
export function write(out: Writable, text: string): Promise<void> {
  if (text.length === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    out.write(text, (e) => (e ? reject(e) : resolve()));
  });
}

/** A duration for people: 45s, 12m, 3.5h, 2.0d; negative values get a '-'. */
export function formatAge(ms: number): string {
  return ms < 0 ? `-${formatDuration(-ms)}` : formatDuration(ms);
}

/** Epoch ms as ISO-8601 UTC, or '-' for an unusable value. */
export function isoTime(ms: number): string {
  const d = new Date(ms);
  return Number.isFinite(d.getTime()) ? d.toISOString() : '-';
}

export function plural(n: number, one: string, many = one + 's'): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** JSON document on stdout, one per run (2-space indentation, final newline). */
export function toJson(v: unknown): string {
  return JSON.stringify(v, null, 2) + '\n';
}

/** Replace control characters so a name or error cannot drive the terminal. */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
