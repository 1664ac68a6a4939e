/** /healthz: every worker alive and every spool writable (a probe file is written and removed in tmp/). */
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '../core/errors.js';
import type { Master } from './master.js';

export async function spoolWritable(root: string): Promise<string | undefined> {
  const probe = join(root, 'tmp', `.healthz-${process.pid}`);
  try {
    await writeFile(probe, 'ok', { mode: 0o600 });
    await unlink(probe);
    return undefined;
  } catch (err) {
    return describeError(err);
  }
}

export async function daemonHealth(master: Master, spools: readonly string[]): Promise<{ ok: boolean; detail: Record<string, unknown> }> {
  const workers = master.workers();
  const problems: Record<string, string> = {};
  for (const root of spools) {
    const why = await spoolWritable(root);
    if (why !== undefined) problems[root] = why;
  }
  const ok = workers.length > 0 && workers.every((w) => w.alive) && Object.keys(problems).length === 0;
  return { ok, detail: { workers, spoolsNotWritable: problems } };
}
