/**
 * Every option of the jp-importer daemon, declared once: its flags, how a
 * value is read (from a flag, a configuration file key, an environment
 * variable), its default, its validation, its --help text and its line in
 * the docs. The yargs flags (src/cli/jp-importer.ts), the configuration
 * file and environment keys (./file.ts), the typed options (./options.ts)
 * and the tables of docs/configuration.md (./option-docs.ts) are all
 * derived from it.
 *
 * Naming: the table's key is the name of the value before validation
 * (RawOptions); the configuration file key is the long flag in lower case
 * (`dump-slaves`, `cadir`), the environment variable JP_IMPORTER_ and that
 * key in capitals with `_` for `-`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_RETRY_POLICY } from '../queue/retry-state.js';
import { DEFAULT_LEGACY_WORK_AGE_MS } from '../maildir/legacy-work.js';
import { DEFAULT_SPOOL_ROOT, PACKAGE_ROOT } from './paths.js';
import {
  durationIn, flag, intIn, listenAddress, nonEmpty, offOr, oneOf, pathList, pathValue, subjectDn, validateEndpoint, bad, type ValueParser,
} from './value-parsers.js';

export type Env = NodeJS.ProcessEnv;

/** How a configuration file or environment text becomes a raw value. */
export type TextKind = 'plain' | 'path' | 'paths' | 'boolean';

export interface OptionDecl<T> {
  /** Long flag without the dashes (`dump-slaves`, `CAdir`). */
  readonly flag: string;
  readonly short?: string;
  /** What the value looks like, for the docs (`N`, `DIR`); none for a switch. */
  readonly arg?: string;
  readonly yargs: 'string' | 'boolean' | 'array';
  /** Read from the configuration file and the environment too (default: yes). */
  readonly inFile?: boolean;
  /** How the file / environment text is turned into a raw value (default plain). */
  readonly text?: TextKind;
  /** The --help line. */
  readonly help: string;
  /** The docs table: what it means, and the default as shown. */
  readonly docs: string;
  readonly shownDefault: string;
  /** The value from its raw form; `label` names the flag, file key or variable. */
  readonly parse: ValueParser<T>;
  readonly default: (env: Env) => T;
}

const decl = <T>(d: OptionDecl<T>): OptionDecl<T> => d;

function firstExisting(candidates: string[]): string {
  return candidates.find((p) => existsSync(p)) ?? (candidates[candidates.length - 1] as string);
}

const devCerts = join(PACKAGE_ROOT, 'certs');
const none = (): undefined => undefined;

export const WORKER_KINDS = ['reg', 'dump', 'sandbox', 'jobman'] as const;
export type WorkerKind = (typeof WORKER_KINDS)[number];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

/** The worker kinds of a `--workers` value: a comma list (or a repeated flag), each named once. */
const workerList: ValueParser<WorkerKind[]> = (v, label) => {
  const list = (Array.isArray(v) ? v : [v]).flatMap((w) => String(w).split(','));
  const out: WorkerKind[] = [];
  for (const w of list.map((s) => s.trim()).filter((s) => s.length > 0)) {
    if (!(WORKER_KINDS as readonly string[]).includes(w)) throw bad(label, w, `must list kinds from ${WORKER_KINDS.join(', ')}`);
    if (!out.includes(w as WorkerKind)) out.push(w as WorkerKind);
  }
  if (out.length === 0) throw bad(label, v, `must name at least one of ${WORKER_KINDS.join(', ')}`);
  return out;
};

const endpoint: ValueParser<string> = (v, label) => validateEndpoint(nonEmpty(v, label), label);
const listen: ValueParser<string> = (v, label) => listenAddress(nonEmpty(v, label), label);
const logLevel: ValueParser<string> = (v, label) => {
  const s = nonEmpty(v, label);
  if (!(LOG_LEVELS as readonly string[]).includes(s)) throw bad(label, s, `must be one of ${LOG_LEVELS.join(', ')}`);
  return s;
};

