/**
 * `jp-importer show <id>`: one message, wherever it is (any state of any
 * subtree, a claim in cur/ by its base name): location, body, attempts,
 * errors, next attempt or why it was given up. Read-only.
 *
 * Exit codes: 0 found; 1 not found; 2 error (bad id, unreadable spool).
 */
import { hostname } from 'node:os';
import type { Writable } from 'node:stream';
import { sanitizeHost } from '../queue/names.js';
import { holderAlive } from '../queue/liveness.js';
import type { IsAlive } from '../maildir/spool.js';
import { locate, type Location } from './locate.js';
import { toJson, write } from './output.js';
import { formatShow } from './show-format.js';
import { gather, SHOW_VERSION } from './show-report.js';
import { EXIT_ATTENTION, EXIT_ERROR, EXIT_OK } from './status-report.js';
import { badId, type OpsSubtree } from './subtrees.js';

export interface ShowOptions {
  readonly subtrees: readonly OpsSubtree[];
  /** The message name (as in logs and `status`), or a claimed name from cur/. */
  readonly id: string;
  readonly json: boolean;
  readonly now?: number;
  readonly host?: string;
  /** Whether a holder of this host runs (default ../queue/liveness.ts). */
  readonly isAlive?: IsAlive;
  /** Body bytes shown: default 4 KiB in text, 1 MiB in JSON (at least 512). */
  readonly maxBodyBytes?: number;
}

export const TEXT_BODY_LIMIT = 4096;
export const JSON_BODY_LIMIT = 1024 * 1024;
const TRIES = 3;

/** new, cur, post, undeliverable first; work/ and tmp/ only when nowhere else. */
function primaryFirst(found: Location[]): Location[] {
  const rank = (l: Location): number => (l.state === 'work' ? 1 : l.state === 'tmp' ? 2 : 0);
  return [...found].sort((a, b) => rank(a) - rank(b));
}

export async function runShow(opts: ShowOptions, out: Writable, err: Writable = process.stderr): Promise<number> {
  const fail = async (code: number, message: string): Promise<number> => {
    await write(err, `jp-importer show: ${message}\n`);
    if (opts.json) await write(out, toJson({ version: SHOW_VERSION, id: opts.id, found: false, error: message, exitCode: code }));
    return code;
  };
  const bad = badId(opts.id);
  if (bad !== undefined) return fail(EXIT_ERROR, `refusing message id ${JSON.stringify(opts.id)}: ${bad}`);
  if (opts.subtrees.length === 0) return fail(EXIT_ERROR, 'no spool subtrees given');
  const g = {
    now: opts.now ?? Date.now(),
    host: sanitizeHost(opts.host ?? hostname()),
    isAlive: opts.isAlive ?? holderAlive,
    maxBodyBytes: Math.max(512, opts.maxBodyBytes ?? (opts.json ? JSON_BODY_LIMIT : TEXT_BODY_LIMIT)),
  };
  for (let i = 0; i < TRIES; i++) {
    const { found, problems } = await locate(opts.subtrees, opts.id);
    const [first, ...others] = primaryFirst(found);
    if (first === undefined) {
      if (problems.length > 0) return fail(EXIT_ERROR, `cannot search: ${problems.join('; ')}`);
      const where = opts.subtrees.map((t) => t.name).join(', ');
      if (opts.json) await write(out, toJson({ version: SHOW_VERSION, id: opts.id, found: false, exitCode: EXIT_ATTENTION }));
      else await write(out, `message ${JSON.stringify(opts.id)} not found in ${where} (new, cur, post, undeliverable, work, tmp)\n`);
      return EXIT_ATTENTION;
    }
    const report = await gather(opts.id, first, others, g);
    if (report === undefined) continue; // moved by a worker meanwhile: search again
    await write(out, opts.json ? toJson(report) : formatShow(report));
    return EXIT_OK;
  }
  return fail(EXIT_ATTENTION, `message ${JSON.stringify(opts.id)} kept moving while being read (a worker is processing it); try again`);
}
