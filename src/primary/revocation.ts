/**
 * Revocation state of one CA directory: its CRLs, each verified against the
 * CA that signed it, and the check of a peer's certificate chain.
 *
 * Behaviour (that of the Globus GSI callback, globus_i_gsi_callback_check_revoked,
 * which the grid tools use), for each certificate of the peer's chain:
 *  - its issuer has no CRL in the directory: accepted;
 *  - the CRL lists its serial: refused (certificate revoked);
 *  - the CRL is expired (nextUpdate passed) or not valid yet (thisUpdate
 *    ahead): refused until a current CRL is there;
 *  - the CRL's signature does not verify with the CA's key (forged or
 *    damaged), or it cannot be read or parsed: refused (fail closed: "once
 *    the sysadmin indicates that CRLs are to be checked, he best keep it up
 *    to date"). Its entries are never used.
 * A file that cannot be read or parsed at all is tied to its CA by the
 * grid file name (<hash>.rN ↔ the CA file <hash>.N). A CRL whose issuer is
 * not a CA of the directory is ignored (with a warning).
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import { basename } from 'node:path';
import { certificateIds, CrlError, crlSignatureValid, parseCrl, pemCrlBlocks, type CertificateIds, type ParsedCrl } from './crl.js';
import { nodeSubjectToSlash } from './dn.js';

/** One trusted CA certificate and the files it was read from. */
export interface TrustedCa {
  readonly x509: X509Certificate;
  readonly files: readonly string[];
}

/** A CRL file's bytes, or why it could not be read. */
export type CrlSource = { readonly file: string; readonly data: Buffer } | { readonly file: string; readonly error: string };

export type RevocationCode = 'CERT_REVOKED' | 'CRL_HAS_EXPIRED' | 'CRL_NOT_YET_VALID' | 'CRL_UNUSABLE';

export interface RevocationFailure {
  readonly code: RevocationCode;
  /** Names the certificate (subject, serial), the CRL file and its CA. */
  readonly message: string;
}

interface CrlRecord {
  readonly file: string;
  /** Slash-form subject of the CA. */
  readonly ca: string;
  /** Key id of the CA whose key verified it (undefined: unusable). */
  readonly keyId?: string;
  readonly crl?: ParsedCrl;
  /** Why the CRL cannot be used. */
  readonly problem?: string;
}

interface CaInfo {
  readonly ids: CertificateIds;
  readonly text: string;
  readonly key: KeyObject;
  readonly files: readonly string[];
}

