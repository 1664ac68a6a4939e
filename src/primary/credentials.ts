/**
 * TLS credentials of the importer (host certificate, key, trusted CAs and
 * their CRLs) and a watcher that notices when they change on disk, so renewed
 * certificates and new CRLs are used without a restart (the C importer
 * re-read them on a new cert mtime).
 *
 * CRLs: `<hash>.r0`, `.r1`… files of the CA directory (PEM, several blocks
 * allowed, as fetch-crl writes them), or X509 CRL blocks of a single CA
 * bundle file. They never make loading fail: see ./revocation.ts for how
 * they are checked and ./tls-trust.ts for where.
 *
 * The key text lives only in memory: it is non-enumerable on Credentials and
 * never part of any message, JSON or inspection output.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { promises as fsp, type Stats } from 'node:fs';
import { inspect } from 'node:util';
import { join } from 'node:path';
import { describeError, JpError } from '../core/errors.js';
import { systemClock, type Clock } from '../core/clock.js';
import { nodeSubjectToSlash } from './dn.js';
import { RevocationSet, type CrlSource, type TrustedCa } from './revocation.js';

export interface CredentialPaths {
  /** PEM certificate (optionally followed by its chain). */
  readonly certFile: string;
  /** PEM private key (unencrypted); may be the same file as certFile. */
  readonly keyFile: string;
  /** A CA directory (grid-security layout) or a single PEM bundle. */
  readonly caPath: string;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g;
const KEY_BLOCK = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----\r?\n[\s\S]*?-----END \1-----/;
/** Grid trust directories also hold these; they are never certificates. */
const NOT_CA_SUFFIXES = ['.signing_policy', '.namespaces', '.crl_url', '.info', '.lsc'];
const MAX_CA_FILE = 1 << 20;
/** CRL files (`<hash>.r0`…) of a grid CA directory. */
const CRL_FILE = /\.r\d+$/;
/** Large CAs publish CRLs of several MiB. */
const MAX_CRL_FILE = 64 << 20;

export class Credentials {
  /** The certificate file text (leaf first, then any chain). */
  readonly cert: string;
  /** Trusted CA certificates, one PEM block each, de-duplicated. */
  readonly ca: readonly string[];
  /** Slash-form subject of the leaf certificate (RegisterJob owner). */
  readonly subject: string;
  readonly issuer: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly fingerprint256: string;
  readonly paths: CredentialPaths;
  readonly caFiles: readonly string[];
  /** The CRLs of the CA directory, verified against their CAs. */
  readonly revocation: RevocationSet;
  declare readonly key: string;

  constructor(init: {
    cert: string;
    key: string;
    ca: string[];
    leaf: X509Certificate;
    paths: CredentialPaths;
    caFiles: string[];
    revocation?: RevocationSet;
  }) {
    this.cert = init.cert;
    Object.defineProperty(this, 'key', { value: init.key, enumerable: false, writable: false });
    this.ca = init.ca;
    this.subject = nodeSubjectToSlash(init.leaf.subject);
    this.issuer = nodeSubjectToSlash(init.leaf.issuer);
    this.notBefore = new Date(init.leaf.validFrom);
    this.notAfter = new Date(init.leaf.validTo);
    this.fingerprint256 = init.leaf.fingerprint256;
    this.paths = init.paths;
    this.caFiles = init.caFiles;
    this.revocation = init.revocation ?? RevocationSet.EMPTY;
  }

  /** Why the certificate cannot be used at `now`, or undefined when it can. */
  validityProblem(now: number): string | undefined {
    if (now > this.notAfter.getTime()) return `expired at ${this.notAfter.toISOString()}`;
    if (now < this.notBefore.getTime()) return `not valid before ${this.notBefore.toISOString()}`;
    return undefined;
  }

  toJSON(): Record<string, unknown> {
    return {
      subject: this.subject,
      issuer: this.issuer,
      notBefore: this.notBefore.toISOString(),
      notAfter: this.notAfter.toISOString(),
      fingerprint256: this.fingerprint256,
      certFile: this.paths.certFile,
      keyFile: this.paths.keyFile,
      caPath: this.paths.caPath,
      caCount: this.ca.length,
      crlCount: this.revocation.count,
    };
  }

  [inspect.custom](): string {
    return `Credentials ${JSON.stringify(this.toJSON())}`;
  }
}

function credError(message: string, cause?: unknown): JpError {
  return new JpError('JP_CREDENTIALS', cause === undefined ? message : `${message}: ${describeError(cause)}`, cause === undefined ? {} : { cause });
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw credError(`cannot read ${what} ${file}`, e);
  }
}

