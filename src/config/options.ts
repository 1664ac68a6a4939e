/**
 * Options of the jp-importer daemon: one typed interface, one defaults
 * object, one validation function whose errors name the flag, the value and
 * the rule.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { JpError } from '../core/errors.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../maildir/retry-state.js';
import { parseDuration } from './duration.js';
import { DEFAULT_SPOOL_ROOT, PACKAGE_ROOT } from './paths.js';

export const WORKER_KINDS = ['reg', 'dump', 'sandbox', 'jobman'] as const;
export type WorkerKind = (typeof WORKER_KINDS)[number];

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
  /** Serve Prometheus metrics and /healthz on this host:port (off when undefined). */
  readonly metrics: string | undefined;
  /** jobman config.ini: enables the jobman worker. */
  readonly jobmanConfig: string | undefined;
  /** New-style maildir spool of jobman requests (else jobman's own iqueue layout). */
  readonly jobmanMdir: string | undefined;
  /** Forward requests to [client] postURL instead of running them. */
  readonly jobmanClient: boolean;
}

/** The raw values as they come from flags (strings or numbers, all optional). */
export type RawOptions = Partial<Record<string, unknown>>;

function firstExisting(candidates: string[]): string {
  return candidates.find((p) => existsSync(p)) ?? (candidates[candidates.length - 1] as string);
}

/** Defaults: grid-security paths on a real host, the dev certs in a checkout. */
export function defaultOptions(env: NodeJS.ProcessEnv = process.env): ImporterOptions {
  const devCerts = join(PACKAGE_ROOT, 'certs');
  return {
    jpps: 'localhost:8900',
    cert: env['X509_USER_CERT'] ?? firstExisting(['/etc/grid-security/hostcert.pem', join(devCerts, 'client.pem')]),
    key: env['X509_USER_KEY'] ?? firstExisting(['/etc/grid-security/hostkey.pem', join(devCerts, 'client-key.pem')]),
    caDir: env['X509_CERT_DIR'] ?? firstExisting(['/etc/grid-security/certificates', join(devCerts, 'ca')]),
    regMdir: join(DEFAULT_SPOOL_ROOT, 'reg'),
    dumpMdir: join(DEFAULT_SPOOL_ROOT, 'dump'),
    sandboxMdir: join(DEFAULT_SPOOL_ROOT, 'sandbox'),
    dumpSlaves: 1,
    workers: ['reg', 'dump', 'sandbox'],
    pidfile: join(DEFAULT_SPOOL_ROOT, 'jp-importer.pid'),
    pollMs: 2000,
    store: undefined,
    allowDirs: [],
    debug: false,
    foreground: false,
    logFile: undefined,
    logLevel: 'info',
    concurrency: 16,
    timeoutMs: 120_000,
    retry: DEFAULT_RETRY_POLICY,
    ftpTls: false,
    ftpConnections: 4,
    ftpTimeoutMs: 30_000,
    gridftpDcau: 'A',
    gridftpProt: 'C',
    gridftpSubject: undefined,
    metrics: undefined,
    jobmanConfig: undefined,
    jobmanMdir: undefined,
    jobmanClient: false,
  };
}

/**
 * Directories upload files may be read from: the upload API's default tar
 * directory beside the sandbox spool, plus every --allow-dir.
 */
export function defaultAllowDirs(sandboxMdir: string): string[] {
  return [join(dirname(sandboxMdir), 'sandbox-tars')];
}

function bad(flag: string, value: unknown, rule: string): JpError {
  return new JpError('JP_CONFIG', `${flag}: ${rule}, got ${JSON.stringify(value)}`);
}

function str(raw: RawOptions, key: string, flag: string, dflt: string): string {
  const v = raw[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || v.trim().length === 0) throw bad(flag, v, 'must be a non-empty string');
  return v;
}

function path(raw: RawOptions, key: string, flag: string, dflt: string): string {
  const v = str(raw, key, flag, dflt);
  if (v.includes('\0')) throw bad(flag, v, 'must be a path');
  return isAbsolute(v) ? v : resolve(v);
}

function int(raw: RawOptions, key: string, flag: string, dflt: number, min: number, max: number): number {
  const v = raw[key];
  if (v === undefined) return dflt;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw bad(flag, v, `must be an integer from ${min} to ${max}`);
  return n;
}

function oneOf<T extends string>(raw: RawOptions, key: string, flag: string, dflt: T, allowed: readonly T[]): T {
  const v = raw[key];
  if (v === undefined) return dflt;
  const up = typeof v === 'string' ? v.trim().toUpperCase() : v;
  const hit = allowed.find((a) => a === up);
  if (hit === undefined) throw bad(flag, v, `must be one of ${allowed.join(', ')}`);
  return hit;
}

