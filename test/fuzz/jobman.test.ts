/**
 * Fuzz: jobman request bodies (src/jobman/request.ts) and jobman's
 * config.ini (src/jobman/config.ts).
 */
import assert from 'node:assert/strict';
import { isAbsolute } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { JpError } from '../../src/core/errors.js';
import { parseJobmanConfig } from '../../src/jobman/config.js';
import { badScriptName, PARAM_NAME_RE, parseRequest, type Bindable, type RequestStep } from '../../src/jobman/request.js';
import { anyString, attempt, check, enc, jpErrorWith, mutated, soup, weirdString } from './fuzz.js';

const badRequest = jpErrorWith('JP_BAD_REQUEST');
const configError = jpErrorWith('JP_CONFIG');

// ---------------------------------------------------------------- requests

const scriptName = fc
  .string({ unit: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...'abcXYZ019_-.') }, { weight: 1, arbitrary: fc.constantFrom(' ', 'ž', '日', '😀', '$', '#') }), minLength: 1, maxLength: 40 })
  .filter((n) => badScriptName(n) === undefined);

const paramName = fc
  .tuple(fc.constantFrom(...'abcXYZ_'), fc.string({ unit: fc.constantFrom(...'abcXYZ019_$#'), maxLength: 20 }))
  .map(([a, b]) => a + b)
  .filter((n) => n !== '__proto__');

const bindable: fc.Arbitrary<Bindable> = fc.oneof(
  anyString(30),
  fc.string({ maxLength: 10 }),
  fc.constantFrom('', '\0', '\u2028', '"quoted"', '\\', "O'Brien", '1e999', '-0'),
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d) || Number.isSafeInteger(d)).map((d) => (Object.is(d, -0) ? 0 : d)),
  fc.boolean(),
  fc.constant(null),
);

const row = fc
  .uniqueArray(fc.tuple(paramName, bindable), { selector: ([k]) => k.toLowerCase(), maxLength: 6 })
  .map((entries) => Object.fromEntries(entries) as Record<string, Bindable>);

const request = fc.array(fc.record({ sql: scriptName, rows: fc.array(row, { maxLength: 4 }) }), { maxLength: 4 });

/** Step-shaped junk: valid and invalid script names, rows and values of every JSON type. */
const requestLike = fc.array(
  fc.dictionary(
    fc.constantFrom('sql', 'rows', 'SQL', 'extra', '__proto__'),
    fc.oneof(
      scriptName,
      weirdString,
      fc.constantFrom('', '.', '..', 'a/b', 'a\\b', '.hidden', 'x'.repeat(201), 'a..b', '../x'),
      fc.array(fc.oneof(row, fc.dictionary(fc.oneof(paramName, fc.string(), fc.constantFrom('__proto__', '1a', 'a-b', 'A', 'a')), fc.jsonValue({ maxDepth: 2 })), fc.jsonValue({ maxDepth: 1 })), { maxLength: 3 }),
      fc.jsonValue({ maxDepth: 2 }),
    ),
  ),
  { maxLength: 3 },
);

const TOKENS = ['[', ']', '{', '}', '"sql"', '"rows"', ':', ',', '"x"', '1e999', '-0', '12345678901234567890', 'null', 'true', '"\\u0000"', '"\\ud800"', '\ufeff', '"__proto__"'];

function steps(req: readonly { sql: string; rows: readonly Record<string, Bindable>[] }[]): RequestStep[] {
  return req.map((s, seq) => ({ seq, sql: s.sql, rows: s.rows }));
}

