/** The jp-importer command line (yargs). */
import { resolve } from 'node:path';
import yargs, { type Options } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { OPTIONS, optionKeys, type OptionDecl } from '../config/option-table.js';
import { runDaemon } from '../daemon/daemon.js';

/** The daemon's flags, from the option table: `-D` with alias `dump-slaves`, or the long flag alone. */
const daemonFlags = Object.fromEntries(optionKeys().map((k) => {
  const d: OptionDecl<unknown> = OPTIONS[k];
  const type = d.yargs === 'array' ? 'string' : d.yargs;
  const spec = { type, describe: d.help, ...(d.yargs === 'array' ? { array: true } : {}) };
  return d.short === undefined ? [d.flag, spec] : [d.short, { alias: d.flag, ...spec }];
})) as Record<string, Options>;

let subcommandExit: number | undefined;

/** Flags that locate the spools, shared by status / show / requeue. */
const spoolFlags = {
  r: daemonFlags['r'] as Options, d: daemonFlags['d'] as Options, s: daemonFlags['s'] as Options,
  'jobman-mdir': daemonFlags['jobman-mdir'] as Options, config: daemonFlags['config'] as Options,
  json: { type: 'boolean', describe: 'one JSON document on stdout' },
} as const;

async function opsSubtrees(a: Record<string, unknown>) {
  const { resolveOptions } = await import('../daemon/daemon.js');
  const { subtreesOf } = await import('../ops/index.js');
  const { opts } = resolveOptions({ regMdir: a['reg-mdir'], dumpMdir: a['dump-mdir'], sandboxMdir: a['sandbox-mdir'] },
    typeof a['config'] === 'string' ? a['config'] : undefined);
  const jobmanMdir = typeof a['jobman-mdir'] === 'string' ? resolve(a['jobman-mdir']) : opts.jobmanMdir;
  return subtreesOf({ ...opts, ...(jobmanMdir !== undefined ? { jobmanMdir } : {}) });
}

/** Run an operator sub-command; configuration errors exit 2 with the message. */
async function ops(name: string, fn: () => Promise<number>): Promise<void> {
  try {
    subcommandExit = await fn();
  } catch (err) {
    const { describeError } = await import('../core/errors.js');
    process.stderr.write(`jp-importer ${name}: ${describeError(err)}\n`);
    subcommandExit = 2;
  }
}