/** A certificate subject in the slash form grid tools print: `/C=CZ/O=…/CN=host/jp.example.org`. */
function subject(raw: RawOptions, key: string, flag: string): string {
  const v = str(raw, key, flag, '');
  if (!/^\/[A-Za-z][A-Za-z0-9.]*=[^\r\n\0]*$/.test(v)) throw bad(flag, v, 'must be a subject in slash form, e.g. /DC=org/DC=example/CN=host/jp.example.org');
  return v;
}

function duration(raw: RawOptions, key: string, flag: string, dflt: number, bareUnit: 'ms' | 's', minMs: number, maxMs: number): number {
  const v = raw[key];
  if (v === undefined) return dflt;
  const ms = typeof v === 'string' || typeof v === 'number' ? parseDuration(v, bareUnit) : undefined;
  if (ms === undefined || ms < minMs || ms > maxMs) {
    throw bad(flag, v, `must be a duration (e.g. 2, 500ms, 30s, 5m, 1h, 5d) from ${fmtMs(minMs)} to ${fmtMs(maxMs)}`);
  }
  return ms;
}

function fmtMs(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

const HOST_PORT = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):\d{1,5}$/;

/** A local address to listen on: host:port, port 0-65535. */
export function listenAddress(v: string, flag: string): string {
  if (HOST_PORT.test(v)) {
    const port = Number(v.slice(v.lastIndexOf(':') + 1));
    if (port >= 0 && port <= 65535) return v;
  }
  throw bad(flag, v, 'must be host:port (port 0-65535), e.g. 127.0.0.1:9464');
}

export function validateEndpoint(v: string, flag: string): string {
  if (HOST_PORT.test(v)) {
    const port = Number(v.slice(v.lastIndexOf(':') + 1));
    if (port >= 1 && port <= 65535) return v;
  } else {
    try {
      const u = new URL(v);
      if ((u.protocol === 'https:' || u.protocol === 'http:') && u.hostname.length > 0) return v;
    } catch {
      /* fall through */
    }
  }
  throw bad(flag, v, 'must be host:port (port 1-65535) or an http(s) URL');
}

/**
 * Validate raw values into options. `labels` says where a value came from
 * (e.g. `/etc/jp-importer.conf [importer] dump-slaves` or
 * `environment JP_IMPORTER_DUMP_SLAVES`) so that errors name it; values
 * without a label came from the command line and errors name the flag.
 */
