/**
 * A grid PKI for GridFTP tests, made once per test process with openssl
 * (RSA keys throughout: Globus needs RSA for the delegation globus-url-copy
 * always asks for), removed at exit:
 *  - the grid CA and a rogue CA (unknown to the client);
 *  - host certificates `CN=host/localhost` (the classic grid form, no
 *    subjectAltName), `CN=host/wrong.example` (wrong host name) and
 *    `CN=host/localhost` from the rogue CA;
 *  - client certificates: the importer (mapped in the grid-mapfile), a
 *    stranger (same CA, not mapped), a rogue client (unknown CA);
 *  - CA directories laid out like /etc/grid-security/certificates with
 *    `<hash>.0` and `<hash>.signing_policy` (EACL): `caDir` (grid CA only,
 *    for the client), `serverCaDir` (both CAs, for servers that must load
 *    the rogue host certificate or trust the rogue client);
 *  - a grid-mapfile mapping the importer's subject to the current user.
 * Keys are 0600, everything else 0644, directories 0755. One key per kind
 * (grid CA, rogue CA, hosts, clients) keeps the making fast.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export const GRID_ORG = '/C=CZ/O=jp grid test';
export const GRID_CA_SUBJECT = `${GRID_ORG}/CN=jp grid test CA`;
export const HOST_SUBJECT = `${GRID_ORG}/CN=host/localhost`;
export const WRONGHOST_SUBJECT = `${GRID_ORG}/CN=host/wrong.example`;
export const CLIENT_SUBJECT = `${GRID_ORG}/CN=jp importer`;
export const STRANGER_SUBJECT = `${GRID_ORG}/CN=jp stranger`;
export const ROGUE_CA_SUBJECT = '/C=CZ/O=rogue/CN=rogue CA';

export interface GridCertPair {
  readonly cert: string;
  readonly key: string;
}

export interface GridCerts {
  readonly dir: string;
  readonly ca: GridCertPair;
  readonly rogueCa: GridCertPair;
  /** CN=host/localhost, signed by the grid CA. */
  readonly host: GridCertPair;
  /** CN=host/wrong.example, signed by the grid CA. */
  readonly wrongHost: GridCertPair;
  /** CN=host/localhost, signed by the rogue CA. */
  readonly rogueHost: GridCertPair;
  /** The importer: mapped by the grid-mapfile. */
  readonly client: GridCertPair;
  /** Signed by the grid CA, absent from the grid-mapfile. */
  readonly stranger: GridCertPair;
  /** Signed by the rogue CA. */
  readonly rogueClient: GridCertPair;
  /** The grid CA only (`<hash>.0`, `<hash>.signing_policy`). */
  readonly caDir: string;
  /** The grid CA and the rogue CA. */
  readonly serverCaDir: string;
  /** `"<client subject>" <current user>`. */
  readonly gridMap: string;
  /** The local account the grid-mapfile maps the client to. */
  readonly account: string;
}

let cached: Promise<GridCerts> | undefined;
const execFileP = promisify(execFile);

/** A slash DN as `openssl -subj` wants it: a `/` inside a value (`CN=host/x`) escaped. */
function opensslSubject(dn: string): string {
  const parts = dn.split(/\/(?=[A-Za-z][A-Za-z0-9.-]*=)/).filter((p) => p !== '');
  return `/${parts.map((p) => p.replace(/\//g, '\\/')).join('/')}`;
}

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
}

/** The grid PKI (made once per process: four RSA keys made in parallel, shared by the certificates of each kind). */
export function gridCerts(): Promise<GridCerts> {
  cached ??= make();
  return cached;
}