describe('fuzz: parseRequest', () => {
  it('any body: steps or a permanent JP_BAD_REQUEST naming the JSON path', () => {
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      requestLike.map((v) => JSON.stringify(v)),
      soup(TOKENS).map((b) => Buffer.from(b)),
      mutated(request.map((r) => JSON.stringify(r)), TOKENS),
      weirdString,
    );
    check(
      'jobman/request-any',
      fc.property(body, (b) => {
        // "found a undefined": wording bug, see the skipped test below.
        const v = attempt('parseRequest', b, () => parseRequest(b), badRequest, /, found a undefined$/);
        if (!v.ok) {
          // Keys are shown unquoted in the path (a key " " gives "[0]. : …").
          assert.match(v.error.message, /^bad jobman request: (body|\[\d+\].*?): \S/);
          assert.equal((v.error as JpError).temporary, false);
          return;
        }
        v.value.forEach((s, i) => {
          assert.equal(s.seq, i);
          assert.equal(badScriptName(s.sql), undefined);
          for (const r of s.rows) {
            for (const [k, x] of Object.entries(r)) {
              assert.match(k, PARAM_NAME_RE);
              assert.ok(x === null || ['string', 'boolean'].includes(typeof x) || (typeof x === 'number' && Number.isFinite(x)), `${k}: ${String(x)}`);
            }
          }
        });
      }),
      1800,
    );
  });

  it('generated requests (JSON, any indentation, Buffer or string, BOM) parse back to the same steps and rows', () => {
    check(
      'jobman/request-round-trip',
      fc.property(request, fc.constantFrom(undefined, 1, '\t'), fc.boolean(), fc.boolean(), (req, indent, asBuffer, bom) => {
        const text = `${bom ? '\ufeff' : ''}${JSON.stringify(req, null, indent)}`;
        assert.deepEqual(parseRequest(asBuffer ? enc(text) : text), steps(req));
      }),
      1200,
    );
  });

  // BUG (minor wording, see report): a step without "sql" or "rows" is
  // refused with "... found a undefined" (typeName(undefined)); it should
  // say the key is missing.
  it('fixed: a step without sql/rows is refused as missing, not "found a undefined"', () => {
    for (const [body, path] of [['[{}]', '[0].sql'], ['[{"sql":"s"}]', '[0].rows']] as const) {
      const v = attempt('parseRequest', body, () => parseRequest(body), badRequest);
      assert.ok(!v.ok);
      assert.ok(v.error.message.startsWith(`bad jobman request: ${path}: `), v.error.message);
      assert.doesNotMatch(v.error.message, /undefined/);
      assert.match(v.error.message, /missing/);
    }
  });

  it('adversarial: deep nesting, 10 MB, huge numbers, invalid UTF-8, NUL, duplicate and reserved keys', () => {
    const refused = (name: string, body: string | Buffer, re: RegExp): void => {
      const v = attempt(name, body, () => parseRequest(body), badRequest);
      assert.ok(!v.ok, `${name} accepted`);
      assert.match(v.error.message, re, name);
    };
    refused('deeply nested arrays', `${'['.repeat(100_000)}${']'.repeat(100_000)}`, /^bad jobman request: (body: not valid JSON|\[0\]: a step must be an object)/);
    refused('deeply nested objects', `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`, /^bad jobman request: body: (not valid JSON|must be a JSON array)/);
    refused('deep value in a row', `[{"sql":"s","rows":[{"A":${'['.repeat(50_000)}${']'.repeat(50_000)}}]}]`, /\[0\]\.rows\[0\]\.A: values must be/);
    refused('unclosed nesting', '['.repeat(300_000), /body: not valid JSON/);
    refused('1e400', '[{"sql":"s","rows":[{"A":1e400}]}]', /\[0\]\.rows\[0\]\.A: number out of range/);
    refused('2^64', '[{"sql":"s","rows":[{"A":18446744073709551616}]}]', /beyond ±2\^53/);
    refused('a thousand digits', `[{"sql":"s","rows":[{"A":${'9'.repeat(1000)}}]}]`, /number out of range|beyond ±2\^53/);
    refused('invalid UTF-8', Buffer.concat([enc('[{"sql":"s","rows":[{"A":"'), Buffer.of(0xc3, 0x28), enc('"}]}]')]), /body: not valid UTF-8/);
    refused('NUL in a script name', '[{"sql":"a\\u0000b","rows":[]}]', /\[0\]\.sql: .*NUL/);
    refused('__proto__ row key', '[{"sql":"s","rows":[{"__proto__":{"x":1}}]}]', /reserved key name/);
    refused('__proto__ step key', '[{"sql":"s","rows":[],"__proto__":[]}]', /\[0\]\."__proto__": unknown key/);
    refused('keys differing in case', '[{"sql":"s","rows":[{"ab":1,"AB":2}]}]', /differs from key ab only in letter case/);
    refused('a 10 MB string', `"${'x'.repeat(10 * 1024 * 1024)}"`, /body: must be a JSON array of steps, found a string/);
    assert.deepEqual(parseRequest('[{"sql":"s","rows":[{"A":1,"A":2}]}]'), [{ seq: 0, sql: 's', rows: [{ A: 2 }] }], 'JSON: the last duplicate wins');
    assert.deepEqual(parseRequest('[{"sql":"s","rows":[{"A":"a\\u0000b","B":-0,"C":1e-400}]}]')[0]?.rows[0], { A: 'a\0b', B: -0, C: 0 });
    const big = JSON.stringify([{ sql: 'posupld', rows: Array.from({ length: 10_000 }, (_, i) => ({ ITEM: `1014303091143${i}`, LOC: '1001000189', TRAN_DATE: '2018-04-01', SALE_QTY: -10, SALE_AMT: 80.5, ERROR_MESSAGE: '' })) }]);
    assert.ok(big.length > 1_000_000);
    assert.equal(parseRequest(enc(big))[0]?.rows.length, 10_000);
  });
});

