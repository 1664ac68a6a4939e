/**
 * What a handler decides about one message. Handlers never throw across the
 * layer boundary: they return one of these, normally via classify().
 */
export type Outcome =
  | { readonly kind: 'delivered'; readonly note?: string; readonly job?: string }
  | { readonly kind: 'retry'; readonly reason: string; readonly job?: string }
  | { readonly kind: 'giveup'; readonly reason: string; readonly job?: string };

/** The same outcome, labelled with the job it concerns (for the log line). */
export const withJob = (o: Outcome, job: string | undefined): Outcome => (job === undefined ? o : { ...o, job });

export const delivered = (note?: string): Outcome =>
  note === undefined ? { kind: 'delivered' } : { kind: 'delivered', note };
export const retryLater = (reason: string): Outcome => ({ kind: 'retry', reason });
export const giveUp = (reason: string): Outcome => ({ kind: 'giveup', reason });
