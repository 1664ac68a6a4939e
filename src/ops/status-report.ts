/**
 * The `status` report: its JSON shape (version 1, documented in docs/operations.md)
 * and the pure assessment that turns it into an exit code.
 *
 * Exit codes of `jp-importer status`:
 *   0  OK: every subtree readable, nothing needs the operator;
 *   1  attention: a message in undeliverable/, a claim held by a dead
 *      process of this host, a message in post/ older than the threshold
 *      (default 24 h), or a subtree whose root does not exist;
 *   2  error: a subtree (or one of its state directories) cannot be read,
 *      or bad arguments.
 */
import type { ErrorGroup } from './error-groups.js';
import { formatAge, plural } from './output.js';

export const EXIT_OK = 0;
export const EXIT_ATTENTION = 1;
export const EXIT_ERROR = 2;

export const STATUS_VERSION = 1;
export const DEFAULT_POST_AGE_WARN_MS = 24 * 3600_000;
/** A destination unreachable for longer than this needs the operator (exit 1). */
export const DESTINATION_DOWN_WARN_MS = 15 * 60_000;

/** The message with the oldest creation time in a state, and its age at `now`. */
export interface Oldest {
  readonly id: string;
  readonly ageMs: number;
}

export interface StateSummary {
  /** Messages in the directory (dot files and .meta sidecars not counted). */
  count: number;
  /** Oldest message by creation time (name time, else fallbacks); null when empty. */
  oldest: Oldest | null;
  /** true when the state directory does not exist (count is then 0). */
  missing: boolean;
}

/**
 * dead also covers a pid that now names another process (the claim records
 * the holder's start time and boot: `pidReused`).
 */
export type HolderState = 'alive' | 'dead' | 'other-host' | 'unknown';

export interface ClaimInfo {
  /** Message name (the claim name without `:<pid>[-<life>]@<host>`). */
  readonly id: string;
  /** File name in cur/. */
  readonly entry: string;
  /** `<pid>@<host>`, or null when the file name carries no claim (the life, when recorded, is in `life`). */
  readonly holder: string | null;
  readonly pid: number | null;
  readonly host: string | null;
  /** The holder's life (`<start ticks>-<boot id prefix>`) when the claim records it (older claims do not). */
  readonly life: string | null;
  readonly holderState: HolderState;
  /** dead because the pid now names another process (started later, or in another boot). */
  readonly pidReused: boolean;
  /** Since the claim (the rename into cur/, read from the file's ctime). */
  readonly heldForMs: number;
  /** Message age (name time, else mtime). */
  readonly ageMs: number | null;
}

export interface HolderInfo {
  readonly holder: string;
  readonly pid: number | null;
  readonly host: string | null;
  readonly life: string | null;
  readonly state: HolderState;
  /** See ClaimInfo.pidReused. */
  readonly pidReused: boolean;
  claims: number;
}

export interface CurSummary extends StateSummary {
  /** Longest-held claims first; at most the listing limit. */
  claims: ClaimInfo[];
  /** Claims per holding process: dead ones first, then by number of claims. */
  holders: HolderInfo[];
  /** Holders beyond the kept limit (their claims are still counted). */
  holdersOmitted: number;
  /** Claims held by processes of this host that are not running. */
  deadClaims: number;
}

export interface PostSummary extends StateSummary {
  /** Earliest first failure among the messages (null without metas). */
  oldestFailure: Oldest | null;
  /** Earliest next attempt (the file's mtime), epoch ms. */
  nextRetryAt: number | null;
  /** nextRetryAt − now (negative: overdue). */
  nextRetryInMs: number | null;
  /** Messages whose next attempt time has passed. */
  dueNow: number;
  /** Messages without a readable .meta sidecar. */
  withoutMeta: number;
}

export interface UndeliverableSummary extends StateSummary {
  oldestFailure: Oldest | null;
  withoutMeta: number;
}

