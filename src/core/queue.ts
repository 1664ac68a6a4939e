/**
 * What the worker loop needs from a message store. Implemented by the
 * maildir Spool (src/maildir) and by jobman's own iqueue/oqueue/equeue
 * layout (src/jobman), so both go through one claim/retry/give-up loop.
 */
import type { PendingUpload } from '../maildir/retry-state.js';
import type { ClaimedMessage, FailureResult } from '../maildir/spool.js';

export type { ClaimedMessage, FailureResult } from '../maildir/spool.js';

export interface MessageQueue {
  /** Human-readable identity for logs (usually the root directory). */
  readonly root: string;
  /** Directory to fs.watch for new arrivals. */
  readonly watchDir: string;
  init(): Promise<unknown>;
  /** Candidate names of new messages, streamed. */
  scanNew(): AsyncIterable<string>;
  /** Names of retry messages whose next attempt is due, streamed. */
  scanDue(now?: number): AsyncIterable<string>;
  /** Atomically claim; undefined when another consumer won the race. */
  claim(name: string, from: 'new' | 'post'): Promise<ClaimedMessage | undefined>;
  read(msg: ClaimedMessage, maxBytes: number): Promise<Buffer>;
  delivered(msg: ClaimedMessage): Promise<void>;
  /** `upload`: an upload to finish on the next attempt (upload workers), kept with the retry state. */
  failed(msg: ClaimedMessage, reason: string, upload?: PendingUpload): Promise<FailureResult>;
  giveUp(msg: ClaimedMessage, reason: string): Promise<FailureResult>;
  /** Return a claimed message unprocessed (shutdown). */
  release(msg: ClaimedMessage): Promise<void>;
  /** Return claims of dead processes of this host to the queue (`skipped`: claims that could not be moved, with why). */
  recover(): Promise<{ recovered: string[]; skipped?: readonly { entry: string; reason: string }[] }>;
  /**
   * Throws when claims from `from` cannot work at all (a directory missing,
   * not writable, not a directory): tells a broken queue from one message
   * that cannot be claimed. Absent: every claim error counts as the queue's.
   */
  checkClaim?(from: 'new' | 'post'): Promise<void>;
  /**
   * If `name` cannot be a message (reserved/unsafe name), set it aside with a
   * reason and return the name it was kept under; undefined when the name is fine.
   */
  refuseName(name: string): Promise<string | undefined>;
}
