/**
 * The pure parts of CRL handling, from tables: the DER reader, names, CRL
 * parsing and signatures (CRLs made by openssl: EC, RSA, RSA-PSS, Ed25519;
 * tampered, forged, unsupported), and RevocationSet decisions on chains.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { decodeOid, decodeTime, integerHex, readTlv, TAG } from '../../src/primary/der.js';
import { readName } from '../../src/primary/x509-name.js';
import { CrlError, crlSignatureValid, parseCrl, pemCrlBlocks, type ParsedCrl } from '../../src/primary/crl.js';
import { RevocationSet, type CrlSource, type TrustedCa } from '../../src/primary/revocation.js';
import { corruptCrlSignature, devCerts, forgedDevCa, makeCa, makeCrl } from '../helpers/certs.js';

const certs = devCerts();
const DAY = 86_400_000;

function tlv(tag: number, body: Uint8Array | string): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
  const len = b.length < 0x80 ? Buffer.from([b.length]) : b.length < 0x100 ? Buffer.from([0x81, b.length]) : Buffer.from([0x82, b.length >> 8, b.length & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, b]);
}

const OID_CN = Buffer.from('550403', 'hex');
const OID_O = Buffer.from('55040a', 'hex');
const OID_C = Buffer.from('550406', 'hex');

function name(...avas: [Buffer, number, string][]): Buffer {
  return tlv(TAG.SEQUENCE, Buffer.concat(avas.map(([oid, tag, v]) => tlv(TAG.SET, tlv(TAG.SEQUENCE, Buffer.concat([tlv(TAG.OID, oid), tlv(tag, v)]))))));
}

function der(pemFile: string): Buffer {
  return new X509Certificate(readFileSync(pemFile)).raw;
}

function one(pem: string): ParsedCrl {
  const blocks = pemCrlBlocks(pem);
  assert.equal(blocks.length, 1);
  return parseCrl(blocks[0] as Uint8Array);
}

/** A certificate's serial as the code keys it: hex of the INTEGER content bytes, leading zero bytes (not nibbles) dropped. */
function serialOf(pemFile: string): string {
  return new X509Certificate(readFileSync(pemFile)).serialNumber.toUpperCase().replace(/^(00)+(?=.)/, '');
}

function key(pemFile: string) {
  return new X509Certificate(readFileSync(pemFile)).publicKey;
}

describe('DER reader', () => {
  const bad: [string, number[], RegExp][] = [
    ['truncated header', [0x30], /truncated/],
    ['indefinite length', [0x30, 0x80, 0x00, 0x00], /indefinite/],
    ['high tag number', [0x1f, 0x81, 0x00], /high tag/],
    ['5-byte length', [0x30, 0x85, 1, 0, 0, 0, 0], /length of 5 bytes/],
    ['runs past the end', [0x30, 0x05, 0x02, 0x01, 0x00], /runs past/],
    ['truncated long length', [0x30, 0x82, 0x01], /truncated length/],
  ];
  for (const [what, bytes, re] of bad) {
    it(`refuses: ${what}`, () => {
      assert.throws(() => readTlv(Uint8Array.from(bytes), 0), re);
    });
  }

  const times: [string, number, string, number | RegExp][] = [
    ['UTCTime 49 → 2049', TAG.UTC_TIME, '491231235959Z', Date.UTC(2049, 11, 31, 23, 59, 59)],
    ['UTCTime 50 → 1950', TAG.UTC_TIME, '500101000000Z', Date.UTC(1950, 0, 1)],
    ['GeneralizedTime', TAG.GENERALIZED_TIME, '20260102030405Z', Date.UTC(2026, 0, 2, 3, 4, 5)],
    ['GeneralizedTime with fraction', TAG.GENERALIZED_TIME, '20260102030405.123Z', Date.UTC(2026, 0, 2, 3, 4, 5)],
    ['impossible date', TAG.GENERALIZED_TIME, '20260230000000Z', /impossible/],
    ['no seconds', TAG.UTC_TIME, '2601020304Z', /not a UTC time/],
    ['local offset', TAG.GENERALIZED_TIME, '20260102030405+0100', /not a UTC time/],
    ['hour 24', TAG.UTC_TIME, '260102240000Z', /impossible/],
    ['month 00', TAG.UTC_TIME, '260002000000Z', /impossible/],
    ['fraction without digits', TAG.GENERALIZED_TIME, '20260102030405.Z', /not a UTC time/],
    ['a letter among the digits', TAG.UTC_TIME, '26010203040xZ', /not a UTC time/],
  ];
  for (const [what, tag, text, want] of times) {
    it(`time: ${what}`, () => {
      const b = tlv(tag, text);
      const t = readTlv(b, 0);
      if (typeof want === 'number') assert.equal(decodeTime(b, t, 'x'), want);
      else assert.throws(() => decodeTime(b, t, 'x'), want);
    });
  }

  it('object identifiers and integers', () => {
    const oid = tlv(TAG.OID, Buffer.from('2a864886f70d01010b', 'hex'));
    assert.equal(decodeOid(oid, readTlv(oid, 0)), '1.2.840.113549.1.1.11');
    const serial = tlv(TAG.INTEGER, Buffer.from('00f51c', 'hex'));
    assert.equal(integerHex(serial, readTlv(serial, 0)), 'F51C', 'leading zero byte of a positive INTEGER dropped');
    const small = tlv(TAG.INTEGER, Buffer.from('0a', 'hex'));
    assert.equal(integerHex(small, readTlv(small, 0)), '0A');
  });
});

