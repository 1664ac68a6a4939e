/**
 * Dev certificates for tests: runs certs/make-dev-certs.sh into a temporary
 * directory once per test process and returns the paths (removed at exit).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface DevCerts {
  readonly dir: string;
  /** The CA certificate (PEM) and the grid-style CA directory. */
  readonly ca: string;
  readonly caKey: string;
  readonly caDir: string;
  readonly server: string;
  readonly serverKey: string;
  /** /C=CZ/O=jp-importer dev/CN=jp-importer client */
  readonly client: string;
  readonly clientKey: string;
  /** /C=CZ/O=jp-importer dev/CN=jp-importer client 2 (same CA, other DN). */
  readonly client2: string;
  readonly client2Key: string;
  readonly clientExpired: string;
  readonly clientExpiredKey: string;
  readonly serverExpired: string;
  readonly serverExpiredKey: string;
  /** Server certificate for wrong.example only (hostname mismatch). */
  readonly serverWronghost: string;
  readonly serverWronghostKey: string;
  /** An unrelated CA and certificates it signed. */
  readonly rogueCa: string;
  readonly rogueServer: string;
  readonly rogueServerKey: string;
  readonly rogueClient: string;
  readonly rogueClientKey: string;
}

export const CLIENT_SUBJECT = '/C=CZ/O=jp-importer dev/CN=jp-importer client';
export const CLIENT2_SUBJECT = '/C=CZ/O=jp-importer dev/CN=jp-importer client 2';

/** Find a file of the project (not compiled): walk up from this module, then from the cwd. */
export function projectFile(rel: string): string {
  const starts = [process.env['JP_PROJECT_ROOT'], dirname(fileURLToPath(import.meta.url)), process.cwd()];
  for (const start of starts) {
    if (start === undefined || start === '') continue;
    let dir = resolve(start);
    for (;;) {
      const candidate = join(dir, rel);
      if (existsSync(candidate)) return candidate;
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  throw new Error(`cannot find ${rel} above ${fileURLToPath(import.meta.url)} or ${process.cwd()} (set JP_PROJECT_ROOT)`);
}

let cached: DevCerts | undefined;

export function devCerts(): DevCerts {
  if (cached !== undefined) return cached;
  const script = projectFile('certs/make-dev-certs.sh');
  const dir = mkdtempSync(join(tmpdir(), 'jp-dev-certs-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  execFileSync('bash', [script, dir], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
  const p = (f: string): string => join(dir, f);
  cached = {
    dir,
    ca: p('ca.pem'),
    caKey: p('ca-key.pem'),
    caDir: p('ca'),
    server: p('server.pem'),
    serverKey: p('server-key.pem'),
    client: p('client.pem'),
    clientKey: p('client-key.pem'),
    client2: p('client2.pem'),
    client2Key: p('client2-key.pem'),
    clientExpired: p('client-expired.pem'),
    clientExpiredKey: p('client-expired-key.pem'),
    serverExpired: p('server-expired.pem'),
    serverExpiredKey: p('server-expired-key.pem'),
    serverWronghost: p('server-wronghost.pem'),
    serverWronghostKey: p('server-wronghost-key.pem'),
    rogueCa: p('rogue-ca.pem'),
    rogueServer: p('rogue-server.pem'),
    rogueServerKey: p('rogue-server-key.pem'),
    rogueClient: p('rogue-client.pem'),
    rogueClientKey: p('rogue-client-key.pem'),
  };
  return cached;
}
