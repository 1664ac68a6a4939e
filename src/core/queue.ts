/**
 * What the worker loop needs from a message store. Implemented by the
 * maildir Spool (src/maildir) and by jobman's own iqueue/oqueue/equeue
 * layout (src/jobman), so both go through one claim/retry/give-up loop.
 */

/** One failed attempt, as the retry state keeps it. */
export interface AttemptRecord {
  readonly at: number;
  readonly reason: string;
}

export interface MessageMeta<P = unknown> {
  readonly version: 1;
  /** Failed attempts so far. */
  readonly attempts: number;
  readonly firstFailureAt: number;
  readonly lastAttemptAt: number;
  /** When the message is due again (post/), or when it was given up. */
  readonly nextAttemptAt: number;
  readonly lastError: string;
  /** The most recent failures, newest last (bounded). */
  readonly history: readonly AttemptRecord[];
  /** Set in undeliverable/: why the message was given up. */
  readonly gaveUpReason?: string;
  readonly gaveUpAt?: number;
  /**
   * What the handler kept for the next attempt (upload workers: the upload
   * to finish), as opaque JSON: the queue stores it and does not interpret
   * it. On disk under the key `upload`.
   */
  readonly upload?: P;
}

export interface ClaimedMessage<P = unknown> {
  /** Message name (the id shown in logs and by `status`/`show`). */
  readonly name: string;
  /** Path of the claimed file in cur/. */
  readonly path: string;
  /** Where it was claimed from. */
  readonly from: 'new' | 'post';
  /** Retry state from earlier attempts, if any. */
  readonly meta: MessageMeta<P> | undefined;
}

export type FailureResult = { readonly state: 'post'; readonly nextAttemptAt: number; readonly attempts: number }
  | { readonly state: 'undeliverable'; readonly reason: string };


/** What one housekeeping pass of a queue did (MessageQueue.maintain). */
export interface QueueMaintenance {
  /** Messages taken over into incoming, each with how long it had been held where it was found. */
  readonly adopted: readonly { readonly name: string; readonly heldMs: number }[];
  /** Entries left alone because a consumer may still be working on them (too young to adopt). */
  readonly held: number;
  /** Retry-state files renamed or removed. */
  readonly sidecars: { readonly renamed: number; readonly orphansRemoved: number };
  /** Entries that could not be handled, with why (left where they are). */
  readonly skipped: readonly { readonly entry: string; readonly reason: string }[];
}

export interface MessageQueue<P = unknown> {
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
  claim(name: string, from: 'new' | 'post'): Promise<ClaimedMessage<P> | undefined>;
  read(msg: ClaimedMessage<P>, maxBytes: number): Promise<Buffer>;
  delivered(msg: ClaimedMessage<P>): Promise<void>;
  /** `payload`: what the handler keeps for the next attempt (an upload to finish), stored with the retry state. */
  failed(msg: ClaimedMessage<P>, reason: string, payload?: P): Promise<FailureResult>;
  giveUp(msg: ClaimedMessage<P>, reason: string): Promise<FailureResult>;
  /** Return a claimed message unprocessed (shutdown). */
  release(msg: ClaimedMessage<P>): Promise<void>;
  /** Return claims of dead processes of this host to the queue (`skipped`: claims that could not be moved, with why). */
  recover(): Promise<{ recovered: string[]; skipped?: readonly { entry: string; reason: string }[] }>;
  /**
   * Periodic housekeeping (at start, then every few minutes): messages
   * taken over from another program's claims (the C importer's work/, once
   * no C consumer can still hold them), bookkeeping files tidied. Absent:
   * nothing to do.
   */
  maintain?(now?: number): Promise<QueueMaintenance>;
  /**
   * Throws when claims from `from` cannot work at all (a directory missing,
   * not writable, not a directory): tells a broken queue from one message
   * that cannot be claimed. Absent: every claim error counts as the queue's.
   */
  checkClaim?(from: 'new' | 'post'): Promise<void>;
  /** true when neither incoming nor retry holds a message (due or not). Absent: never known to be empty. */
  isEmpty?(): Promise<boolean>;
  /**
   * If `name` cannot be a message (reserved/unsafe name), set it aside with a
   * reason and return the name it was kept under; undefined when the name is fine.
   */
  refuseName(name: string): Promise<string | undefined>;
}
