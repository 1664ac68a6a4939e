/**
 * X.509 CRLs (RFC 5280 §5) and the few certificate fields revocation needs,
 * read from DER; CRL signatures verified with node:crypto. Pure, strict:
 * anything malformed or not understood throws CrlError with the reason,
 * never a half-read CRL (a CRL that cannot be read fully cannot be trusted).
 *
 * Not supported (refused as unusable, like any critical extension not
 * understood): delta CRLs, indirect CRLs (certificateIssuer entries), a
 * critical issuingDistributionPoint. Grid CAs publish plain full CRLs.
 */
import { constants, createHash, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import {
  children,
  content,
  decodeOid,
  decodeTime,
  DerError,
  encoding,
  expectTag,
  integerHex,
  isTime,
  readTlv,
  smallInteger,
  TAG,
  type Tlv,
} from './der.js';
import { readName, type X509Name } from './x509-name.js';

export class CrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CrlError';
  }
}

export interface AlgorithmId {
  readonly oid: string;
  /** The parameters element, when present. */
  readonly params: Tlv | undefined;
  /** The whole AlgorithmIdentifier encoding (tbs and outer must be equal). */
  readonly der: Uint8Array;
}

export interface ParsedCrl {
  readonly issuer: X509Name;
  readonly thisUpdate: number;
  readonly nextUpdate: number | undefined;
  /** Revoked serial (canonical hex) → revocation date (ms). */
  readonly revoked: ReadonlyMap<string, number>;
  /** The signed part (tbsCertList encoding). */
  readonly tbs: Uint8Array;
  readonly algorithm: AlgorithmId;
  readonly signature: Uint8Array;
  /** The DER buffer the fields point into. */
  readonly der: Uint8Array;
}

export interface CertificateIds {
  /** Serial number, canonical hex. */
  readonly serial: string;
  readonly issuer: X509Name;
  readonly subject: X509Name;
  /** SHA-256 of the subjectPublicKeyInfo encoding (hex): tells keys of CAs with the same name apart. */
  readonly keyId: string;
}

const EXT = {
  CRL_NUMBER: '2.5.29.20',
  AUTHORITY_KEY_ID: '2.5.29.35',
  ISSUER_ALT_NAME: '2.5.29.18',
  DELTA_CRL_INDICATOR: '2.5.29.27',
  ISSUING_DISTRIBUTION_POINT: '2.5.29.28',
  FRESHEST_CRL: '2.5.29.46',
  REASON_CODE: '2.5.29.21',
  INVALIDITY_DATE: '2.5.29.24',
  HOLD_INSTRUCTION: '2.5.29.23',
  CERTIFICATE_ISSUER: '2.5.29.29',
} as const;

/** CRL extensions that do not change which certificates the CRL covers. */
const CRL_EXTENSIONS_UNDERSTOOD = new Set<string>([EXT.CRL_NUMBER, EXT.AUTHORITY_KEY_ID, EXT.ISSUER_ALT_NAME, EXT.FRESHEST_CRL]);
const ENTRY_EXTENSIONS_UNDERSTOOD = new Set<string>([EXT.REASON_CODE, EXT.INVALIDITY_DATE, EXT.HOLD_INSTRUCTION]);
/** reasonCode removeFromCRL: the entry lifts an earlier hold (only meaningful in delta CRLs). */
const REMOVE_FROM_CRL = 8;

function wrap<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof DerError || e instanceof CrlError) throw new CrlError(`${what}: ${e.message}`);
    throw e;
  }
}

function readAlgorithm(buf: Uint8Array, t: Tlv | undefined, what: string): AlgorithmId {
  const seq = expectTag(t, TAG.SEQUENCE, what);
  const [oid, params, extra] = children(buf, seq);
  if (oid === undefined || extra !== undefined) throw new DerError(`${what}: malformed`);
  return { oid: decodeOid(buf, oid), params, der: encoding(buf, seq) };
}

interface Extension {
  /** The OBJECT IDENTIFIER element (decodeOid for its text). */
  readonly id: Tlv;
  readonly critical: boolean;
  readonly value: Tlv;
}

