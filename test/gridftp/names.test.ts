/**
 * Pure parts of the GridFTP client, from tables: the server name check as
 * GSI's default (hybrid) comparison does it, the expected-subject
 * comparison (-ds), and the PASV/EPSV reply parsers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostMismatch, sameSubject, splitSlashDn, type CertificateNames } from '../../src/gridftp/identity.js';
import { parseEpsv, parsePasv } from '../../src/gridftp/data-channel.js';

const names = (subject: string, dnsNames: string[] = [], ipAddresses: string[] = []): CertificateNames => ({
  subject,
  dnsNames,
  ipAddresses,
  commonNames: splitSlashDn(subject)
    .filter((p) => p.startsWith('CN='))
    .map((p) => p.slice(3)),
});

describe('gridftp server name check', () => {
  const cases: Array<{ name: string; cert: CertificateNames; host: string; ok: boolean }> = [
    { name: 'CN=host/<fqdn>', cert: names('/O=Grid/CN=host/jp.example.org'), host: 'jp.example.org', ok: true },
    { name: 'CN=<fqdn>', cert: names('/O=Grid/CN=jp.example.org'), host: 'jp.example.org', ok: true },
    { name: 'CN=ftp/<fqdn> (any service, hybrid mode)', cert: names('/O=Grid/CN=ftp/jp.example.org'), host: 'jp.example.org', ok: true },
    { name: 'letter case and a trailing dot', cert: names('/O=Grid/CN=host/JP.Example.org'), host: 'jp.example.org.', ok: true },
    { name: 'the last CN counts', cert: names('/O=Grid/CN=host/jp.example.org/CN=other.example.org'), host: 'jp.example.org', ok: false },
    { name: 'other host', cert: names('/O=Grid/CN=host/wrong.example'), host: 'jp.example.org', ok: false },
    { name: 'a suffix is not a match', cert: names('/O=Grid/CN=host/example.org'), host: 'jp.example.org', ok: false },
    { name: 'a person is no host', cert: names('/O=Grid/CN=Jane Doe'), host: 'jp.example.org', ok: false },
    { name: 'SAN dNSName', cert: names('/O=Grid/CN=something', ['jp.example.org']), host: 'jp.example.org', ok: true },
    { name: 'SAN wildcard, left-most label', cert: names('/O=Grid/CN=something', ['*.example.org']), host: 'jp.example.org', ok: true },
    { name: 'SAN wildcard covers one label only', cert: names('/O=Grid/CN=something', ['*.org']), host: 'jp.example.org', ok: false },
    { name: 'SAN elsewhere, CN matches (hybrid)', cert: names('/O=Grid/CN=host/jp.example.org', ['other.example.org']), host: 'jp.example.org', ok: true },
    { name: 'IP address in SAN', cert: names('/O=Grid/CN=x', [], ['127.0.0.1']), host: '127.0.0.1', ok: true },
    { name: 'IP address not in SAN', cert: names('/O=Grid/CN=host/localhost', ['localhost']), host: '127.0.0.1', ok: false },
    { name: 'IPv6 in brackets', cert: names('/O=Grid/CN=x', [], ['::1']), host: '[::1]', ok: true },
  ];
  for (const c of cases) {
    it(`${c.ok ? 'accepts' : 'refuses'}: ${c.name}`, () => {
      const why = hostMismatch(c.cert, c.host);
      if (c.ok) assert.equal(why, undefined);
      else {
        assert.match(why ?? '', /^wrong host name: the GridFTP server's certificate .* does not name /);
        assert.ok(why?.includes(c.cert.subject));
      }
    });
  }

  it('splits slash DNs keeping a / inside a value', () => {
    assert.deepEqual(splitSlashDn('/C=CZ/O=jp grid test/CN=host/localhost'), ['C=CZ', 'O=jp grid test', 'CN=host/localhost']);
    assert.deepEqual(splitSlashDn('/DC=org/DC=ex/CN=a/b/c/emailAddress=x@y'), ['DC=org', 'DC=ex', 'CN=a/b/c', 'emailAddress=x@y']);
  });

  const subjects: Array<[string, string, boolean]> = [
    ['/C=CZ/O=jp grid test/CN=host/wrong.example', '/C=CZ/O=jp grid test/CN=host/wrong.example', true],
    ['/C=CZ/O=jp grid test/CN=host/wrong.example', '/c=cz/o=JP  grid test/CN=host/Wrong.Example', true],
    ['/C=CZ/O=jp grid test/CN=host/wrong.example', '/C=CZ/O=jp grid test/CN=host/wrong.example/CN=x', false],
    ['/C=CZ/O=jp grid test/CN=host/wrong.example', '/C=CZ/O=other/CN=host/wrong.example', false],
    ['/O=a/emailAddress=x@y', '/O=a/E=x@y', true],
    ['/O=a/CN=host/x', '/O=a/CN=host/y', false],
  ];
  for (const [a, b, same] of subjects) {
    it(`subjects ${JSON.stringify(a)} ${same ? '=' : '≠'} ${JSON.stringify(b)}`, () => {
      assert.equal(sameSubject(a, b), same);
    });
  }
});

describe('gridftp passive replies', () => {
  const pasv: Array<[string, string, { host: string; port: number } | RegExp]> = [
    ['Entering Passive Mode (127,0,0,1,137,8)', 'localhost', { host: '127.0.0.1', port: 35080 }],
    ['Entering Passive Mode 10,1,2,3,0,21', 'h', { host: '10.1.2.3', port: 21 }],
    ['Entering Passive Mode (0,0,0,0,4,1)', 'gridftp.example.org', { host: 'gridftp.example.org', port: 1025 }],
    ['Entering Passive Mode (127,0,0,1,0,0)', 'h', /port 0/],
    ['Entering Passive Mode (300,0,0,1,1,1)', 'h', /bad address/],
    ['Entering Passive Mode', 'h', /no address/],
  ];
  for (const [text, host, want] of pasv) {
    it(`PASV ${JSON.stringify(text)}`, () => {
      if (want instanceof RegExp) assert.throws(() => parsePasv(text, host), want);
      else assert.deepEqual(parsePasv(text, host), want);
    });
  }
  const epsv: Array<[string, { host: string; port: number } | RegExp]> = [
    ['Entering Extended Passive Mode (|||35081|)', { host: 'ctl', port: 35081 }],
    ['Entering Extended Passive Mode (!!!2811!)', { host: 'ctl', port: 2811 }],
    ['Entering Extended Passive Mode (|||0|)', /no port/],
    ['Entering Extended Passive Mode (|||70000|)', /no port/],
    ['Entering Extended Passive Mode (|1|2|)', /no port/],
  ];
  for (const [text, want] of epsv) {
    it(`EPSV ${JSON.stringify(text)}`, () => {
      if (want instanceof RegExp) assert.throws(() => parseEpsv(text, 'ctl'), want);
      else assert.deepEqual(parseEpsv(text, 'ctl'), want);
    });
  }
});
