/** requeue: every message of post/ and/or undeliverable/ back to new/ (Spool.requeue). */
import { promises as fsp } from 'node:fs';
import { describeError, systemCode } from '../core/errors.js';
import { dirOf } from '../maildir/layout.js';
import { badMessageName } from '../maildir/names.js';
import { Spool } from '../maildir/spool.js';
import type { RequeueSpec, TaskDeps, TaskResult } from './types.js';

/** Message names in `dir` (sidecars, dot-files and unusable names skipped); none when it is missing. */
async function messageNames(dir: string): Promise<string[]> {
  try {
    return (await fsp.readdir(dir)).filter((n) => badMessageName(n) === undefined);
  } catch (e) {
    if (systemCode(e) === 'ENOENT') return [];
    throw e;
  }
}

export async function requeueTask(spec: RequeueSpec, deps: TaskDeps): Promise<TaskResult> {
  let requeued = 0;
  let errors = 0;
  let aborted = false;
  const per: string[] = [];
  for (const s of spec.spools) {
    const spool = new Spool(s.root, { clock: deps.clock });
    let n = 0;
    for (const from of spec.from) {
      if (aborted) break;
      let names: string[];
      try {
        names = await messageNames(dirOf(s.root, from));
      } catch (e) {
        errors++;
        deps.log.warn({ spool: s.name, dir: from, err: describeError(e) }, 'cannot list spool directory');
        continue;
      }
      for (const name of names) {
        if (deps.signal?.aborted === true) {
          aborted = true;
          break;
        }
        try {
          if (await spool.requeue(name, from)) {
            n++;
            deps.log.debug({ spool: s.name, id: name, from }, 'message requeued');
          }
        } catch (e) {
          errors++;
          deps.log.warn({ spool: s.name, id: name, from, err: describeError(e) }, 'cannot requeue message');
        }
      }
    }
    requeued += n;
    per.push(`${s.name}: ${n}`);
    if (aborted) break;
  }
  const parts = [`requeued ${requeued} messages from ${spec.from.join(' and ')} (${per.join(', ')})`];
  if (errors > 0) parts.push(`${errors} errors`);
  if (aborted) parts.push('stopped early (shutdown)');
  return { ok: errors === 0, summary: parts.join(', '), counts: { requeued, errors } };
}