function readExtensions(buf: Uint8Array, t: Tlv, what: string): Extension[] {
  expectTag(t, TAG.SEQUENCE, what);
  return children(buf, t).map((ext) => {
    expectTag(ext, TAG.SEQUENCE, `${what}: extension`);
    const parts = children(buf, ext);
    const id = expectTag(parts[0], TAG.OID, `${what}: extension id`);
    let i = 1;
    let critical = false;
    if (parts[i]?.tag === TAG.BOOLEAN) {
      const b = content(buf, parts[i] as Tlv);
      if (b.length !== 1) throw new DerError(`${what}: bad BOOLEAN`);
      critical = b[0] !== 0;
      i++;
    }
    const value = expectTag(parts[i], TAG.OCTET_STRING, `${what}: extension value`);
    if (parts[i + 1] !== undefined) throw new DerError(`${what}: extension has extra fields`);
    return { id, critical, value };
  });
}

/** Parse one DER-encoded CRL (the whole buffer). */
export function parseCrl(der: Uint8Array): ParsedCrl {
  return wrap('CRL', () => {
    const outer = readTlv(der, 0);
    expectTag(outer, TAG.SEQUENCE, 'CertificateList');
    if (outer.end !== der.length) throw new DerError(`${der.length - outer.end} bytes after the CRL`);
    const [tbsT, algT, sigT, extra] = children(der, outer);
    if (extra !== undefined) throw new DerError('CertificateList has extra fields');
    expectTag(tbsT, TAG.SEQUENCE, 'tbsCertList');
    const algorithm = readAlgorithm(der, algT, 'signatureAlgorithm');
    const sig = content(der, expectTag(sigT, TAG.BIT_STRING, 'signatureValue'));
    if (sig.length < 2 || sig[0] !== 0) throw new DerError('signatureValue: not a whole number of bytes');

    const f = children(der, tbsT as Tlv);
    let i = 0;
    if (f[i]?.tag === TAG.INTEGER) {
      const v = smallInteger(der, f[i] as Tlv, 'version');
      if (v > 1) throw new DerError(`unknown CRL version ${v + 1}`);
      i++;
    }
    const inner = readAlgorithm(der, f[i++], 'tbsCertList signature');
    if (Buffer.compare(Buffer.from(inner.der), Buffer.from(algorithm.der)) !== 0) {
      throw new CrlError('the signature algorithm inside and outside the signed part differ');
    }
    const issuer = readName(der, expectTag(f[i++], TAG.SEQUENCE, 'issuer'), 'issuer');
    const thisT = f[i++];
    if (!isTime(thisT)) throw new DerError('thisUpdate is missing');
    const thisUpdate = decodeTime(der, thisT as Tlv, 'thisUpdate');
    let nextUpdate: number | undefined;
    if (isTime(f[i])) nextUpdate = decodeTime(der, f[i++] as Tlv, 'nextUpdate');
    const revoked = new Map<string, number>();
    if (f[i]?.tag === TAG.SEQUENCE) {
      for (const entry of children(der, f[i++] as Tlv)) readEntry(der, entry, revoked);
    }
    if (f[i]?.tag === TAG.CTX0) {
      const [exts, more] = children(der, f[i++] as Tlv);
      if (exts === undefined || more !== undefined) throw new DerError('crlExtensions: malformed');
      for (const ext of readExtensions(der, exts, 'crlExtensions')) {
        const oid = decodeOid(der, ext.id);
        if (oid === EXT.DELTA_CRL_INDICATOR) throw new CrlError('a delta CRL (not supported; a full CRL is needed)');
        if (ext.critical && !CRL_EXTENSIONS_UNDERSTOOD.has(oid)) {
          throw new CrlError(`critical CRL extension ${oid} is not supported`);
        }
      }
    }
    if (f[i] !== undefined) throw new DerError(`unexpected field (tag 0x${(f[i] as Tlv).tag.toString(16)}) in tbsCertList`);
    return { issuer, thisUpdate, nextUpdate, revoked, tbs: encoding(der, tbsT as Tlv), algorithm, signature: sig.subarray(1), der };
  });
}

/** DER content of the reasonCode extension id (2.5.29.21): compared as bytes, a large CRL has one per entry. */
const REASON_CODE_OID = Uint8Array.from([0x55, 0x1d, 0x15]);

