/**
 * Shared plumbing for the property-based (fuzz) tests: a deterministic seed
 * per property (printed on failure, overridable with FUZZ_SEED), a run-count
 * scale (FUZZ_SCALE, e.g. 20 for a long local session), the "refused with a
 * reason" assertion and byte-level mutation arbitraries.
 *
 *   FUZZ_SEED=123 FUZZ_SCALE=10 node --test dist/test/fuzz/*.test.js
 */
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { JpError, type JpErrorCode } from '../../src/core/errors.js';

const envSeed = process.env['FUZZ_SEED'];
/** The run's base seed: fixed so CI is reproducible, FUZZ_SEED explores others. */
export const BASE_SEED = envSeed !== undefined && /^-?\d+$/.test(envSeed.trim()) ? Number(envSeed) | 0 : 0x6a7069;
const scaleText = Number(process.env['FUZZ_SCALE'] ?? '1');
const SCALE = Number.isFinite(scaleText) && scaleText > 0 ? scaleText : 1;

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

/**
 * Assert a property with `numRuns` runs (times FUZZ_SCALE) and a seed derived
 * from BASE_SEED and the property's name; a failure names both seeds and
 * fast-check's counterexample, seed and path for replay.
 */
export function check<Ts>(name: string, property: fc.IRawProperty<Ts>, numRuns: number): void {
  const seed = (BASE_SEED ^ fnv1a(name)) | 0;
  try {
    fc.assert(property, { seed, numRuns: Math.max(1, Math.round(numRuns * SCALE)), endOnFailure: false });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`fuzz property "${name}" failed (FUZZ_SEED=${BASE_SEED}, property seed ${seed})\n${msg}`, { cause: e });
  }
}

export type Verdict<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: Error };

function show(v: unknown): string {
  if (v instanceof Uint8Array) return `bytes ${JSON.stringify(Buffer.from(v.subarray(0, 200)).toString('latin1'))}${v.length > 200 ? '…' : ''}`;
  const s = typeof v === 'string' ? JSON.stringify(v) : fc.stringify(v);
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

function inputText(input: unknown): string {
  if (input instanceof Uint8Array) return Buffer.from(input).toString('latin1');
  if (typeof input === 'string') return input;
  // fast-check's rendering keeps NaN, undefined and -0 visible (JSON would turn them into null).
  return fc.stringify(input);
}

/**
 * Property 2: a refusal names the problem — a non-empty message of more
 * than a word, no "[object Object]", and no undefined/NaN unless the input
 * itself contains that text.
 */
export function assertReason(message: string, input: unknown, what: string): void {
  if (typeof message !== 'string' || message.trim().length < 8) {
    assert.fail(`${what}: refusal without a reason (${JSON.stringify(message)}) for ${show(input)}`);
  }
  if (/\[object \w+\]/.test(message)) assert.fail(`${what}: reason shows an object: ${message}`);
  const suspicious = ['undefined', 'NaN'].filter((w) => new RegExp(`\\b${w}\\b`).test(message));
  if (suspicious.length === 0) return;
  const text = inputText(input);
  for (const word of suspicious) {
    if (!text.includes(word)) assert.fail(`${what}: reason mentions ${word}: ${JSON.stringify(message)} for ${show(input)}`);
  }
}

/**
 * Property 1: run `fn`; it returns a value or throws an error that `allowed`
 * accepts, whose message passes assertReason. Anything else fails the
 * property with the error's class and message. `knownWording` is removed
 * from the message before the check (a wording bug covered by a skipped test).
 */
export function attempt<T>(what: string, input: unknown, fn: () => T, allowed: (e: unknown) => boolean, knownWording?: RegExp): Verdict<T> {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (!allowed(e)) {
      const kind = e instanceof Error ? `${e.constructor.name}${e instanceof JpError ? ` ${e.code}` : ''}: ${e.message}` : `non-error ${String(e)}`;
      assert.fail(`${what}: wrong kind of error (${kind}) for ${show(input)}`);
    }
    const err = e as Error;
    assertReason(knownWording === undefined ? err.message : err.message.replace(knownWording, ''), input, what);
    return { ok: false, error: err };
  }
}

/** An `allowed` predicate: a JpError with one of the codes. */
export function jpErrorWith(...codes: JpErrorCode[]): (e: unknown) => boolean {
  return (e) => e instanceof JpError && codes.includes(e.code);
}

