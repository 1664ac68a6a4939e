/**
 * TLS client options from Credentials, one set per credential generation:
 * our certificate and key, the trusted CAs (one SecureContext), and the
 * verification of the service: OpenSSL's chain and host name checks, then
 * the CRLs of the CA directory (./revocation.ts).
 *
 * Why CRLs are not handed to OpenSSL (`crl` option): Node then sets
 * X509_V_FLAG_CRL_CHECK, and OpenSSL refuses every peer whose CA has no CRL
 * loaded ("unable to get certificate CRL"); grid CA directories hold CAs
 * without CRLs, which the grid tools accept. So the CRLs are checked here,
 * in checkServerIdentity: after OpenSSL verified the chain, before the
 * socket is handed to the caller — not one byte of a request is sent to a
 * refused peer. The same options serve HTTPS (undici), FTPS (basic-ftp, also
 * its data connections) and any later TLS client (GridFTP).
 *
 * A resumed TLS session skips checkServerIdentity; sessions are only
 * resumed within one generation (undici's session cache belongs to the
 * pool of a generation, basic-ftp resumes only the control connection's
 * session), and a CRL change, or a CRL's thisUpdate/nextUpdate passing,
 * makes a new generation (../credentials.ts CredentialWatcher).
 */
import {
  checkServerIdentity as checkHostName,
  createSecureContext,
  type DetailedPeerCertificate,
  type PeerCertificate,
  type SecureContext,
} from 'node:tls';
import { JpError } from '../core/errors.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Credentials } from './credentials.js';
import type { RevocationCode } from './revocation.js';

/** A service refused by the CRL check (always JP_TLS: retried later, the destination held). */
export class PeerRevocationError extends JpError {
  constructor(
    readonly revocation: RevocationCode,
    message: string,
  ) {
    super('JP_TLS', `TLS: ${message}`);
    this.name = 'PeerRevocationError';
  }
}

export interface ClientTrustOptions {
  readonly secureContext: SecureContext;
  readonly rejectUnauthorized: true;
  readonly checkServerIdentity: (hostname: string, cert: PeerCertificate) => Error | undefined;
}

const MAX_CHAIN = 16;

/** The peer's chain as DER, its own certificate first (Node links issuers; a self-signed root links to itself). */
export function peerChain(cert: PeerCertificate): Buffer[] {
  const out: Buffer[] = [];
  let c: PeerCertificate | undefined = cert;
  while (c !== undefined && out.length < MAX_CHAIN) {
    if (!Buffer.isBuffer(c.raw)) break;
    out.push(c.raw);
    const issuer: DetailedPeerCertificate | undefined = (c as Partial<DetailedPeerCertificate>).issuerCertificate;
    if (issuer === undefined || issuer === c || issuer.raw === undefined || issuer.raw.equals(c.raw)) break;
    c = issuer;
  }
  return out;
}

function build(creds: Credentials, clock: Clock): ClientTrustOptions {
  // One SecureContext per generation: passing cert/key/ca would make every
  // new connection parse them again.
  const secureContext = createSecureContext({ cert: creds.cert, key: creds.key, ca: [...creds.ca] });
  const revocation = creds.revocation;
  return {
    secureContext,
    rejectUnauthorized: true,
    checkServerIdentity(hostname: string, cert: PeerCertificate): Error | undefined {
      const mismatch = checkHostName(hostname, cert);
      if (mismatch !== undefined) return mismatch;
      try {
        const failure = revocation.check(peerChain(cert), clock.now(), hostname);
        return failure === undefined ? undefined : new PeerRevocationError(failure.code, failure.message);
      } catch (e) {
        // Never throw from here (it would escape into the socket's event handler); refuse instead.
        return new PeerRevocationError('CRL_UNUSABLE', `the revocation check of ${hostname} failed: ${(e as Error).message}`);
      }
    },
  };
}

const cache = new WeakMap<Credentials, ClientTrustOptions>();

/**
 * TLS options for a client connecting with these credentials. With the
 * system clock the result is cached per Credentials object (= generation),
 * so callers asking per connection share one SecureContext; callers can
 * compare `secureContext` to tell a connection of an older generation.
 */
export function clientTlsOptions(creds: Credentials, clock: Clock = systemClock): ClientTrustOptions {
  if (clock !== systemClock) return build(creds, clock);
  let o = cache.get(creds);
  if (o === undefined) {
    o = build(creds, clock);
    cache.set(creds, o);
  }
  return o;
}
