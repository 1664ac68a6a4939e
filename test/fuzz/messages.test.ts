/**
 * Fuzz: spool message parsers (registration, key/value upload messages, job ids).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { jobUnique } from '../../src/messages/jobid.js';
import { formatUploadMessage, MAX_KEYVALUE_BYTES, parseKeyValues, parseUploadMessage, type UploadMessage } from '../../src/messages/keyvalue.js';
import { peekJob } from '../../src/messages/peek.js';
import { formatRegistration, MAX_REGISTRATION_BYTES, parseRegistration } from '../../src/messages/registration.js';
import { hasControlChars } from '../../src/messages/text.js';
import { anyChar, anyString, attempt, check, enc, hostPort, inWorker, jobId, jpErrorWith, mutated, soup, total, weirdString } from './fuzz.js';

const malformed = jpErrorWith('JP_MALFORMED_MESSAGE');
const UNIQUE_RE = /^[A-Za-z0-9._~%+=-]+$/;

/** A subject DN: no control characters (tab allowed), no surrounding blanks. */
const owner = fc
  .string({
    unit: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...'/=CNOUabcz019 ,.-_\'"<>&@') },
      { weight: 1, arbitrary: anyChar },
      { weight: 1, arbitrary: fc.constantFrom('Jiří', 'Šťastný', '\t', '\u00a0x', '日本', '😀') },
    ),
    minLength: 1,
    maxLength: 60,
  })
  .map((s) => `/C=CZ/CN=${s}`.trim())
  .filter((s) => !hasControlChars(s));

/** An absolute path without control characters or surrounding blanks. */
const absPath = fc
  .array(
    fc.string({
      unit: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...'abcXYZ019._-~+=,@%') },
        { weight: 1, arbitrary: fc.constantFrom(' ', '\t', 'ž', '日', '😀', '#', ';', ':', '"', "'", '\\', 'jpps') },
      ),
      minLength: 1,
      maxLength: 12,
    }),
    { minLength: 1, maxLength: 5 },
  )
  .map((segs) => `/${segs.join('/')}`)
  .filter((p) => p === p.trim());

/** A path the glued-jpps heuristic would split (see the skipped test below). */
const gluedLooking = (file: string): boolean => /jpps[ \t]+[^ \t]+$/.test(file);

const proxyPath = fc.oneof(
  fc.nat({ max: 99999 }).map((u) => `/tmp/x509up_u${u}`),
  absPath,
);

const uploadMessage: fc.Arbitrary<UploadMessage> = fc
  .record(
    {
      job: jobId,
      file: absPath.filter((f) => !gluedLooking(f)),
      jpps: fc.oneof(hostPort, hostPort.map((h) => `https://${h}`)),
      proxy: proxyPath,
    },
    { requiredKeys: ['job', 'file'] },
  )
  .map(({ job, file, jpps, proxy }) => ({
    jobid: job.jobid,
    file,
    ...(jpps !== undefined ? { jpps } : {}),
    ...(proxy !== undefined ? { proxy } : {}),
  }));

const validRegistration = fc.tuple(jobId, owner).map(([j, o]) => formatRegistration({ jobid: j.jobid, owner: o }));
const validUpload = uploadMessage.map((m) => formatUploadMessage(m));

const TOKENS = [
  'jobid', 'file', 'jpps', 'proxy', ' ', '\t', '\n', '\r\n', '\r', '\0', 'https://', 'http://', 'lb.example.org:9000/',
  'rReV1TpJ5oY0Z1_M4NBfHw', '/', '/tmp/x', '..', '.', '%2e', 'jpps\tlocalhost:8900', 'ftp://', '\u00ff', '\xc3', 'ž', '\ufeff',
];

