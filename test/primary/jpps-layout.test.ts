/**
 * The real service's file layout for jp-primary-dev's gsiftp:// mode
 * (src/primary-dev/jpps-layout.ts) and the gsiftp:// base and destination
 * URLs (src/primary-dev/addresses.ts), from tables. Expected MD5s were
 * computed outside (python hashlib), week numbers by hand.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isJpError } from '../../src/core/errors.js';
import { encodePathSegment, makeDestinations, parseGridftpBase } from '../../src/primary-dev/addresses.js';
import { jppsFileName, jppsJobDir, ownerHash, regWeek, WEEK_SECONDS } from '../../src/primary-dev/jpps-layout.js';

describe('jpps layout', () => {
  const hashes: [string, string][] = [
    ['/C=CZ/O=jp-importer dev/CN=jp-importer client', 'fff75d2a8d51e78afdd45ca04ba35f49'],
    ['/DC=org/DC=example/CN=Jane Doe', '039f52f0382bb8dded243b74de368269'],
    ['/O=Grid/CN=Jiří Novák', '2041bedb5a502222597e6825070d10ac'],
  ];
  for (const [dn, md5] of hashes) {
    it(`owner directory of ${dn} is the lower-case hex MD5 of its UTF-8 bytes`, () => assert.equal(ownerHash(dn), md5));
  }

  const weeks: [string, number, number][] = [
    ['the epoch', 0, 0],
    ['the last millisecond of week 0', 604_799_999, 0],
    ['the first second of week 1', 604_800_000, 1],
    ['2024-03-15T12:00:00Z (1710504000 s)', Date.UTC(2024, 2, 15, 12), 2828],
    ['2024-03-20T23:59:59.999Z (last of week 2828)', Date.UTC(2024, 2, 20, 23, 59, 59, 999), 2828],
    ['2024-03-21T00:00:00Z (2829 × 604800 s)', Date.UTC(2024, 2, 21), 2829],
  ];
  for (const [what, ms, week] of weeks) {
    it(`week of ${what} = ${week}`, () => assert.equal(regWeek(ms), week));
  }
  it('a week is 604800 seconds', () => assert.equal(WEEK_SECONDS, 604_800));

  it('job directory: data/<md5 of owner>/<week>/<job unique>', () => {
    assert.equal(
      jppsJobDir('/DC=org/DC=example/CN=Jane Doe', Date.UTC(2024, 2, 15, 12), 'AbC-12_x'),
      'data/039f52f0382bb8dded243b74de368269/2828/AbC-12_x',
    );
  });

  const names: [string, string | undefined, string][] = [
    ['urn:org.glite.jp.primary:lb', undefined, 'urn:org.glite.jp.primary:lb'],
    ['urn:org.glite.jp.primary:lb', '', 'urn:org.glite.jp.primary:lb.'],
    ['urn:org.glite.jp.primary:isb', 'sandbox.tar', 'urn:org.glite.jp.primary:isb.sandbox.tar'],
    ['urn:org.glite.jp.primary:lb', 'x', 'urn:org.glite.jp.primary:lb.x'],
  ];
  for (const [cls, name, file] of names) {
    it(`file name of class ${cls}, name ${JSON.stringify(name)}: ${file}`, () => assert.equal(jppsFileName(cls, name), file));
  }
});

describe('gsiftp:// base (--gridftp-url, --gridftp-dir)', () => {
  const good: [string, string | undefined, string, string][] = [
    ['gsiftp://jp.example.org:2811/home/jpps/jpps', undefined, 'gsiftp://jp.example.org:2811/home/jpps/jpps/', '/home/jpps/jpps'],
    ['gsiftp://jp.example.org:2811/home/jpps/jpps/', undefined, 'gsiftp://jp.example.org:2811/home/jpps/jpps/', '/home/jpps/jpps'],
    ['gsiftp://localhost/srv/jp', '/data/jp', 'gsiftp://localhost/srv/jp/', '/data/jp'],
    ['gsiftp://[::1]:2811/srv/jp', undefined, 'gsiftp://[::1]:2811/srv/jp/', '/srv/jp'],
    ['gsiftp://h:1/srv/a%20b', undefined, 'gsiftp://h:1/srv/a%20b/', '/srv/a b'],
    // dot segments are resolved as in any URL: URL and directory stay the same place
    ['gsiftp://h:2811/srv/%2e%2e/etc', undefined, 'gsiftp://h:2811/etc/', '/etc'],
  ];
  for (const [url, dir, base, local] of good) {
    it(`${url}${dir === undefined ? '' : ` + ${dir}`} → ${base} on ${local}`, () => {
      assert.deepEqual(parseGridftpBase(url, dir), { url: base, dir: local });
    });
  }

  const bad: [string, RegExp][] = [
    ['ftp://h:21/srv', /scheme must be gsiftp/],
    ['gsiftp://h:2811', /directory other than \//],
    ['gsiftp://h:2811/', /directory other than \//],
    ['gsiftp://u:p@h:2811/srv', /no user or password/],
    ['gsiftp://h:2811/srv?x=1', /no query or fragment/],
    ['gsiftp://h:2811/srv/%00', /plain absolute directory/],
    ['gsiftp://h:2811/srv/%zz', /percent-encoding/],
    ['gsiftp:///srv', /no host/],
    ['not a url', /not a URL/],
  ];
  for (const [url, re] of bad) {
    it(`refuses ${url}`, () => {
      assert.throws(() => parseGridftpBase(url), (e: unknown) => isJpError(e, 'JP_CONFIG') && re.test(e.message) && e.message.includes('--gridftp-url'));
    });
  }
  it('refuses an empty --gridftp-dir', () => {
    assert.throws(() => parseGridftpBase('gsiftp://h/srv', ' '), (e: unknown) => isJpError(e, 'JP_CONFIG') && /--gridftp-dir/.test(e.message));
  });
});

describe('gsiftp:// destinations', () => {
  const d = makeDestinations('gsiftp://jp.example.org:2811/home/jpps/jpps/');
  const rel = 'data/039f52f0382bb8dded243b74de368269/2828/AbC-12_x/urn:org.glite.jp.primary:isb.a+b=c@d%e f';

  it('URL as the real service writes it (":" "+" "=" "@" unescaped), "%" and blanks escaped; and back', () => {
    const url = d.urlFor(rel);
    assert.equal(url, 'gsiftp://jp.example.org:2811/home/jpps/jpps/data/039f52f0382bb8dded243b74de368269/2828/AbC-12_x/urn:org.glite.jp.primary:isb.a+b=c@d%25e%20f');
    assert.equal(d.relPathOf(url), rel);
    // The path the uploader sends (decodeURIComponent of the URL path) is the file's path on the server.
    assert.equal(decodeURIComponent(new URL(url).pathname), `/home/jpps/jpps/${rel}`);
  });

  it('a fully escaped form of the same destination names the same file', () => {
    const escaped = `gsiftp://jp.example.org:2811/home/jpps/jpps/${rel.split('/').map(encodeURIComponent).join('/')}`;
    assert.equal(d.relPathOf(escaped), rel);
  });

  const outside: [string, string][] = [
    ['a path escaping the base with ..', 'gsiftp://jp.example.org:2811/home/jpps/jpps/data/x/%2e%2e/%2e%2e/%2e%2e/etc/passwd'],
    ['another directory', 'gsiftp://jp.example.org:2811/home/other/data/x/1/j/lb'],
    ['a sibling directory sharing the prefix', 'gsiftp://jp.example.org:2811/home/jpps/jpps2/data/x'],
    ['another scheme', 'ftp://jp.example.org:2811/home/jpps/jpps/data/x/1/j/lb'],
    ['the base itself', 'gsiftp://jp.example.org:2811/home/jpps/jpps/'],
    ['an empty segment', 'gsiftp://jp.example.org:2811/home/jpps/jpps/data//x'],
    ['a NUL', 'gsiftp://jp.example.org:2811/home/jpps/jpps/data/%00'],
    ['not a URL', 'data/x/1/j/lb'],
  ];
  for (const [what, url] of outside) {
    it(`names no file: ${what}`, () => assert.equal(d.relPathOf(url), undefined));
  }

  it('ftp:// destinations keep their full escaping', () => {
    assert.equal(makeDestinations('ftp://127.0.0.1:2121/').urlFor('AbC/a:b+c'), 'ftp://127.0.0.1:2121/AbC/a%3Ab%2Bc');
  });

  const segments: [string, string][] = [
    ['urn:org.glite.jp.primary:lb', 'urn:org.glite.jp.primary:lb'],
    ['a+b=c@d$e&f,g;h', 'a+b=c@d$e&f,g;h'],
    ['50%', '50%25'],
    ['a b?c#d', 'a%20b%3Fc%23d'],
    ['ž', '%C5%BE'],
  ];
  for (const [seg, enc] of segments) {
    it(`path segment ${JSON.stringify(seg)} → ${enc}`, () => {
      assert.equal(encodePathSegment(seg), enc);
      assert.equal(decodeURIComponent(enc), seg);
    });
  }
});
