/**
 * What a handler decides about one message. Handlers never throw across the
 * layer boundary: they return one of these, normally via classify().
 */
/**
 * `P`: what a retry keeps for the next attempt (upload workers: the upload
 * to finish), stored with the retry state as opaque JSON; any by default,
 * none in a PlainOutcome (what classify() and the constructors below make).
 */
export type Outcome<P = unknown> =
  | { readonly kind: 'delivered'; readonly note?: string; readonly job?: string }
  | {
      readonly kind: 'retry'; readonly reason: string; readonly job?: string; readonly contact?: Contact;
      /** What the next attempt needs (upload workers: the upload to finish), kept with the retry state. */
      readonly upload?: P;
    }
  | { readonly kind: 'giveup'; readonly reason: string; readonly job?: string; readonly contact?: Contact };

/**
 * What a failed attempt tells about the destination (decided by classify()):
 * `unreachable` — no answer at all (connection refused/reset, TLS failure,
 * timeout, 502/503/504, FTP 421, local credentials unusable): every other
 * message would fail the same way, so the worker holds them and probes with
 * one (see src/daemon/destination-gate.ts); `answered` — the destination
 * answered (a fault, a status, an FTP reply), so it is up. Absent: the
 * destination was not contacted (a malformed message, a local file refused).
 */
export type Contact = 'unreachable' | 'answered';

/** The same outcome, labelled with the job it concerns (for the log line). */
/** An outcome that keeps nothing for the next attempt. */
export type PlainOutcome = Outcome<never>;

export const withJob = <P>(o: Outcome<P>, job: string | undefined): Outcome<P> => (job === undefined ? o : { ...o, job });

export const delivered = (note?: string): PlainOutcome =>
  note === undefined ? { kind: 'delivered' } : { kind: 'delivered', note };
export const retryLater = (reason: string, contact?: Contact): PlainOutcome =>
  contact === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, contact };
export const giveUp = (reason: string, contact?: Contact): PlainOutcome =>
  contact === undefined ? { kind: 'giveup', reason } : { kind: 'giveup', reason, contact };

/** Whether an outcome shows the destination answering (delivered counts as answered). */
export const contactOf = (o: Outcome<unknown>): Contact | undefined => (o.kind === 'delivered' ? 'answered' : o.contact);

/** Messages settled by one worker process, by outcome (cumulative; reported to the master for the metrics). */
export interface OutcomeCounts {
  delivered: number;
  retried: number;
  gaveUp: number;
  released: number;
}

export interface OutcomeEvent {
  readonly id: string;
  readonly job: string | undefined;
  readonly outcome: 'delivered' | 'retry' | 'giveup' | 'released';
  readonly ms: number;
}
