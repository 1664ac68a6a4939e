/**
 * Dev certificates for tests: runs certs/make-dev-certs.sh into a temporary
 * directory once per test process and returns the paths (removed at exit).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  /** Service certificate for localhost that the dev CA's CRL (ca/<hash>.r0, ca-crl.pem) revokes. */
  readonly serverRevoked: string;
  readonly serverRevokedKey: string;
  /** The dev CA's CRL (PEM), also in the CA directory as <hash>.r0. */
  readonly caCrl: string;
  /** Server certificate for wrong.example only (hostname mismatch). */
  readonly serverWronghost: string;
  readonly serverWronghostKey: string;
  /** An unrelated CA and certificates it signed. */
  readonly rogueCa: string;
  readonly rogueCaKey: string;
  readonly rogueServer: string;
  readonly rogueServerKey: string;
  readonly rogueClient: string;
  readonly rogueClientKey: string;
  /** grid-mapfile for a GridFTP server: client and client2 → the current user. */
  readonly gridMap: string;
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
    serverRevoked: p('server-revoked.pem'),
    serverRevokedKey: p('server-revoked-key.pem'),
    caCrl: p('ca-crl.pem'),
    serverWronghost: p('server-wronghost.pem'),
    serverWronghostKey: p('server-wronghost-key.pem'),
    rogueCa: p('rogue-ca.pem'),
    rogueCaKey: p('rogue-ca-key.pem'),
    rogueServer: p('rogue-server.pem'),
    rogueServerKey: p('rogue-server-key.pem'),
    rogueClient: p('rogue-client.pem'),
    rogueClientKey: p('rogue-client-key.pem'),
    gridMap: p('grid-mapfile'),
  };
  return cached;
}

export interface CrlOptions {
  /** PEM certificate files to list as revoked (none: an empty CRL); with args e.g. `-crl_reason removeFromCRL`. */
  readonly revoke?: readonly (string | { readonly cert: string; readonly args: readonly string[] })[];
  /** Signing CA (default the dev CA); see forgedDevCa(). */
  readonly signer?: { readonly cert: string; readonly key: string };
  /** thisUpdate (default now). */
  readonly lastUpdate?: Date;
  /** nextUpdate (default 30 days after now). */
  readonly nextUpdate?: Date;
  /** More `openssl ca -gencrl` arguments (e.g. -sigopt, -md, -crlexts SECTION). */
  readonly args?: readonly string[];
  /** More openssl configuration text (sections named by -crlexts). */
  readonly config?: string;
}