/** All parsable CERTIFICATE blocks of a PEM text. */
export function pemCertificates(text: string): string[] {
  return text.match(CERT_BLOCK) ?? [];
}

export interface CaLoad {
  readonly certs: string[];
  readonly files: string[];
  /** CRL files read (unusable ones included). */
  readonly crlFiles: string[];
  readonly revocation: RevocationSet;
}

/** Load trusted CAs and their CRLs from a grid-style directory or a single PEM file. */
export async function loadCaCertificates(caPath: string): Promise<CaLoad> {
  let st: Stats;
  try {
    st = await fsp.stat(caPath);
  } catch (e) {
    throw credError(`cannot read CA directory or file ${caPath}`, e);
  }
  const listing = st.isDirectory() ? await caDirListing(caPath) : { certs: [], crls: [] };
  const candidates = st.isDirectory() ? listing.certs.map((n) => join(caPath, n)) : [caPath];
  const seen = new Map<string, TrustedCa & { files: string[] }>();
  const certs: string[] = [];
  const files: string[] = [];
  const crlSources: CrlSource[] = [];
  for (const file of candidates) {
    let text: string;
    try {
      const fst = await fsp.stat(file);
      if (!fst.isFile() || fst.size > MAX_CA_FILE) continue;
      text = await fsp.readFile(file, 'utf8');
    } catch (e) {
      if (!st.isDirectory()) throw credError(`cannot read CA file ${file}`, e);
      continue; // a dangling link or unreadable stray file in a trust directory
    }
    let used = false;
    for (const block of pemCertificates(text)) {
      const norm = block.replace(/\r/g, '');
      const known = seen.get(norm);
      if (known !== undefined) {
        known.files.push(file);
        used = true;
        continue;
      }
      let x509: X509Certificate;
      try {
        x509 = new X509Certificate(norm);
      } catch {
        continue; // damaged block: skip it, the rest of the directory is still usable
      }
      seen.set(norm, { x509, files: [file] });
      certs.push(norm);
      used = true;
    }
    if (used) files.push(file);
    // A single bundle file may carry the CRLs too (as OpenSSL's CAfile does).
    if (!st.isDirectory() && text.includes('-----BEGIN X509 CRL-----')) crlSources.push({ file, data: Buffer.from(text, 'latin1') });
  }
  if (certs.length === 0) {
    throw credError(`no CA certificates found in ${caPath} (expected PEM files holding CERTIFICATE blocks)`);
  }
  for (const name of listing.crls) {
    const src = await readCrlFile(join(caPath, name));
    if (src !== undefined) crlSources.push(src);
  }
  const revocation = RevocationSet.build([...seen.values()], crlSources);
  return { certs, files, crlFiles: crlSources.map((s) => s.file), revocation };
}

/** A CRL file's bytes or why it cannot be read; undefined when it vanished (it is being replaced). */
async function readCrlFile(file: string): Promise<CrlSource | undefined> {
  try {
    const fst = await fsp.stat(file);
    if (!fst.isFile()) return { file, error: 'not a regular file' };
    if (fst.size > MAX_CRL_FILE) return { file, error: `larger than ${MAX_CRL_FILE} bytes` };
    return { file, data: await fsp.readFile(file) };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { file, error: describeError(e) };
  }
}

interface CaDirListing {
  /** Candidate CA certificate files (policies, namespaces, CRLs, dot files left out). */
  readonly certs: string[];
  /** CRL files: `<hash>.r0`, `.r1`… */
  readonly crls: string[];
}

async function caDirListing(dir: string): Promise<CaDirListing> {
  let names: string[];
  try {
    names = (await fsp.readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  } catch (e) {
    throw credError(`cannot list CA directory ${dir}`, e);
  }
  return {
    certs: names.filter((n) => !NOT_CA_SUFFIXES.some((s) => n.endsWith(s)) && !CRL_FILE.test(n)),
    crls: names.filter((n) => CRL_FILE.test(n)),
  };
}

/** Load and cross-check certificate, key and CAs. Throws JP_CREDENTIALS naming the file. */
export async function loadCredentials(paths: CredentialPaths): Promise<Credentials> {
  const certText = await readText(paths.certFile, 'certificate file');
  const blocks = pemCertificates(certText);
  const first = blocks[0];
  if (first === undefined) throw credError(`certificate file ${paths.certFile} holds no PEM CERTIFICATE block`);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(first);
  } catch (e) {
    throw credError(`certificate file ${paths.certFile} holds a damaged certificate`, e);
  }
  const keyText = paths.keyFile === paths.certFile ? certText : await readText(paths.keyFile, 'key file');
  const keyMatch = KEY_BLOCK.exec(keyText);
  if (keyMatch === null) throw credError(`key file ${paths.keyFile} holds no PEM PRIVATE KEY block`);
  if (keyMatch[1] === 'ENCRYPTED PRIVATE KEY' || /Proc-Type: 4,ENCRYPTED/.test(keyMatch[0])) {
    throw credError(`key file ${paths.keyFile} is encrypted (passphrases are not supported)`);
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(keyMatch[0]);
  } catch {
    // The library error may quote key material; say only what is wrong.
    throw credError(`key file ${paths.keyFile} holds a damaged private key`);
  }
  if (!leaf.checkPrivateKey(keyObject)) {
    throw credError(`key file ${paths.keyFile} does not match certificate ${paths.certFile}`);
  }
  const ca = await loadCaCertificates(paths.caPath);
  const chain = blocks.map((b) => b.replace(/\r/g, '')).join('\n');
  return new Credentials({ cert: `${chain}\n`, key: keyMatch[0], ca: ca.certs, leaf, paths, caFiles: ca.files, revocation: ca.revocation });
}

