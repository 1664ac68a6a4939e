/**
 * Fuzz: spool file names (src/queue/names.ts) and retry sidecars
 * (src/queue/retry-state.ts parseMeta/serializeMeta).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { badMessageName, claimName, generateName, parseClaimName, parseNameTime, sanitizeHost } from '../../src/queue/names.js';
import { afterFailure, DEFAULT_RETRY_POLICY, giveUpMeta, HISTORY_LIMIT, parseMeta, serializeMeta, type MessageMeta } from '../../src/queue/retry-state.js';
import { anyString, check, mutated, total, weirdString } from './fuzz.js';

const anyName = fc.oneof(
  weirdString,
  anyString(60),
  fc.string({ unit: fc.constantFrom(...'0123456789_.:@-/ab'), maxLength: 40 }),
  fc.constantFrom('1_2.h', '1234567890123_1.h', '1_1234567.h', '17_000001_5_9.host', 'x:0@h', 'x:01@h', 'x:99999999999@h', ':1@h', 'a:1@', 'a:1@h:2@g'),
);

const hostArb = fc.oneof(fc.string({ maxLength: 70 }), weirdString, fc.constantFrom('', '...', '.hidden', 'node-1.example.org', 'a/b:c@d e', 'ž'));
const pid = fc.integer({ min: 1, max: 2 ** 31 - 1 });

describe('fuzz: spool names', () => {
  it('parsers and checks are total on any name; what they accept is well formed', () => {
    check(
      'names/any',
      fc.property(anyName, (name) => {
        const t = total('parseNameTime', name, () => parseNameTime(name));
        if (t !== undefined) assert.ok(Number.isSafeInteger(t.sec) && t.sec >= 0 && Number.isInteger(t.usec) && t.usec >= 0 && t.usec < 1_000_000);
        const c = total('parseClaimName', name, () => parseClaimName(name));
        if (c !== undefined) {
          assert.ok(c.name.length > 0 && Number.isSafeInteger(c.pid) && c.pid > 0 && /^[A-Za-z0-9.-]+$/.test(c.host));
          assert.ok(name.startsWith(`${c.name}:`) && name.endsWith(`@${c.host}`));
        }
        const why = total('badMessageName', name, () => badMessageName(name));
        if (why !== undefined) assert.ok(why.length >= 8, why);
        else assert.ok(name.length > 0 && !name.includes('/') && !name.includes(':') && !name.includes('\0'));
        const h = total('sanitizeHost', name, () => sanitizeHost(name));
        assert.match(h, /^[A-Za-z0-9-][A-Za-z0-9.-]{0,199}$/);
      }),
      2400,
    );
  });

  it('generateName → parseNameTime gives back the time; the name is a valid message name (hosts up to 64 characters)', () => {
    check(
      'names/generate-round-trip',
      fc.property(fc.integer({ min: 0, max: 2 ** 45 }), pid, fc.nat({ max: 2 ** 31 }), hostArb.map((h) => h.slice(0, 64)), fc.nat({ max: 999 }), (now, p, seq, host, frac) => {
        const name = generateName(now, p, seq, host, frac);
        assert.deepEqual(parseNameTime(name), { sec: Math.floor(now / 1000), usec: (now % 1000) * 1000 + frac });
        assert.equal(badMessageName(name), undefined, name);
      }),
      1200,
    );
  });

  it('claimName → parseClaimName gives back name, pid and (sanitised) host for any message name', () => {
    check(
      'names/claim-round-trip',
      fc.property(anyName.filter((n) => n.length > 0), pid, hostArb, (name, p, host) => {
        assert.deepEqual(parseClaimName(claimName(name, p, host)), { name, pid: p, host: sanitizeHost(host) });
      }),
      1200,
    );
  });
});

// ---------------------------------------------------------------- retry sidecars

const time = fc.integer({ min: 0, max: 2 ** 45 });
const reason = fc.oneof(weirdString, fc.string({ maxLength: 50 }), fc.constantFrom('', 'x'.repeat(3000), '"}\n{', '\u2028', '\0'));

const meta: fc.Arbitrary<MessageMeta> = fc
  .record(
    {
      attempts: fc.nat(),
      firstFailureAt: time,
      lastAttemptAt: time,
      nextAttemptAt: time,
      lastError: reason,
      history: fc.array(fc.record({ at: time, reason }, { noNullPrototype: true }), { maxLength: HISTORY_LIMIT }),
      gaveUpReason: reason,
      gaveUpAt: time,
    },
    { requiredKeys: ['attempts', 'firstFailureAt', 'lastAttemptAt', 'nextAttemptAt', 'lastError', 'history'], noNullPrototype: true },
  )
  .map((m) => ({ version: 1 as const, ...m }));

/** Metas produced the way the spool produces them. */
const producedMeta: fc.Arbitrary<MessageMeta> = fc
  .array(fc.tuple(reason, fc.nat({ max: 10 * 86_400_000 }), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true })), { minLength: 1, maxLength: 8 })
  .chain((steps) =>
    fc.tuple(time, fc.boolean()).map(([start, giveUp]) => {
      let m: MessageMeta | undefined;
      let now = start;
      for (const [r, dt, rnd] of steps) {
        now += dt;
        m = afterFailure(m, r, now, DEFAULT_RETRY_POLICY, () => rnd).meta;
      }
      return giveUp ? giveUpMeta(m, 'permanent', now + 1) : (m as MessageMeta);
    }),
  );