describe('names', () => {
  it('compare as OpenSSL does: string type, case and white space do not matter; values do', () => {
    const a = name([OID_C, TAG.PRINTABLE_STRING, 'CZ'], [OID_O, TAG.PRINTABLE_STRING, 'JP-Importer  Dev'], [OID_CN, TAG.PRINTABLE_STRING, 'CA']);
    const b = name([OID_C, TAG.PRINTABLE_STRING, 'cz'], [OID_O, TAG.UTF8_STRING, ' jp-importer dev '], [OID_CN, TAG.UTF8_STRING, 'ca']);
    const c = name([OID_C, TAG.PRINTABLE_STRING, 'CZ'], [OID_O, TAG.PRINTABLE_STRING, 'JP-Importer Dev'], [OID_CN, TAG.PRINTABLE_STRING, 'CA 2']);
    const d = name([OID_O, TAG.PRINTABLE_STRING, 'JP-Importer Dev'], [OID_C, TAG.PRINTABLE_STRING, 'CZ'], [OID_CN, TAG.PRINTABLE_STRING, 'CA']);
    const na = readName(a, readTlv(a, 0), 'a');
    assert.equal(na.key, readName(b, readTlv(b, 0), 'b').key);
    assert.notEqual(na.key, readName(c, readTlv(c, 0), 'c').key);
    assert.notEqual(na.key, readName(d, readTlv(d, 0), 'd').key, 'order of RDNs matters');
    assert.equal(na.text, '/C=CZ/O=JP-Importer  Dev/CN=CA');
  });

  it('BMPString values read as text', () => {
    const bmp = Buffer.from('Žluťoučký', 'utf16le').swap16();
    const n = name([OID_CN, TAG.BMP_STRING, '']);
    const real = tlv(TAG.SEQUENCE, tlv(TAG.SET, tlv(TAG.SEQUENCE, Buffer.concat([tlv(TAG.OID, OID_CN), tlv(TAG.BMP_STRING, bmp)]))));
    assert.equal(readName(real, readTlv(real, 0), 'n').text, '/CN=Žluťoučký');
    assert.equal(readName(n, readTlv(n, 0), 'n').text, '/CN=');
  });
});