// ---------------------------------------------------------------- config.ini

const FILE = '/etc/jp/config.ini';

const VALUES = [
  '', 'x', '.', '..', '/abs/dir', 'rel/dir', '../up', 'sqlite', 'postgres', 'mysql', 'oracle', 'mariadb', 'sqlite3', 'postgresql', 'run', 'client', 'server',
  'True', 'maybe', 'postgres://u:p@h:5432/db', 'postgresql://h/db', 'mysql://h/db', 'mariadb://h/db', 'mariadb:h', 'mariadb://[::1', 'postgres://', 'http://x',
  'https://[::1]:1/p', 'ftp://x', 'sqlite:///abs.db', 'sqlite:rel.db', 'sqlite::memory:', ':memory:', '99999', '65536', '0', '5432', 'a b', '%zz', '[::1]',
  'h:1:2', '@', 's3:cr@t/%', 'ž', 'a\0b', 'messages', '1table', 'drop table', 'db.example.org', '00', '07', 'a/b',
];

const CONFIG_KEYS: Record<string, readonly string[]> = {
  DEFAULT: ['destination', 'resultdb', 'iqueue', 'oqueue', 'equeue', 'sub', 'statedir', 'mode'],
  mom: ['driver', 'url', 'url_product', 'url_develop', 'file', 'env', 'rowcommit', 'usr', 'pwd', 'host', 'host_develop', 'host_product', 'port', 'dbs', 'database', 'tns_name'],
  resultdb_mysql: ['host_develop', 'host', 'usr', 'pwd', 'dbs', 'url', 'table', 'port'],
  resultdb_postgres: ['url', 'table', 'usr', 'pwd'],
  resultdb_sqlite3: ['file', 'table'],
  client: ['postURL', 'postURL_develop', 'postURL_product'],
};

const configValue = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...VALUES) }, { weight: 1, arbitrary: anyString(20) });

