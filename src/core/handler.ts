/**
 * The contract between a worker and what delivers its messages (the
 * registration, upload and jobman handlers). Never throws across this
 * boundary: every failure is an Outcome decided by classify(). `signal`
 * aborts when the worker stops.
 */
import type { Outcome } from './outcome.js';
import type { ClaimedMessage } from './queue.js';

export interface MessageHandler {
  /** Largest body this handler accepts (read refuses bigger files unread). */
  readonly maxBytes: number;
  /** A retry may carry a payload for the next attempt (opaque to the queue, see Outcome). */
  handle(msg: ClaimedMessage, body: Buffer, signal: AbortSignal): Promise<Outcome<unknown>>;
  close(): Promise<void>;
}

/** A handler before its worker sets the body limit. */
export type Delivery = Pick<MessageHandler, 'handle' | 'close'>;