describe('parseCrl and signatures', () => {
  const revokedSerial = serialOf(certs.serverRevoked);

  it('reads an openssl CRL: issuer, dates, revoked serials; verifies with the CA key only', () => {
    const last = new Date(Math.floor(Date.now() / 1000) * 1000 - DAY);
    const next = new Date(last.getTime() + 7 * DAY);
    const crl = one(makeCrl({ revoke: [certs.serverRevoked], lastUpdate: last, nextUpdate: next }));
    assert.equal(crl.issuer.text, '/C=CZ/O=jp-importer dev/CN=jp-importer dev CA');
    assert.equal(crl.thisUpdate, last.getTime());
    assert.equal(crl.nextUpdate, next.getTime());
    assert.deepEqual([...crl.revoked.keys()], [revokedSerial]);
    assert.equal(crlSignatureValid(crl, key(certs.ca)), true);
    assert.equal(crlSignatureValid(crl, key(certs.rogueCa)), false);
    assert.equal(crlSignatureValid(crl, key(forgedDevCa().cert)), false, 'same name, other key');
    assert.equal(crlSignatureValid(one(corruptCrlSignature(makeCrl({}))), key(certs.ca)), false);
  });

  it('entry reasons: certificateHold is revoked, removeFromCRL is not', () => {
    const crl = one(makeCrl({
      revoke: [
        { cert: certs.serverRevoked, args: ['-crl_hold', 'holdInstructionReject'] },
        { cert: certs.server, args: ['-crl_reason', 'removeFromCRL'] },
      ],
    }));
    const serverSerial = serialOf(certs.server);
    assert.deepEqual([...crl.revoked.keys()], [revokedSerial]);
    assert.equal(crl.revoked.has(serverSerial), false);
  });

  it('a changed byte in the signed part breaks the signature', () => {
    const pem = makeCrl({ revoke: [certs.serverRevoked] });
    const d = Buffer.from(pemCrlBlocks(pem)[0] as Uint8Array);
    const at = d.indexOf(Buffer.from(revokedSerial.slice(-4), 'hex'));
    assert.ok(at > 0);
    d[at] = (d[at] as number) ^ 0x01;
    const crl = parseCrl(d);
    assert.equal(crl.revoked.has(revokedSerial), false);
    assert.equal(crlSignatureValid(crl, key(certs.ca)), false);
  });

  const algorithms: [string, 'RSA' | 'ED25519', string[]][] = [
    ['RSA PKCS#1 v1.5 SHA-256', 'RSA', []],
    ['RSA-PSS SHA-256, salt 32', 'RSA', ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32']],
    ['RSA PKCS#1 v1.5 SHA-512', 'RSA', ['-md', 'sha512']],
    ['Ed25519', 'ED25519', ['-md', 'default']],
  ];
  for (const [what, alg, args] of algorithms) {
    it(`verifies ${what}`, () => {
      const ca = makeCa(`crl-test-${alg.toLowerCase()}`, alg);
      const crl = one(makeCrl({ signer: ca, args }));
      assert.equal(crlSignatureValid(crl, key(ca.cert)), true);
      assert.equal(crlSignatureValid(crl, key(certs.ca)), false);
    });
  }

  const refused: [string, () => Uint8Array, RegExp][] = [
    ['a delta CRL', () => pemCrlBlocks(makeCrl({ args: ['-crlexts', 'x'], config: '[ x ]\n2.5.29.27 = critical, ASN1:INTEGER:5\n' }))[0] as Uint8Array, /delta CRL/],
    ['an unknown critical extension', () => pemCrlBlocks(makeCrl({ args: ['-crlexts', 'x'], config: '[ x ]\n1.2.3.4 = critical, ASN1:NULL\n' }))[0] as Uint8Array, /critical CRL extension 1\.2\.3\.4/],
    [
      'a critical issuingDistributionPoint',
      () => pemCrlBlocks(makeCrl({ args: ['-crlexts', 'x'], config: '[ x ]\nissuingDistributionPoint = critical, @idp\n[ idp ]\nfullname = URI:http://x/crl\n' }))[0] as Uint8Array,
      /2\.5\.29\.28/,
    ],
    ['bytes after the CRL', () => Buffer.concat([pemCrlBlocks(makeCrl({}))[0] as Uint8Array, Buffer.from([0])]), /bytes after the CRL/],
    [
      'outer and inner signature algorithms differ',
      () => {
        const d = Buffer.from(pemCrlBlocks(makeCrl({}))[0] as Uint8Array);
        // The dev CA's key is RSA (make-dev-certs.sh; --ec: EC): sha256WithRSAEncryption → sha384…, ecdsa-with-SHA256 → …SHA384.
        const rsaSha256 = Buffer.from('2a864886f70d01010b', 'hex');
        const ecdsaSha256 = Buffer.from('2a8648ce3d040302', 'hex');
        const [oid, sha384] = d.includes(rsaSha256) ? [rsaSha256, 0x0c] : [ecdsaSha256, 0x03];
        const last = d.lastIndexOf(oid);
        assert.ok(last > 0, 'the CRL names its signature algorithm');
        d[last + oid.length - 1] = sha384; // outer one → SHA-384
        return d;
      },
      /differ/,
    ],
    ['not DER at all', () => Buffer.from('hello, world'), /CRL:/],
  ];
  for (const [what, make, re] of refused) {
    it(`refuses ${what} (CrlError)`, () => {
      assert.throws(() => parseCrl(make()), (e: unknown) => e instanceof CrlError && re.test(e.message));
    });
  }

  it('PEM blocks: several in one file; bad base64 refused', () => {
    assert.equal(pemCrlBlocks(makeCrl({}) + makeCrl({ signer: { cert: certs.rogueCa, key: certs.rogueCaKey } })).length, 2);
    assert.throws(() => pemCrlBlocks('-----BEGIN X509 CRL-----\nno!t*base64\n-----END X509 CRL-----\n'), /base64/);
  });
});

describe('RevocationSet', () => {
  const dev: TrustedCa = { x509: new X509Certificate(readFileSync(certs.ca)), files: ['/ca/c0ffee00.0'] };
  const rogue: TrustedCa = { x509: new X509Certificate(readFileSync(certs.rogueCa)), files: ['/ca/rogue.pem'] };
  const src = (file: string, pem: string): CrlSource => ({ file, data: Buffer.from(pem) });
  const revokedChain = [der(certs.serverRevoked), der(certs.ca)];
  const goodChain = [der(certs.server), der(certs.ca)];
  const rogueChain = [der(certs.rogueServer), der(certs.rogueCa)];
  const now = Date.now();
  const revoking = makeCrl({ revoke: [certs.serverRevoked] });

  const cases: [string, () => RevocationSet, readonly Uint8Array[], string | undefined, RegExp?][] = [
    ['no CRL at all: accepted', () => RevocationSet.build([dev], []), revokedChain, undefined],
    ['listed: revoked', () => RevocationSet.build([dev, rogue], [src('/ca/c0ffee00.r0', revoking)]), revokedChain, 'CERT_REVOKED', /serial/],
    ['not listed: accepted', () => RevocationSet.build([dev, rogue], [src('/ca/c0ffee00.r0', revoking)]), goodChain, undefined],
    ['another CA without CRL: accepted', () => RevocationSet.build([dev, rogue], [src('/ca/c0ffee00.r0', revoking)]), rogueChain, undefined],
    [
      'expired CRL: refused',
      () => RevocationSet.build([dev], [src('/ca/c0ffee00.r0', makeCrl({ lastUpdate: new Date(now - 9 * DAY), nextUpdate: new Date(now - DAY) }))]),
      goodChain,
      'CRL_HAS_EXPIRED',
      /expired at/,
    ],
    [
      'listed in an expired CRL: revoked',
      () => RevocationSet.build([dev], [src('/ca/c0ffee00.r0', makeCrl({ revoke: [certs.serverRevoked], lastUpdate: new Date(now - 9 * DAY), nextUpdate: new Date(now - DAY) }))]),
      revokedChain,
      'CERT_REVOKED',
    ],
    [
      'CRL not valid yet: refused',
      () => RevocationSet.build([dev], [src('/ca/c0ffee00.r0', makeCrl({ lastUpdate: new Date(now + DAY), nextUpdate: new Date(now + 9 * DAY) }))]),
      goodChain,
      'CRL_NOT_YET_VALID',
    ],
    ['forged CRL: refused, its entries unused', () => RevocationSet.build([dev], [src('/ca/x.r0', makeCrl({ signer: forgedDevCa() }))]), revokedChain, 'CRL_UNUSABLE', /signature does not verify/],
    ['unparsable c0ffee00.r0: its CA c0ffee00.0 refused', () => RevocationSet.build([dev, rogue], [src('/ca/c0ffee00.r0', 'garbage')]), goodChain, 'CRL_UNUSABLE', /c0ffee00\.r0 .*cannot be parsed/],
    ['unparsable c0ffee00.r0: other CAs unaffected', () => RevocationSet.build([dev, rogue], [src('/ca/c0ffee00.r0', 'garbage')]), rogueChain, undefined],
    ['unreadable c0ffee00.r1: refused', () => RevocationSet.build([dev], [{ file: '/ca/c0ffee00.r1', error: 'EACCES' }]), goodChain, 'CRL_UNUSABLE', /cannot be read: EACCES/],
    ['unparsable file no CA is named after: ignored', () => RevocationSet.build([dev], [src('/ca/deadbeef.r0', 'garbage')]), goodChain, undefined],
    ['CRL of a CA not trusted: ignored', () => RevocationSet.build([dev], [src('/ca/x.r0', makeCrl({ signer: { cert: certs.rogueCa, key: certs.rogueCaKey }, revoke: [certs.server] }))]), goodChain, undefined],
    ['revoked CA certificate in the chain', () => RevocationSet.build([dev], [src('/ca/c0ffee00.r0', makeCrl({ revoke: [certs.ca] }))]), goodChain, 'CERT_REVOKED', /the CA certificate .*jp-importer dev CA/],
    [
      'CA re-keyed under the same name: the CRL of the issuing key decides',
      () => RevocationSet.build([dev, { x509: new X509Certificate(readFileSync(forgedDevCa().cert)), files: ['/ca/c0ffee00.1'] }], [
        src('/ca/c0ffee00.r0', makeCrl({})),
        src('/ca/c0ffee00.r1', makeCrl({ signer: forgedDevCa(), revoke: [certs.serverRevoked] })),
      ]),
      revokedChain,
      undefined,
    ],
    [
      'CA re-keyed, issuer not in the chain: every CRL of that name',
      () => RevocationSet.build([dev, { x509: new X509Certificate(readFileSync(forgedDevCa().cert)), files: ['/ca/c0ffee00.1'] }], [
        src('/ca/c0ffee00.r0', makeCrl({})),
        src('/ca/c0ffee00.r1', makeCrl({ signer: forgedDevCa(), revoke: [certs.serverRevoked] })),
      ]),
      [der(certs.serverRevoked)],
      'CERT_REVOKED',
    ],
  ];
  for (const [what, build, chain, code, re] of cases) {
    it(what, () => {
      const r = build().check(chain, Date.now(), 'peer.example');
      assert.equal(r?.code, code, r?.message);
      if (re !== undefined) assert.match(r?.message ?? '', re);
      if (r !== undefined) assert.match(r.message, /peer\.example/);
    });
  }

  it('warnings and problems name the files; epoch counts passed CRL times', () => {
    const set = RevocationSet.build([dev], [
      src('/ca/deadbeef.r0', 'garbage'),
      src('/ca/x.r0', makeCrl({ signer: { cert: certs.rogueCa, key: certs.rogueCaKey } })),
      src('/ca/c0ffee00.r0', makeCrl({ lastUpdate: new Date(now - DAY), nextUpdate: new Date(now + DAY) })),
    ]);
    assert.equal(set.warnings.length, 2);
    assert.match(set.warnings[0] ?? '', /deadbeef\.r0 is unusable/);
    assert.match(set.warnings[1] ?? '', /x\.r0: its issuer \/C=CZ\/O=rogue\/CN=rogue CA is not a trusted CA/);
    assert.deepEqual(set.problems(now), set.warnings);
    assert.equal(set.epoch(now - 2 * DAY), 0);
    assert.equal(set.epoch(now), 1);
    assert.equal(set.epoch(now + 2 * DAY), 2);
    assert.match(set.problems(now + 2 * DAY)[0] ?? '', /c0ffee00\.r0 of .* expired at/);
  });
});
