/**
 * Fuzz: SOAP replies and faults of the primary service (src/primary/soap.ts,
 * src/primary/soap-xml.ts) and, as the builders' counterpart, the reference
 * service's request parser (src/primary-dev/soap-server.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  commitUploadRequest,
  getJobAttributesRequest,
  parseCommitUploadReply,
  parseGetJobAttributesReply,
  parseRegisterJobReply,
  parseStartUploadReply,
  PRIMARY_OPERATIONS,
  readReply,
  registerJobRequest,
  startUploadRequest,
  type PrimaryOperation,
} from '../../src/primary/soap.js';
import {
  describeGenericFault,
  EnvelopeError,
  faultChain,
  formatDateTime,
  parseDateTime,
  parseEnvelope,
  xmlElement,
  xmlEscape,
  type GenericFault,
} from '../../src/primary/soap-xml.js';
import {
  commitUploadResponse,
  getJobAttributesResponse,
  parseDevRequest,
  registerJobResponse,
  serverFault,
  startUploadResponse,
  type DevAttrValue,
} from '../../src/primary-dev/soap-server.js';
import { anyChar, anyString, attempt, check, jpErrorWith, mutated, total } from './fuzz.js';

const replyError = jpErrorWith('JP_BAD_REPLY', 'JP_HTTP_STATUS', 'JP_SOAP_FAULT');
const envelopeError = (e: unknown): boolean => e instanceof EnvelopeError;
const ENV_NS = 'http://schemas.xmlsoap.org/soap/envelope/';

// ---------------------------------------------------------------- generators

/** Every character XML 1.0 can carry. */
const XML_CHARS = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

/** Text values: XML specials, entity look-alikes, CDATA/comment markers, unicode; no surrounding blanks. */
const xmlText = fc
  .string({
    unit: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...'abcXYZ019 :/._-?=') },
      {
        weight: 3,
        arbitrary: fc.constantFrom('&', '<', '>', '"', "'", '&amp;', '&lt;', '&#233;', '&#x41;', '&nbsp;', '&copy;', '&e;', ']]>', '<![CDATA[', '<!--', '-->', '<?', '?>', '\r', '\n', '\t', '\r\n', 'é', '日本', '😀', '\u2028', '\ufeff', '%', '#', ';'),
      },
      { weight: 1, arbitrary: anyChar },
    ),
    maxLength: 40,
  })
  .map((s) => s.trim())
  .filter((s) => XML_CHARS.test(s) && s === s.trim());
const nonEmptyText = fc.tuple(fc.constantFrom(...'aZ9/&<é'), xmlText, fc.constantFrom(...'bY8>"日')).map(([a, s, b]) => `${a}${s}${b}`);
/** Blanks at the ends of a value: XML whitespace, and characters String.prototype.trim() would also strip. */
const padding = fc.constantFrom('', '', ' ', '  ', '\t', '\n', '\r\n', ' \n\t ', '\n\n', '\u00a0', '\ufeff', '\u2028');
/** xmlText with leading/trailing whitespace and newlines (may be blank only). */
const paddedText = fc.tuple(padding, xmlText, padding).map(([a, s, b]) => `${a}${s}${b}`);
/** nonEmptyText with leading/trailing whitespace: never blank. */
const paddedNonEmpty = fc.tuple(padding, nonEmptyText, padding).map(([a, s, b]) => `${a}${s}${b}`);

/** Whole seconds in 1900..9999 (xsd:dateTime without fractions). */
const second = fc.integer({ min: Date.UTC(1900, 0, 1) / 1000, max: Date.UTC(9999, 11, 31, 23, 59, 59) / 1000 }).map((s) => new Date(s * 1000));

const genericFault: fc.Arbitrary<GenericFault> = fc
  .array(
    fc
      .record(
        { source: nonEmptyText, code: fc.integer({ min: -999_999_999, max: 999_999_999 }), text: nonEmptyText, description: nonEmptyText },
        { requiredKeys: [] },
      )
      .filter((r) => Object.keys(r).length > 0),
    { minLength: 1, maxLength: 20 },
  )
  .map((links) =>
    links.reduceRight<GenericFault | undefined>(
      (reason, l) => ({ source: l.source, code: l.code, text: l.text, description: l.description, reason }),
      undefined,
    ) as GenericFault,
  );

