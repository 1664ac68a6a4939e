/**
 * /healthz: every worker alive and every spool writable (a probe file is
 * created and removed in tmp/).
 *
 * Each probe has a name of its own (`.healthz-<pid>-<random>`), so probes that
 * overlap never touch each other's file. It is created with O_EXCL|O_NOFOLLOW:
 * a file or symlink already at that name is never written through nor removed.
 * The leading dot keeps it out of everything that looks for messages (spool
 * scans, ops tools, metrics counts and clean-tmp skip hidden files), and it is
 * removed on every path once created.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '../core/errors.js';

const PROBE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** A probe file name no other probe (of this or another process) uses. */
export function probeName(): string {
  return `.healthz-${process.pid}-${randomBytes(8).toString('hex')}`;
}

/** undefined when a file can be created, written and removed in `root`/tmp/, else the reason. */
export async function spoolWritable(root: string, name: string = probeName()): Promise<string | undefined> {
  const probe = join(root, 'tmp', name);
  let created = false;
  let failure: unknown;
  try {
    const fh = await open(probe, PROBE_FLAGS, 0o600);
    created = true;
    try {
      await fh.writeFile('ok');
    } finally {
      await fh.close();
    }
  } catch (err) {
    failure = err;
  }
  if (created) {
    try {
      await unlink(probe);
    } catch (err) {
      failure ??= err;
    }
  }
  return failure === undefined ? undefined : describeError(failure);
}

/** What /healthz needs of the master. */
export interface WorkerView {
  workers(): readonly { readonly alive: boolean }[];
}

export async function daemonHealth(master: WorkerView, spools: readonly string[]): Promise<{ ok: boolean; detail: Record<string, unknown> }> {
  const workers = master.workers();
  const problems: Record<string, string> = {};
  for (const root of spools) {
    const why = await spoolWritable(root);
    if (why !== undefined) problems[root] = why;
  }
  const ok = workers.length > 0 && workers.every((w) => w.alive) && Object.keys(problems).length === 0;
  return { ok, detail: { workers, spoolsNotWritable: problems } };
}
