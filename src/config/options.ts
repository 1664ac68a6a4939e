/**
 * Options of the jp-importer daemon: the typed, validated shape the code
 * uses, built from the one option table (./option-table.ts) plus the rules
 * that tie options together. Errors name the flag, the file key or the
 * environment variable, the value and the rule.
 */
import { dirname, join } from 'node:path';
import type { RetryPolicy } from '../queue/retry-state.js';
import { DEFAULT_RETRY_POLICY } from '../queue/retry-state.js';
import { flagLabel, parseOptionValues, type Env, type OptionKey, type OptionValues, type RawOptions, type WorkerKind } from './option-table.js';
import { bad, fmtMs } from './value-parsers.js';

export { WORKER_KINDS, type WorkerKind, type RawOptions } from './option-table.js';
export { listenAddress, validateEndpoint } from './value-parsers.js';

export interface ImporterOptions {
  /** Primary service endpoint: `host:port` (= https://host:port/) or a URL. */
  readonly jpps: string;
  readonly cert: string;
  readonly key: string;
  readonly caDir: string;
  readonly regMdir: string;
  readonly dumpMdir: string;
  readonly sandboxMdir: string;
  readonly dumpSlaves: number;
  readonly workers: readonly WorkerKind[];
  readonly pidfile: string;
  readonly pollMs: number;
  readonly store: string | undefined;
  readonly allowDirs: readonly string[];
  readonly debug: boolean;
  readonly foreground: boolean;
  readonly logFile: string | undefined;
  readonly logLevel: string;
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
  /** Take over the C importer's work/ messages held this long; null: only by `requeue --adopt-legacy`. */
  readonly legacyWorkAgeMs: number | null;
  /** FTP: AUTH TLS on ftp:// destinations. */
  readonly ftpTls: boolean;
  /** FTP control connections kept per server (= uploads in flight per worker). */
  readonly ftpConnections: number;
  readonly ftpTimeoutMs: number;
  /** GridFTP data channel authentication: 'A' (TLS with our credentials, the original's default) or 'N' (none). */
  readonly gridftpDcau: 'A' | 'N';
  /** GridFTP data channel protection with DCAU A: 'C' (clear after authentication) or 'P' (private, TLS). */
  readonly gridftpProt: 'C' | 'P';
  /** The subject every GridFTP server must present (slash form), instead of a host certificate naming its host. */
  readonly gridftpSubject: string | undefined;
  /** StartUpload's name: none (as the original) or the file's base name. */
  readonly uploadName: 'none' | 'basename';
  /** Serve Prometheus metrics and /healthz on this host:port (off when undefined). */
  readonly metrics: string | undefined;
  /** jobman config.ini: enables the jobman worker. */
  readonly jobmanConfig: string | undefined;
  /** New-style maildir spool of jobman requests (else jobman's own iqueue layout). */
  readonly jobmanMdir: string | undefined;
  /** Forward requests to [client] postURL instead of running them. */
  readonly jobmanClient: boolean;
}

/**
 * Directories upload files may be read from: the upload API's default tar
 * directory beside the sandbox spool, plus every --allow-dir.
 */
export function defaultAllowDirs(sandboxMdir: string): string[] {
  return [join(dirname(sandboxMdir), 'sandbox-tars')];
}

/** The options from the table's values (and the rules between them): the only place raw names meet the typed ones. */
function assemble(v: OptionValues, workers: WorkerKind[], retryMaxMs: number): ImporterOptions {
  return {
    jpps: v.jpps,
    cert: v.cert,
    key: v.key,
    caDir: v.CAdir,
    regMdir: v.regMdir,
    dumpMdir: v.dumpMdir,
    sandboxMdir: v.sandboxMdir,
    dumpSlaves: v.dumpSlaves,
    workers,
    pidfile: v.pidfile,
    pollMs: v.poll,
    store: v.store,
    allowDirs: v.allowDir,
    debug: v.debug,
    foreground: v.foreground,
    logFile: v.logFile,
    logLevel: v.logLevel,
    concurrency: v.concurrency,
    timeoutMs: v.timeout,
    retry: { firstDelayMs: v.retryFirst, maxDelayMs: retryMaxMs, giveUpAfterMs: v.giveUpAfter, jitter: DEFAULT_RETRY_POLICY.jitter },
    legacyWorkAgeMs: v.legacyWorkAge,
    ftpTls: v.ftpTls,
    ftpConnections: v.ftpConnections,
    ftpTimeoutMs: v.ftpTimeout,
    gridftpDcau: v.gridftpDcau,
    gridftpProt: v.gridftpProt,
    gridftpSubject: v.gridftpSubject,
    uploadName: v.uploadName,
    metrics: v.metrics,
    jobmanConfig: v.jobmanConfig,
    jobmanMdir: v.jobmanMdir,
    jobmanClient: v.jobmanClient,
  };
}

/** Defaults: grid-security paths on a real host, the dev certs in a checkout. */
export function defaultOptions(env: Env = process.env): ImporterOptions {
  const v = parseOptionValues({}, env, {});
  return assemble(v, v.workers, v.retryMax);
}

/** LB flags: given with --jobman-config (and no --workers), the LB workers run beside the jobman one. */
const LB_KEYS: readonly OptionKey[] = ['jpps', 'regMdir', 'dumpMdir', 'sandboxMdir', 'dumpSlaves'];

/**
 * Validate raw values into options. `labels` says where a value came from
 * (e.g. `/etc/jp-importer.conf [importer] dump-slaves` or
 * `environment JP_IMPORTER_DUMP_SLAVES`) so that errors name it; values
 * without a label came from the command line and errors name the flag.
 */
export function validateOptions(raw: RawOptions, env: Env = process.env, labels: Readonly<Record<string, string>> = {}): ImporterOptions {
  const L = (key: OptionKey): string => labels[key] ?? flagLabel(key);
  const v = parseOptionValues(raw, env, labels);
  if (v.jobmanMdir !== undefined && v.jobmanConfig === undefined) {
    throw bad(L('jobmanMdir'), v.jobmanMdir, 'needs --jobman-config (the destination database is configured there)');
  }
  let workers = v.workers;
  if (raw['workers'] === undefined && v.jobmanConfig !== undefined) {
    // `jp-importer --jobman-config config.ini` alone is a jobman replacement;
    // with any LB flag as well, the LB workers run beside it.
    workers = LB_KEYS.some((k) => raw[k] !== undefined) ? [...v.workers, 'jobman'] : ['jobman'];
  }
  if (workers.includes('jobman') && v.jobmanConfig === undefined) throw bad(L('workers'), 'jobman', 'the jobman worker needs --jobman-config');
  let retryMaxMs = v.retryMax;
  if (raw['retryMax'] === undefined) retryMaxMs = Math.max(retryMaxMs, v.retryFirst);
  else if (retryMaxMs < v.retryFirst) {
    throw bad(L('retryMax'), raw['retryMax'], `must be a duration (e.g. 2, 500ms, 30s, 5m, 1h, 5d) from ${fmtMs(v.retryFirst)} to 30d`);
  }
  if (v.gridftpDcau === 'N' && v.gridftpProt === 'P') {
    throw bad(L('gridftpProt'), 'P', 'PROT P (private data) needs an authenticated data channel: not with --gridftp-dcau N');
  }
  return assemble(v, workers, retryMaxMs);
}
