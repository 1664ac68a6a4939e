import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IniSyntaxError, parseIni, parseIniBoolean, sectionView } from '../../src/config/ini.js';

const obj = (m: ReadonlyMap<string, string> | undefined): Record<string, string> | undefined =>
  m === undefined ? undefined : Object.fromEntries(m);

test('ini: valid files', () => {
  const cases: { text: string; section: string; want: Record<string, string> | undefined }[] = [
    { text: '[a]\nx=1\n', section: 'a', want: { x: '1' } },
    { text: '[a]\nx : 1\n', section: 'a', want: { x: '1' } },
    { text: '[a]\n  Key  =  spaced value  \n', section: 'a', want: { key: 'spaced value' } },
    { text: '[a]\npostURL_product=https://x/y.php\n', section: 'a', want: { posturl_product: 'https://x/y.php' } },
    { text: '[a]\nx=mom          ; the section\n', section: 'a', want: { x: 'mom' } },
    { text: '[a]\nx=v # note\n', section: 'a', want: { x: 'v' } },
    { text: '[a]\npwd=se;cr#et\n', section: 'a', want: { pwd: 'se;cr#et' } },
    { text: '[a]\nurl=postgres://u:p@h/db?x=1#frag\n', section: 'a', want: { url: 'postgres://u:p@h/db?x=1#frag' } },
    { text: '[a]\nx=a=b:c\n', section: 'a', want: { x: 'a=b:c' } },
    { text: '[a]\nx=%(y)s\n', section: 'a', want: { x: '%(y)s' } },
    { text: '[a]\nx=\n', section: 'a', want: { x: '' } },
    { text: '# c\n; c\n[a]\n# c\nx=1\n', section: 'a', want: { x: '1' } },
    { text: '\uFEFF[a]\r\nx=1\r\n', section: 'a', want: { x: '1' } },
    { text: '[a]\nx=line1\n  line2\n', section: 'a', want: { x: 'line1\nline2' } },
    { text: '[DEFAULT]\nd=1\nx=0\n[a]\nx=2\n', section: 'a', want: { d: '1', x: '2' } },
    { text: '[DEFAULT]\nd=1\n[a]\n', section: 'DEFAULT', want: { d: '1' } },
    { text: '[a]\nx=1\n', section: 'b', want: undefined },
    { text: '[ a b ]\nx=1\n', section: 'a b', want: { x: '1' } },
    { text: '[a.b]\nx=1\n', section: 'a.b', want: { x: '1' } },
    { text: '[a]\nk[]=1\n', section: 'a', want: { 'k[]': '1' } },
    { text: '[a]\nx=true\n', section: 'a', want: { x: 'true' } },
  ];
  for (const c of cases) {
    assert.deepEqual(obj(sectionView(parseIni(c.text), c.section)), c.want, JSON.stringify(c.text));
  }
});

test('ini: section names are case-sensitive, keys are not', () => {
  const ini = parseIni('[Mom]\nUSR=a\n');
  assert.equal(sectionView(ini, 'mom'), undefined);
  assert.equal(sectionView(ini, 'Mom')?.get('usr'), 'a');
});

test('ini: malformed files name the line', () => {
  const cases: { text: string; line: number; re: RegExp }[] = [
    { text: 'x=1\n', line: 1, re: /before any \[section\]/ },
    { text: '[a]\nnovalue\n', line: 2, re: /expected "key = value"/ },
    { text: '[a\nx=1\n', line: 1, re: /bad section header/ },
    { text: '[]\n', line: 1, re: /bad section header|empty section/ },
    { text: '[a]\n=1\n', line: 2, re: /empty key/ },
    { text: '[a]\nx=1\n[a]\n', line: 3, re: /appears twice/ },
    { text: '[a]\nx=1\nX=2\n', line: 3, re: /key "x" appears twice/ },
    { text: '[a] junk\n', line: 1, re: /bad section header/ },
  ];
  for (const c of cases) {
    assert.throws(() => parseIni(c.text), (e: unknown) => {
      assert.ok(e instanceof IniSyntaxError, c.text);
      assert.equal(e.line, c.line, c.text);
      assert.match(e.message, c.re, c.text);
      return true;
    });
  }
});

test('ini: configparser booleans', () => {
  for (const t of ['1', 'yes', 'True', 'TRUE', 'on']) assert.equal(parseIniBoolean(t), true, t);
  for (const f of ['0', 'no', 'False', 'off']) assert.equal(parseIniBoolean(f), false, f);
  for (const x of ['', 'y', 'truee', '2']) assert.equal(parseIniBoolean(x), undefined, x);
});
