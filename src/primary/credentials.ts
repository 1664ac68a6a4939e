/**
 * TLS credentials of the importer (host certificate, key, trusted CAs) and a
 * watcher that notices when they change on disk, so renewed certificates are
 * used without a restart (the C importer re-read them on a new cert mtime).
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
  declare readonly key: string;

  constructor(init: { cert: string; key: string; ca: string[]; leaf: X509Certificate; paths: CredentialPaths; caFiles: string[] }) {
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
}

/** Load trusted CAs from a grid-style directory or a single PEM file. */
export async function loadCaCertificates(caPath: string): Promise<CaLoad> {
  let st: Stats;
  try {
    st = await fsp.stat(caPath);
  } catch (e) {
    throw credError(`cannot read CA directory or file ${caPath}`, e);
  }
  const candidates = st.isDirectory() ? (await caDirFiles(caPath)).map((n) => join(caPath, n)) : [caPath];
  const seen = new Set<string>();
  const certs: string[] = [];
  const files: string[] = [];
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
      if (seen.has(norm)) {
        used = true;
        continue;
      }
      try {
        new X509Certificate(norm);
      } catch {
        continue; // damaged block: skip it, the rest of the directory is still usable
      }
      seen.add(norm);
      certs.push(norm);
      used = true;
    }
    if (used) files.push(file);
  }
  if (certs.length === 0) {
    throw credError(`no CA certificates found in ${caPath} (expected PEM files holding CERTIFICATE blocks)`);
  }
  return { certs, files };
}

async function caDirFiles(dir: string): Promise<string[]> {
  try {
    const names = await fsp.readdir(dir);
    return names.filter((n) => !n.startsWith('.') && !NOT_CA_SUFFIXES.some((s) => n.endsWith(s)) && !/\.r\d+$/.test(n)).sort();
  } catch (e) {
    throw credError(`cannot list CA directory ${dir}`, e);
  }
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
  return new Credentials({ cert: `${chain}\n`, key: keyMatch[0], ca: ca.certs, leaf, paths, caFiles: ca.files });
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
 * stats cert, key and the CA files and reloads when any changed. A reload
 * that fails (say the new certificate is there but its key not yet) keeps
 * the previous credentials and is tried again at the next check.
 */
export class CredentialWatcher {
  private creds: Credentials | undefined;
  private signature = '';
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
    if (this.creds !== undefined && sig === this.signature) return;
    try {
      const creds = await loadCredentials(this.paths);
      const first = this.creds === undefined;
      this.creds = creds;
      this.signature = sig;
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
      if (st.isDirectory()) for (const n of await caDirFiles(this.paths.caPath)) await add(join(this.paths.caPath, n));
    } catch {
      // missing CA path: already part of the signature
    }
    return parts.join('|');
  }
}