export const OPTIONS = {
  jpps: decl({
    flag: 'jpps', short: 'p', arg: 'HOST:PORT|URL', yargs: 'string',
    help: 'primary service, host:port (= https://host:port/) or URL [localhost:8900]',
    docs: 'primary service; a bare `host:port` means `https://host:port/`', shownDefault: '`localhost:8900`',
    parse: endpoint, default: () => 'localhost:8900',
  }),
  cert: decl({
    flag: 'cert', short: 'c', arg: 'FILE', yargs: 'string', text: 'path',
    help: 'certificate (PEM) [X509_USER_CERT, /etc/grid-security/hostcert.pem, certs/client.pem]',
    docs: 'certificate (PEM) presented to the service, to FTPS and to GridFTP servers',
    shownDefault: '`$X509_USER_CERT`, else `/etc/grid-security/hostcert.pem` if present, else `certs/client.pem`',
    parse: pathValue, default: (env) => env['X509_USER_CERT'] ?? firstExisting(['/etc/grid-security/hostcert.pem', join(devCerts, 'client.pem')]),
  }),
  key: decl({
    flag: 'key', short: 'k', arg: 'FILE', yargs: 'string', text: 'path',
    help: 'private key (PEM) [X509_USER_KEY, /etc/grid-security/hostkey.pem, certs/client-key.pem]',
    docs: 'its private key', shownDefault: '`$X509_USER_KEY`, `/etc/grid-security/hostkey.pem`, `certs/client-key.pem`',
    parse: pathValue, default: (env) => env['X509_USER_KEY'] ?? firstExisting(['/etc/grid-security/hostkey.pem', join(devCerts, 'client-key.pem')]),
  }),
  CAdir: decl({
    flag: 'CAdir', short: 'C', arg: 'DIR', yargs: 'string', text: 'path',
    help: 'directory of trusted CA certificates [X509_CERT_DIR, /etc/grid-security/certificates, certs/ca]',
    docs: 'trusted CAs and their CRLs: a directory of PEM files (`/etc/grid-security/certificates` layout, CRLs in `<hash>.r0`; see *Certificate revocation*) or one PEM file',
    shownDefault: '`$X509_CERT_DIR`, `/etc/grid-security/certificates`, `certs/ca`',
    parse: pathValue, default: (env) => env['X509_CERT_DIR'] ?? firstExisting(['/etc/grid-security/certificates', join(devCerts, 'ca')]),
  }),
  regMdir: decl({
    flag: 'reg-mdir', short: 'r', arg: 'DIR', yargs: 'string', text: 'path',
    help: 'registration spool [maildir/reg]', docs: 'registration spool', shownDefault: '`maildir/reg`',
    parse: pathValue, default: () => join(DEFAULT_SPOOL_ROOT, 'reg'),
  }),
  dumpMdir: decl({
    flag: 'dump-mdir', short: 'd', arg: 'DIR', yargs: 'string', text: 'path',
    help: 'dump upload spool [maildir/dump]', docs: 'dump upload spool', shownDefault: '`maildir/dump`',
    parse: pathValue, default: () => join(DEFAULT_SPOOL_ROOT, 'dump'),
  }),
  dumpSlaves: decl({
    flag: 'dump-slaves', short: 'D', arg: 'N', yargs: 'string',
    help: 'number of dump workers, 1-20 [1]', docs: 'dump workers on that spool, 1–20', shownDefault: '1',
    parse: intIn(1, 20), default: () => 1,
  }),
  sandboxMdir: decl({
    flag: 'sandbox-mdir', short: 's', arg: 'DIR', yargs: 'string', text: 'path',
    help: 'sandbox upload spool [maildir/sandbox]', docs: 'sandbox upload spool', shownDefault: '`maildir/sandbox`',
    parse: pathValue, default: () => join(DEFAULT_SPOOL_ROOT, 'sandbox'),
  }),
  pidfile: decl({
    flag: 'pidfile', short: 'i', arg: 'FILE', yargs: 'string', text: 'path',
    help: 'pidfile [maildir/jp-importer.pid]', docs: 'pidfile; a second instance refuses to start', shownDefault: '`maildir/jp-importer.pid`',
    parse: pathValue, default: () => join(DEFAULT_SPOOL_ROOT, 'jp-importer.pid'),
  }),
  poll: decl({
    flag: 'poll', short: 't', arg: 'DURATION', yargs: 'string',
    help: 'poll interval, seconds or 500ms/5s/1m (fallback to watching) [2]',
    docs: 'poll interval (seconds, or `500ms`, `5s`, `1m`); new messages are normally picked up at once by watching `new/` (watched again when `new/` is removed, renamed or replaced; one log line when the watch is lost, one when it is back)',
    shownDefault: '2',
    parse: durationIn('s', 10, 3_600_000), default: () => 2000,
  }),
  store: decl<string | undefined>({
    flag: 'store', short: 'S', arg: 'DIR', yargs: 'string', text: 'path',
    help: 'keep uploaded files in this directory instead of deleting them',
    docs: 'move uploaded files here (created 0750) instead of deleting them', shownDefault: 'delete',
    parse: pathValue, default: none,
  }),
  debug: decl({
    flag: 'debug', short: 'g', yargs: 'boolean', inFile: false,
    help: 'stay in the foreground, readable logs at debug level',
    docs: 'stay in the foreground, readable one-line logs, debug level', shownDefault: 'detach',
    parse: flag, default: () => false,
  }),
  foreground: decl({
    flag: 'foreground', yargs: 'boolean', inFile: false,
    help: 'stay in the foreground with JSON logs (for service managers)',
    docs: 'stay in the foreground with JSON logs (systemd)', shownDefault: 'detach',
    parse: flag, default: () => false,
  }),
  allowDir: decl<string[]>({
    flag: 'allow-dir', arg: 'DIR', yargs: 'array', text: 'paths',
    help: 'directory upload files named in messages may be read from (repeatable) [sandbox-tars beside the sandbox spool]',
    docs: '(repeatable) directories upload files may be read from (in the file or the environment: a blank or comma separated list)', shownDefault: '`sandbox-tars/` beside the sandbox spool',
    parse: pathList, default: () => [],
  }),
  workers: decl<WorkerKind[]>({
    flag: 'workers', arg: 'LIST', yargs: 'string',
    help: 'which workers to run: comma list of reg,dump,sandbox,jobman [reg,dump,sandbox]',
    docs: 'which workers run: `reg,dump,sandbox,jobman`', shownDefault: '`reg,dump,sandbox`',
    parse: workerList, default: () => ['reg', 'dump', 'sandbox'],
  }),
  concurrency: decl({
    flag: 'concurrency', arg: 'N', yargs: 'string',
    help: 'messages in flight per registration worker [16]',
    docs: 'registrations in flight (pooled keep-alive connections)', shownDefault: '16',
    parse: intIn(1, 256), default: () => 16,
  }),
  timeout: decl({
    flag: 'timeout', arg: 'DURATION', yargs: 'string',
    help: 'no-response timeout per SOAP call [120s]', docs: 'no-response timeout per SOAP call', shownDefault: '120s',
    parse: durationIn('s', 100, 3_600_000), default: () => 120_000,
  }),
  retryFirst: decl({
    flag: 'retry-first', arg: 'DURATION', yargs: 'string',
    help: 'delay before the first retry [5m]', docs: 'delay before the first retry', shownDefault: '5m',
    parse: durationIn('s', 10, 7 * 86_400_000), default: () => DEFAULT_RETRY_POLICY.firstDelayMs,
  }),
  retryMax: decl({
    flag: 'retry-max', arg: 'DURATION', yargs: 'string',
    help: 'longest delay between retries [1h]', docs: 'longest delay between retries (at least `--retry-first`)', shownDefault: '1h',
    parse: durationIn('s', 10, 30 * 86_400_000), default: () => DEFAULT_RETRY_POLICY.maxDelayMs,
  }),
  giveUpAfter: decl({
    flag: 'give-up-after', arg: 'DURATION', yargs: 'string',
    help: 'give a message up when its first failure is older than this [5d]',
    docs: 'give a message up when its first failure is older than this', shownDefault: '5d',
    parse: durationIn('s', 1000, 365 * 86_400_000), default: () => DEFAULT_RETRY_POLICY.giveUpAfterMs,
  }),
  legacyWorkAge: decl<number | null>({
    flag: 'legacy-work-age', arg: 'DURATION|off', yargs: 'string',
    help: "take over messages the C importer has held in work/ this long (its consumer died); off: only `requeue --adopt-legacy` [1h]",
    docs: "a message the C importer has held in `work/` this long is taken over into `new/` (its consumer died; a running C consumer holds one for minutes); `off`: only when an operator runs `jp-importer requeue --adopt-legacy`",
    shownDefault: '1h',
    parse: offOr(durationIn('s', 1000, 30 * 86_400_000)), default: () => DEFAULT_LEGACY_WORK_AGE_MS,
  }),
  ftpTls: decl({
    flag: 'ftp-tls', yargs: 'boolean', text: 'boolean',
    help: 'use AUTH TLS (explicit) on ftp:// upload destinations; ftps:// is implicit TLS',
    docs: 'explicit TLS (`AUTH TLS`) on `ftp://` destinations (`ftps://` is implicit TLS)', shownDefault: 'plain',
    parse: flag, default: () => false,
  }),
  ftpConnections: decl({
    flag: 'ftp-connections', arg: 'N', yargs: 'string',
    help: 'FTP/GridFTP connections kept per server per upload worker (= uploads in flight) [4]',
    docs: 'FTP/GridFTP connections kept per server per upload worker (= uploads in flight)', shownDefault: '4',
    parse: intIn(1, 64), default: () => 4,
  }),
  ftpTimeout: decl({
    flag: 'ftp-timeout', arg: 'DURATION', yargs: 'string',
    help: 'FTP/GridFTP per-command / stalled-transfer timeout [30s]',
    docs: 'FTP/GridFTP per-command / stalled-transfer timeout', shownDefault: '30s',
    parse: durationIn('s', 100, 3_600_000), default: () => 30_000,
  }),
  gridftpDcau: decl<'A' | 'N'>({
    flag: 'gridftp-dcau', arg: 'A|N', yargs: 'string',
    help: 'gsiftp:// data channel authentication: A (TLS with the importer\'s credentials) or N (none) [A]',
    docs: '`gsiftp://` data channel authentication: `A` = TLS with the importer\'s credentials (as the original), `N` = none', shownDefault: '`A`',
    parse: oneOf(['A', 'N'] as const, 'upper'), default: () => 'A',
  }),
  gridftpProt: decl<'C' | 'P'>({
    flag: 'gridftp-prot', arg: 'C|P', yargs: 'string',
    help: 'gsiftp:// data protection with DCAU A: C (clear) or P (private, TLS) [C]',
    docs: '`gsiftp://` data protection with DCAU A: `C` = clear after authentication, `P` = private (TLS)', shownDefault: '`C`',
    parse: oneOf(['C', 'P'] as const, 'upper'), default: () => 'C',
  }),
  gridftpSubject: decl<string | undefined>({
    flag: 'gridftp-subject', arg: 'DN', yargs: 'string',
    help: 'subject every GridFTP server must present, instead of a host certificate naming its host (globus-url-copy -ds)',
    docs: 'the subject every GridFTP server must present, instead of a host certificate naming its host (like `globus-url-copy -ds`)',
    shownDefault: 'host name check',
    parse: subjectDn, default: none,
  }),
  uploadName: decl<'none' | 'basename'>({
    flag: 'upload-name', arg: 'none|basename', yargs: 'string',
    help: 'StartUpload name: none (as the original importer; stored as <class>) or basename (the file\'s base name; stored as <class>.<basename>) [none]',
    docs: '`name` of StartUpload: `none` (as the original importer; the service stores the file as `<class>`, where other JP tools look for it) or `basename` (the local file\'s base name; stored as `<class>.<basename>`)',
    shownDefault: '`none`',
    parse: oneOf(['none', 'basename'] as const, 'lower'), default: () => 'none',
  }),
  jobmanConfig: decl<string | undefined>({
    flag: 'jobman-config', arg: 'FILE', yargs: 'string', text: 'path',
    help: 'jobman config.ini: run the jobman worker (alone: jobman compatibility mode only)',
    docs: 'jobman `config.ini`: runs the jobman worker (given alone, only that worker)', shownDefault: '',
    parse: pathValue, default: none,
  }),
  jobmanMdir: decl<string | undefined>({
    flag: 'jobman-mdir', arg: 'DIR', yargs: 'string', text: 'path',
    help: 'take jobman requests from this maildir spool instead of config.ini\'s iqueue',
    docs: 'take jobman requests from this maildir spool instead of config.ini\'s `iqueue`', shownDefault: '',
    parse: pathValue, default: none,
  }),
  jobmanClient: decl({
    flag: 'jobman-client', yargs: 'boolean', text: 'boolean',
    help: 'forward jobman requests to [client] postURL instead of running them',
    docs: 'forward jobman requests to `[client] postURL` instead of running them', shownDefault: '',
    parse: flag, default: () => false,
  }),
  config: decl<string | undefined>({
    flag: 'config', arg: 'FILE', yargs: 'string', inFile: false,
    help: 'configuration file (INI: [importer] keys = long flag names, [task NAME] schedules); flags > JP_IMPORTER_* environment > file',
    docs: 'configuration file (see *Configuration*); flags > `JP_IMPORTER_*` environment > file > defaults', shownDefault: '',
    parse: pathValue, default: none,
  }),
  metrics: decl<string | undefined>({
    flag: 'metrics', arg: 'HOST:PORT', yargs: 'string',
    help: 'serve Prometheus /metrics and /healthz on host:port (e.g. 127.0.0.1:9464) [off]',
    docs: 'serve Prometheus `/metrics` and `/healthz`', shownDefault: 'off',
    parse: listen, default: none,
  }),
  logFile: decl<string | undefined>({
    flag: 'log-file', arg: 'FILE', yargs: 'string', text: 'path',
    help: 'append logs to this file [stderr; maildir/jp-importer.log when detached]',
    docs: 'append logs here', shownDefault: 'stderr; `maildir/jp-importer.log` when detached',
    parse: pathValue, default: none,
  }),
  logLevel: decl({
    flag: 'log-level', arg: 'LEVEL', yargs: 'string',
    help: 'fatal|error|warn|info|debug|trace [info]', docs: '`fatal error warn info debug trace`', shownDefault: 'info',
    parse: logLevel, default: () => 'info',
  }),
} as const;