const HASH_CRL = /^([0-9a-f]{8})\.r\d+$/i;
const MAX_CHAIN = 16;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export class RevocationSet {
  private constructor(
    private readonly byIssuer: ReadonlyMap<string, readonly CrlRecord[]>,
    /** Load-time notes: CRLs ignored (issuer not trusted, unusable and not tied to a CA). */
    readonly warnings: readonly string[],
    /** CRL files read. */
    readonly files: readonly string[],
  ) {}

  static readonly EMPTY = new RevocationSet(new Map(), [], []);

  /** Read and verify CRLs against the trusted CAs. Never throws: problems become records or warnings. */
  static build(cas: readonly TrustedCa[], sources: readonly CrlSource[]): RevocationSet {
    if (sources.length === 0) return RevocationSet.EMPTY;
    const infos: CaInfo[] = [];
    for (const ca of cas) {
      try {
        infos.push({ ids: certificateIds(ca.x509.raw), text: nodeSubjectToSlash(ca.x509.subject), key: ca.x509.publicKey, files: ca.files });
      } catch {
        // a CA certificate OpenSSL accepts but this reader does not: no CRL can be tied to it
      }
    }
    const byIssuer = new Map<string, CrlRecord[]>();
    const warnings: string[] = [];
    const add = (issuerKey: string, r: CrlRecord): void => {
      const list = byIssuer.get(issuerKey);
      if (list === undefined) byIssuer.set(issuerKey, [r]);
      else list.push(r);
    };
    /** A file that cannot be used at all: refuse the CA(s) its grid name points at. */
    const unusable = (file: string, problem: string): void => {
      const m = HASH_CRL.exec(basename(file));
      const hash = m?.[1]?.toLowerCase();
      const owners = hash === undefined ? [] : infos.filter((ca) => ca.files.some((f) => new RegExp(`^${hash}\\.\\d+$`, 'i').test(basename(f))));
      const seen = new Set<string>();
      for (const ca of owners) {
        if (seen.has(ca.ids.subject.key)) continue;
        seen.add(ca.ids.subject.key);
        add(ca.ids.subject.key, { file, ca: ca.text, problem });
      }
      if (owners.length === 0) warnings.push(`CRL file ${file} is unusable (${problem}) and no CA file of the directory matches its name; ignored`);
    };
    for (const src of sources) {
      if ('error' in src) {
        unusable(src.file, `cannot be read: ${src.error}`);
        continue;
      }
      let blocks: Uint8Array[];
      try {
        blocks = src.data.includes('-----BEGIN X509 CRL-----') ? pemCrlBlocks(src.data.toString('latin1')) : [src.data];
      } catch (e) {
        unusable(src.file, `cannot be parsed: ${(e as Error).message}`);
        continue;
      }
      if (blocks.length === 0 || blocks[0]?.length === 0) {
        unusable(src.file, 'holds no X509 CRL');
        continue;
      }
      for (const der of blocks) {
        let crl: ParsedCrl;
        try {
          crl = parseCrl(der);
        } catch (e) {
          unusable(src.file, `cannot be parsed: ${e instanceof CrlError ? e.message : String(e)}`);
          continue;
        }
        const issuers = infos.filter((ca) => ca.ids.subject.key === crl.issuer.key);
        if (issuers.length === 0) {
          warnings.push(`CRL file ${src.file}: its issuer ${crl.issuer.text} is not a trusted CA of the directory; ignored`);
          continue;
        }
        const caText = (issuers[0] as CaInfo).text;
        try {
          const signer = issuers.find((ca) => crlSignatureValid(crl, ca.key));
          if (signer === undefined) {
            add(crl.issuer.key, { file: src.file, ca: caText, problem: `its signature does not verify with the key of ${caText} (forged or damaged)` });
          } else {
            add(crl.issuer.key, { file: src.file, ca: caText, keyId: signer.ids.keyId, crl });
          }
        } catch (e) {
          add(crl.issuer.key, { file: src.file, ca: caText, problem: e instanceof CrlError ? e.message : String(e) });
        }
      }
    }
    return new RevocationSet(byIssuer, warnings, sources.map((s) => s.file));
  }

  /** CRLs held (usable or not). */
  get count(): number {
    let n = 0;
    for (const l of this.byIssuer.values()) n += l.length;
    return n;
  }

  /**
   * The times at which a check's answer can change by itself (thisUpdate and
   * nextUpdate of every CRL); epoch(now) counts those passed.
   */
  epoch(now: number): number {
    let n = 0;
    for (const list of this.byIssuer.values()) {
      for (const r of list) {
        if (r.crl === undefined) continue;
        if (r.crl.thisUpdate <= now) n++;
        if (r.crl.nextUpdate !== undefined && r.crl.nextUpdate < now) n++;
      }
    }
    return n;
  }

  /** What an operator must fix now: unusable, expired, not-yet-valid CRLs, and the load-time warnings. */
  problems(now: number): string[] {
    const out: string[] = [];
    for (const list of this.byIssuer.values()) {
      for (const r of list) {
        const why = this.recordProblem(r, now);
        if (why !== undefined) out.push(`CRL file ${r.file} of ${r.ca} ${why}; certificates issued by that CA are refused`);
      }
    }
    return [...out, ...this.warnings];
  }

  private recordProblem(r: CrlRecord, now: number): string | undefined {
    if (r.problem !== undefined) return `is unusable: ${r.problem}`;
    if (r.crl === undefined) return 'is unusable';
    if (r.crl.thisUpdate > now) return `is not valid before ${iso(r.crl.thisUpdate)} (thisUpdate; check the clocks)`;
    if (r.crl.nextUpdate !== undefined && r.crl.nextUpdate < now) {
      return `expired at ${iso(r.crl.nextUpdate)} (nextUpdate; is fetch-crl running?)`;
    }
    return undefined;
  }

  /**
   * Check a peer's chain (DER certificates, the peer's own first, then its
   * issuers). `peer` names the peer in messages. undefined = acceptable.
   */
  check(chain: readonly Uint8Array[], now: number, peer: string): RevocationFailure | undefined {
    if (this.byIssuer.size === 0) return undefined;
    const ids: CertificateIds[] = [];
    for (const der of chain.slice(0, MAX_CHAIN)) {
      try {
        ids.push(certificateIds(der));
      } catch (e) {
        return { code: 'CRL_UNUSABLE', message: `the certificate chain of ${peer} cannot be read for the revocation check: ${(e as Error).message}` };
      }
    }
    for (let i = 0; i < ids.length; i++) {
      const cert = ids[i] as CertificateIds;
      const records = this.byIssuer.get(cert.issuer.key);
      if (records === undefined) continue;
      const next = ids[i + 1];
      const issuerKeyId =
        cert.issuer.key === cert.subject.key ? cert.keyId : next !== undefined && next.subject.key === cert.issuer.key ? next.keyId : undefined;
      // The CRLs of the very key that issued it (CA re-keyed under the same name), else all of that name.
      const ofKey = records.filter((r) => r.keyId !== undefined && r.keyId === issuerKeyId);
      const candidates = ofKey.length > 0 ? [...ofKey, ...records.filter((r) => r.keyId === undefined)] : records;
      const who = i === 0 ? `the certificate of ${peer} (${cert.subject.text}, serial ${cert.serial})` : `the CA certificate ${cert.subject.text} (serial ${cert.serial}) in the chain of ${peer}`;
      for (const r of candidates) {
        const at = r.crl?.revoked.get(cert.serial);
        if (at !== undefined) {
          return {
            code: 'CERT_REVOKED',
            message: `certificate revoked: ${who} is listed in the CRL ${r.file} of ${r.ca} (revoked ${iso(at)}); nothing was sent`,
          };
        }
      }
      for (const r of candidates) {
        const why = this.recordProblem(r, now);
        if (why === undefined) continue;
        const code: RevocationCode =
          r.crl === undefined ? 'CRL_UNUSABLE' : r.crl.thisUpdate > now ? 'CRL_NOT_YET_VALID' : 'CRL_HAS_EXPIRED';
        const until = code === 'CRL_UNUSABLE' ? 'fail closed, until the file is fixed or removed' : 'until a current CRL is in place';
        return { code, message: `the CRL ${r.file} of ${r.ca}, which issued ${who}, ${why}: refused as the grid tools do (${until}); nothing was sent` };
      }
    }
    return undefined;
  }
}