async function make(): Promise<GridCerts> {
  const dir = mkdtempSync(join(tmpdir(), 'jp-grid-certs-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const p = (f: string): string => join(dir, f);
  const newKey = async (name: string): Promise<string> => {
    const key = p(`${name}-key.pem`);
    await execFileP('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key], { timeout: 120_000 });
    chmodSync(key, 0o600);
    return key;
  };
  const [caKey, rogueCaKey, hostKey, clientKey] = await Promise.all([newKey('ca'), newKey('rogue-ca'), newKey('host'), newKey('client')]);
  const makeCa = (name: string, subject: string, key: string): GridCertPair => {
    const cert = p(`${name}.pem`);
    openssl(['req', '-new', '-x509', '-key', key, '-out', cert, '-days', '3650', '-subj', opensslSubject(subject),
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-addext', 'subjectKeyIdentifier=hash']);
    chmodSync(cert, 0o644);
    return { cert, key };
  };
  let serial = 0x1000;
  const sign = (ca: GridCertPair, name: string, subject: string, ext: string, key: string): GridCertPair => {
    const csr = p(`${name}.csr`);
    const extFile = p(`${name}.ext`);
    const cert = p(`${name}.pem`);
    openssl(['req', '-new', '-key', key, '-out', csr, '-subj', opensslSubject(subject)]);
    writeFileSync(extFile, `${ext}\n`);
    openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', String(++serial), '-days', '30', '-extfile', extFile, '-out', cert]);
    rmSync(csr);
    rmSync(extFile);
    chmodSync(cert, 0o644);
    return { cert, key };
  };
  const hostExt = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth';
  const clientExt = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth';

  const ca = makeCa('ca', GRID_CA_SUBJECT, caKey);
  const rogueCa = makeCa('rogue-ca', ROGUE_CA_SUBJECT, rogueCaKey);
  const host = sign(ca, 'host', HOST_SUBJECT, hostExt, hostKey);
  const wrongHost = sign(ca, 'wronghost', WRONGHOST_SUBJECT, hostExt, hostKey);
  const rogueHost = sign(rogueCa, 'rogue-host', '/C=CZ/O=rogue/CN=host/localhost', hostExt, hostKey);
  const client = sign(ca, 'client', CLIENT_SUBJECT, clientExt, clientKey);
  const stranger = sign(ca, 'stranger', STRANGER_SUBJECT, clientExt, clientKey);
  const rogueClient = sign(rogueCa, 'rogue-client', '/C=CZ/O=rogue/CN=rogue importer', clientExt, clientKey);

  const addCa = (caDir: string, pair: GridCertPair, subject: string, allowed: string): void => {
    const hash = openssl(['x509', '-in', pair.cert, '-noout', '-hash']).trim();
    symlinkSync(pair.cert, join(caDir, `${hash}.0`));
    const policy = join(caDir, `${hash}.signing_policy`);
    writeFileSync(
      policy,
      `# EACL signing policy of ${subject}\naccess_id_CA      X509         '${subject}'\npos_rights        globus        CA:sign\ncond_subjects     globus       '"${allowed}/*"'\n`,
    );
    chmodSync(policy, 0o644);
  };
  const caDir = p('certificates');
  const serverCaDir = p('server-certificates');
  for (const d of [caDir, serverCaDir]) mkdirSync(d, { mode: 0o755 });
  addCa(caDir, ca, GRID_CA_SUBJECT, GRID_ORG);
  addCa(serverCaDir, ca, GRID_CA_SUBJECT, GRID_ORG);
  addCa(serverCaDir, rogueCa, ROGUE_CA_SUBJECT, '/C=CZ/O=rogue');

  const account = userInfo().username;
  const gridMap = p('grid-mapfile');
  writeFileSync(gridMap, `"${CLIENT_SUBJECT}" ${account}\n"/C=CZ/O=rogue/CN=rogue importer" ${account}\n`);
  chmodSync(gridMap, 0o644);

  return { dir, ca, rogueCa, host, wrongHost, rogueHost, client, stranger, rogueClient, caDir, serverCaDir, gridMap, account };
}

/**
 * A copy of the client's CA directory with a CRL of the grid CA (`<hash>.r0`,
 * as fetch-crl writes it) that revokes `revoked`.
 */
export async function caDirRevoking(revoked: readonly GridCertPair[]): Promise<string> {
  const certs = await gridCerts();
  const dir = mkdtempSync(join(tmpdir(), 'jp-grid-crl-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const db = join(dir, '.db');
  mkdirSync(db);
  writeFileSync(join(db, 'index.txt'), '');
  writeFileSync(join(db, 'crlnumber'), '1000\n');
  writeFileSync(join(db, 'ca.cnf'), `[ ca ]\ndefault_ca = grid\n[ grid ]\ndatabase = ${db}/index.txt\ncrlnumber = ${db}/crlnumber\ndefault_md = sha256\n`);
  const base = ['ca', '-batch', '-config', join(db, 'ca.cnf'), '-cert', certs.ca.cert, '-keyfile', certs.ca.key];
  for (const r of revoked) await execFileP('openssl', [...base, '-revoke', r.cert], { timeout: 60_000 });
  const hash = openssl(['x509', '-in', certs.ca.cert, '-noout', '-hash']).trim();
  await execFileP('openssl', [...base, '-gencrl', '-crldays', '30', '-out', join(dir, `${hash}.r0`)], { timeout: 60_000 });
  rmSync(db, { recursive: true, force: true });
  symlinkSync(certs.ca.cert, join(dir, `${hash}.0`));
  writeFileSync(join(dir, `${hash}.signing_policy`), readFileSync(join(certs.caDir, `${hash}.signing_policy`)));
  return dir;
}
