/** Builds a worker's queue and message handler for its role: every worker kind is wired here. */
import { basename } from 'node:path';
import { defaultAllowDirs, validateEndpoint } from '../config/options.js';
import { JpError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { MessageQueue } from '../core/queue.js';
import { Spool } from '../maildir/spool.js';
import type { PrimaryClient } from '../primary/client.js';
import { primaryClientFor } from './primary-client.js';
import { createRegistrationHandler } from '../registration/handler.js';
import type { MessageHandler } from '../core/handler.js';
import type { WorkerSpec } from './spec.js';

export interface WorkerParts {
  readonly queue: MessageQueue;
  readonly handler: MessageHandler;
  readonly concurrency: number;
}

export interface WorkerHooks {
  /** A jobman control file was found (compatibility mode). */
  onControl(action: 'quit' | 'restart'): void;
}

/** A request file in jobman's iqueue is taken only once it is this old. */
export const JOBMAN_MIN_AGE_MS = 500;

/** Largest upload message (key/value lines) accepted. */
export const MAX_UPLOAD_MESSAGE_BYTES = 64 * 1024;

/** Largest jobman request accepted. */
export const MAX_JOBMAN_REQUEST_BYTES = 16 * 1024 * 1024;

export async function createWorkerParts(spec: WorkerSpec, log: Logger, hooks: WorkerHooks): Promise<WorkerParts> {
  const o = spec.options;
  switch (spec.role) {
    case 'reg': {
      const client = primaryClientFor(spec, o.jpps, log, o.concurrency);
      // Unusable credentials: fail at start (restarted with backoff) instead of failing every message.
      await client.identity();
      return { queue: new Spool(spec.spool, { policy: o.retry, legacyWorkAgeMs: o.legacyWorkAgeMs }), handler: createRegistrationHandler(client), concurrency: o.concurrency };
    }
    case 'jobman': {
      if (o.jobmanConfig === undefined) throw new JpError('JP_CONFIG', 'the jobman worker needs --jobman-config');
      // Loaded only by the workers that need them (start-up time, database drivers).
      const { createJobmanHandler, JobmanQueue, loadJobmanConfig } = await import('../jobman/index.js');
      const config = loadJobmanConfig(o.jobmanConfig, process.env);
      const queue: MessageQueue = o.jobmanMdir !== undefined
        ? new Spool(o.jobmanMdir, { policy: o.retry, legacyWorkAgeMs: o.legacyWorkAgeMs })
        : JobmanQueue.fromConfig(config, {
          policy: o.retry,
          onControl: (kind) => hooks.onControl(kind),
          // jobman clients may write request files in place: leave a file until it is 0.5 s old.
          minAgeMs: JOBMAN_MIN_AGE_MS,
        });
      const jh = createJobmanHandler(config, {
        logger: log,
        ...(o.jobmanMdir !== undefined ? { dir: basename(o.jobmanMdir) } : {}),
        ...(o.jobmanClient ? { mode: 'client' as const } : {}),
      });
      const handler: MessageHandler = { maxBytes: MAX_JOBMAN_REQUEST_BYTES, handle: (m, b, s) => jh.handle(m, b, s), close: () => jh.close() };
      // The handler serialises requests (one transaction at a time).
      return { queue, handler, concurrency: 1 };
    }
    case 'dump':
    case 'sandbox':
      return createUploadParts(spec, spec.role, log);
  }
}

/** The dump and sandbox workers: primary clients per jpps, FTP and GridFTP pools, upload handler (loaded only by them). */
async function createUploadParts(spec: WorkerSpec, kind: 'dump' | 'sandbox', log: Logger): Promise<WorkerParts> {
  const [{ CredentialWatcher }, { clientTlsOptions }, { createUploadHandler, FtpPool, FtpTransport, GridFtpPool, GridFtpTransport, SchemeTransports }] =
    await Promise.all([import('../primary/credentials.js'), import('../primary/tls-trust.js'), import('../upload/index.js')]);
  const o = spec.options;
  const watcher = new CredentialWatcher({ certFile: o.cert, keyFile: o.key, caPath: o.caDir });
  // Unusable credentials: fail at start (restarted with backoff) instead of failing every message.
  await watcher.get();
  const clients = new Map<string, PrimaryClient>();
  const clientFor = (jpps: string | undefined): PrimaryClient => {
    const endpoint = jpps ?? o.jpps;
    let c = clients.get(endpoint);
    if (c === undefined) {
      try {
        validateEndpoint(endpoint, 'jpps');
      } catch (err) {
        throw new JpError('JP_MALFORMED_MESSAGE', `message names an unusable primary service: ${(err as Error).message}`);
      }
      c = primaryClientFor(spec, endpoint, log, o.ftpConnections);
      clients.set(endpoint, c);
    }
    return c;
  };
  const pool = new FtpPool({
    maxPerHost: o.ftpConnections,
    timeoutMs: o.ftpTimeoutMs,
    explicitTls: o.ftpTls,
    log,
    // CA + CRL trust of the credential generation (one SecureContext each; ../primary/tls-trust.ts)
    tls: async () => clientTlsOptions((await watcher.get()).creds),
  });
  const ftp = new FtpTransport(pool);
  const gridftp = new GridFtpTransport(new GridFtpPool({
    maxPerHost: o.ftpConnections,
    timeoutMs: o.ftpTimeoutMs,
    dcau: o.gridftpDcau,
    protection: o.gridftpProt,
    ...(o.gridftpSubject !== undefined ? { expectedSubject: o.gridftpSubject } : {}),
    log,
    // A reload (renewed certificate, changed CRL) makes new credentials: connections of the old ones are not reused.
    credentials: async () => (await watcher.get()).creds,
  }));
  const uh = createUploadHandler({
    kind,
    allowedDirs: [...defaultAllowDirs(o.sandboxMdir), ...o.allowDirs],
    ...(o.store !== undefined ? { storeDir: o.store } : {}),
    transport: new SchemeTransports({ ftp, ftps: ftp, gsiftp: gridftp }),
    log,
    primary: clientFor,
    uploadName: o.uploadName,
    ownerDn: () => watcher.current()?.subject ?? '',
  });
  const handler: MessageHandler = {
    maxBytes: MAX_UPLOAD_MESSAGE_BYTES,
    handle: (m, b, s) => uh.handle(m, b, s),
    close: async () => {
      await uh.close();
      await Promise.all([...clients.values()].map((c) => c.close()));
    },
  };
  return { queue: new Spool(spec.spool, { policy: o.retry, legacyWorkAgeMs: o.legacyWorkAgeMs }), handler, concurrency: o.ftpConnections };
}
