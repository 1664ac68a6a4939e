/**
 * The types of a directory queue (./dir-queue.ts): where it keeps its
 * messages in each state (QueueLayout), its options, and what its
 * operations report.
 */
import type { Clock } from '../core/clock.js';
import type { PayloadCheck, RetryPolicy } from './retry-state.js';

/** Where a queue keeps its messages in each state, and how it names what it refuses. */
export interface QueueLayout {
  /** Arrivals (watched). */
  readonly incoming: string;
  /** Claimed messages, being processed. */
  readonly claimed: string;
  /** Messages waiting for their next attempt, with their retry state (`.<name>.meta`). */
  readonly retry: string;
  /** Messages given up, with the reason beside them. */
  readonly givenUp: string;
  /** Delivered messages are moved here; without it they are removed. */
  readonly done?: string;
  /** Where a producer leaves a second link of each message (the LB tmp/), removed on delivery and give-up. */
  readonly twins?: string;
  /** Suffix of the sidecar beside a given-up message. */
  readonly givenUpSuffix: string;
  /** How the claimed directory is named in reports (`cur`, `work`). */
  readonly claimedLabel: string;
  /** What a message is called in errors (`message`, `request`). */
  readonly what: string;
  /** Why a name in incoming cannot be a message, or undefined when it can. */
  readonly nameProblem: (name: string) => string | undefined;
  /** The text of a refusal: the name and the problem. */
  readonly refusal: (name: string, problem: string) => string;
  /** The name a refused entry is kept under. */
  readonly refusedName: (name: string, unique: string) => string;
}

export interface DirQueueOptions<P = unknown> {
  /**
   * Checks the payload a handler keeps with the retry state (opaque to the
   * queue); a sidecar whose payload it refuses is not used (attempts start
   * again). Without one the payload is kept as the JSON it is.
   */
  payload?: PayloadCheck<P>;
  clock?: Clock;
  host?: string;
  pid?: number;
  /** The claimer's life (./liveness.ts); default this process's when `pid` is not given, none otherwise. */
  life?: string;
  policy?: RetryPolicy;
  random?: () => number;
}

/** Liveness of a recorded holder: pid and, when recorded, its life (./liveness.ts). */
export type IsAlive = (pid: number, life?: string) => boolean;

/** An entry recover() or init() could not move, left where it is. */
export interface SkippedEntry {
  readonly entry: string;
  readonly reason: string;
}

export type RequeueResult = 'moved' | 'gone' | 'exists';
