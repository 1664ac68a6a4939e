/** Shared helpers of the scheduler tests: temp dirs, file ages, a logger that keeps its lines. */
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Logger } from '../../src/core/log.js';

export async function tempDir(t: { after(fn: () => Promise<void>): void }, prefix = 'jp-sched-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A file whose mtime lies `ageMs` before `now`. */
export async function fileAged(path: string, ageMs: number, now = Date.now(), body: string | Buffer = 'x'): Promise<string> {
  await writeFile(path, body);
  const when = new Date(now - ageMs);
  await utimes(path, when, when);
  return path;
}

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

/** A pino logger at debug level whose lines are kept, parsed, in `lines`. */
export function captureLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { log, lines };
}

export const WARN = 40;
export const ERROR = 50;