describe('fuzz: parseRegistration', () => {
  it('arbitrary, token-soup and mutated bodies: a value or a JP_MALFORMED_MESSAGE with a reason', () => {
    check(
      'registration/any-input',
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), soup(TOKENS), mutated(validRegistration, TOKENS)), (body) => {
        const v = attempt('parseRegistration', body, () => parseRegistration(body), malformed);
        if (v.ok) {
          // An accepted registration is usable: a valid job and a clean owner.
          assert.equal(typeof jobUnique(v.value.jobid), 'string');
          assert.ok(v.value.owner.length > 0 && !hasControlChars(v.value.owner));
          assert.equal(v.value.owner, v.value.owner.trim());
        }
      }),
      1800,
    );
  });

  it('formatRegistration → parseRegistration round-trips (also with CRLF, trailing newlines, blanks)', () => {
    check(
      'registration/round-trip',
      fc.property(jobId, owner, fc.constantFrom('\n', '\r\n'), fc.constantFrom('', '\n', '\r\n', '\n\n'), fc.constantFrom('', ' ', '\t '), (j, o, nl, tail, pad) => {
        const r = { jobid: j.jobid, owner: o };
        assert.deepEqual(parseRegistration(enc(formatRegistration(r))), r);
        assert.deepEqual(parseRegistration(enc(`${pad}${j.jobid}${pad}${nl}${pad}${o}${pad}${tail}`)), r);
      }),
      900,
    );
  });

  it('adversarial: 10 MB, NUL, invalid UTF-8, three lines — each refused with its reason', () => {
    const J = 'https://lb.example.org:9000/abc';
    const cases: [string, Uint8Array, RegExp][] = [
      ['10 MB', Buffer.alloc(10 * 1024 * 1024, 0x61), /bytes \(limit/],
      ['just over the limit', Buffer.alloc(MAX_REGISTRATION_BYTES + 1, 0x61), /limit/],
      ['NUL', enc(`${J}\n/CN=a\0b`), /NUL/],
      ['invalid UTF-8', Buffer.concat([enc(`${J}\n/CN=`), Buffer.of(0xc3, 0x28)]), /UTF-8/],
      ['overlong UTF-8 slash', Buffer.concat([enc('https://lb:9000'), Buffer.of(0xc0, 0xaf), enc('x\n/CN=a')]), /UTF-8/],
      ['surrogate in UTF-8', Buffer.concat([enc(`${J}\n/CN=`), Buffer.of(0xed, 0xa0, 0x80)]), /UTF-8/],
      ['three lines', enc(`${J}\n/CN=a\nextra`), /3 lines/],
      ['CR inside the owner', enc(`${J}\n/CN=a\rb`), /control/],
    ];
    for (const [name, body, re] of cases) {
      const v = attempt(`parseRegistration ${name}`, body, () => parseRegistration(body), malformed);
      assert.ok(!v.ok, `${name} accepted`);
      assert.match(v.error.message, re, name);
    }
  });
});

