/** `jp-importer` without a subcommand: the daemon (master process). */
import { join, dirname } from 'node:path';
import { validateOptions, type ImporterOptions, type RawOptions } from '../config/options.js';
import { describeError } from '../core/errors.js';
import { createLogging } from '../core/log.js';
import { importerOptionsFromEnv, loadConfigFile, mergeOptions, type ConfigFile } from '../config/file.js';
import { Spool } from '../maildir/spool.js';
import { consumedSpools } from '../queue/spools.js';
import { detach, isDetachedChild, notifyParent } from './detach.js';
import { Master } from './master.js';
import { acquirePidfile, AlreadyRunningError } from './pidfile.js';
import { workerSpecs, type LogSpec } from './spec.js';
import { daemonHealth } from './health.js';
import type { Metrics, MetricsSampler } from '../metrics/index.js';
import { runTaskLocked, tasksOf } from './tasks.js';
import type { Scheduler, TaskSpec } from '../schedule/index.js';

/** flags > environment (JP_IMPORTER_*) > --config file > defaults, validated. */
export function resolveOptions(flags: RawOptions, configPath: string | undefined, env: NodeJS.ProcessEnv = process.env): {
  opts: ImporterOptions;
  file: ConfigFile | undefined;
  tasks: TaskSpec[];
} {
  const file = configPath === undefined ? undefined : loadConfigFile(configPath);
  const merged = mergeOptions(flags, importerOptionsFromEnv(env), file);
  const opts = validateOptions(merged.raw, env, merged.labels);
  return { opts, file, tasks: tasksOf(file, opts) };
}