const ELEMENT_NAMES = [
  'Envelope', 'SOAP-ENV:Envelope', 'soap:Envelope', 'Body', 'SOAP-ENV:Body', 'Fault', 'SOAP-ENV:Fault', 'faultcode', 'faultstring', 'detail',
  'Detail', 'Code', 'Value', 'Reason', 'Text', 'genericFault', 'jpe:genericFault', 'code', 'source', 'text', 'description', 'reason',
  'StartUploadResponse', 'jpe:StartUploadResponse', 'destination', 'commitBefore', 'GetJobAttributesResponse', 'attrValues', 'name', 'value',
  'string', 'blob', 'timestamp', 'origin', 'RegisterJobResponse', 'CommitUploadResponse', 'RegisterJob', '__proto__', 'constructor',
  'toString', 'hasOwnProperty', 'valueOf', 'prototype', '#text', 'x', 'a:b:c', 'xi:include',
];
const ATTRS = ['', ` xmlns:SOAP-ENV="${ENV_NS}"`, ' xmlns="urn:x"', ' a="1"', " b='&amp;'", ' __proto__="x"', ' xsi:nil="true"', ' href="file:///etc/passwd"', ' a="1" a="2"'];

const { node: xmlNode } = fc.letrec<{ node: string }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    xmlText.map((t) => xmlEscape(t)),
    fc.constantFrom('<![CDATA[x<y]]>', '<!-- c -->', '&bogus;', '&#0;', '&#xD800;', '&#99999999;', '&', '<', ' '),
    fc.tuple(fc.constantFrom(...ELEMENT_NAMES), fc.constantFrom(...ATTRS), fc.array(tie('node'), { maxLength: 4 })).map(([n, a, kids]) =>
      kids.length === 0 ? `<${n}${a}/>` : `<${n}${a}>${kids.join('')}</${n}>`,
    ),
  ),
}));

const PROLOGS = ['', '<?xml version="1.0" encoding="UTF-8"?>\n', '\ufeff', '<!DOCTYPE x [<!ENTITY e "E">]>', '<?pi x?>', '  \n'];
const xmlDoc = fc
  .tuple(fc.constantFrom(...PROLOGS), fc.array(xmlNode, { maxLength: 3 }), fc.boolean())
  .map(([pro, nodes, wrapped]) =>
    wrapped ? `${pro}<SOAP-ENV:Envelope xmlns:SOAP-ENV="${ENV_NS}"><SOAP-ENV:Body>${nodes.join('')}</SOAP-ENV:Body></SOAP-ENV:Envelope>` : `${pro}${nodes.join('')}`,
  );

const devAttr: fc.Arbitrary<DevAttrValue> = fc.record({
  name: paddedNonEmpty,
  value: paddedText,
  timestamp: second.map((d) => d.getTime()),
  origin: fc.constantFrom('SYSTEM' as const, 'USER' as const, 'FILE' as const),
});

/** Valid replies and faults, as the reference service writes them. */
const validReply = fc.oneof(
  fc.constant(registerJobResponse()),
  fc.constant(commitUploadResponse()),
  fc.tuple(nonEmptyText, second).map(([d, t]) => startUploadResponse(d, t)),
  fc.array(devAttr, { maxLength: 3 }).map((vs) => getJobAttributesResponse(vs)),
  genericFault.map((f) => serverFault(f)),
);

const XML_TOKENS = ['<', '>', '</', '/>', '&', ';', '&amp;', '"', "'", '=', ' ', '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>', '&e;', '<![CDATA[', ']]>', 'Fault', 'Body', 'SOAP-ENV:', '__proto__', '<code>17</code>', '\0', '\ufffd'];

const status = fc.oneof(fc.constantFrom(200, 200, 500, 400, 404, 502), fc.integer({ min: 0, max: 999 }));
const anyBody = fc.oneof(
  xmlDoc,
  mutated(fc.oneof(validReply, xmlDoc), XML_TOKENS).map((b) => b.toString('utf8')),
  anyString(200),
);

// ---------------------------------------------------------------- properties

