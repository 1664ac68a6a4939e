/**
 * `jp-importer status`: what is queued in every spool subtree, how old,
 * why deferred, who holds the claims (think postqueue -p). Read-only, works
 * whether or not the daemon runs.
 *
 * Exit codes: 0 OK; 1 attention needed (undeliverable messages, claims held
 * by dead processes of this host, post/ messages older than the threshold,
 * a missing subtree); 2 error (a subtree cannot be read, bad arguments).
 */
import { hostname } from 'node:os';
import type { Writable } from 'node:stream';
import { sanitizeHost } from '../queue/names.js';
import { holderAlive } from '../queue/liveness.js';
import type { IsAlive } from '../maildir/spool.js';
import { toJson, write } from './output.js';
import { formatStatus } from './status-format.js';
import {
  assess, DEFAULT_POST_AGE_WARN_MS, EXIT_ERROR, STATUS_VERSION, type StatusReport,
} from './status-report.js';
import { scanSubtree } from './status-scan.js';
import type { OpsSubtree } from './subtrees.js';

export interface StatusOptions {
  readonly subtrees: readonly OpsSubtree[];
  readonly json: boolean;
  /** Time ages are measured from (default Date.now()). */
  readonly now?: number;
  /** This host as in claim names (default the host name, sanitised like the spool does). */
  readonly host?: string;
  /** Whether a holder of this host runs: its pid and, when recorded, its life (default ../queue/liveness.ts). */
  readonly isAlive?: IsAlive;
  /** post/ messages older than this need attention (default 24 h). */
  readonly postAgeWarnMs?: number;
  /** Claims listed per subtree: default 20 in text, 10,000 in JSON. */
  readonly claimListLimit?: number;
}

export const TEXT_CLAIM_LIMIT = 20;
export const JSON_CLAIM_LIMIT = 10_000;

/** Build the report (no output). */
export async function collectStatus(opts: Omit<StatusOptions, 'json'> & { json?: boolean }): Promise<StatusReport> {
  const now = opts.now ?? Date.now();
  const host = sanitizeHost(opts.host ?? hostname());
  const postAgeWarnMs = opts.postAgeWarnMs ?? DEFAULT_POST_AGE_WARN_MS;
  const claimListLimit = opts.claimListLimit ?? (opts.json === true ? JSON_CLAIM_LIMIT : TEXT_CLAIM_LIMIT);
  const subtrees = [];
  for (const t of opts.subtrees) {
    subtrees.push(await scanSubtree(t, { now, host, isAlive: opts.isAlive ?? holderAlive, claimListLimit }));
  }
  const { exitCode, attention } = assess(subtrees, postAgeWarnMs);
  return {
    version: STATUS_VERSION, now, nowIso: new Date(now).toISOString(), host,
    thresholds: { postAgeWarnMs }, exitCode, attention, subtrees,
  };
}

function badArgs(opts: StatusOptions): string | undefined {
  if (opts.subtrees.length === 0) return 'no spool subtrees given';
  const names = new Set<string>();
  for (const t of opts.subtrees) {
    if (t.name.length === 0 || t.root.length === 0) return `subtree ${JSON.stringify(t)}: name and root must be non-empty`;
    if (names.has(t.name)) return `subtree ${JSON.stringify(t.name)} given twice`;
    names.add(t.name);
  }
  if (opts.postAgeWarnMs !== undefined && !(opts.postAgeWarnMs >= 0)) return `post age threshold must be >= 0, got ${opts.postAgeWarnMs}`;
  if (opts.claimListLimit !== undefined && !(Number.isInteger(opts.claimListLimit) && opts.claimListLimit >= 0)) {
    return `claim list limit must be an integer >= 0, got ${opts.claimListLimit}`;
  }
  return undefined;
}

export async function runStatus(opts: StatusOptions, out: Writable, err: Writable = process.stderr): Promise<number> {
  const bad = badArgs(opts);
  if (bad !== undefined) {
    await write(err, `jp-importer status: ${bad}\n`);
    if (opts.json) await write(out, toJson({ version: STATUS_VERSION, error: bad, exitCode: EXIT_ERROR }));
    return EXIT_ERROR;
  }
  const report = await collectStatus(opts);
  await write(out, opts.json ? toJson(report) : formatStatus(report, opts.claimListLimit ?? TEXT_CLAIM_LIMIT));
  return report.exitCode;
}
