/**
 * A strict, minimal DER reader: just what reading certificates and CRLs
 * needs (definite lengths, low tag numbers, bounds checked everywhere).
 * Pure; every malformation throws DerError saying what and where.
 */

export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  NUMERIC_STRING: 0x12,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  VISIBLE_STRING: 0x1a,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
  /** [0] constructed (EXPLICIT context tag 0). */
  CTX0: 0xa0,
} as const;

/** One element: its tag, where it starts, where its content starts and where it ends. */
export interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly body: number;
  readonly end: number;
}

/** The element at `pos`, which must end at or before `limit`. */
export function readTlv(buf: Uint8Array, pos: number, limit: number = buf.length): Tlv {
  if (pos + 2 > limit) throw new DerError(`truncated element at offset ${pos}`);
  const tag = buf[pos] as number;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`high tag number at offset ${pos}`);
  let p = pos + 1;
  const first = buf[p++] as number;
  let len: number;
  if (first < 0x80) {
    len = first;
  } else {
    const n = first & 0x7f;
    if (n === 0) throw new DerError(`indefinite length at offset ${pos} (not DER)`);
    if (n > 4) throw new DerError(`length of ${n} bytes at offset ${pos}`);
    if (p + n > limit) throw new DerError(`truncated length at offset ${pos}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[p++] as number);
  }
  if (p + len > limit) throw new DerError(`element at offset ${pos} runs past its end (${len} bytes)`);
  return { tag, start: pos, body: p, end: p + len };
}

/** The elements inside a constructed element, in order. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = parent.body; p < parent.end; ) {
    const t = readTlv(buf, p, parent.end);
    out.push(t);
    p = t.end;
  }
  return out;
}

/** `t` when it has the tag, else DerError naming `what`. */
export function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (t === undefined) throw new DerError(`${what} is missing`);
  if (t.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${t.tag.toString(16)}`);
  return t;
}

/** The content bytes (a view, not a copy). */
export function content(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.body, t.end);
}

/** The whole encoding, tag and length included (a view). */
export function encoding(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.start, t.end);
}

export function decodeOid(buf: Uint8Array, t: Tlv): string {
  expectTag(t, TAG.OID, 'object identifier');
  const b = content(buf, t);
  if (b.length === 0) throw new DerError('empty object identifier');
  const arcs: number[] = [];
  let v = 0;
  for (let i = 0; i < b.length; i++) {
    const x = b[i] as number;
    if (v === 0 && x === 0x80) throw new DerError('object identifier arc with a leading 0x80');
    v = v * 128 + (x & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) throw new DerError('object identifier arc too large');
    if ((x & 0x80) === 0) {
      arcs.push(v);
      v = 0;
    } else if (i === b.length - 1) {
      throw new DerError('truncated object identifier');
    }
  }
  const first = arcs[0] as number;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join('.');
}

/**
 * An INTEGER as canonical upper-case hex without leading zero bytes
 * (serial numbers: compared as written, never as JS numbers).
 */
export function integerHex(buf: Uint8Array, t: Tlv): string {
  expectTag(t, TAG.INTEGER, 'integer');
  let start = t.body;
  if (start === t.end) throw new DerError('empty integer');
  while (t.end - start > 1 && buf[start] === 0) start++;
  return Buffer.from(buf.buffer, buf.byteOffset + start, t.end - start).toString('hex').toUpperCase();
}

/** A small non-negative INTEGER or ENUMERATED (versions, reason codes, salt lengths). */
export function smallInteger(buf: Uint8Array, t: Tlv, what: string): number {
  if (t.tag !== TAG.INTEGER && t.tag !== TAG.ENUMERATED) throw new DerError(`${what}: not an integer`);
  const b = content(buf, t);
  if (b.length === 0 || b.length > 4 || ((b[0] as number) & 0x80) !== 0) throw new DerError(`${what}: out of range`);
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}

/**
 * UTCTime `YYMMDDHHMMSSZ` or GeneralizedTime `YYYYMMDDHHMMSS[.f…]Z` (both in
 * UTC, as RFC 5280 requires) → ms since the epoch. Read from the bytes
 * (a large CRL holds one per entry).
 */
export function decodeTime(buf: Uint8Array, t: Tlv, what: string): number {
  const text = (): string => JSON.stringify(Buffer.from(content(buf, t)).toString('latin1').slice(0, 32));
  const bad = (): never => {
    throw new DerError(`${what}: not a UTC time (${text()})`);
  };
  const two = (at: number): number => {
    const a = (buf[at] as number) - 0x30;
    const b = (buf[at + 1] as number) - 0x30;
    if (a < 0 || a > 9 || b < 0 || b > 9) bad();
    return a * 10 + b;
  };
  const len = t.end - t.body;
  let p = t.body;
  let year: number;
  if (t.tag === TAG.UTC_TIME && len === 13 && buf[t.end - 1] === 0x5a) {
    const yy = two(p);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    p += 2;
  } else if (t.tag === TAG.GENERALIZED_TIME && len >= 15 && buf[t.end - 1] === 0x5a) {
    year = two(p) * 100 + two(p + 2);
    p += 4;
    if (len > 15) {
      // fraction of a second: '.' and at least one digit
      if (buf[t.body + 14] !== 0x2e || len < 17) bad();
      for (let i = t.body + 15; i < t.end - 1; i++) if ((buf[i] as number) < 0x30 || (buf[i] as number) > 0x39) bad();
    }
  } else {
    return bad();
  }
  const mo = two(p);
  const d = two(p + 2);
  const h = two(p + 4);
  const mi = two(p + 6);
  const s = two(p + 8);
  const ms = Date.UTC(year, mo - 1, d, h, mi, s);
  const check = new Date(ms);
  if (mo < 1 || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
    throw new DerError(`${what}: impossible date ${text()}`);
  }
  return ms;
}

/** Whether the element is a time (for optional fields). */
export function isTime(t: Tlv | undefined): boolean {
  return t !== undefined && (t.tag === TAG.UTC_TIME || t.tag === TAG.GENERALIZED_TIME);
}

/** The text of a directory string (any of the X.520 string types), or undefined for other types. */
export function decodeString(buf: Uint8Array, t: Tlv): string | undefined {
  const b = Buffer.from(content(buf, t));
  switch (t.tag) {
    case TAG.UTF8_STRING:
      return b.toString('utf8');
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
    case TAG.NUMERIC_STRING:
    case TAG.VISIBLE_STRING:
    case TAG.T61_STRING:
      return b.toString('latin1');
    case TAG.BMP_STRING:
      if (b.length % 2 !== 0) throw new DerError('BMPString of odd length');
      return b.swap16().toString('utf16le');
    case TAG.UNIVERSAL_STRING: {
      if (b.length % 4 !== 0) throw new DerError('UniversalString length not a multiple of 4');
      let s = '';
      for (let i = 0; i < b.length; i += 4) {
        const cp = b.readUInt32BE(i);
        if (cp > 0x10ffff) throw new DerError('UniversalString character out of range');
        s += String.fromCodePoint(cp);
      }
      return s;
    }
    default:
      return undefined;
  }
}
