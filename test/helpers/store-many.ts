/**
 * Storing many messages at once with the guarantee of Spool.store, for
 * tests (the one production writer of many messages is the exporter's
 * MessageBatch, src/maildir/store-many-sync.ts, used here): per chunk, the
 * files are written into tmp/, made durable together, linked into new/,
 * their tmp/ links removed (as Spool.store does), and new/ is fsynced.
 * `onStored(total)` after each chunk. Returns the names in new/, in the
 * order of `bodies`.
 */
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { MessageBatch } from '../../src/maildir/store-many-sync.js';

export async function storeManyDurably(
  root: string,
  bodies: readonly (string | Uint8Array)[],
  opts: { chunk?: number; onStored?: (total: number) => void } = {},
): Promise<string[]> {
  const chunk = opts.chunk ?? 4096;
  const out: string[] = [];
  for (let start = 0; start < bodies.length; start += chunk) {
    const batch = new MessageBatch(root);
    try {
      for (const body of bodies.slice(start, start + chunk)) batch.write(body);
      batch.sync();
      while (batch.stored < batch.size) {
        const tmpName = batch.nameOf(batch.stored);
        out.push(batch.linkNext());
        try {
          unlinkSync(join(batch.tmpDir, tmpName));
        } catch {
          /* linkNext removed it already (the name was taken in new/) */
        }
      }
    } catch (e) {
      batch.discard();
      throw e;
    }
    batch.syncNew();
    opts.onStored?.(out.length);
    await Promise.resolve();
  }
  return out;
}