export type OptionKey = keyof typeof OPTIONS;

/** The raw values as they come from flags, a file or the environment (strings, numbers, booleans, arrays; all optional). */
export type RawOptions = Partial<Record<string, unknown>>;

/** Each option's value after validation. */
export type OptionValues = { -readonly [K in OptionKey]: ReturnType<(typeof OPTIONS)[K]['default']> };

/** How errors name an option given on the command line: `--dump-slaves (-D)`. */
export function flagLabel(key: OptionKey): string {
  const d: OptionDecl<unknown> = OPTIONS[key];
  return d.short === undefined ? `--${d.flag}` : `--${d.flag} (-${d.short})`;
}

/** The configuration file key of an option (`dump-slaves`, `cadir`). */
export function fileKey(key: OptionKey): string {
  return OPTIONS[key].flag.toLowerCase();
}

export function optionKeys(): OptionKey[] {
  return Object.keys(OPTIONS) as OptionKey[];
}

/** The options read from the configuration file and the environment. */
export function fileOptionKeys(): OptionKey[] {
  return optionKeys().filter((k) => (OPTIONS[k] as OptionDecl<unknown>).inFile !== false);
}

/**
 * Every option's value: the raw one parsed (its error naming `labels[key]`,
 * else the flag), else the default.
 */
export function parseOptionValues(raw: RawOptions, env: Env, labels: Readonly<Record<string, string>>): OptionValues {
  const out: Partial<Record<OptionKey, unknown>> = {};
  for (const key of optionKeys()) {
    const d: OptionDecl<unknown> = OPTIONS[key];
    const v = raw[key];
    out[key] = v === undefined ? d.default(env) : d.parse(v, labels[key] ?? flagLabel(key));
  }
  return out as OptionValues;
}
