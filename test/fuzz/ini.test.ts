/**
 * Fuzz: the configparser-style INI reader (src/config/ini.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_SECTION, IniSyntaxError, parseIni, parseIniBoolean, sectionView, type IniFile } from '../../src/config/ini.js';
import { anyString, attempt, check, mutated, soup, total, weirdString } from './fuzz.js';

const iniError = (e: unknown): boolean => e instanceof IniSyntaxError;

type Entry = readonly [key: string, lines: readonly string[]];
interface Model {
  readonly defaults: readonly Entry[];
  readonly sections: readonly (readonly [name: string, entries: readonly Entry[]])[];
}

const pick = (chars: string, extra: readonly string[] = []): fc.Arbitrary<string> => fc.constantFrom(...chars, ...extra);

/** Keys: no delimiter, no leading comment/section character, no surrounding blanks; mixed case. */
const keyArb = fc
  .string({ unit: fc.oneof({ weight: 8, arbitrary: pick('abcXYZ_09.-') }, { weight: 1, arbitrary: pick(' #;[]%$', ['ž', 'É', '日']) }), minLength: 1, maxLength: 12 })
  .map((s) => s.trim())
  .filter((k) => k.length > 0 && !/^[#;[]/.test(k));

/** One line of a value: anything but an inline comment (`;`/`#` after a blank or first) and surrounding blanks. */
const valueLine = fc
  .string({
    unit: fc.oneof(
      { weight: 6, arbitrary: pick('abcXYZ019 ./_-') },
      { weight: 2, arbitrary: pick('=:;#%[]"\'\\$@?&', ['ž', '😀', '\u00a0', 'pwd=a;b', 'http://h:1/p#frag']) },
    ),
    maxLength: 30,
  })
  .map((s) => s.trim())
  // A leading ';'/'#' after `key = ` is an inline comment too (as in configparser).
  .filter((v) => v === v.trim() && !/\s[;#]/.test(v) && !/^[;#]/.test(v));

const contLine = valueLine.filter((v) => v.length > 0);

const entry: fc.Arbitrary<Entry> = fc.tuple(keyArb, valueLine, fc.array(contLine, { maxLength: 2 })).map(([k, first, rest]) => [k, [first, ...rest]] as const);

const uniqueEntries = fc.uniqueArray(entry, { selector: ([k]) => k.toLowerCase(), maxLength: 5 });

const sectionName = fc
  .string({ unit: fc.oneof({ weight: 8, arbitrary: pick('abcXYZ_09.-') }, { weight: 1, arbitrary: pick(' [;#=:', ['ž']) }), minLength: 1, maxLength: 12 })
  .map((s) => s.trim())
  .filter((n) => n.length > 0 && n !== DEFAULT_SECTION);

const model: fc.Arbitrary<Model> = fc.record({
  defaults: uniqueEntries,
  sections: fc.uniqueArray(fc.tuple(sectionName, uniqueEntries), { selector: ([n]) => n, maxLength: 4 }),
});

interface Style {
  readonly eol: string;
  readonly bom: boolean;
  readonly defaultAt: number;
  readonly knobs: readonly number[];
}
const style: fc.Arbitrary<Style> = fc.record({
  eol: fc.constantFrom('\n', '\r\n', '\r'),
  bom: fc.boolean(),
  defaultAt: fc.nat(),
  knobs: fc.array(fc.nat({ max: 15 }), { minLength: 16, maxLength: 16 }),
});

function render(m: Model, s: Style): string {
  let k = 0;
  const knob = (): number => s.knobs[k++ % s.knobs.length] ?? 0;
  const out: string[] = [];
  const comment = (): void => {
    const c = knob();
    if (c === 1) out.push('# a comment = with: delimiters');
    else if (c === 2) out.push('; another [comment]');
    else if (c === 3) out.push('');
    else if (c === 4) out.push('   \t');
  };
  const entries = (es: readonly Entry[]): void => {
    for (const [key, lines] of es) {
      comment();
      const d = knob() % 2 === 0 ? '=' : ':';
      const pad = [' ', '', '\t', '  '][knob() % 4] ?? '';
      const inline = knob() % 5 === 0 ? ` ${knob() % 2 === 0 ? ';' : '#'} inline = comment` : '';
      out.push(`${key}${pad}${d}${pad}${lines[0] ?? ''}${inline}`);
      for (const c of lines.slice(1)) out.push(`${knob() % 2 === 0 ? '    ' : '\t'}${c}${knob() % 4 === 0 ? ' ; cont comment' : ''}`);
    }
  };
  const header = (name: string): void => {
    comment();
    // An indented line right after a value continues it, so an indented header follows a blank line.
    if (knob() % 3 === 0) out.push('', ` [${name}]`);
    else out.push(`[${knob() % 3 === 0 ? ' ' : ''}${name}]${knob() % 4 === 0 ? '  ; header comment' : ''}`);
  };
  const blocks: (() => void)[] = m.sections.map(([name, es]) => () => {
    header(name);
    entries(es);
  });
  if (m.defaults.length > 0 || s.defaultAt % 2 === 0) {
    blocks.splice(s.defaultAt % (blocks.length + 1), 0, () => {
      header(DEFAULT_SECTION);
      entries(m.defaults);
    });
  }
  blocks.forEach((b) => b());
  comment();
  return (s.bom ? '\ufeff' : '') + out.join(s.eol) + (knob() % 2 === 0 ? s.eol : '');
}

function expected(m: Model): { defaults: [string, string][]; sections: [string, [string, string][]][] } {
  const conv = (es: readonly Entry[]): [string, string][] => es.map(([k, lines]) => [k.toLowerCase(), lines.join('\n')]);
  return { defaults: conv(m.defaults), sections: m.sections.map(([n, es]) => [n, conv(es)]) };
}

function actual(ini: IniFile): { defaults: [string, string][]; sections: [string, [string, string][]][] } {
  return { defaults: [...ini.defaults], sections: [...ini.sections].map(([n, es]) => [n, [...es]]) };
}

const TOKENS = ['[', ']', '[DEFAULT]', '[s]', '=', ':', ';', '#', ' ', '\t', '\n', '\r\n', '\r', 'key', 'KEY', ' ; c', '\ufeff', '\0', '%(x)s', '    cont'];

describe('fuzz: parseIni', () => {
  it('any text: an IniFile or an IniSyntaxError with a line number in range and a reason', () => {
    const anyText = fc.oneof(
      weirdString,
      anyString(200),
      soup(TOKENS).map((b) => Buffer.from(b).toString('utf8')),
      mutated(fc.tuple(model, style).map(([m, s]) => render(m, s)), TOKENS).map((b) => b.toString('utf8')),
    );
    check(
      'ini/any-input',
      fc.property(anyText, (text) => {
        const v = attempt('parseIni', text, () => parseIni(text), iniError);
        if (!v.ok) {
          const e = v.error as IniSyntaxError;
          const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/).length;
          assert.ok(Number.isInteger(e.line) && e.line >= 1 && e.line <= lines, `line ${e.line} of ${lines}`);
          assert.match(e.message, /^line \d+: \S/);
          return;
        }
        for (const map of [v.value.defaults, ...v.value.sections.values()]) {
          for (const key of map.keys()) assert.ok(key.length > 0 && key === key.toLowerCase() && key === key.trim(), JSON.stringify(key));
        }
        for (const name of v.value.sections.keys()) {
          assert.ok(name.length > 0 && name === name.trim() && name !== DEFAULT_SECTION);
          total('sectionView', name, () => sectionView(v.value, name));
        }
      }),
      1800,
    );
  });

  it('generated sections/keys/values rendered with comments, both delimiters, continuations, CRLF/CR, BOM parse back equal', () => {
    check(
      'ini/round-trip',
      fc.property(model, style, (m, s) => {
        const text = render(m, s);
        assert.deepEqual(actual(parseIni(text)), expected(m), `text ${JSON.stringify(text)}`);
      }),
      1500,
    );
  });

  it('[DEFAULT] keys are inherited, own keys win', () => {
    check(
      'ini/default-inheritance',
      fc.property(model, style, (m, s) => {
        const ini = parseIni(render(m, s));
        const exp = expected(m);
        for (const [name, own] of exp.sections) {
          assert.deepEqual(Object.fromEntries(sectionView(ini, name) ?? []), { ...Object.fromEntries(exp.defaults), ...Object.fromEntries(own) });
        }
      }),
      600,
    );
  });

  it('parseIniBoolean is total and exact', () => {
    check(
      'ini/boolean',
      fc.property(fc.oneof(weirdString, fc.constantFrom('1', 'yes', 'TRUE', ' On ', '0', 'no', 'False', 'off', 'y', 'tru')), (s) => {
        const b = total('parseIniBoolean', s, () => parseIniBoolean(s));
        const v = s.trim().toLowerCase();
        assert.equal(b, ['1', 'yes', 'true', 'on'].includes(v) ? true : ['0', 'no', 'false', 'off'].includes(v) ? false : undefined);
      }),
      900,
    );
  });

  it('adversarial: 10 MB values, big files, NUL, lone CRs, huge continuation, duplicate keys late in a big file', () => {
    const many = `[s]\n${Array.from({ length: 50_000 }, (_, i) => `k${i} = v${i} ; c`).join('\n')}\n`;
    assert.ok(many.length > 800_000);
    assert.equal(parseIni(many).sections.get('s')?.size, 50_000);
    const longValue = `[s]\nk = ${'x'.repeat(10 * 1024 * 1024)}\n`;
    assert.equal(parseIni(longValue).sections.get('s')?.get('k')?.length, 10 * 1024 * 1024);
    const spaces = `[s]\nk = a${' '.repeat(1 << 20)}b${' '.repeat(1 << 20)}\n`;
    assert.equal(parseIni(spaces).sections.get('s')?.get('k')?.length, (1 << 20) + 2);
    const cont = `[s]\nk = a\n${'  more\n'.repeat(50_000)}`;
    assert.equal(parseIni(cont).sections.get('s')?.get('k')?.split('\n').length, 50_001);
    const dup = `${many}k7 = again\n`;
    const v = attempt('parseIni duplicate', dup, () => parseIni(dup), iniError);
    assert.ok(!v.ok && v.error.message === `line 50002: key "k7" appears twice in the same section`, v.ok ? 'accepted' : v.error.message);
    const bracket = `[${'['.repeat(1 << 20)}`;
    const b = attempt('parseIni brackets', bracket, () => parseIni(bracket), iniError);
    assert.ok(!b.ok && /bad section header/.test(b.error.message));
    assert.equal(parseIni('[s]\rk=v\r\r[t]\rk=w').sections.get('t')?.get('k'), 'w');
    assert.equal(parseIni('[s]\nk = a\0b\n').sections.get('s')?.get('k'), 'a\0b');
  });
});
