/**
 * Fuzz: daemon options (src/config/options.ts validateOptions,
 * validateEndpoint) and durations (src/config/duration.ts).
 */
import assert from 'node:assert/strict';
import { isAbsolute } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseDuration } from '../../src/config/duration.js';
import { validateEndpoint, validateOptions, WORKER_KINDS, type RawOptions } from '../../src/config/options.js';
import { attempt, check, hostPort, inWorker, jpErrorWith, total, weirdString } from './fuzz.js';

const configError = jpErrorWith('JP_CONFIG');
const ENV = { X509_USER_CERT: '/etc/c.pem', X509_USER_KEY: '/etc/k.pem', X509_CERT_DIR: '/etc/ca' };

const OPTION_KEYS = [
  'jpps', 'cert', 'key', 'CAdir', 'regMdir', 'dumpMdir', 'sandboxMdir', 'dumpSlaves', 'workers', 'pidfile', 'poll', 'store', 'allowDir', 'debug',
  'foreground', 'logFile', 'logLevel', 'concurrency', 'timeout', 'retryFirst', 'retryMax', 'giveUpAfter', 'ftpTls', 'ftpConnections', 'ftpTimeout',
  'jobmanConfig', 'jobmanMdir', 'jobmanClient',
];

const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNITS;
const unit = fc.constantFrom<Unit>('ms', 's', 'm', 'h', 'd');

/** What yargs (or a config file) can hand over: strings, numbers (NaN too), booleans, arrays, dotted objects. */
const flagValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    '', ' ', '0', '1', '2', '20', '21', '256', '257', '-1', '1.5', '5m', '30s', '500ms', '1h', '5d', '366d', '1e3', '0x10', 'abc', 'reg', 'reg,dump', 'jobman',
    'reg,,sandbox', 'nope', 'debug', 'trace', 'verbose', 'localhost:8900', 'host:0', 'host:65536', '[::1]:8900', 'https://jp.example.org:8900/',
    'ftp://x', '/abs/path', 'rel/path', 'a\0b', '~', '9'.repeat(400),
  ),
  fc.constantFrom(0, 1, 2, 20, 21, 256, -1, 1.5, NaN, Infinity, -Infinity, 1e300, Number.MAX_SAFE_INTEGER + 2, true, false, null),
  weirdString,
  fc.array(fc.oneof(fc.constantFrom('reg', 'dump', 'sandbox', 'jobman', '/a', 'b', '', 'x'), fc.integer()), { maxLength: 3 }),
  fc.dictionary(fc.constantFrom('a', 'b'), fc.constantFrom(1, 'x'), { noNullPrototype: true }),
);

const rawOptions: fc.Arbitrary<RawOptions> = fc.dictionary(fc.constantFrom(...OPTION_KEYS), flagValue, { maxKeys: 6, noNullPrototype: true });

describe('fuzz: validateOptions', () => {
  it('any flag values: options or a JP_CONFIG naming the flag, the rule and the value', () => {
    check(
      'options/any',
      fc.property(rawOptions, (raw) => {
        // A dotted yargs object shows as "[object Object]" in --workers: the flag and rule are still named.
        const v = attempt('validateOptions', raw, () => validateOptions(raw, ENV), configError, /"\[object Object\]"/);
        if (!v.ok) {
          assert.match(v.error.message, /^--[A-Za-z-]+( \(-[A-Za-z]\))?: .+, got /);
          return;
        }
        const o = v.value;
        for (const p of [o.cert, o.key, o.caDir, o.regMdir, o.dumpMdir, o.sandboxMdir, o.pidfile, ...o.allowDirs]) assert.ok(isAbsolute(p), p);
        for (const p of [o.store, o.logFile, o.jobmanConfig, o.jobmanMdir]) assert.ok(p === undefined || isAbsolute(p));
        assert.ok(o.workers.every((w) => (WORKER_KINDS as readonly string[]).includes(w)));
        assert.ok(Number.isInteger(o.dumpSlaves) && o.dumpSlaves >= 1 && o.dumpSlaves <= 20);
        assert.ok(Number.isInteger(o.concurrency) && o.concurrency >= 1 && o.concurrency <= 256);
        for (const ms of [o.pollMs, o.timeoutMs, o.ftpTimeoutMs, o.retry.firstDelayMs, o.retry.maxDelayMs, o.retry.giveUpAfterMs]) assert.ok(Number.isSafeInteger(ms) && ms >= 0, String(ms));
        assert.ok(o.retry.firstDelayMs <= o.retry.maxDelayMs);
        assert.ok(!o.workers.includes('jobman') || o.jobmanConfig !== undefined);
      }),
      1800,
    );
  });

  it('validateEndpoint: any string is returned unchanged or refused naming the flag', () => {
    check(
      'options/endpoint',
      fc.property(fc.oneof(weirdString, hostPort, hostPort.map((h) => `https://${h}/`), fc.string({ maxLength: 30 }), fc.constantFrom('[::1]:1', '[zz]:1', 'h:00000', 'h:99999', 'http://', 'https://:1/')), (s) => {
        const v = attempt('validateEndpoint', s, () => validateEndpoint(s, '--jpps (-p)'), configError);
        if (v.ok) assert.equal(v.value, s);
        else assert.match(v.error.message, /^--jpps \(-p\): must be host:port \(port 1-65535\) or an http\(s\) URL, got /);
      }),
      1500,
    );
  });
});

