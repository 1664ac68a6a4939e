/** The options, states and limits of a worker loop (./worker-loop.ts). */
import type { Clock } from '../core/clock.js';
import type { MessageHandler } from '../core/handler.js';
import type { Logger } from '../core/log.js';
import type { MessageQueue } from '../core/queue.js';
import type { GateChange, GatePolicy, GateSnapshot } from './destination-gate.js';

export type WorkerState = 'starting' | 'running' | 'draining' | 'aborting' | 'stopped';

import type { OutcomeCounts, OutcomeEvent } from '../core/outcome.js';

export type { OutcomeCounts, OutcomeEvent };

export interface WorkerLoopOptions {
  queue: MessageQueue;
  handler: MessageHandler;
  log: Logger;
  /**
   * Messages handled at once (claimed, read, sent, not yet answered). Recording
   * an outcome (file moves) does not hold a slot; at most as many again may be
   * recording at the same time.
   */
  concurrency: number;
  /** Poll interval (-t): the fallback when no watch event arrives. */
  pollMs: number;
  /** How often post/ is scanned for due retries. */
  retryScanMs: number;
  /** How often the queue's housekeeping runs (./housekeeping.ts; default a minute). */
  housekeepingMs?: number;
  clock?: Clock;
  onOutcome?: (e: OutcomeEvent) => void;
  /** Called once the queue is initialised, recovered and watched. */
  onReady?: () => void;
  /**
   * Called when recording an outcome failed and the message could not even
   * be returned to the queue (the worker should exit so its claims are
   * recovered). A failure that returning the message survives is not fatal.
   */
  onFatal?: (err: unknown) => void;
  /** Hold messages while the destination does not answer (absent: every message is tried on its own). */
  gate?: GatePolicy;
  /** Called when the gate closes (also again after each failed probe) and when it reopens. */
  onGateChange?: (change: GateChange, gate: GateSnapshot) => void;
  /** How long a message that cannot be claimed or recorded is first left alone (doubling to an hour). Default 30 s. */
  holdBackMs?: number;
}

/** Passes that fail as a whole wait pollMs, doubling up to this. */
export const PASS_BACKOFF_CAP_MS = 60_000;
/** A message that cannot be claimed or recorded is left alone this long, doubling up to MESSAGE_SKIP_CAP_MS. */
export const MESSAGE_SKIP_FIRST_MS = 30_000;
export const MESSAGE_SKIP_CAP_MS = 3_600_000;
