/**
 * X.509 distinguished names read from DER: a comparison key and the slash
 * form for messages. Names compare as OpenSSL compares them (its canonical
 * encoding): any directory string type, surrounding white space dropped,
 * inner runs of white space as one space, ASCII letters case-folded; so a
 * CRL whose issuer is written as UTF8String still finds the CA whose subject
 * is a PrintableString. Pure.
 */
import { children, decodeOid, decodeString, DerError, encoding, expectTag, TAG, type Tlv } from './der.js';

export interface X509Name {
  /** Comparison key (canonical form). */
  readonly key: string;
  /** `/C=CZ/O=Example/CN=Jane Doe` */
  readonly text: string;
}

const SHORT: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.42': 'GN',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

function canonical(value: string): string {
  return value
    .replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '')
    .replace(/[ \t\n\v\f\r]+/g, ' ')
    .replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** Read a Name (SEQUENCE OF SET OF AttributeTypeAndValue). */
export function readName(buf: Uint8Array, t: Tlv, what: string): X509Name {
  expectTag(t, TAG.SEQUENCE, what);
  const keyParts: string[][] = [];
  const textParts: string[] = [];
  for (const rdn of children(buf, t)) {
    expectTag(rdn, TAG.SET, `${what}: relative name`);
    const keys: string[] = [];
    const texts: string[] = [];
    for (const ava of children(buf, rdn)) {
      expectTag(ava, TAG.SEQUENCE, `${what}: attribute`);
      const [typ, val, extra] = children(buf, ava);
      if (typ === undefined || val === undefined || extra !== undefined) throw new DerError(`${what}: malformed attribute`);
      const oid = decodeOid(buf, typ);
      const str = decodeString(buf, val);
      const raw = `#${Buffer.from(encoding(buf, val)).toString('hex')}`;
      keys.push(`${oid}=${str === undefined ? raw : canonical(str)}`);
      texts.push(`${SHORT[oid] ?? oid}=${str ?? raw}`);
    }
    if (keys.length === 0) throw new DerError(`${what}: empty relative name`);
    keyParts.push(keys.sort());
    textParts.push(texts.join('+'));
  }
  return { key: JSON.stringify(keyParts), text: textParts.map((p) => `/${p}`).join('') };
}
