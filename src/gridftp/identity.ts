/**
 * Who the GridFTP server must be, checked as Globus GSI checks it, and the
 * TLS client options built from the importer's credentials.
 *
 * Host identity (GSI's default "hybrid" name comparison, gsi/gssapi
 * compare_name.c): the server's certificate names the host when a
 * subjectAltName dNSName matches it (RFC 2818 wildcards in the left-most
 * label), or when its (last) common name is `<fqdn>` or `<service>/<fqdn>`
 * (`host/<fqdn>`, the classic grid host certificate). Or, instead, the
 * caller names the exact subject the server must present (globus-url-copy
 * `-ds`). OpenSSL has verified the chain against the CA directory before;
 * the CRLs of the CA directory are checked after (a revoked server is
 * refused before one byte of a command is sent).
 */
import { isIP } from 'node:net';
import { createSecureContext, type PeerCertificate, type SecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { JpError } from '../core/errors.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Credentials } from '../primary/credentials.js';
import { nodeSubjectToSlash } from '../primary/dn.js';
import { peerChain } from '../primary/tls-trust.js';


export interface ServerIdentity {
  /** The host name (or address) the destination URL names. */
  readonly host: string;
  /** The exact slash-form subject the server must present instead of naming the host (like globus-url-copy -ds). */
  readonly expectedSubject?: string;
}

/** A server certificate that does not name the expected server (JP_TLS). */
export class ServerIdentityError extends JpError {
  constructor(message: string, readonly subject: string) {
    super('JP_TLS', message);
    this.name = 'ServerIdentityError';
  }
}

/** The `KEY=value` parts of a slash-form DN; a `/` inside a value (`CN=host/x`) stays in it. */
export function splitSlashDn(dn: string): string[] {
  return dn.split(/\/(?=[A-Za-z][A-Za-z0-9.-]*=)/).filter((p) => p !== '');
}

/** Compare slash-form DNs as GSI does for `-ds`: attribute by attribute, white space and letter case of values folded. */
export function sameSubject(a: string, b: string): boolean {
  const norm = (s: string): string[] =>
    splitSlashDn(s)
      .map((p) => {
        const eq = p.indexOf('=');
        const k = eq < 0 ? p : p.slice(0, eq);
        const v = eq < 0 ? '' : p.slice(eq + 1);
        const key = k.trim().toUpperCase() === 'E' ? 'EMAILADDRESS' : k.trim().toUpperCase();
        return `${key}=${v.trim().replace(/\s+/g, ' ').toLowerCase()}`;
      });
  const x = norm(a);
  const y = norm(b);
  return x.length === y.length && x.every((p, i) => p === y[i]);
}

function wildcardMatch(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase().replace(/\.$/, '');
  const h = host.toLowerCase().replace(/\.$/, '');
  if (!p.startsWith('*.')) return p === h;
  const rest = p.slice(1); // ".example.org"
  const dot = h.indexOf('.');
  return dot > 0 && h.slice(dot) === rest && !rest.slice(1).includes('*');
}

/** The host names and addresses a certificate names: SAN dNSName / iPAddress, and its common names. */
export interface CertificateNames {
  readonly subject: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly commonNames: readonly string[];
}

export function certificateNames(cert: X509Certificate): CertificateNames {
  const san = cert.subjectAltName ?? '';
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const entry of san.split(', ')) {
    if (entry.startsWith('DNS:')) dnsNames.push(entry.slice(4));
    else if (entry.startsWith('IP Address:')) ipAddresses.push(entry.slice(11));
  }
  const subject = nodeSubjectToSlash(cert.subject);
  const commonNames = splitSlashDn(subject)
    .flatMap((rdn) => rdn.split('+'))
    .filter((p) => p.startsWith('CN='))
    .map((p) => p.slice(3));
  return { subject, dnsNames, ipAddresses, commonNames };
}

/** Why the certificate does not name `host` (GSI hybrid mode), or undefined when it does. */
export function hostMismatch(names: CertificateNames, host: string): string | undefined {
  const h = host.replace(/^\[|\]$/g, '');
  if (isIP(h) !== 0) {
    if (names.ipAddresses.includes(h)) return undefined;
  } else if (names.dnsNames.some((d) => wildcardMatch(d, h))) {
    return undefined;
  }
  const cn = names.commonNames[names.commonNames.length - 1];
  if (cn !== undefined) {
    const slash = cn.lastIndexOf('/');
    const cnHost = slash >= 0 ? cn.slice(slash + 1) : cn;
    if (cnHost.toLowerCase().replace(/\.$/, '') === h.toLowerCase().replace(/\.$/, '')) return undefined;
  }
  const alt = names.dnsNames.length > 0 ? ` (subjectAltName DNS: ${names.dnsNames.join(', ')})` : '';
  return `wrong host name: the GridFTP server's certificate ${names.subject}${alt} does not name ${h} (expected CN=${h} or CN=host/${h}, or a subjectAltName for it); name the expected subject when the server's certificate is right`;
}

