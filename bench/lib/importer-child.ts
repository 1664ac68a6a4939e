/**
 * The real jp-importer CLI started as an operator would (--foreground, JSON
 * logs to a file), in its own process group with its workers.
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { BenchCerts } from './certs.js';
import { spawnTracked } from './procs.js';

export const IMPORTER_CLI = fileURLToPath(new URL('../../src/cli/jp-importer.js', import.meta.url));

export interface ImporterOptions {
  readonly port: number;
  readonly certs: BenchCerts;
  readonly spool: string;
  readonly pidfile: string;
  readonly logFile: string;
  /** Working directory (relative defaults of the CLI land here). */
  readonly cwd: string;
  readonly extra?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** node options before the script (e.g. --cpu-prof; the master passes its own to the workers it forks). */
  readonly nodeArgs?: readonly string[];
}

export function importerArgs(o: ImporterOptions): string[] {
  return ['--foreground', '--workers', 'reg', '-p', `127.0.0.1:${o.port}`, '-c', o.certs.client, '-k', o.certs.clientKey,
    '-C', o.certs.caDir, '-r', o.spool, '-i', o.pidfile, ...(o.extra ?? [])];
}

export function startImporterChild(o: ImporterOptions): ChildProcess {
  const fd = openSync(o.logFile, 'a', 0o600);
  try {
    return spawnTracked(process.execPath, [...(o.nodeArgs ?? []), IMPORTER_CLI, ...importerArgs(o)], {
      cwd: o.cwd,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...o.env },
    });
  } finally {
    closeSync(fd);
  }
}

/** The last lines of a log file (for error reports). */
export async function logTail(file: string, lines = 15): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l.length > 0).slice(-lines).join('\n');
}