const raw = await yargs(hideBin(process.argv))
  .scriptName('jp-importer')
  .usage('$0 [options]\n\nStore-and-forward daemon: delivers LB registrations, dumps and sandboxes from maildir spools to the JP primary service.')
  .command('$0', 'run the daemon (master and workers)', (y) => y.options(daemonFlags))
  .command('status', 'what is queued in each spool, how old, why deferred, who holds claims (works with or without the daemon)',
    (y) => y.options(spoolFlags).option('warn-post-age', { type: 'string', describe: 'a message in post/ older than this needs attention [24h]' }),
    (a) => ops('status', async () => {
      const { runStatus } = await import('../ops/index.js');
      const { parseDuration } = await import('../config/duration.js');
      const warn = a['warn-post-age'];
      const postAgeWarnMs = warn === undefined ? undefined : parseDuration(String(warn));
      if (postAgeWarnMs === undefined && warn !== undefined) throw new Error(`--warn-post-age: must be a duration such as 24h, got ${JSON.stringify(warn)}`);
      return runStatus({ subtrees: await opsSubtrees(a), json: a['json'] === true, ...(postAgeWarnMs !== undefined ? { postAgeWarnMs } : {}) }, process.stdout);
    }))
  .command('show <id>', 'one message: where it is, its body, attempts, last errors, next attempt',
    (y) => y.positional('id', { type: 'string', describe: 'message id (its file name)' }).options(spoolFlags),
    (a) => ops('show', async () => {
      const { runShow } = await import('../ops/index.js');
      return runShow({ subtrees: await opsSubtrees(a), id: String(a['id']), json: a['json'] === true }, process.stdout);
    }))
  .command('requeue [ids..]', 'move messages from undeliverable/ and post/ back to new/ (attempts reset); safe while the daemon runs',
    (y) => y.positional('ids', { type: 'string', array: true, describe: 'message ids' }).options(spoolFlags)
      .option('all', { type: 'boolean', describe: 'every message of the selected areas' })
      .option('from', { type: 'string', describe: 'undeliverable | post | both [both]' })
      .option('subtree', { type: 'string', describe: 'reg | dump | sandbox | jobman [all]' })
      .option('adopt-legacy', { type: 'boolean', describe: "also move the C importer's claims (work/) into new/ — only once no C importer runs on these spools" }),
    (a) => ops('requeue', async () => {
      const { runRequeue } = await import('../ops/index.js');
      const from = a['from'];
      if (from !== undefined && from !== 'undeliverable' && from !== 'post' && from !== 'both') {
        throw new Error(`--from: must be undeliverable, post or both, got ${JSON.stringify(from)}`);
      }
      return runRequeue({
        subtrees: await opsSubtrees(a), all: a['all'] === true, ids: ((a['ids'] as unknown[] | undefined) ?? []).map(String), json: a['json'] === true,
        ...(typeof a['subtree'] === 'string' ? { subtree: a['subtree'] } : {}), ...(from !== undefined ? { from } : {}),
        adoptLegacy: a['adopt-legacy'] === true,
      }, process.stdout);
    }))
  .command('run-task <name>', 'run one [task NAME] of the configuration file now (what the scheduler would run)',
    (y) => y
      .positional('name', { type: 'string', describe: 'task name' })
      .option('config', { type: 'string', demandOption: true, describe: 'configuration file' })
      .option('json', { type: 'boolean', describe: 'JSON log lines' }),
    async (a) => {
      const { runTaskCommand } = await import('./run-task.js');
      subcommandExit = await runTaskCommand(String(a['name']), String(a['config']), a['json'] === true);
    })
  .command('jobman-results <uid>', 'print the results recorded for a jobman request',
    (y) => y
      .positional('uid', { type: 'string', describe: 'request uid (file name without .req)' })
      .option('jobman-config', { type: 'string', demandOption: true, describe: 'jobman config.ini' })
      .option('seq', { type: 'string', describe: 'only this step (0-based)' })
      .option('json', { type: 'boolean', describe: 'JSON output' }),
    async (a) => {
      const seqRaw = a['seq'];
      if (seqRaw !== undefined && !/^\d+$/.test(String(seqRaw))) {
        process.stderr.write(`jp-importer jobman-results: --seq: must be a step number (0, 1, …), got ${JSON.stringify(seqRaw)}\n`);
        subcommandExit = 2;
        return;
      }
      const { runJobmanResults } = await import('./jobman-results.js');
      subcommandExit = await runJobmanResults(
        { config: String(a['jobman-config']), uid: String(a['uid']), ...(seqRaw !== undefined ? { seq: Number(seqRaw) } : {}), json: a['json'] === true },
        process.stdout, process.stderr,
      );
    })
  .example('$0 -g -p localhost:8900', 'run in the foreground against a local primary service with the default spools')
  .example('$0 -p jp.example.org:8900 -r /var/spool/jp/reg -d /var/spool/jp/dump -D 4 -i /run/jp-importer.pid', 'production-style start (detaches)')
  .help('h')
  .alias('h', 'help')
  .version(false)
  .strict()
  .fail((msg, err) => {
    process.stderr.write(`jp-importer: ${err?.message ?? msg}\nRun 'jp-importer --help' for the options.\n`);
    process.exit(1);
  })
  .parseAsync();

const r = raw as Record<string, unknown>;
if (subcommandExit !== undefined) process.exit(subcommandExit);
process.exitCode = await runDaemon(Object.fromEntries(optionKeys().filter((k) => k !== 'config').map((k) => [k, r[OPTIONS[k].flag]])), typeof r['config'] === 'string' ? r['config'] : undefined);
