/** `jp-importer run-task NAME --config FILE`: one run of a configured task, now (systemd timers, operators). */
import { describeError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { resolveOptions } from '../daemon/daemon.js';
import { runTaskLocked } from '../daemon/tasks.js';

/** Exit codes: 0 the run succeeded (or another process was running it), 1 it failed, 2 configuration error or unknown task. */
export async function runTaskCommand(name: string, configPath: string, json: boolean): Promise<number> {
  let resolved;
  try {
    resolved = resolveOptions({}, configPath);
  } catch (err) {
    process.stderr.write(`jp-importer run-task: ${describeError(err)}\n`);
    return 2;
  }
  const spec = resolved.tasks.find((t) => t.name === name);
  if (spec === undefined) {
    const known = resolved.tasks.map((t) => t.name).join(', ') || 'none';
    process.stderr.write(`jp-importer run-task: ${configPath} has no [task ${name}] (tasks: ${known})\n`);
    return 2;
  }
  const log = createLogger({ format: json ? 'json' : 'pretty', level: 'info' }).child({ task: name });
  const t0 = Date.now();
  try {
    const r = await runTaskLocked(spec, resolved.opts, log);
    log.info({ action: spec.action, outcome: r.ok ? 'ok' : 'failed', ms: Date.now() - t0, ...r.counts }, r.summary);
    return r.ok ? 0 : 1;
  } catch (err) {
    log.error({ action: spec.action, outcome: 'failed', ms: Date.now() - t0, err: describeError(err) }, 'task run failed');
    return 1;
  }
}
