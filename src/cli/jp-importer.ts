/** The jp-importer command line (yargs). */
import { resolve } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { runDaemon } from '../daemon/run.js';

const daemonFlags = {
  k: { alias: 'key', type: 'string', describe: 'private key (PEM) [X509_USER_KEY, /etc/grid-security/hostkey.pem, certs/client-key.pem]' },
  c: { alias: 'cert', type: 'string', describe: 'certificate (PEM) [X509_USER_CERT, /etc/grid-security/hostcert.pem, certs/client.pem]' },
  C: { alias: 'CAdir', type: 'string', describe: 'directory of trusted CA certificates [X509_CERT_DIR, /etc/grid-security/certificates, certs/ca]' },
  g: { alias: 'debug', type: 'boolean', describe: 'stay in the foreground, readable logs at debug level' },
  foreground: { type: 'boolean', describe: 'stay in the foreground with JSON logs (for service managers)' },
  p: { alias: 'jpps', type: 'string', describe: 'primary service, host:port (= https://host:port/) or URL [localhost:8900]' },
  r: { alias: 'reg-mdir', type: 'string', describe: 'registration spool [maildir/reg]' },
  d: { alias: 'dump-mdir', type: 'string', describe: 'dump upload spool [maildir/dump]' },
  D: { alias: 'dump-slaves', type: 'string', describe: 'number of dump workers, 1-20 [1]' },
  s: { alias: 'sandbox-mdir', type: 'string', describe: 'sandbox upload spool [maildir/sandbox]' },
  i: { alias: 'pidfile', type: 'string', describe: 'pidfile [maildir/jp-importer.pid]' },
  t: { alias: 'poll', type: 'string', describe: 'poll interval, seconds or 500ms/5s/1m (fallback to watching) [2]' },
  S: { alias: 'store', type: 'string', describe: 'keep uploaded files in this directory instead of deleting them' },
  'allow-dir': { type: 'string', array: true, describe: 'directory upload files named in messages may be read from (repeatable) [sandbox-tars beside the sandbox spool]' },
  workers: { type: 'string', describe: 'which workers to run: comma list of reg,dump,sandbox,jobman [reg,dump,sandbox]' },
  concurrency: { type: 'string', describe: 'messages in flight per registration worker [16]' },
  timeout: { type: 'string', describe: 'no-response timeout per SOAP call [120s]' },
  'retry-first': { type: 'string', describe: 'delay before the first retry [5m]' },
  'retry-max': { type: 'string', describe: 'longest delay between retries [1h]' },
  'give-up-after': { type: 'string', describe: 'give a message up when its first failure is older than this [5d]' },
  'ftp-tls': { type: 'boolean', describe: 'use AUTH TLS (explicit) on ftp:// upload destinations; ftps:// is implicit TLS' },
  'ftp-connections': { type: 'string', describe: 'FTP/GridFTP connections kept per server per upload worker (= uploads in flight) [4]' },
  'ftp-timeout': { type: 'string', describe: 'FTP/GridFTP per-command / stalled-transfer timeout [30s]' },
  'gridftp-dcau': { type: 'string', describe: 'gsiftp:// data channel authentication: A (TLS with the importer\'s credentials) or N (none) [A]' },
  'gridftp-prot': { type: 'string', describe: 'gsiftp:// data protection with DCAU A: C (clear) or P (private, TLS) [C]' },
  'gridftp-subject': { type: 'string', describe: 'subject every GridFTP server must present, instead of a host certificate naming its host (globus-url-copy -ds)' },
  'jobman-config': { type: 'string', describe: 'jobman config.ini: run the jobman worker (alone: jobman compatibility mode only)' },
  'jobman-mdir': { type: 'string', describe: 'take jobman requests from this maildir spool instead of config.ini\'s iqueue' },
  'jobman-client': { type: 'boolean', describe: 'forward jobman requests to [client] postURL instead of running them' },
  config: { type: 'string', describe: 'configuration file (INI: [importer] keys = long flag names, [task NAME] schedules); flags > JP_IMPORTER_* environment > file' },
  metrics: { type: 'string', describe: 'serve Prometheus /metrics and /healthz on host:port (e.g. 127.0.0.1:9464) [off]' },
  'log-file': { type: 'string', describe: 'append logs to this file [stderr; maildir/jp-importer.log when detached]' },
  'log-level': { type: 'string', describe: 'fatal|error|warn|info|debug|trace [info]' },
} as const;

let subcommandExit: number | undefined;

/** Flags that locate the spools, shared by status / show / requeue. */
const spoolFlags = {
  r: daemonFlags.r, d: daemonFlags.d, s: daemonFlags.s,
  'jobman-mdir': daemonFlags['jobman-mdir'], config: daemonFlags.config,
  json: { type: 'boolean', describe: 'one JSON document on stdout' },
} as const;

async function opsSubtrees(a: Record<string, unknown>) {
  const { resolveOptions } = await import('../daemon/run.js');
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
      .option('subtree', { type: 'string', describe: 'reg | dump | sandbox | jobman [all]' }),
    (a) => ops('requeue', async () => {
      const { runRequeue } = await import('../ops/index.js');
      const from = a['from'];
      if (from !== undefined && from !== 'undeliverable' && from !== 'post' && from !== 'both') {
        throw new Error(`--from: must be undeliverable, post or both, got ${JSON.stringify(from)}`);
      }
      return runRequeue({
        subtrees: await opsSubtrees(a), all: a['all'] === true, ids: ((a['ids'] as unknown[] | undefined) ?? []).map(String), json: a['json'] === true,
        ...(typeof a['subtree'] === 'string' ? { subtree: a['subtree'] } : {}), ...(from !== undefined ? { from } : {}),
      }, process.stdout);
    }))
  .command('run-task <name>', 'run one [task NAME] of the configuration file now (what the scheduler would run)',
    (y) => y
      .positional('name', { type: 'string', describe: 'task name' })
      .option('config', { type: 'string', demandOption: true, describe: 'configuration file' })
      .option('json', { type: 'boolean', describe: 'JSON log lines' }),
    async (a) => {
      const { runTaskCommand } = await import('../daemon/run-task.js');
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
      const { runJobmanResults } = await import('../jobman/index.js');
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
process.exitCode = await runDaemon({
  metrics: r['metrics'],
  key: r['key'], cert: r['cert'], CAdir: r['CAdir'], debug: r['debug'], foreground: r['foreground'], jpps: r['jpps'],
  regMdir: r['reg-mdir'], dumpMdir: r['dump-mdir'], dumpSlaves: r['dump-slaves'], sandboxMdir: r['sandbox-mdir'],
  pidfile: r['pidfile'], poll: r['poll'], store: r['store'], allowDir: r['allow-dir'], workers: r['workers'],
  concurrency: r['concurrency'], timeout: r['timeout'], retryFirst: r['retry-first'], retryMax: r['retry-max'],
  giveUpAfter: r['give-up-after'], logFile: r['log-file'], logLevel: r['log-level'],
  ftpTls: r['ftp-tls'], ftpConnections: r['ftp-connections'], ftpTimeout: r['ftp-timeout'],
  gridftpDcau: r['gridftp-dcau'], gridftpProt: r['gridftp-prot'], gridftpSubject: r['gridftp-subject'],
  jobmanConfig: r['jobman-config'], jobmanMdir: r['jobman-mdir'], jobmanClient: r['jobman-client'],
}, typeof r['config'] === 'string' ? r['config'] : undefined);