describe('fuzz: parseMeta', () => {
  it('any text (JSON values, mutated sidecars, junk): a meta or undefined, never a throw; accepted metas are well typed', () => {
    const text = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      meta.map((m) => JSON.stringify({ ...m, attempts: 'x' })),
      mutated(fc.oneof(meta, producedMeta).map(serializeMeta), ['"', '{', '}', '[', ']', ',', ':', '1e999', 'null', '"version":1', '"__proto__":']).map((b) => b.toString('utf8')),
      weirdString,
    );
    check(
      'meta/any',
      fc.property(text, (t) => {
        const m = total('parseMeta', t, () => parseMeta(t));
        if (m === undefined) return;
        assert.equal(m.version, 1);
        for (const n of [m.attempts, m.firstFailureAt, m.lastAttemptAt, m.nextAttemptAt]) assert.ok(typeof n === 'number' && Number.isFinite(n));
        assert.equal(typeof m.lastError, 'string');
        for (const h of m.history) assert.ok(Number.isFinite(h.at) && typeof h.reason === 'string');
        // What was accepted serialises and parses back unchanged.
        assert.deepEqual(parseMeta(serializeMeta(m)), m);
      }),
      1800,
    );
  });

  it('serializeMeta → parseMeta round-trips generated and spool-produced metas', () => {
    check(
      'meta/round-trip',
      fc.property(fc.oneof(meta, producedMeta), (m) => {
        const text = serializeMeta(m);
        assert.ok(text.endsWith('\n'));
        assert.deepEqual(parseMeta(text), m);
        assert.deepEqual(parseMeta(`\r\n\t ${text.replace(/\n/g, '\r\n')}`), m);
      }),
      1200,
    );
  });

  it('adversarial: deep nesting, 10 MB, huge numbers, prototype keys', () => {
    assert.equal(parseMeta(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), undefined);
    assert.equal(parseMeta(`${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`), undefined);
    const base = JSON.parse(serializeMeta(giveUpMeta(undefined, 'r', 1))) as Record<string, unknown>;
    const big = JSON.stringify({ ...base, lastError: 'x'.repeat(10 * 1024 * 1024) });
    assert.equal(parseMeta(big)?.lastError.length, 10 * 1024 * 1024);
    assert.equal(parseMeta(JSON.stringify(base).replace('"attempts":1', '"attempts":1e999')), undefined);
    assert.equal(parseMeta(JSON.stringify({ ...base, history: [{ at: 1, reason: 'r' }, null] })), undefined);
    const protoKey = parseMeta(JSON.stringify(base).replace('{', '{"__proto__":{"polluted":1},'));
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.ok(protoKey === undefined || protoKey.version === 1);
    assert.equal(parseMeta('\0'), undefined);
  });
});
