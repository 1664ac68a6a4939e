/** The dump and sandbox workers: primary clients per jpps, FTP and GridFTP pools, upload handler. */
import { defaultAllowDirs, validateEndpoint } from '../config/options.js';
import { JpError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { Spool } from '../maildir/spool.js';
import { CredentialWatcher } from '../primary/credentials.js';
import { clientTlsOptions } from '../primary/tls-trust.js';
import type { PrimaryClient } from '../primary/client.js';
import { primaryClientFor } from './primary-client.js';
import { createUploadHandler, FtpPool, FtpTransport, GridFtpPool, GridFtpTransport, SchemeTransports } from '../upload/index.js';
import type { MessageHandler } from '../core/handler.js';
import type { WorkerSpec } from './spec.js';

/** Largest upload message (key/value lines) accepted. */
export const MAX_UPLOAD_MESSAGE_BYTES = 64 * 1024;

export async function createUploadParts(spec: WorkerSpec, kind: 'dump' | 'sandbox', log: Logger) {
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
  return { queue: new Spool(spec.spool, { policy: o.retry }), handler, concurrency: o.ftpConnections };
}