export interface WatcherOptions {
  /** Look at the files at most this often (default 5000 ms; 0 = every use). */
  readonly checkIntervalMs?: number;
  readonly clock?: Clock;
  /** Called after a changed set of files was loaded successfully. */
  readonly onReload?: (creds: Credentials) => void;
  /** Called when changed files could not be loaded (the old ones stay in use). */
  readonly onError?: (err: JpError) => void;
}

/**
 * Hands out the current credentials; on use, at most every checkIntervalMs,
 * stats cert, key, the CA files and the CRL files and reloads when any
 * changed (added, replaced, removed), or when a CRL's thisUpdate or
 * nextUpdate passed since the load (so every TLS context and session of the
 * older generation is dropped). A reload that fails (say the new
 * certificate is there but its key not yet) keeps the previous credentials
 * and is tried again at the next check.
 */
export class CredentialWatcher {
  private creds: Credentials | undefined;
  private signature = '';
  /** CRL time boundaries passed when the current credentials were loaded. */
  private epoch = 0;
  private generation = 0;
  private lastCheck = -Infinity;
  private pending: Promise<void> | undefined;
  private readonly interval: number;
  private readonly clock: Clock;

  constructor(readonly paths: CredentialPaths, private readonly opts: WatcherOptions = {}) {
    this.interval = opts.checkIntervalMs ?? 5000;
    this.clock = opts.clock ?? systemClock;
  }

  /** The credentials and their generation (bumped on every reload). */
  async get(): Promise<{ creds: Credentials; generation: number }> {
    if (this.creds === undefined || this.clock.now() - this.lastCheck >= this.interval) {
      this.pending ??= this.check().finally(() => {
        this.pending = undefined;
      });
      await this.pending;
    }
    if (this.creds === undefined) throw credError('credentials not loaded'); // unreachable: check() threw
    return { creds: this.creds, generation: this.generation };
  }

  /** The last loaded credentials without touching the disk. */
  current(): Credentials | undefined {
    return this.creds;
  }

  /** Force a look at the files at the next get(). */
  invalidate(): void {
    this.lastCheck = -Infinity;
  }

  private async check(): Promise<void> {
    this.lastCheck = this.clock.now();
    const sig = await this.fileSignature();
    if (this.creds !== undefined && sig === this.signature && this.creds.revocation.epoch(this.clock.now()) === this.epoch) return;
    try {
      const creds = await loadCredentials(this.paths);
      const first = this.creds === undefined;
      this.creds = creds;
      this.signature = sig;
      this.epoch = creds.revocation.epoch(this.clock.now());
      this.generation++;
      if (!first) this.opts.onReload?.(creds);
    } catch (e) {
      if (this.creds === undefined) throw e;
      this.opts.onError?.(e instanceof JpError ? e : credError('reloading credentials failed', e));
    }
  }

  private async fileSignature(): Promise<string> {
    const parts: string[] = [];
    const add = async (file: string): Promise<void> => {
      try {
        const s = await fsp.stat(file);
        parts.push(`${file}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`);
      } catch {
        parts.push(`${file}:missing`);
      }
    };
    await add(this.paths.certFile);
    await add(this.paths.keyFile);
    await add(this.paths.caPath);
    try {
      const st = await fsp.stat(this.paths.caPath);
      if (st.isDirectory()) {
        const l = await caDirListing(this.paths.caPath);
        for (const n of [...l.certs, ...l.crls]) await add(join(this.paths.caPath, n));
      }
    } catch {
      // missing CA path: already part of the signature
    }
    return parts.join('|');
  }
}
