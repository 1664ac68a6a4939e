/**
 * jp-primary-dev: a reference JP primary service speaking the real SOAP
 * protocol over mutual TLS, with an optional in-process FTP(S) endpoint for
 * uploads (or gsiftp:// destinations laid out like the real service's, for
 * an external GridFTP server), failure-injection hooks and a record of every call
 * (`<data-dir>/calls.jsonl`). For tests and for running the whole system on
 * one machine; startPrimaryDev() is the programmatic API, the CLI wraps it.
 */
import { createServer, type Server } from 'node:https';
import { mkdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { describeError, JpError, systemCode } from '../core/errors.js';
import { silentLogger } from '../core/log.js';
import { systemClock, type Clock } from '../core/clock.js';
import { loadCredentials } from '../primary/credentials.js';
import { AppendLog } from './append-log.js';
import { fileBase, hostPort, makeDestinations, parseGridftpBase, parseListen, type GridftpBase } from './addresses.js';
import { Counters, DEFAULT_HOOKS, FTP_HOOK_KEYS, parseHooksPatch, type DevHooks, type DevStats } from './hooks.js';
import { jppsFileName, jppsJobDir } from './jpps-layout.js';
import type { Destinations, UploadLayout } from './ops.js';
import { createHandler } from './server.js';
import type { ReplyShape } from './soap-server.js';
import { DevState } from './state.js';
import { fileVerifier, type FtpEndpoint, type StartFtpEndpoint, type UploadVerifier } from './uploads.js';

export type { DevHooks, DevStats } from './hooks.js';
export type { ReplyShape } from './soap-server.js';
export type { UploadVerifier, FtpEndpoint, FtpHooks, StartFtpEndpoint } from './uploads.js';

export interface PrimaryDevOptions {
  /** `host:port` of the HTTPS (SOAP + admin) listener; port 0 = any. */
  readonly listen: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** CA directory (grid-security layout) or PEM bundle trusted for client certificates. */
  readonly caPath: string;
  readonly dataDir: string;
  /** Start the FTP endpoint (src/primary-dev/ftp) on this `host:port`. */
  readonly ftpListen?: string;
  /** FTP endpoint with implicit TLS; destinations are ftps://. */
  readonly ftps?: boolean;
  /** The FTP endpoint refuses TLS clients without a certificate from the CA directory. */
  readonly ftpRequireClientCert?: boolean;
  /** Without ftpListen: base URL of destinations (an external FTP server serving <data-dir>/files). */
  readonly destinationBase?: string;
  /**
   * Hand out gsiftp:// destinations as the real service does:
   * `<gridftpUrl>/data/<md5 of the owner DN>/<regtime / 604800>/<job unique>/<class>[.<name>]`,
   * for an external GridFTP server (`gsiftp://host:port/abs/dir`) whose
   * grid-mapfile maps the importer to the account running this service.
   * Job directories are made (mode 0700) at RegisterJob; CommitUpload wants
   * the file there, not empty. Excludes ftpListen and destinationBase.
   */
  readonly gridftpUrl?: string;
  /** With gridftpUrl: the directory on this machine its path names (default: the URL's path itself). */
  readonly gridftpDir?: string;
  /** Hooks set from the start. */
  readonly hooks?: Partial<DevHooks>;
  /** Replace the upload verifier (default: the FTP endpoint's, else a file check). */
  readonly verifier?: UploadVerifier;
  /** How replies are written: `gsoap` (default) as the real service, or `compact` (the port's earlier shape). */
  readonly replyShape?: ReplyShape;
  /**
   * Cap on an upload's commitBefore (ms; default 5 min as the real service):
   * until then a StartUpload of the same file is refused with EEXIST.
   */
  readonly uploadWindowMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export interface PrimaryDevHandle {
  readonly host: string;
  readonly httpsPort: number;
  /** `https://host:port/`. */
  readonly url: string;
  readonly ftpPort?: number;
  readonly dataDir: string;
  /** `<data-dir>/files`: the FTP root. */
  readonly filesDir: string;
  /** With gridftpUrl: the destinations' base URL and the directory it names here. */
  readonly gridftp?: GridftpBase;
  /** Where uploaded files land: the gridftp directory, else filesDir. */
  readonly uploadDir: string;
  readonly callsFile: string;
  setHooks(patch: Partial<DevHooks>): DevHooks;
  hooks(): DevHooks;
  stats(): DevStats;
  close(): Promise<void>;
}

async function loadFtp(): Promise<StartFtpEndpoint> {
  const spec = new URL('./ftp/index.js', import.meta.url).href;
  let mod: unknown;
  try {
    mod = await import(spec);
  } catch (e) {
    const notFound = systemCode(e) === 'ERR_MODULE_NOT_FOUND';
    const text = String((e as Error).message);
    throw new JpError(
      'JP_CONFIG',
      notFound && text.includes("'ftp-srv'")
        ? '--ftp-listen: the FTP endpoint needs ftp-srv, an optional dependency that is not installed here (npm install ftp-srv, or npm ci without --omit=optional)'
        : notFound && text.includes('ftp/index.js')
          ? `--ftp-listen: the FTP endpoint (src/primary-dev/ftp/index.js) is not part of this build`
          : `--ftp-listen: cannot load the FTP endpoint module: ${describeError(e)}`,
      { cause: e },
    );
  }
  const start = typeof mod === 'object' && mod !== null ? (mod as { startFtpEndpoint?: unknown }).startFtpEndpoint : undefined;
  if (typeof start !== 'function') throw new JpError('JP_CONFIG', '--ftp-listen: the FTP endpoint module does not export startFtpEndpoint()');
  return start as StartFtpEndpoint;
}

/** Hand the FTP hooks to the endpoint; the drop is one-shot there, so it is disarmed here. */
function sendFtpHooks(ftp: FtpEndpoint, hooks: DevHooks): DevHooks {
  ftp.setHooks({
    ...(hooks.ftpDropAfterBytes > 0 ? { dropAfterBytes: hooks.ftpDropAfterBytes, dropCount: hooks.ftpDropCount } : {}),
    refuseLogins: hooks.ftpRefuseLogins,
  });
  return { ...hooks, ftpDropAfterBytes: 0 };
}

/** The real backend's file layout (gsiftp:// mode). */
const JPPS_LAYOUT: UploadLayout = {
  jobDir: (unique, job) => jppsJobDir(job.owner, job.regtime, unique),
  fileName: (cls, _short, name) => jppsFileName(cls, name),
};

export async function startPrimaryDev(opts: PrimaryDevOptions): Promise<PrimaryDevHandle> {
  const listen = parseListen(opts.listen, '--listen');
  const ftpListen = opts.ftpListen === undefined ? undefined : parseListen(opts.ftpListen, '--ftp-listen');
  if (opts.ftps === true && ftpListen === undefined) throw new JpError('JP_CONFIG', '--ftps needs --ftp-listen');
  if (opts.ftpRequireClientCert === true && opts.ftps !== true) {
    throw new JpError('JP_CONFIG', '--ftp-require-cert needs --ftps (client certificates come with TLS)');
  }
  if (opts.destinationBase !== undefined && ftpListen !== undefined) {
    throw new JpError('JP_CONFIG', '--destination-base and --ftp-listen exclude each other');
  }
  if (opts.gridftpDir !== undefined && opts.gridftpUrl === undefined) throw new JpError('JP_CONFIG', '--gridftp-dir needs --gridftp-url');
  const gridftp = opts.gridftpUrl === undefined ? undefined : parseGridftpBase(opts.gridftpUrl, opts.gridftpDir);
  if (gridftp !== undefined && (ftpListen !== undefined || opts.destinationBase !== undefined)) {
    throw new JpError('JP_CONFIG', '--gridftp-url excludes --ftp-listen and --destination-base');
  }
  if (opts.uploadWindowMs !== undefined && !(Number.isSafeInteger(opts.uploadWindowMs) && opts.uploadWindowMs > 0)) {
    throw new JpError('JP_CONFIG', `--upload-window-ms ${opts.uploadWindowMs}: expected a whole number of ms > 0`);
  }
  let hooks: DevHooks = { ...DEFAULT_HOOKS, ...parseHooksPatch(opts.hooks ?? {}) };
  const log = opts.logger ?? silentLogger;
  const clock = opts.clock ?? systemClock;
  const creds = await loadCredentials({ certFile: opts.certFile, keyFile: opts.keyFile, caPath: opts.caPath });
  const filesDir = join(opts.dataDir, 'files');
  await mkdir(filesDir, { recursive: true, mode: 0o700 });
  if (gridftp !== undefined) {
    await mkdir(gridftp.dir, { recursive: true, mode: 0o700 }).catch((e: unknown) => {
      throw new JpError('JP_CONFIG', `--gridftp-dir ${gridftp.dir}: cannot make it: ${describeError(e)}`, { cause: e });
    });
  }
  const uploadDir = gridftp?.dir ?? filesDir;
  const callsFile = join(opts.dataDir, 'calls.jsonl');

  const state = await DevState.open(opts.dataDir);
  const calls = await AppendLog.open(callsFile);
  let ftp: FtpEndpoint | undefined;
  let server: Server | undefined;
  try {
    let destinations: Destinations;
    let verifier = opts.verifier;
    let layout: UploadLayout | undefined;
    if (gridftp !== undefined) {
      destinations = makeDestinations(gridftp.url);
      layout = JPPS_LAYOUT;
    } else if (ftpListen !== undefined) {
      const start = await loadFtp();
      ftp = await start({
        listen: opts.ftpListen as string,
        dataDir: opts.dataDir,
        tls: { cert: creds.cert, key: creds.key, ca: [...creds.ca] },
        implicitTls: opts.ftps === true,
        requireClientCert: opts.ftpRequireClientCert === true,
      });
      hooks = sendFtpHooks(ftp, hooks);
      destinations = makeDestinations(`${opts.ftps === true ? 'ftps' : 'ftp'}://${hostPort(ftpListen.host, ftp.port)}/`);
      verifier ??= ftp.verifier;
    } else {
      destinations = makeDestinations(opts.destinationBase ?? fileBase(filesDir));
    }
    // An external server: no knowledge of transfers here, so "complete" is "there and not empty".
    verifier ??= fileVerifier(uploadDir);

    const counters = new Counters();
    const sleepers = new Set<() => void>();
    let closing = false;
    const setHooks = (patch: Partial<DevHooks>): DevHooks => {
      hooks = { ...hooks, ...parseHooksPatch(patch) };
      if (ftp !== undefined && FTP_HOOK_KEYS.some((k) => k in patch)) hooks = sendFtpHooks(ftp, hooks);
      log.info({ hooks }, 'jp-primary-dev: hooks set');
      return hooks;
    };
    const stats = (): DevStats => {
      let inProgress = 0;
      let committed = 0;
      for (const u of state.uploads.values()) {
        if (u.state === 'committed') committed++;
        else if (u.commitBefore > clock.now()) inProgress++;
      }
      return counters.snapshot({ jobs: state.jobs.size, uploadsInProgress: inProgress, filesCommitted: committed });
    };
    const handler = createHandler({
      ops: {
        state,
        clock,
        verifier,
        destinations,
        shape: opts.replyShape ?? 'gsoap',
        ...(opts.uploadWindowMs !== undefined ? { uploadWindowMs: opts.uploadWindowMs } : {}),
        ...(layout === undefined
          ? { prepareUpload: (relPath: string) => mkdirSync(dirname(join(filesDir, relPath)), { recursive: true, mode: 0o750 }) }
          : {
              layout,
              // 0700 like the real backend: the GridFTP server runs as the account its grid-mapfile maps the importer to, this one.
              prepareJob: (jobDir: string) => mkdirSync(join(uploadDir, jobDir), { recursive: true, mode: 0o700 }),
            }),
      },
      counters,
      calls,
      logger: log,
      hooks: () => hooks,
      setHooks,
      take(hook) {
        if (hooks[hook] <= 0) return false;
        hooks = { ...hooks, [hook]: hooks[hook] - 1 };
        return true;
      },
      stats,
      sleep: (ms) =>
        new Promise<boolean>((resolve) => {
          const wake = (): void => {
            clearTimeout(t);
            sleepers.delete(wake);
            resolve(false);
          };
          const t = setTimeout(() => {
            sleepers.delete(wake);
            resolve(true);
          }, ms);
          sleepers.add(wake);
        }),
      isClosing: () => closing,
    });

    const srv = createServer({ cert: creds.cert, key: creds.key, ca: [...creds.ca], requestCert: true, rejectUnauthorized: true }, handler);
    server = srv;
    srv.keepAliveTimeout = 60_000;
    srv.on('tlsClientError', (e: Error) => {
      counters.tlsRefused++;
      log.info({ err: describeError(e) }, 'jp-primary-dev: TLS handshake refused/failed');
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(listen.port, listen.host, () => {
        srv.off('error', reject);
        resolve();
      });
    });
    const addr = srv.address();
    const httpsPort = typeof addr === 'object' && addr !== null ? addr.port : listen.port;
    log.info({ https: hostPort(listen.host, httpsPort), ftp: ftp?.port, gridftp, dataDir: opts.dataDir }, 'jp-primary-dev: listening');

    let closed: Promise<void> | undefined;
    const close = (): Promise<void> =>
      (closed ??= (async () => {
        closing = true;
        for (const wake of [...sleepers]) wake();
        await new Promise<void>((resolve) => {
          srv.close(() => resolve());
          srv.closeAllConnections();
        });
        await ftp?.close();
        await calls.close();
        await state.close();
      })());

    return {
      host: listen.host,
      httpsPort,
      url: `https://${hostPort(listen.host, httpsPort)}/`,
      ...(ftp !== undefined ? { ftpPort: ftp.port } : {}),
      dataDir: opts.dataDir,
      filesDir,
      ...(gridftp !== undefined ? { gridftp } : {}),
      uploadDir,
      callsFile,
      setHooks,
      hooks: () => hooks,
      stats,
      close,
    };
  } catch (e) {
    server?.close();
    await ftp?.close().catch(() => undefined);
    await calls.close().catch(() => undefined);
    await state.close().catch(() => undefined);
    throw e;
  }
}