/** A plausible config.ini: known sections and keys, values from a pool of good and bad ones. */
const configText = fc
  .record({
    sections: fc.subarray(Object.keys(CONFIG_KEYS), { minLength: 1 }),
    values: fc.array(configValue, { minLength: 64, maxLength: 64 }),
    present: fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
    destination: fc.constantFrom('mom', 'mom', 'DEFAULT', 'missing', ''),
  })
  .map(({ sections, values, present, destination }) => {
    let i = 0;
    const out: string[] = [];
    for (const s of sections) {
      out.push(`[${s}]`);
      if (s === 'DEFAULT') out.push(`destination = ${destination}`);
      for (const k of CONFIG_KEYS[s] ?? []) {
        const n = i++;
        if (present[n % present.length] === true) out.push(`${k} = ${(values[n % values.length] ?? '').replace(/[\r\n]/g, ' ')}`);
      }
    }
    return out.join('\n');
  });

const envArb = fc.constantFrom({}, { DAPHNE_ENV: 'PRODUCT' }, { DAPHNE_ENV: 'DEVELOP' }, { DAPHNE_ENV: 'product' });

describe('fuzz: parseJobmanConfig', () => {
  it('any file content (as read from disk: UTF-8 with replacement): a config or a JP_CONFIG naming the file', () => {
    const text = fc.oneof(
      configText,
      mutated(configText, ['[', ']', '=', '\n', ' ', '[DEFAULT]', 'driver', 'url', '://', '@', ':', '%']).map((b) => b.toString('utf8')),
      fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u).toString('utf8')),
    );
    check(
      'jobman/config-any',
      fc.property(text, envArb, (t, env) => {
        const v = attempt('parseJobmanConfig', t, () => parseJobmanConfig(t, FILE, env), configError);
        if (!v.ok) {
          assert.ok(v.error.message.startsWith(`${FILE}: `), v.error.message);
          return;
        }
        const c = v.value;
        for (const p of [c.iqueue, c.oqueue, c.equeue, c.statedir]) assert.ok(isAbsolute(p), p);
        for (const t2 of [c.destination?.target, c.resultdb.target]) {
          if (t2 === undefined) continue;
          if (t2.driver === 'sqlite') assert.ok(isAbsolute(t2.file));
          else assert.ok(URL.canParse(t2.url), t2.url);
        }
        if (c.mode === 'run') assert.ok(c.destination !== undefined);
        if (c.client !== undefined) assert.match(c.client.postUrl, /^https?:/);
        assert.match(c.resultdb.table, /^[A-Za-z_][A-Za-z0-9_]{0,62}$/);
      }),
      2100,
    );
  });

  // BUG (low, API only, see report): serverUrl() runs encodeURIComponent on
  // usr/pwd/dbs, which throws URIError on a lone surrogate. A file read as
  // UTF-8 never holds one, but parseJobmanConfig(text) is exported.
  it('fixed: a lone surrogate in usr/pwd/dbs is a JP_CONFIG, not a URIError', () => {
    for (const key of ['usr', 'pwd', 'dbs']) {
      const text = `[DEFAULT]\ndestination = mom\n[mom]\ndriver = postgres\nurl = postgres://h/db\n${key} = a\ud800b\n`;
      const v = attempt(`parseJobmanConfig ${key}`, text, () => parseJobmanConfig(text, FILE, {}), configError);
      if (!v.ok) assert.ok(v.error.message.includes(`[mom] ${key}`), v.error.message);
    }
  });

  it('secrets never appear in refusals', () => {
    const secret = 'Zq9-SECRET-pw';
    check(
      'jobman/config-secret',
      fc.property(configText, envArb, (t, env) => {
        const text = `${t}\n`.replace(/^pwd = .*$/m, `pwd = ${secret}`).replace(/^url = postgres:\/\/u:p@/m, `url = postgres://u:${secret}@`);
        try {
          parseJobmanConfig(text, FILE, env);
        } catch (e) {
          assert.ok(e instanceof JpError);
          assert.ok(!e.message.includes(secret), e.message);
        }
      }),
      900,
    );
  });
});