describe('fuzz: SOAP replies', () => {
  it('any body and status: a result or a JpError (bad reply / HTTP status / fault) with a reason; no prototype pollution', () => {
    const protoKeys = Object.getOwnPropertyNames(Object.prototype).length;
    check(
      'soap/any-reply',
      fc.property(anyBody, status, fc.constantFrom(...PRIMARY_OPERATIONS), (body, st, op: PrimaryOperation) => {
        // fast-xml-parser's own wording for some names it cannot read (the message still says "not parsable XML").
        const lib = /readTagExp returned undefined/;
        attempt('parseEnvelope', body, () => parseEnvelope(body), envelopeError, lib);
        attempt(`readReply ${op}`, body, () => readReply(op, st, body), replyError, lib);
        attempt('parseRegisterJobReply', body, () => parseRegisterJobReply(st, body), replyError, lib);
        attempt('parseCommitUploadReply', body, () => parseCommitUploadReply(st, body), replyError, lib);
        const su = attempt('parseStartUploadReply', body, () => parseStartUploadReply(st, body), replyError, lib);
        if (su.ok) {
          assert.ok(su.value.destination.length > 0);
          assert.ok(su.value.commitBefore === undefined || Number.isFinite(su.value.commitBefore.getTime()));
        }
        const ga = attempt('parseGetJobAttributesReply', body, () => parseGetJobAttributesReply(st, body), replyError, lib);
        if (ga.ok) for (const a of ga.value) assert.ok(typeof a.name === 'string' && a.name.length > 0);
        const dev = total('parseDevRequest', body, () => parseDevRequest(body));
        if (!dev.ok) assert.ok(dev.bad.problem.length > 0);
        assert.equal(Object.getOwnPropertyNames(Object.prototype).length, protoKeys);
        assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
      }),
      1500,
    );
  });

  it('a non-200 status is never taken for success', () => {
    check(
      'soap/non-200',
      fc.property(validReply, fc.integer({ min: 100, max: 599 }).filter((s) => s !== 200), (body, st) => {
        for (const op of PRIMARY_OPERATIONS) {
          const v = attempt(`readReply ${op}`, body, () => readReply(op, st, body), replyError);
          assert.ok(!v.ok, `${op} with status ${st} accepted`);
        }
      }),
      300,
    );
  });

  it('startUploadResponse → parseStartUploadReply round-trips destination and commitBefore', () => {
    check(
      'soap/start-upload-reply',
      fc.property(nonEmptyText, second, (dest, t) => {
        assert.deepEqual(parseStartUploadReply(200, startUploadResponse(dest, t)), { destination: dest, commitBefore: t });
      }),
      900,
    );
  });

  it('getJobAttributesResponse → parseGetJobAttributesReply round-trips names, values (whitespace and newlines exactly), times, origins', () => {
    check(
      'soap/get-job-attributes-reply',
      fc.property(fc.array(devAttr, { maxLength: 5 }), (vs) => {
        assert.deepEqual(
          parseGetJobAttributesReply(200, getJobAttributesResponse(vs)),
          vs.map((v) => ({ name: v.name, value: v.value, timestamp: formatDateTime(new Date(v.timestamp)), origin: v.origin })),
        );
      }),
      900,
    );
  });

  it('register/commit responses parse; serverFault chains come back as JP_SOAP_FAULT with the first errno and every link', () => {
    parseRegisterJobReply(200, registerJobResponse());
    parseCommitUploadReply(200, commitUploadResponse());
    check(
      'soap/fault-round-trip',
      fc.property(genericFault, fc.constantFrom(200, 500), fc.constantFrom(...PRIMARY_OPERATIONS), (f, st, op) => {
        const v = attempt(`readReply ${op}`, f, () => readReply(op, st, serverFault(f)), jpErrorWith('JP_SOAP_FAULT'));
        assert.ok(!v.ok);
        const e = v.error as Error & { faultCode?: number; status?: number };
        const links = faultChain(f);
        assert.equal(e.faultCode, links.find((l) => l.code !== undefined)?.code);
        assert.equal(e.status, st === 200 ? undefined : st);
        assert.ok(e.message.startsWith(`${op}: SOAP fault SOAP-ENV:Server`), e.message);
        for (const l of links) assert.ok(e.message.includes(describeGenericFault(l)), `link ${describeGenericFault(l)} missing in ${e.message}`);
      }),
      900,
    );
  });

  // BUG (fixed): the reply parser trimmed every text node (trimValues), so an
  // attribute value with leading/trailing blanks or a blank-only value came
  // back changed from GetJobAttributes.
  it('fixed: GetJobAttributes values keep their leading/trailing whitespace (the reply parser trimmed text)', () => {
    const vs: DevAttrValue[] = [
      { name: 'n', value: '  two spaces ', timestamp: 0, origin: 'USER' },
      { name: 'm', value: '\t', timestamp: 0, origin: 'USER' },
      { name: ' l\n', value: '\nline\r\n', timestamp: 0, origin: 'USER' },
    ];
    assert.deepEqual(
      parseGetJobAttributesReply(200, getJobAttributesResponse(vs)).map((a) => [a.name, a.value]),
      vs.map((v) => [v.name, v.value]),
    );
  });
});

