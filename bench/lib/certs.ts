/** Dev certificates for benches: certs/make-dev-certs.sh into a given directory. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export interface BenchCerts {
  readonly dir: string;
  /** The CA certificate (PEM) and the grid-style CA directory. */
  readonly ca: string;
  readonly caDir: string;
  readonly server: string;
  readonly serverKey: string;
  readonly client: string;
  readonly clientKey: string;
}

/** Find a project file (not compiled): walk up from $JP_PROJECT_ROOT, this module, then the cwd. */
export function findProjectFile(rel: string): string {
  for (const start of [process.env['JP_PROJECT_ROOT'], dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    if (start === undefined || start === '') continue;
    for (let dir = resolve(start); ; dir = dirname(dir)) {
      if (existsSync(join(dir, rel))) return join(dir, rel);
      if (dirname(dir) === dir) break;
    }
  }
  throw new Error(`cannot find ${rel} above ${fileURLToPath(import.meta.url)} or ${process.cwd()}`);
}

export async function makeDevCerts(dir: string): Promise<BenchCerts> {
  await promisify(execFile)('bash', [findProjectFile('certs/make-dev-certs.sh'), dir], { timeout: 120_000 });
  const p = (f: string): string => join(dir, f);
  return { dir, ca: p('ca.pem'), caDir: p('ca'), server: p('server.pem'), serverKey: p('server-key.pem'), client: p('client.pem'), clientKey: p('client-key.pem') };
}

/** The client credentials as PEM text (for a bare TLS client). */
export async function clientTls(c: BenchCerts): Promise<{ cert: string; key: string; ca: string }> {
  const [cert, key, ca] = await Promise.all([readFile(c.client, 'utf8'), readFile(c.clientKey, 'utf8'), readFile(c.ca, 'utf8')]);
  return { cert, key, ca };
}