export async function runDaemon(flags: RawOptions, configPath?: string): Promise<number> {
  let opts: ImporterOptions;
  let tasks: TaskSpec[];
  try {
    ({ opts, tasks } = resolveOptions(flags, configPath));
  } catch (err) {
    process.stderr.write(`jp-importer: ${describeError(err)}\n`);
    return 1;
  }
  if (!opts.debug && !opts.foreground && !isDetachedChild()) return detach();

  const logSpec: LogSpec = {
    format: opts.debug ? 'pretty' : 'json',
    level: opts.debug ? 'debug' : opts.logLevel,
    file: opts.logFile ?? (isDetachedChild() ? join(dirname(opts.pidfile), 'jp-importer.log') : undefined),
  };
  const logging = createLogging({ format: logSpec.format, level: logSpec.level, file: logSpec.file });
  const log = logging.logger.child({ role: 'master' });

  let pidfile;
  try {
    pidfile = await acquirePidfile(opts.pidfile, (err) => log.error({ err: err.message, pidfile: opts.pidfile }, 'pidfile lock compromised'));
  } catch (err) {
    const message = err instanceof AlreadyRunningError ? err.message : `cannot take the pidfile ${opts.pidfile}: ${describeError(err)}`;
    log.error({ pidfile: opts.pidfile }, message);
    if (!isDetachedChild() && logSpec.format === 'json' && logSpec.file === undefined) {
      /* the JSON line above went to stderr already */
    } else if (!isDetachedChild()) process.stderr.write(`jp-importer: ${message}\n`);
    notifyParent({ type: 'detached-failed', message });
    return 1;
  }

  try {
    await prepareSpools(opts);
  } catch (err) {
    const message = describeError(err);
    log.error({ err: message }, 'cannot prepare the spool directories');
    notifyParent({ type: 'detached-failed', message: `cannot prepare the spool directories: ${message}` });
    await pidfile.release();
    return 1;
  }

  let shutdown!: (signal: string) => void;
  const stopped = new Promise<string>((res) => {
    shutdown = res;
  });
  const specs = workerSpecs(opts, logSpec);
  const maildirs = [...new Set(consumedSpools(opts).map((s) => s.root))];
  let metrics: Metrics | undefined;
  let sampler: MetricsSampler | undefined;
  if (opts.metrics !== undefined) {
    try {
      // prom-client is loaded only when metrics are asked for
      const { createMetrics } = await import('../metrics/index.js');
      metrics = await createMetrics({
        listen: opts.metrics, listenOption: '--metrics', log,
        health: () => daemonHealth(master, maildirs),
      });
    } catch (err) {
      const message = describeError(err);
      log.error({ err: message }, 'cannot serve metrics');
      notifyParent({ type: 'detached-failed', message });
      await pidfile.release();
      return 1;
    }
    log.info({ metrics: `http://${metrics.host}:${metrics.port}/metrics` }, 'serving Prometheus metrics and /healthz');
  }
  const master: Master = new Master(specs, log, {
    onControl: (action) => (action === 'quit' ? shutdown('jobman quit file') : master.restartAll()),
    ...(metrics !== undefined ? { metrics } : {}),
  });
  // node-cron and the task actions are loaded only when tasks are configured
  const startScheduler = async (list: TaskSpec[]): Promise<Scheduler | undefined> => {
    if (list.length === 0) return undefined;
    const { Scheduler } = await import('../schedule/scheduler.js');
    const sch = new Scheduler(list, {
      log: logging.logger.child({ role: 'scheduler' }), // not under the master's role: one value per key
      run: (spec, signal) => runTaskLocked(spec, opts, log.child({ task: spec.name }), signal),
    });
    sch.start();
    return sch;
  };
  let scheduler: Scheduler | undefined;
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGHUP', () => {
    logging.reopen();
    master.broadcast({ type: 'reopen-log' });
    let next: ImporterOptions;
    let nextTasks: TaskSpec[];
    try {
      ({ opts: next, tasks: nextTasks } = resolveOptions(flags, configPath));
    } catch (err) {
      log.error({ err: describeError(err) }, 'SIGHUP: the new configuration is refused; the running one stays');
      return;
    }
    for (const k of ['pidfile', 'logFile', 'logLevel', 'debug', 'foreground', 'metrics'] as const) {
      if (JSON.stringify(next[k]) !== JSON.stringify(opts[k])) log.warn({ setting: k }, 'SIGHUP: this setting changes only at the next start');
    }
    const changes = master.reconfigure(workerSpecs({ ...next, pidfile: opts.pidfile }, logSpec));
    log.info({ ...changes }, 'SIGHUP: configuration reloaded; log file reopened; workers restarted only where settings changed');
    opts = { ...next, pidfile: opts.pidfile };
    if (JSON.stringify(nextTasks) !== JSON.stringify(tasks)) {
      tasks = nextTasks;
      const old = scheduler;
      scheduler = undefined;
      void old?.stop();
      void startScheduler(tasks).then((sch) => {
        scheduler = sch;
        log.info({ tasks: tasks.map((t) => t.name) }, 'SIGHUP: scheduled tasks replaced');
      });
    }
  });

  log.info({ jpps: opts.jpps, workers: master.workers().map((w) => w.id), pidfile: opts.pidfile }, 'jp-importer starting');
  if (process.geteuid?.() === 0) {
    log.warn('running as root: run the daemon as its own unprivileged user, writable only where the spools, allowed directories and store are (docs/operations.md "Run it unprivileged")');
  }
  await master.start();
  scheduler ??= await startScheduler(tasks);
  if (metrics !== undefined) {
    const { MetricsSampler } = await import('../metrics/index.js');
    sampler = new MetricsSampler({
      spools: [...new Map(consumedSpools(opts).map((sp) => [sp.root, { subtree: sp.name, root: sp.root }])).values()],
      certFile: opts.cert,
      sink: metrics,
      log,
    });
    sampler.start();
  }
  notifyParent({ type: 'detached-ready', pid: process.pid });
  log.info({ workers: master.workers() }, 'jp-importer running');

  const signal = await stopped;
  const t0 = Date.now();
  log.info({ signal }, 'stopping: workers finish or return their in-flight messages');
  await Promise.all([scheduler?.stop(8000), master.stop()]);
  await sampler?.stop();
  await metrics?.close();
  const totals = master.totals();
  log.info({ ...totals, ms: Date.now() - t0 }, 'jp-importer stopped');
  await pidfile.release();
  return 0;
}

async function prepareSpools(opts: ImporterOptions): Promise<void> {
  for (const root of new Set(consumedSpools(opts).map((s) => s.root))) {
    // The directories only: the C importer's work/ is the workers' to take over, by age (--legacy-work-age).
    await new Spool(root).init();
  }
}