describe('fuzz: parseUploadMessage / parseKeyValues', () => {
  it('arbitrary, token-soup and mutated bodies: a value or a JP_MALFORMED_MESSAGE with a reason', () => {
    check(
      'keyvalue/any-input',
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), soup(TOKENS), mutated(validUpload, TOKENS)), (body) => {
        attempt('parseKeyValues', body, () => parseKeyValues(body), malformed);
        const v = attempt('parseUploadMessage', body, () => parseUploadMessage(body), malformed);
        if (v.ok) {
          assert.equal(typeof jobUnique(v.value.jobid), 'string');
          assert.ok(v.value.file.startsWith('/') && !hasControlChars(v.value.file), `accepted file ${JSON.stringify(v.value.file)}`);
        }
      }),
      1800,
    );
  });

  it('formatUploadMessage → parseUploadMessage round-trips valid messages', () => {
    check(
      'keyvalue/round-trip',
      fc.property(uploadMessage, fc.constantFrom('\n', '\r\n'), (m, nl) => {
        const text = formatUploadMessage(m);
        assert.deepEqual(parseUploadMessage(enc(text)), m);
        // Line ends and blank padding do not matter; unknown keys are ignored.
        const padded = `  unknown\tvalue${nl}${text.split('\n').filter((l) => l !== '').map((l) => ` \t${l.replace('\t', ' \t ')}  `).join(nl)}${nl}`;
        assert.deepEqual(parseUploadMessage(enc(padded)), m);
      }),
      1200,
    );
  });

  it('the C exporter\'s glued "file <path>jpps <host:port>" line is split', () => {
    check(
      'keyvalue/glued-jpps',
      fc.property(jobId, absPath.filter((f) => !/[ \t]$/.test(f) && !gluedLooking(f)), hostPort, (j, file, hp) => {
        const m = parseUploadMessage(enc(`jobid ${j.jobid}\nfile   ${file}jpps   ${hp}\n`));
        assert.deepEqual(m, { jobid: j.jobid, file, jpps: hp });
      }),
      600,
    );
  });

  // BUG (see report): a file path ending in "jpps<blank>host:port" is written
  // by formatUploadMessage as its own `file` line, and parseUploadMessage
  // splits it as the C exporter's glued form: the file name changes (and
  // keeps a trailing blank) and a jpps appears.
  it('fixed: formatUploadMessage writes file paths that parseUploadMessage splits as a glued jpps', () => {
    const m = { jobid: 'https://lb.example.org:9000/abc', file: '/data/x jpps a:1' };
    let parsed: UploadMessage | undefined;
    let refused = false;
    try {
      parsed = parseUploadMessage(enc(formatUploadMessage(m)));
    } catch {
      refused = true; // the formatter refusing (JpError) is an acceptable fix too
    }
    assert.ok(refused || JSON.stringify(parsed) === JSON.stringify(m), `got ${JSON.stringify(parsed)}`);
  });

  // BUG (see report): formatUploadMessage accepts values the parser refuses
  // (NUL in proxy/jpps, control characters or a relative path in file, an
  // invalid job id), so a producer spools a message that is given up at once.
  it('fixed: whatever formatUploadMessage accepts, parseUploadMessage accepts unchanged', () => {
    check(
      'keyvalue/format-accepts-implies-parse-accepts',
      fc.property(
        fc.record({ jobid: fc.oneof(jobId.map((j) => j.jobid), weirdString), file: fc.oneof(absPath, weirdString), proxy: fc.option(weirdString, { nil: undefined }) }),
        ({ jobid, file, proxy }) => {
          const m: UploadMessage = { jobid, file, ...(proxy !== undefined ? { proxy } : {}) };
          let text: string;
          try {
            text = formatUploadMessage(m);
          } catch {
            return; // refused by the formatter: fine
          }
          assert.deepEqual(parseUploadMessage(enc(text)), m);
        },
      ),
      1500,
    );
  });

  // BUG (see report): parseKeyValues strips trailing blanks of a value with
  // value.replace(/[ \t]+$/, ''), which backtracks quadratically over a run
  // of blanks inside the value: one 64 KiB message ("proxy a<65400 blanks>b")
  // costs ~5-7 s of CPU per parse attempt. Hang guard: 5 parses within 3 s
  // (the fixed parser needs a few ms).
  it('fixed: a value with a long inner run of blanks is parsed in linear time', async () => {
    const body = enc(`proxy a${' '.repeat(MAX_KEYVALUE_BYTES - 100)}b\n`);
    const r = await inWorker(new URL('../../src/messages/keyvalue.js', import.meta.url).href, 'parseKeyValues', [body], 5, 3000);
    assert.deepEqual(r, { proxy: `a${' '.repeat(MAX_KEYVALUE_BYTES - 100)}b` });
  });

  it('adversarial: 10 MB, NUL, invalid UTF-8, key without value — each refused with its reason', () => {
    const cases: [string, Uint8Array, RegExp][] = [
      ['10 MB', Buffer.alloc(10 * 1024 * 1024, 0x20), /limit/],
      ['just over the limit', Buffer.alloc(MAX_KEYVALUE_BYTES + 1, 0x0a), /limit/],
      ['NUL', enc('jobid https://a.org:9000/x\nfile /a\0b\n'), /NUL/],
      ['invalid UTF-8', Buffer.concat([enc('jobid https://a.org:9000/x\nfile /a'), Buffer.of(0xff), enc('\n')]), /UTF-8/],
      ['key without value', enc('jobid https://a.org:9000/x\nfile\n'), /line 2: key "file" has no value/],
      ['relative file', enc('jobid https://a.org:9000/x\nfile a/b\n'), /not an absolute path/],
      ['no jobid', enc('file /a\n'), /no jobid/],
      ['huge port job id', enc('jobid https://a.org:99999999999/x\nfile /a\n'), /not a URL/],
      ['CRLF only', enc('\r\n\r\n'), /no jobid/],
    ];
    for (const [name, body, re] of cases) {
      const v = attempt(`parseUploadMessage ${name}`, body, () => parseUploadMessage(body), malformed);
      assert.ok(!v.ok, `${name} accepted`);
      assert.match(v.error.message, re, name);
    }
  });
});

describe('fuzz: jobUnique and peekJob', () => {
  it('any string: the unique part or a JP_MALFORMED_MESSAGE with a reason', () => {
    const urlish = soup(['https://', 'http://', 'ftp://', 'lb.org', ':9000', '/', '%2e', '.', '..', '?q', '#f', '@', '[::1]', ' ', 'abc', '\t', '%', '\\']).map((b) =>
      Buffer.from(b).toString('utf8'),
    );
    check(
      'jobid/any-string',
      fc.property(fc.oneof(weirdString, urlish, anyString(80), fc.string({ maxLength: 1100 })), (s) => {
        const v = attempt('jobUnique', s, () => jobUnique(s), malformed);
        if (v.ok) {
          assert.match(v.value, UNIQUE_RE);
          assert.ok(v.value !== '.' && v.value !== '..');
        }
      }),
      2400,
    );
  });

  it('generated job ids give back their unique part', () => {
    check('jobid/round-trip', fc.property(jobId, (j) => assert.equal(jobUnique(j.jobid), j.unique)), 1200);
  });

  it('peekJob never throws and returns a short blank-free token', () => {
    check(
      'peek/any-input',
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), soup(TOKENS), mutated(validUpload, TOKENS)), (body) => {
        const j = total('peekJob', body, () => peekJob(body));
        if (j !== undefined) assert.ok(j.length > 0 && j.length <= 300 && !/\s/.test(j), JSON.stringify(j));
      }),
      1200,
    );
    assert.equal(peekJob(Buffer.alloc(10 * 1024 * 1024, 0x41)), undefined);
  });
});