/** What a data connection's peer must be: the subject the control channel authenticated. */
export interface PeerCheck {
  (cert: PeerCertificate): Error | undefined;
}

export interface GridTls {
  readonly secureContext: SecureContext;
  /** Our own subject (DCAU, messages). */
  readonly subject: string;
  /** The control channel's check: host identity (or the expected subject), then CRLs. */
  controlCheck(identity: ServerIdentity): PeerCheck;
  /** A data channel's check: the very subject the control channel accepted, then CRLs. */
  dataCheck(serverSubject: string, host: string): PeerCheck;
}

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

export interface GridTlsOptions {
  readonly clock?: Clock;
  /** Default TLSv1.2. */
  readonly minVersion?: TlsVersion;
  /** Default TLSv1.3. (Versions live in the SecureContext: tls.connect ignores them beside one.) */
  readonly maxVersion?: TlsVersion;
}

const contexts = new WeakMap<Credentials, Map<string, SecureContext>>();

/** TLS material and checks for GridFTP connections with these credentials (one SecureContext per credential generation and versions). */
export function gridTls(creds: Credentials, opts: GridTlsOptions = {}): GridTls {
  const clock = opts.clock ?? systemClock;
  const minVersion = opts.minVersion ?? 'TLSv1.2';
  const maxVersion = opts.maxVersion ?? 'TLSv1.3';
  let byVersion = contexts.get(creds);
  if (byVersion === undefined) {
    byVersion = new Map();
    contexts.set(creds, byVersion);
  }
  let secureContext = byVersion.get(`${minVersion}-${maxVersion}`);
  if (secureContext === undefined) {
    secureContext = createSecureContext({ cert: creds.cert, key: creds.key, ca: [...creds.ca], minVersion, maxVersion });
    byVersion.set(`${minVersion}-${maxVersion}`, secureContext);
  }
  const revoked = (cert: PeerCertificate, peer: string): Error | undefined => {
    try {
      const failure = creds.revocation.check(peerChain(cert), clock.now(), peer);
      return failure === undefined ? undefined : new JpError('JP_TLS', `TLS: ${failure.message}`);
    } catch (e) {
      return new JpError('JP_TLS', `TLS: the revocation check of ${peer} failed: ${(e as Error).message}`);
    }
  };
  const leaf = (cert: PeerCertificate): X509Certificate | Error => {
    try {
      return new X509Certificate(cert.raw);
    } catch (e) {
      return new JpError('JP_TLS', `TLS: the GridFTP server's certificate cannot be read: ${(e as Error).message}`);
    }
  };
  return {
    secureContext,
    subject: creds.subject,
    controlCheck(identity: ServerIdentity): PeerCheck {
      return (cert) => {
        const x = leaf(cert);
        if (x instanceof Error) return x;
        const names = certificateNames(x);
        if (identity.expectedSubject !== undefined) {
          if (!sameSubject(names.subject, identity.expectedSubject)) {
            return new ServerIdentityError(
              `wrong server: the GridFTP server ${identity.host} presented ${names.subject}, expected ${identity.expectedSubject}`,
              names.subject,
            );
          }
        } else {
          const mismatch = hostMismatch(names, identity.host);
          if (mismatch !== undefined) return new ServerIdentityError(mismatch, names.subject);
        }
        return revoked(cert, `the GridFTP server ${identity.host}`);
      };
    },
    dataCheck(serverSubject: string, host: string): PeerCheck {
      return (cert) => {
        const x = leaf(cert);
        if (x instanceof Error) return x;
        const subject = nodeSubjectToSlash(x.subject);
        if (!sameSubject(subject, serverSubject)) {
          return new ServerIdentityError(
            `wrong data connection peer: ${subject} answered the data connection of the GridFTP server ${host}, which authenticated as ${serverSubject}`,
            subject,
          );
        }
        return revoked(cert, `the data connection of the GridFTP server ${host}`);
      };
    },
  };
}
