/**
 * The reference FTP(S) endpoint on 127.0.0.1:0 in a temp directory; closed
 * and removed after the test. Plain by default; `tls` + `implicitTls` for
 * ftps://, `requireClientCert` for mutual TLS.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFtpEndpoint, type FtpEndpoint } from '../../src/primary-dev/ftp/index.js';

export interface TestFtpOptions {
  tls?: { cert: string; key: string; ca: string };
  implicitTls?: boolean;
  requireClientCert?: boolean;
}

export interface TestFtp extends FtpEndpoint {
  readonly dataDir: string;
  /** The destination URL of a path below the FTP root. */
  urlOf(path: string): string;
}

type AfterHook = { after: (fn: () => Promise<void>) => void };

export async function startTestFtp(t: AfterHook, opts: TestFtpOptions = {}): Promise<TestFtp> {
  const dataDir = await mkdtemp(join(tmpdir(), 'jp-ftp-'));
  const ep = await startFtpEndpoint({ listen: '127.0.0.1:0', dataDir, ...opts });
  t.after(async () => {
    await ep.close();
    if (process.env['JP_KEEP_TMP'] === undefined) await rm(dataDir, { recursive: true, force: true });
  });
  return Object.assign(ep, {
    dataDir,
    urlOf: (path: string) => `${ep.url}/${path.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/')}`,
  });
}