describe('fuzz: parseDuration', () => {
  it('any string: undefined or a safe non-negative integer of ms; never throws', () => {
    const durationish = fc
      .tuple(fc.constantFrom('', ' ', '\t', '-', '+', '.', '0', '1.', '.5'), fc.oneof(fc.nat(), fc.double(), fc.constantFrom('9'.repeat(30), '1e3', 'Infinity', 'NaN')), fc.constantFrom('', ' ', 'ms', 's', 'm', 'h', 'd', 'S', 'min', 'ms ', 'dd', '\n'))
      .map(([a, n, u]) => `${a}${String(n)}${u}`);
    check(
      'duration/any-string',
      fc.property(fc.oneof(weirdString, durationish, fc.string({ maxLength: 20 })), unit, (s, bare) => {
        const ms = total('parseDuration', s, () => parseDuration(s, bare));
        if (ms !== undefined) assert.ok(Number.isSafeInteger(ms) && ms >= 0, `${JSON.stringify(s)} → ${ms}`);
      }),
      1800,
    );
  });

  it('format ms with a unit (integer or with decimals, blanks around) and parse back', () => {
    check(
      'duration/round-trip',
      fc.property(fc.nat({ max: 100_000_000 }), unit, unit, fc.constantFrom('', ' ', '  '), (n, u, bare, pad) => {
        assert.equal(parseDuration(`${pad}${n}${pad}${u}${pad}`, bare), n * UNITS[u]);
        assert.equal(parseDuration(`${n}`, bare), n * UNITS[bare]);
        // ms written in seconds with three decimals.
        assert.equal(parseDuration(`${Math.floor(n / 1000)}.${String(n % 1000).padStart(3, '0')}s`), n);
        assert.equal(parseDuration(n, bare), n * UNITS[bare]);
      }),
      1200,
    );
  });

  it('adversarial: huge numbers of every unit are refused, not rounded to unsafe values', () => {
    for (const s of ['9'.repeat(400), `${'9'.repeat(20)}d`, '104249992d', `${Number.MAX_SAFE_INTEGER}s`, `1${'0'.repeat(308)}ms`]) {
      assert.equal(parseDuration(s), undefined, s);
    }
    assert.equal(parseDuration('104249991d'), 104249991 * 86_400_000);
    assert.equal(parseDuration(`${'0'.repeat(10_000_000)}1s`), 1000);
  });

  // BUG (low: flag/config values only, see report): the duration regex has
  // two \s* around an optional unit, so "1<N blanks>x" backtracks O(N²):
  // 64 KiB of blanks costs ~5 s. Hang guard: 3 parses within 3 s.
  it('fixed: a duration with a long run of blanks is refused in linear time', async () => {
    const r = await inWorker(new URL('../../src/config/duration.js', import.meta.url).href, 'parseDuration', [`1${' '.repeat(65_000)}x`], 3, 3000);
    assert.equal(r, undefined);
  });

  // BUG (minor, see report): the number overload does not check the result
  // like the string one does: parseDuration(1e306, 'd') is Infinity and
  // parseDuration(2 ** 60, 's') an unsafe integer, instead of undefined.
  it('fixed: parseDuration(number) returns undefined or a safe integer', () => {
    check(
      'duration/any-number',
      fc.property(fc.double({ min: 0, noNaN: true }), unit, (n, bare) => {
        const ms = parseDuration(n, bare);
        assert.ok(ms === undefined || Number.isSafeInteger(ms), `${n} ${bare} → ${ms}`);
      }),
      900,
    );
  });
});