function sameBytes(buf: Uint8Array, t: Tlv, want: Uint8Array): boolean {
  if (t.end - t.body !== want.length) return false;
  for (let i = 0; i < want.length; i++) if (buf[t.body + i] !== want[i]) return false;
  return true;
}

function readEntry(der: Uint8Array, entry: Tlv, revoked: Map<string, number>): void {
  expectTag(entry, TAG.SEQUENCE, 'revoked certificate');
  const serialT = readTlv(der, entry.body, entry.end);
  const serial = integerHex(der, serialT);
  if (serialT.end === entry.end) throw new DerError('revoked certificate: revocationDate is missing');
  const dateT = readTlv(der, serialT.end, entry.end);
  if (!isTime(dateT)) throw new DerError('revoked certificate: revocationDate is missing');
  const date = decodeTime(der, dateT, 'revocationDate');
  let reason: number | undefined;
  if (dateT.end < entry.end) {
    const extsT = readTlv(der, dateT.end, entry.end);
    if (extsT.end !== entry.end) throw new DerError('revoked certificate: extra fields');
    for (const ext of readExtensions(der, extsT, 'crlEntryExtensions')) {
      if (sameBytes(der, ext.id, REASON_CODE_OID)) {
        reason = smallInteger(der, readTlv(der, ext.value.body, ext.value.end), 'reasonCode');
        continue;
      }
      const oid = decodeOid(der, ext.id);
      if (oid === EXT.CERTIFICATE_ISSUER) throw new CrlError('an indirect CRL (certificateIssuer entries are not supported)');
      if (ext.critical && !ENTRY_EXTENSIONS_UNDERSTOOD.has(oid)) {
        throw new CrlError(`critical CRL entry extension ${oid} is not supported`);
      }
    }
  }
  if (reason !== REMOVE_FROM_CRL) revoked.set(serial, date);
}

/** Serial, issuer, subject and key id of a DER certificate. */
export function certificateIds(der: Uint8Array): CertificateIds {
  return wrap('certificate', () => {
    const outer = expectTag(readTlv(der, 0), TAG.SEQUENCE, 'Certificate');
    const tbs = expectTag(children(der, outer)[0], TAG.SEQUENCE, 'tbsCertificate');
    const f = children(der, tbs);
    let i = f[0]?.tag === TAG.CTX0 ? 1 : 0;
    const serial = integerHex(der, expectTag(f[i++], TAG.INTEGER, 'serialNumber'));
    i++; // signature algorithm
    const issuer = readName(der, expectTag(f[i++], TAG.SEQUENCE, 'issuer'), 'issuer');
    i++; // validity
    const subject = readName(der, expectTag(f[i++], TAG.SEQUENCE, 'subject'), 'subject');
    const spki = expectTag(f[i], TAG.SEQUENCE, 'subjectPublicKeyInfo');
    return { serial, issuer, subject, keyId: createHash('sha256').update(encoding(der, spki)).digest('hex') };
  });
}

const HASHES: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

type Family = 'rsa' | 'ec' | 'dsa' | 'eddsa';