/** A worker holding this subtree's messages because its destination does not answer. */
export interface DestinationHold {
  /** Worker id (`reg`, `dump-1`, …) and the process, `<pid>@<host>`. */
  readonly worker: string;
  readonly holder: string;
  /** alive, or other-host (not checked); records of dead processes are not listed. */
  readonly holderState: 'alive' | 'other-host';
  /** Epoch ms of the first attempt without an answer, and how long ago. */
  readonly since: number;
  readonly downForMs: number;
  /** Epoch ms of the next probe and how far away (negative: due). */
  readonly nextProbeAt: number;
  readonly nextProbeInMs: number;
  readonly failures: number;
  readonly reason: string;
}

export interface SubtreeStatus {
  readonly name: string;
  readonly root: string;
  /** ok: read; missing: the root does not exist; error: could not be read. */
  status: 'ok' | 'missing' | 'error';
  /** Set when status is error. */
  error: string | null;
  states: {
    new: StateSummary;
    cur: CurSummary;
    post: PostSummary;
    undeliverable: UndeliverableSummary;
  };
  /** Workers of this subtree whose destination does not answer (empty: none). */
  destinationDown: DestinationHold[];
  /**
   * The C importer's claims in work/ (a C consumer on this spool, or one
   * that died): count, and how long the longest has been held (from its
   * ctime); null when work/ does not exist.
   */
  legacyWork: { count: number; longestHeldMs: number | null } | null;
  /** Top 5 groups of last errors of post/ and undeliverable/ messages. */
  errors: ErrorGroup[];
  /** Distinct error groups found (errors lists at most 5 of them). */
  errorGroups: number;
  /** Errors not grouped because more than 500 distinct groups were found. */
  errorsNotGrouped: number;
}

export interface StatusReport {
  readonly version: typeof STATUS_VERSION;
  /** The time the ages are measured from (epoch ms) and as ISO text. */
  readonly now: number;
  readonly nowIso: string;
  /** This host's name as it appears in claims. */
  readonly host: string;
  readonly thresholds: { readonly postAgeWarnMs: number };
  exitCode: number;
  /** One line per reason for exit code 1 or 2. */
  attention: string[];
  subtrees: SubtreeStatus[];
}


/** Exit code and the reasons for it. */
export function assess(subtrees: readonly SubtreeStatus[], postAgeWarnMs: number): { exitCode: number; attention: string[] } {
  const attention: string[] = [];
  let exitCode = EXIT_OK;
  const raise = (code: number, line: string): void => {
    exitCode = Math.max(exitCode, code);
    attention.push(line);
  };
  for (const s of subtrees) {
    if (s.status === 'error') {
      raise(EXIT_ERROR, `${s.name}: cannot read ${s.root}: ${s.error ?? 'unknown error'}`);
      continue;
    }
    if (s.status === 'missing') {
      raise(EXIT_ATTENTION, `${s.name}: spool ${s.root} does not exist`);
      continue;
    }
    const { cur, post, undeliverable } = s.states;
    if (undeliverable.count > 0) {
      raise(EXIT_ATTENTION, `${s.name}: ${plural(undeliverable.count, 'message')} in undeliverable/`);
    }
    if (cur.deadClaims > 0) {
      raise(EXIT_ATTENTION, `${s.name}: ${plural(cur.deadClaims, 'claim')} in cur/ held by dead processes`);
    }
    for (const d of s.destinationDown) {
      if (d.downForMs > DESTINATION_DOWN_WARN_MS) {
        raise(EXIT_ATTENTION, `${s.name}: worker ${d.worker} (${d.holder}) cannot reach its destination for ${formatAge(d.downForMs)}: ${d.reason}`);
      }
    }
    if (post.oldest !== null && post.oldest.ageMs > postAgeWarnMs) {
      raise(EXIT_ATTENTION, `${s.name}: post/ holds messages older than ${formatAge(postAgeWarnMs)} (oldest ${post.oldest.id}, ${formatAge(post.oldest.ageMs)})`);
    }
  }
  return { exitCode, attention };
}
