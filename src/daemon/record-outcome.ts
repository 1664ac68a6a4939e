/**
 * Record what a handler decided about one claimed message in its queue
 * (delivered, retry later with the handler's payload, given up) and log the
 * message's one outcome line. Throws when the queue refuses the move: the
 * worker loop then returns the message unchanged and holds it back.
 */
import type { Logger } from '../core/log.js';
import type { Outcome, OutcomeCounts, OutcomeEvent } from '../core/outcome.js';
import type { ClaimedMessage, MessageQueue } from '../core/queue.js';

export interface Recorded {
  /** The outcome as reported (a retry past the give-up limit is a give-up). */
  readonly reported: OutcomeEvent['outcome'];
  /** The counter it adds to. */
  readonly counter: keyof OutcomeCounts;
  /** A retry's next attempt (ms since the epoch). */
  readonly nextAttemptAt?: number;
}

export async function recordOutcome<P>(
  queue: MessageQueue<P>, msg: ClaimedMessage<P>, outcome: Outcome<P>, base: Record<string, unknown>, log: Logger,
): Promise<Recorded> {
  switch (outcome.kind) {
    case 'delivered':
      await queue.delivered(msg);
      log.info({ ...base, outcome: 'delivered', ...(outcome.note ? { note: outcome.note } : {}) }, 'delivered');
      return { reported: 'delivered', counter: 'delivered' };
    case 'retry': {
      const r = await queue.failed(msg, outcome.reason, outcome.upload);
      if (r.state === 'post') {
        log.warn({ ...base, outcome: 'retry', attempts: r.attempts, next: new Date(r.nextAttemptAt).toISOString(), reason: outcome.reason }, 'will retry');
        return { reported: 'retry', counter: 'retried', nextAttemptAt: r.nextAttemptAt };
      }
      log.error({ ...base, outcome: 'giveup', reason: r.reason }, 'gave up: retry limit reached');
      return { reported: 'giveup', counter: 'gaveUp' };
    }
    case 'giveup':
      await queue.giveUp(msg, outcome.reason);
      log.error({ ...base, outcome: 'giveup', reason: outcome.reason }, 'gave up');
      return { reported: 'giveup', counter: 'gaveUp' };
  }
}
