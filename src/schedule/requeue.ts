/** requeue: every message of post/ and/or undeliverable/ back to new/ (../queue/requeue.ts, as `jp-importer requeue --all`). */
import { describeError } from '../core/errors.js';
import { requeueArea } from '../queue/requeue.js';
import { Spool } from '../maildir/spool.js';
import type { RequeueSpec, TaskDeps, TaskResult } from './types.js';

export async function requeueTask(spec: RequeueSpec, deps: TaskDeps): Promise<TaskResult> {
  let requeued = 0;
  let errors = 0;
  const stopped = (): boolean => deps.signal?.aborted === true;
  const per: string[] = [];
  for (const s of spec.spools) {
    const spool = new Spool(s.root, { clock: deps.clock });
    let n = 0;
    for (const from of spec.from) {
      if (stopped()) break;
      try {
        await requeueArea(spool, from, {
          result: (name, r) => {
            if (r !== 'moved') return;
            n++;
            deps.log.debug({ spool: s.name, id: name, from }, 'message requeued');
          },
          failed: (name, e) => {
            errors++;
            deps.log.warn({ spool: s.name, id: name, from, err: describeError(e) }, 'cannot requeue message');
          },
        }, deps.signal);
      } catch (e) {
        errors++;
        deps.log.warn({ spool: s.name, dir: from, err: describeError(e) }, 'cannot list spool directory');
      }
    }
    requeued += n;
    per.push(`${s.name}: ${n}`);
    if (stopped()) break;
  }
  const parts = [`requeued ${requeued} messages from ${spec.from.join(' and ')} (${per.join(', ')})`];
  if (errors > 0) parts.push(`${errors} errors`);
  if (stopped()) parts.push('stopped early (shutdown)');
  return { ok: errors === 0, summary: parts.join(', '), counts: { requeued, errors } };
}