function opensslTime(d: Date): string {
  return `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

/** A PEM CRL made with `openssl ca -gencrl`, as a CA publishes it and fetch-crl stores it. */
export function makeCrl(opts: CrlOptions = {}): string {
  const c = devCerts();
  const signer = opts.signer ?? { cert: c.ca, key: c.caKey };
  const dir = mkdtempSync(join(tmpdir(), 'jp-crl-'));
  try {
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'crlnumber'), '1000\n');
    writeFileSync(
      join(dir, 'ca.cnf'),
      `[ ca ]\ndefault_ca = dev\n[ dev ]\ndatabase = ${dir}/index.txt\ncrlnumber = ${dir}/crlnumber\ndefault_md = sha256\n${opts.config ?? ''}`,
    );
    const base = ['ca', '-batch', '-config', join(dir, 'ca.cnf'), '-cert', signer.cert, '-keyfile', signer.key];
    const run = (args: string[]): void => {
      execFileSync('openssl', [...base, ...args], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
    };
    for (const r of opts.revoke ?? []) run(typeof r === 'string' ? ['-revoke', r] : ['-revoke', r.cert, ...r.args]);
    const now = new Date();
    const last = opts.lastUpdate ?? now;
    const next = opts.nextUpdate ?? new Date(now.getTime() + 30 * 86_400_000);
    run(['-gencrl', '-crl_lastupdate', opensslTime(last), '-crl_nextupdate', opensslTime(next), ...(opts.args ?? []), '-out', join(dir, 'crl.pem')]);
    return readFileSync(join(dir, 'crl.pem'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A throw-away self-signed CA (`algorithm`: EC, RSA or ED25519) in the dev certificate directory. */
export function makeCa(name: string, algorithm: 'EC' | 'RSA' | 'ED25519', subject = `/CN=${name}`): { cert: string; key: string } {
  const c = devCerts();
  const cert = join(c.dir, `${name}.pem`);
  const key = join(c.dir, `${name}-key.pem`);
  if (existsSync(cert)) return { cert, key };
  const keyArgs = { EC: ['-pkeyopt', 'ec_paramgen_curve:P-256'], RSA: ['-pkeyopt', 'rsa_keygen_bits:2048'], ED25519: [] }[algorithm];
  execFileSync('openssl', ['genpkey', '-algorithm', algorithm, ...keyArgs, '-out', key], { stdio: 'ignore', timeout: 60_000 });
  execFileSync(
    'openssl',
    ['req', '-new', '-x509', '-key', key, '-out', cert, '-days', '3650', '-subj', subject,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    { stdio: 'ignore', timeout: 30_000 },
  );
  return { cert, key };
}

let forged: { cert: string; key: string } | undefined;

/** A self-signed CA with the dev CA's exact subject but another key: what a forger would sign with. */
export function forgedDevCa(): { cert: string; key: string } {
  forged ??= makeCa('forged-ca', 'EC', '/C=CZ/O=jp-importer dev/CN=jp-importer dev CA');
  return forged;
}

/** The same CRL with its signature's last byte flipped (`openssl crl -badsig`). */
export function corruptCrlSignature(pem: string): string {
  return execFileSync('openssl', ['crl', '-badsig'], { input: pem, encoding: 'utf8', timeout: 30_000 });
}

/**
 * A private copy of the dev CA directory (the hash link, policies; with the
 * dev CA's CRL <hash>.r0 only when `withCrl`), so a test can change CRLs.
 * Returns the directory and the CRL path fetch-crl would write (<hash>.r0).
 */
export function privateCaDir(parent: string, withCrl: boolean): { dir: string; crlFile: string; hash: string } {
  const c = devCerts();
  const dir = mkdtempSync(join(parent, 'ca-'));
  let hash = '';
  for (const name of readdirSync(c.caDir)) {
    const m = /^([0-9a-f]{8})\.0$/.exec(name);
    if (m !== null) hash = m[1] as string;
    if (name.endsWith('.r0') && !withCrl) continue;
    copyFileSync(join(c.caDir, name), join(dir, name));
  }
  if (hash === '') throw new Error(`no <hash>.0 in ${c.caDir}`);
  return { dir, crlFile: join(dir, `${hash}.r0`), hash };
}

/**
 * A service certificate of the dev CA for other names than localhost (e.g.
 * the address of a test host in a network namespace: `IP:10.231.1.1`), as
 * `<dir>/<name>.pem` and `<dir>/<name>-key.pem` (EC P-256, key mode 0600).
 */
export function makeServerCert(dir: string, name: string, altNames: readonly string[]): { cert: string; key: string } {
  const c = devCerts();
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
  };
  run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  run(['req', '-new', '-key', key, '-out', csr, '-subj', `/C=CZ/O=jp-importer dev/CN=${altNames[0]?.replace(/^\w+:/, '') ?? name}`]);
  writeFileSync(ext, ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth,clientAuth', `subjectAltName=${altNames.join(',')}`].join('\n'));
  run(['x509', '-req', '-in', csr, '-CA', c.ca, '-CAkey', c.caKey, '-set_serial', `0x${Date.now().toString(16)}${process.pid.toString(16)}`,
    '-days', '30', '-extfile', ext, '-out', cert]);
  rmSync(csr, { force: true });
  rmSync(ext, { force: true });
  return { cert, key };
}