export function validateOptions(raw: RawOptions, env: NodeJS.ProcessEnv = process.env, labels: Readonly<Record<string, string>> = {}): ImporterOptions {
  const L = (key: string, flag: string): string => labels[key] ?? flag;
  const d = defaultOptions(env);
  const workersRaw = raw['workers'];
  let workers: WorkerKind[] = [...d.workers];
  if (workersRaw !== undefined) {
    const list = (Array.isArray(workersRaw) ? workersRaw : [workersRaw]).flatMap((w) => String(w).split(','));
    workers = [];
    for (const w of list.map((s) => s.trim()).filter((s) => s.length > 0)) {
      if (!(WORKER_KINDS as readonly string[]).includes(w)) throw bad(L('workers', '--workers'), w, `must list kinds from ${WORKER_KINDS.join(', ')}`);
      if (!workers.includes(w as WorkerKind)) workers.push(w as WorkerKind);
    }
    if (workers.length === 0) throw bad(L('workers', '--workers'), workersRaw, `must name at least one of ${WORKER_KINDS.join(', ')}`);
  }
  const jobmanConfig = raw['jobmanConfig'] === undefined ? undefined : path(raw, 'jobmanConfig', L('jobmanConfig', '--jobman-config'), '');
  const jobmanMdir = raw['jobmanMdir'] === undefined ? undefined : path(raw, 'jobmanMdir', L('jobmanMdir', '--jobman-mdir'), '');
  if (jobmanMdir !== undefined && jobmanConfig === undefined) {
    throw bad(L('jobmanMdir', '--jobman-mdir'), jobmanMdir, 'needs --jobman-config (the destination database is configured there)');
  }
  if (workersRaw === undefined && jobmanConfig !== undefined) {
    // `jp-importer --jobman-config config.ini` alone is a jobman replacement;
    // with any LB flag as well, the LB workers run beside it.
    const lbFlags = ['jpps', 'regMdir', 'dumpMdir', 'sandboxMdir', 'dumpSlaves'];
    workers = lbFlags.some((k) => raw[k] !== undefined) ? [...d.workers, 'jobman'] : ['jobman'];
  }
  if (workers.includes('jobman') && jobmanConfig === undefined) throw bad(L('workers', '--workers'), 'jobman', 'the jobman worker needs --jobman-config');
  const allowRaw = raw['allowDir'];
  const allowDirs = (allowRaw === undefined ? [] : Array.isArray(allowRaw) ? allowRaw : [allowRaw]).map((v) => {
    if (typeof v !== 'string' || v.length === 0) throw bad(L('allowDir', '--allow-dir'), v, 'must be a directory path');
    return resolve(v);
  });
  const storeRaw = raw['store'];
  const first = duration(raw, 'retryFirst', L('retryFirst', '--retry-first'), d.retry.firstDelayMs, 's', 10, 7 * 86_400_000);
  const max = duration(raw, 'retryMax', L('retryMax', '--retry-max'), Math.max(d.retry.maxDelayMs, first), 's', first, 30 * 86_400_000);
  const opts: ImporterOptions = {
    jpps: validateEndpoint(str(raw, 'jpps', L('jpps', '--jpps (-p)'), d.jpps), L('jpps', '--jpps (-p)')),
    cert: path(raw, 'cert', L('cert', '--cert (-c)'), d.cert),
    key: path(raw, 'key', L('key', '--key (-k)'), d.key),
    caDir: path(raw, 'CAdir', L('CAdir', '--CAdir (-C)'), d.caDir),
    regMdir: path(raw, 'regMdir', L('regMdir', '--reg-mdir (-r)'), d.regMdir),
    dumpMdir: path(raw, 'dumpMdir', L('dumpMdir', '--dump-mdir (-d)'), d.dumpMdir),
    sandboxMdir: path(raw, 'sandboxMdir', L('sandboxMdir', '--sandbox-mdir (-s)'), d.sandboxMdir),
    dumpSlaves: int(raw, 'dumpSlaves', L('dumpSlaves', '--dump-slaves (-D)'), d.dumpSlaves, 1, 20),
    workers,
    pidfile: path(raw, 'pidfile', L('pidfile', '--pidfile (-i)'), d.pidfile),
    pollMs: duration(raw, 'poll', L('poll', '--poll (-t)'), d.pollMs, 's', 10, 3_600_000),
    store: storeRaw === undefined ? undefined : path(raw, 'store', L('store', '--store (-S)'), ''),
    allowDirs,
    debug: raw['debug'] === true,
    foreground: raw['foreground'] === true,
    logFile: raw['logFile'] === undefined ? undefined : path(raw, 'logFile', L('logFile', '--log-file'), ''),
    logLevel: str(raw, 'logLevel', L('logLevel', '--log-level'), d.logLevel),
    concurrency: int(raw, 'concurrency', L('concurrency', '--concurrency'), d.concurrency, 1, 256),
    timeoutMs: duration(raw, 'timeout', L('timeout', '--timeout'), d.timeoutMs, 's', 100, 3_600_000),
    retry: {
      firstDelayMs: first,
      maxDelayMs: max,
      giveUpAfterMs: duration(raw, 'giveUpAfter', L('giveUpAfter', '--give-up-after'), d.retry.giveUpAfterMs, 's', 1000, 365 * 86_400_000),
      jitter: d.retry.jitter,
    },
    ftpTls: raw['ftpTls'] === true,
    ftpConnections: int(raw, 'ftpConnections', L('ftpConnections', '--ftp-connections'), d.ftpConnections, 1, 64),
    ftpTimeoutMs: duration(raw, 'ftpTimeout', L('ftpTimeout', '--ftp-timeout'), d.ftpTimeoutMs, 's', 100, 3_600_000),
    gridftpDcau: oneOf(raw, 'gridftpDcau', L('gridftpDcau', '--gridftp-dcau'), d.gridftpDcau, ['A', 'N'] as const),
    gridftpProt: oneOf(raw, 'gridftpProt', L('gridftpProt', '--gridftp-prot'), d.gridftpProt, ['C', 'P'] as const),
    gridftpSubject: raw['gridftpSubject'] === undefined ? undefined : subject(raw, 'gridftpSubject', L('gridftpSubject', '--gridftp-subject')),
    metrics: raw['metrics'] === undefined ? undefined : listenAddress(str(raw, 'metrics', L('metrics', '--metrics'), ''), L('metrics', '--metrics')),
    jobmanConfig,
    jobmanMdir,
    jobmanClient: raw['jobmanClient'] === true,
  };
  if (opts.gridftpDcau === 'N' && opts.gridftpProt === 'P') {
    throw bad(L('gridftpProt', '--gridftp-prot'), 'P', 'PROT P (private data) needs an authenticated data channel: not with --gridftp-dcau N');
  }
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace'].includes(opts.logLevel)) {
    throw bad(L('logLevel', '--log-level'), opts.logLevel, 'must be one of fatal, error, warn, info, debug, trace');
  }
  return opts;
}