/** A function that must never throw: property 1 for total functions. */
export function total<T>(what: string, input: unknown, fn: () => T): T {
  const v = attempt(what, input, fn, () => false);
  if (!v.ok) throw v.error;
  return v.value;
}

// ---------------------------------------------------------------- arbitraries

export const enc = (s: string): Buffer => Buffer.from(s, 'utf8');

/**
 * Any Unicode scalar value (no lone surrogates), biased to the BMP. Used
 * instead of fc.string({ unit: 'binary' }), whose set-up costs about a second
 * of CPU per test process.
 */
export const anyChar: fc.Arbitrary<string> = fc
  .oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0x10000, max: 0x10ffff }))
  .filter((c) => c < 0xd800 || c > 0xdfff)
  .map((c) => String.fromCodePoint(c));

/** Strings of anyChar. */
export function anyString(maxLength: number, minLength = 0): fc.Arbitrary<string> {
  return fc.string({ unit: anyChar, minLength, maxLength });
}

/** Bytes biased towards trouble: controls, CR/LF/NUL, invalid UTF-8 leaders and continuations. */
export const nastyByte: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0x00, 0x09, 0x0a, 0x0d, 0x20, 0x22, 0x5c, 0x3d, 0x3a, 0x2f, 0x7f, 0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xed, 0xef, 0xf0, 0xf8, 0xfe, 0xff),
  fc.integer({ min: 0, max: 255 }),
);

/** Concatenated pieces: grammar tokens, nasty bytes and random bytes. */
export function soup(tokens: readonly string[], maxPieces = 40): fc.Arbitrary<Uint8Array> {
  const tok = tokens.map(enc);
  return fc
    .array(
      fc.oneof(
        { weight: 5, arbitrary: fc.constantFrom(...tok) },
        { weight: 2, arbitrary: nastyByte.map((b) => Uint8Array.of(b)) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 6 }) },
        { weight: 1, arbitrary: anyString(6).map(enc) },
      ),
      { maxLength: maxPieces },
    )
    .map((parts) => Buffer.concat(parts));
}

type Mutation =
  | { readonly kind: 'flip'; readonly pos: number; readonly bit: number }
  | { readonly kind: 'set' | 'insert'; readonly pos: number; readonly byte: number }
  | { readonly kind: 'delete' | 'dup'; readonly pos: number; readonly len: number }
  | { readonly kind: 'token'; readonly pos: number; readonly token: number }
  | { readonly kind: 'truncate'; readonly pos: number };

function mutation(tokenCount: number): fc.Arbitrary<Mutation> {
  const pos = fc.nat();
  const arbs: fc.Arbitrary<Mutation>[] = [
    fc.record({ kind: fc.constant('flip' as const), pos, bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constantFrom('set' as const, 'insert' as const), pos, byte: nastyByte }),
    fc.record({ kind: fc.constantFrom('delete' as const, 'dup' as const), pos, len: fc.integer({ min: 1, max: 12 }) }),
    fc.record({ kind: fc.constant('truncate' as const), pos }),
  ];
  if (tokenCount > 0) arbs.push(fc.record({ kind: fc.constant('token' as const), pos, token: fc.nat({ max: tokenCount - 1 }) }));
  return fc.oneof(...arbs);
}

function applyMutation(b: Buffer, m: Mutation, tokens: readonly Buffer[]): Buffer {
  const at = (n: number): number => (b.length === 0 ? 0 : m.pos % n);
  switch (m.kind) {
    case 'flip': {
      if (b.length === 0) return b;
      const c = Buffer.from(b);
      const i = at(b.length);
      c[i] = (c[i] as number) ^ (1 << m.bit);
      return c;
    }
    case 'set': {
      if (b.length === 0) return Buffer.of(m.byte);
      const c = Buffer.from(b);
      c[at(b.length)] = m.byte;
      return c;
    }
    case 'insert': {
      const i = at(b.length + 1);
      return Buffer.concat([b.subarray(0, i), Buffer.of(m.byte), b.subarray(i)]);
    }
    case 'delete': {
      const i = at(b.length + 1);
      return Buffer.concat([b.subarray(0, i), b.subarray(i + m.len)]);
    }
    case 'dup': {
      const i = at(b.length + 1);
      return Buffer.concat([b.subarray(0, i + m.len), b.subarray(i)]);
    }
    case 'token': {
      const i = at(b.length + 1);
      return Buffer.concat([b.subarray(0, i), tokens[m.token] ?? Buffer.alloc(0), b.subarray(i)]);
    }
    case 'truncate':
      return b.subarray(0, at(b.length + 1));
  }
}

