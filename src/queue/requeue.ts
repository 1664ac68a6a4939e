/**
 * "Requeue everything" of one spool area, for the operator's
 * `jp-importer requeue --all` and the scheduled `requeue` task alike: every
 * message of post/ or undeliverable/ (streamed, ./list.ts) goes
 * through DirQueue.requeueMessage, which is safe while workers run. What
 * happened to each message is reported through `on`; one message that
 * cannot be moved never stops the others.
 */
import type { DirQueue, RequeueResult } from './dir-queue.js';
import { eachMessage } from './list.js';

export type RequeueArea = 'post' | 'undeliverable';

export interface RequeueEvents {
  /** The outcome for one message ('moved', or 'exists'/'gone': left). */
  result(name: string, result: RequeueResult): void;
  /** One message could not be requeued (it stays where it was). */
  failed(name: string, error: unknown): void;
}

/**
 * Requeue every message of `from`. Resolves to false when the area does
 * not exist, true otherwise (also when `signal` stopped it early); an error
 * listing the area is thrown.
 */
export async function requeueArea(queue: DirQueue, from: RequeueArea, on: RequeueEvents, signal?: AbortSignal): Promise<boolean> {
  return eachMessage(from === 'post' ? queue.layout.retry : queue.layout.givenUp, async (name) => {
    if (signal?.aborted === true) return;
    let r: RequeueResult;
    try {
      r = await queue.requeueMessage(name, from);
    } catch (e) {
      on.failed(name, e);
      return;
    }
    on.result(name, r);
  });
}