const SIGNATURES: Record<string, { family: Family; hash: string | null }> = {
  '1.2.840.113549.1.1.5': { family: 'rsa', hash: 'sha1' },
  '1.2.840.113549.1.1.14': { family: 'rsa', hash: 'sha224' },
  '1.2.840.113549.1.1.11': { family: 'rsa', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { family: 'rsa', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { family: 'rsa', hash: 'sha512' },
  '1.2.840.10045.4.1': { family: 'ec', hash: 'sha1' },
  '1.2.840.10045.4.3.1': { family: 'ec', hash: 'sha224' },
  '1.2.840.10045.4.3.2': { family: 'ec', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { family: 'ec', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { family: 'ec', hash: 'sha512' },
  '1.2.840.10040.4.3': { family: 'dsa', hash: 'sha1' },
  '2.16.840.1.101.3.4.3.1': { family: 'dsa', hash: 'sha224' },
  '2.16.840.1.101.3.4.3.2': { family: 'dsa', hash: 'sha256' },
  '1.3.101.112': { family: 'eddsa', hash: null },
  '1.3.101.113': { family: 'eddsa', hash: null },
};
const RSASSA_PSS = '1.2.840.113549.1.1.10';
const MGF1 = '1.2.840.113549.1.1.8';

const KEY_TYPES: Record<Family, readonly string[]> = {
  rsa: ['rsa', 'rsa-pss'],
  ec: ['ec'],
  dsa: ['dsa'],
  eddsa: ['ed25519', 'ed448'],
};

interface VerifySpec {
  readonly family: Family;
  readonly hash: string | null;
  readonly saltLength?: number;
}

function pssSpec(buf: Uint8Array, params: Tlv | undefined): VerifySpec {
  let hash = 'sha1';
  let mgfHash = 'sha1';
  let saltLength = 20;
  if (params !== undefined) {
    expectTag(params, TAG.SEQUENCE, 'RSASSA-PSS parameters');
    for (const p of children(buf, params)) {
      const [inner] = children(buf, p);
      if (inner === undefined) throw new DerError('RSASSA-PSS parameters: empty field');
      if (p.tag === 0xa0) {
        const h = HASHES[readAlgorithm(buf, inner, 'PSS hash').oid];
        if (h === undefined) throw new CrlError('RSASSA-PSS with an unsupported hash');
        hash = h;
      } else if (p.tag === 0xa1) {
        const mgf = readAlgorithm(buf, inner, 'PSS mask generation');
        if (mgf.oid !== MGF1) throw new CrlError('RSASSA-PSS with a mask generation other than MGF1');
        const h = HASHES[readAlgorithm(buf, mgf.params, 'MGF1 hash').oid];
        if (h === undefined) throw new CrlError('RSASSA-PSS MGF1 with an unsupported hash');
        mgfHash = h;
      } else if (p.tag === 0xa2) {
        saltLength = smallInteger(buf, inner, 'PSS salt length');
      } else if (p.tag === 0xa3) {
        if (smallInteger(buf, inner, 'PSS trailer field') !== 1) throw new CrlError('RSASSA-PSS with an unknown trailer field');
      } else {
        throw new DerError('RSASSA-PSS parameters: unknown field');
      }
    }
  }
  if (mgfHash !== hash) throw new CrlError('RSASSA-PSS with different hashes for message and MGF1 (not supported)');
  return { family: 'rsa', hash, saltLength };
}

function specOf(buf: Uint8Array, alg: AlgorithmId): VerifySpec {
  if (alg.oid === RSASSA_PSS) return pssSpec(buf, alg.params);
  const s = SIGNATURES[alg.oid];
  if (s === undefined) throw new CrlError(`signature algorithm ${alg.oid} is not supported`);
  if (alg.params !== undefined && !(s.family === 'rsa' && alg.params.tag === TAG.NULL && alg.params.end === alg.params.body)) {
    throw new CrlError(`signature algorithm ${alg.oid} with unexpected parameters`);
  }
  return s;
}

/**
 * Whether the CRL's signature verifies with `key`. Throws CrlError for an
 * algorithm not supported (so "unsupported" is never mistaken for "forged").
 */
export function crlSignatureValid(crl: ParsedCrl, key: KeyObject): boolean {
  const spec = wrap('CRL signature', () => specOf(crl.der, crl.algorithm));
  if (!KEY_TYPES[spec.family].includes(key.asymmetricKeyType ?? '')) return false;
  const k = spec.saltLength !== undefined ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: spec.saltLength } : key;
  try {
    return cryptoVerify(spec.hash, crl.tbs, k, crl.signature);
  } catch {
    return false;
  }
}

const PEM_CRL = /-----BEGIN X509 CRL-----\r?\n([\s\S]*?)-----END X509 CRL-----/g;

/** The DER of each `X509 CRL` PEM block; a block that is not clean base64 throws CrlError. */
export function pemCrlBlocks(text: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const m of text.matchAll(PEM_CRL)) {
    const b64 = (m[1] ?? '').replace(/[\r\n\t ]/g, '');
    if (b64.length === 0 || b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
      throw new CrlError('a PEM block is not valid base64');
    }
    out.push(Buffer.from(b64, 'base64'));
  }
  return out;
}