/** Valid samples with 1..8 byte-level mutations (bit flips, inserts, deletes, duplications, grammar tokens). */
export function mutated(valid: fc.Arbitrary<Uint8Array | string>, tokens: readonly string[] = []): fc.Arbitrary<Buffer> {
  const tok = tokens.map(enc);
  return fc
    .tuple(valid, fc.array(mutation(tok.length), { minLength: 1, maxLength: 8 }))
    .map(([v, ms]) => ms.reduce((b, m) => applyMutation(b, m, tok), typeof v === 'string' ? enc(v) : Buffer.from(v)));
}

/** Lone surrogates and other strings a byte decoder never produces. */
export const weirdString: fc.Arbitrary<string> = fc.string({
  unit: fc.oneof(
    anyChar,
    fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
    fc.constantFrom('\0', '\r', '\n', '\t', '\u2028', '\ufeff', '\u00a0', '\ufffd'),
  ),
  maxLength: 40,
});

// -------------------------------------------------------------- job ids

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const alnumChar = fc.constantFrom(...ALNUM);

/** A DNS-ish host name (labels of letters, digits and inner dashes; the last label starts with a letter, so it is never read as IPv4). */
export const hostName: fc.Arbitrary<string> = fc
  .array(
    fc.tuple(fc.string({ unit: alnumChar, minLength: 1, maxLength: 8 }), fc.string({ unit: fc.constantFrom(...ALNUM, '-'), maxLength: 4 }), alnumChar).map(
      ([a, b, c]) => `${a}${b}${c}`.toLowerCase(),
    ),
    { minLength: 1, maxLength: 4 },
  )
  .chain((labels) => fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz').map((tld) => [...labels, `${tld}${labels.length}`].join('.')));

/** The unique part of an LB job id: [A-Za-z0-9._~%+=-]+, never a dot segment. */
export const uniquePart: fc.Arbitrary<string> = fc
  .tuple(
    fc.string({ unit: alnumChar, minLength: 1, maxLength: 22 }),
    fc.string({ unit: fc.constantFrom(...ALNUM, '.', '_', '~', '%', '+', '=', '-'), maxLength: 10 }),
  )
  .map(([a, b]) => a + b);

export interface GeneratedJob {
  readonly jobid: string;
  readonly unique: string;
}

/** `https://host:port/unique` (sometimes http, no port, or a deeper path). */
export const jobId: fc.Arbitrary<GeneratedJob> = fc
  .record({
    scheme: fc.constantFrom('https', 'https', 'http'),
    host: hostName,
    port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    dirs: fc.array(fc.string({ unit: alnumChar, minLength: 1, maxLength: 6 }), { maxLength: 2 }),
    unique: uniquePart,
  })
  .map(({ scheme, host, port, dirs, unique }) => ({
    jobid: `${scheme}://${host}${port === undefined ? '' : `:${port}`}/${[...dirs, unique].join('/')}`,
    unique,
  }));

/** `host:port` with a valid port. */
export const hostPort: fc.Arbitrary<string> = fc
  .tuple(hostName, fc.integer({ min: 1, max: 65535 }))
  .map(([h, p]) => `${h}:${p}`);

// -------------------------------------------------------------- hang guard

/**
 * Call `exportName(...args)` of the compiled module at `moduleUrl` `repeat`
 * times in a worker thread and resolve with the last result; reject when it
 * throws or has not finished after `timeoutMs` (the worker is terminated).
 * For inputs that make a parser loop or go quadratic: the test fails within
 * the bound instead of hanging the suite. The bound is a hang guard with a
 * wide margin, not a performance assertion.
 */
export async function inWorker(moduleUrl: string, exportName: string, args: readonly unknown[], repeat: number, timeoutMs: number): Promise<unknown> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.url).then((m) => {
      let r;
      for (let i = 0; i < workerData.repeat; i++) r = m[workerData.name](...workerData.args);
      parentPort.postMessage(r);
    }, (e) => { throw e; });`;
  const w = new Worker(code, { eval: true, workerData: { url: moduleUrl, name: exportName, args, repeat } });
  try {
    return await new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${exportName} did not finish ${repeat} call(s) within ${timeoutMs} ms (hang or super-linear time)`)), timeoutMs);
      w.once('message', (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      w.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  } finally {
    await w.terminate();
  }
}
