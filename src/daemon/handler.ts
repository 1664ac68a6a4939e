import type { ClaimedMessage } from '../core/queue.js';
import type { Outcome } from '../core/outcome.js';

/**
 * Delivers one message. Never throws across this boundary: every failure is
 * an Outcome decided by classify(). `signal` aborts when the worker stops.
 */
export interface MessageHandler {
  /** Largest body this handler accepts (read refuses bigger files unread). */
  readonly maxBytes: number;
  handle(msg: ClaimedMessage, body: Buffer, signal: AbortSignal): Promise<Outcome>;
  close(): Promise<void>;
}