describe('fuzz: SOAP request builders and XML text', () => {
  it('request builders → parseDevRequest round-trip (XML specials, unicode, whitespace at the ends)', () => {
    check(
      'soap/requests',
      fc.property(paddedNonEmpty, paddedNonEmpty, paddedNonEmpty, paddedText, paddedText, second, fc.array(paddedText, { minLength: 1, maxLength: 4 }), (job, owner, cls, name, ctype, t, attrs) => {
        assert.deepEqual(parseDevRequest(registerJobRequest(job, owner)), { ok: true, req: { op: 'RegisterJob', job, owner } });
        const su = parseDevRequest(startUploadRequest({ job, class: cls, name, commitBefore: t, contentType: ctype }));
        assert.ok(su.ok && su.req.op === 'StartUpload', JSON.stringify(su));
        if (su.ok && su.req.op === 'StartUpload') {
          assert.deepEqual([su.req.job, su.req.class, su.req.name, su.req.contentType], [job, cls, name, ctype]);
          assert.equal(parseDateTime(su.req.commitBefore)?.getTime(), t.getTime());
        }
        assert.deepEqual(parseDevRequest(commitUploadRequest(owner)), { ok: true, req: { op: 'CommitUpload', destination: owner } });
        assert.deepEqual(parseDevRequest(getJobAttributesRequest(job, attrs)), { ok: true, req: { op: 'GetJobAttributes', jobid: job, attributes: attrs } });
        // The schema requires at least one attribute: an empty list is refused before anything is sent.
        assert.throws(() => getJobAttributesRequest(job, []), /at least one attribute/);
      }),
      900,
    );
  });

  it('xmlEscape: escapes exactly the XML-carriable strings, else JP_MALFORMED_MESSAGE naming the offset', () => {
    const candidate = fc.oneof(
      anyString(30),
      fc.string({ unit: fc.oneof(fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), fc.constantFrom('<', '&', '\r')), maxLength: 30 }),
    );
    check(
      'soap/xml-escape',
      fc.property(candidate, (s) => {
        const v = attempt('xmlElement', s, () => xmlElement('name', s), jpErrorWith('JP_MALFORMED_MESSAGE'));
        assert.equal(v.ok, XML_CHARS.test(s), `ok=${v.ok} for ${JSON.stringify(s)}`);
        if (v.ok) {
          assert.doesNotMatch(v.value.slice(6, -7), /[<>\r]|&(?!(amp|lt|gt|quot|apos|#13);)/);
        } else {
          assert.match(v.error.message, /<name> contains a character XML cannot carry \(U\+[0-9A-F]{4,6} at offset \d+\)/);
        }
      }),
      1500,
    );
  });

  it('formatDateTime ↔ parseDateTime round-trip; parseDateTime never throws nor returns an invalid date', () => {
    check(
      'soap/datetime',
      fc.property(fc.integer({ min: Date.UTC(1000, 0, 1), max: Date.UTC(9999, 11, 31) }), fc.string({ maxLength: 40 }), (ms, junk) => {
        const text = formatDateTime(new Date(ms));
        assert.equal(parseDateTime(text)?.getTime(), Math.floor(ms / 1000) * 1000);
        for (const s of [junk, `${text}${junk}`, text.replace('Z', junk), text.slice(0, ms % 20)]) {
          const d = total('parseDateTime', s, () => parseDateTime(s));
          if (d !== undefined) assert.ok(Number.isFinite(d.getTime()), s);
        }
      }),
      900,
    );
    for (const s of ['99999999999999999999-01-01T00:00:00Z', '2024-13-45T25:61:61Z', '2024-01-01T00:00:00+99:99', '-0000-01-01T00:00:00Z']) {
      const d = total('parseDateTime', s, () => parseDateTime(s));
      if (d !== undefined) assert.ok(Number.isFinite(d.getTime()), s);
    }
  });
});
