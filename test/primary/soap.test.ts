import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JpError } from '../../src/core/errors.js';
import {
  commitUploadRequest,
  getJobAttributesRequest,
  parseCommitUploadReply,
  parseGetJobAttributesReply,
  parseRegisterJobReply,
  parseStartUploadReply,
  registerJobRequest,
  startUploadRequest,
} from '../../src/primary/soap.js';
import { REGTIME_ATTRIBUTE } from '../../src/primary/api.js';
import { parseDevRequest } from '../../src/primary-dev/soap-server.js';

const ENV = 'xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"';
const NS = 'xmlns:jpe="http://glite.org/wsdl/elements/jp" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"';
const env = (inner: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<SOAP-ENV:Envelope ${ENV} ${NS}><SOAP-ENV:Body>${inner}</SOAP-ENV:Body></SOAP-ENV:Envelope>`;
const fault = (detail: string, faultstring = 'Oh, shit!'): string =>
  env(`<SOAP-ENV:Fault><faultcode>SOAP-ENV:Server</faultcode><faultstring>${faultstring}</faultstring>${detail}</SOAP-ENV:Fault>`);
const gf = (code: string, desc: string, extra = ''): string =>
  `<source>glite_jppsbe_x</source><code>${code}</code><text>strerror</text><description>${desc}</description>${extra}`;

type Expect =
  | { ok: unknown }
  | { code: JpError['code']; faultCode?: number | undefined; status?: number | undefined; includes?: string[] };

interface ReplyCase {
  name: string;
  parse: (status: number, body: string) => unknown;
  status?: number;
  body: string;
  expect: Expect;
}

const reg = parseRegisterJobReply;
const su = parseStartUploadReply;
const gja = parseGetJobAttributesReply;

const replyCases: ReplyCase[] = [
  // --- success shapes
  { name: 'RegisterJobResponse self-closing', parse: reg, body: env('<jpe:RegisterJobResponse/>'), expect: { ok: undefined } },
  { name: 'RegisterJobResponse open/close', parse: reg, body: env('<jpe:RegisterJobResponse></jpe:RegisterJobResponse>'), expect: { ok: undefined } },
  {
    name: 'other prefixes (soap:, ns1:)',
    parse: reg,
    body: '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><ns1:RegisterJobResponse xmlns:ns1="http://glite.org/wsdl/elements/jp"/></soap:Body></soap:Envelope>',
    expect: { ok: undefined },
  },
  {
    name: 'default namespace, no prefixes, pretty printed',
    parse: reg,
    body: '<?xml version="1.0"?>\n<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/">\n  <Header/>\n  <Body>\n    <RegisterJobResponse xmlns="http://glite.org/wsdl/elements/jp"/>\n  </Body>\n</Envelope>\n',
    expect: { ok: undefined },
  },
  { name: 'UTF-8 BOM before the declaration', parse: reg, body: `\uFEFF${env('<jpe:RegisterJobResponse/>')}`, expect: { ok: undefined } },
  { name: 'CommitUploadResponse', parse: parseCommitUploadReply, body: env('<jpe:CommitUploadResponse/>'), expect: { ok: undefined } },
  {
    name: 'StartUploadResponse',
    parse: su,
    body: env('<jpe:StartUploadResponse><destination>ftp://h:21/a/lb</destination><commitBefore>2030-01-02T03:04:05Z</commitBefore></jpe:StartUploadResponse>'),
    expect: { ok: { destination: 'ftp://h:21/a/lb', commitBefore: new Date('2030-01-02T03:04:05Z') } },
  },
  {
    name: 'StartUploadResponse: offset, fractions, prefixed children',
    parse: su,
    body: env('<jpe:StartUploadResponse><jpe:destination> gsiftp://h/x </jpe:destination><jpe:commitBefore>2030-01-02T05:04:05.250+02:00</jpe:commitBefore></jpe:StartUploadResponse>'),
    expect: { ok: { destination: 'gsiftp://h/x', commitBefore: new Date('2030-01-02T03:04:05.250Z') } },
  },
  {
    name: 'StartUploadResponse: entities and CDATA',
    parse: su,
    body: env('<jpe:StartUploadResponse><destination><![CDATA[ftp://h/a&b/]]>caf&#233;&amp;x</destination></jpe:StartUploadResponse>'),
    expect: { ok: { destination: 'ftp://h/a&b/café&x', commitBefore: undefined } },
  },
  {
    name: 'StartUploadResponse: xsi:type attributes on the children',
    parse: su,
    body: env('<jpe:StartUploadResponse><destination xsi:type="xsd:string">ftp://h/x</destination><commitBefore xsi:type="xsd:dateTime">2030-01-02T03:04:05Z</commitBefore></jpe:StartUploadResponse>'),
    expect: { ok: { destination: 'ftp://h/x', commitBefore: new Date('2030-01-02T03:04:05Z') } },
  },
  {
    name: 'StartUploadResponse without commitBefore',
    parse: su,
    body: env('<jpe:StartUploadResponse><destination>ftp://h/x</destination></jpe:StartUploadResponse>'),
    expect: { ok: { destination: 'ftp://h/x', commitBefore: undefined } },
  },
  {
    name: 'GetJobAttributesResponse, value/string',
    parse: gja,
    body: env(
      `<jpe:GetJobAttributesResponse><attrValues><name>${REGTIME_ATTRIBUTE}</name><value><string>1700000000.000123</string></value><timestamp>2023-11-14T22:13:20Z</timestamp><origin>SYSTEM</origin></attrValues></jpe:GetJobAttributesResponse>`,
    ),
    expect: { ok: [{ name: REGTIME_ATTRIBUTE, value: '1700000000.000123', timestamp: '2023-11-14T22:13:20Z', origin: 'SYSTEM' }] },
  },
  {
    name: 'GetJobAttributesResponse, two values, blob and plain text',
    parse: gja,
    body: env(
      '<jpe:GetJobAttributesResponse><attrValues><name>a</name><value><blob>aGVsbG8=</blob></value></attrValues><attrValues><name>b</name><value>plain</value><origin>USER</origin></attrValues></jpe:GetJobAttributesResponse>',
    ),
    expect: {
      ok: [
        { name: 'a', value: 'hello', timestamp: undefined, origin: undefined },
        { name: 'b', value: 'plain', timestamp: undefined, origin: 'USER' },
      ],
    },
  },
  { name: 'GetJobAttributesResponse empty', parse: gja, body: env('<jpe:GetJobAttributesResponse/>'), expect: { ok: [] } },
  // values are xsd:string: kept exactly, whitespace and newlines included; no number coercion
  ...(
    [
      ['leading and trailing blanks', '  two spaces ', '  two spaces '],
      ['a tab only', '\t', '\t'],
      ['a newline only', '\n', '\n'],
      ['blanks only', '   ', '   '],
      ['newlines inside and around', '\nline 1\n  line 2\n', '\nline 1\n  line 2\n'],
      ['CR LF (CR as a character reference)', 'a&#13;\nb&#13;\n', 'a\r\nb\r\n'],
      ['NBSP and BOM at the ends (not XML whitespace)', '\u00a0x\ufeff', '\u00a0x\ufeff'],
      ['CDATA with blanks', '<![CDATA[  <x>  ]]>', '  <x>  '],
      ['entity-encoded blanks', '&#32;a&#x20;', ' a '],
      ['numbers stay strings', ' 0012 ', ' 0012 '],
      ['exponent stays a string', '1e3', '1e3'],
      ['empty', '', ''],
    ] as const
  ).map(([what, wire, value]): ReplyCase => ({
    name: `GetJobAttributesResponse value: ${what}`,
    parse: gja,
    body: env(`<jpe:GetJobAttributesResponse><attrValues><name>a</name><value><string>${wire}</string></value></attrValues></jpe:GetJobAttributesResponse>`),
    expect: { ok: [{ name: 'a', value, timestamp: undefined, origin: undefined }] },
  })),
  {
    name: 'GetJobAttributesResponse pretty printed: layout between elements dropped, values exact, time and origin trimmed',
    parse: gja,
    body: env(
      '\n  <jpe:GetJobAttributesResponse>\n    <attrValues>\n      <name>a</name>\n      <value>\n        <string> v 1 \n</string>\n      </value>\n' +
        '      <timestamp>\n 2023-11-14T22:13:20Z \n</timestamp>\n      <origin> USER </origin>\n    </attrValues>\n' +
        '    <attrValues>\n      <name>b</name>\n      <value>\n        <blob>\n aGVs\n bG8=\n </blob>\n      </value>\n    </attrValues>\n' +
        '    <attrValues><name>c</name><value xsi:type="xsd:string"> plain \n</value></attrValues>\n  </jpe:GetJobAttributesResponse>\n',
    ),
    expect: {
      ok: [
        { name: 'a', value: ' v 1 \n', timestamp: '2023-11-14T22:13:20Z', origin: 'USER' },
        { name: 'b', value: 'hello', timestamp: undefined, origin: undefined },
        { name: 'c', value: ' plain \n', timestamp: undefined, origin: undefined },
      ],
    },
  },
  {
    name: 'StartUploadResponse pretty printed: destination and commitBefore trimmed as before',
    parse: su,
    body: env('\n <jpe:StartUploadResponse>\n  <destination>\n   ftp://h/x \n  </destination>\n  <commitBefore> 2030-01-02T03:04:05Z\n</commitBefore>\n </jpe:StartUploadResponse>\n'),
    expect: { ok: { destination: 'ftp://h/x', commitBefore: new Date('2030-01-02T03:04:05Z') } },
  },
  {
    name: 'RegisterJobResponse with blanks inside and around',
    parse: reg,
    body: env('\n  <jpe:RegisterJobResponse>\n  </jpe:RegisterJobResponse>\n'),
    expect: { ok: undefined },
  },
  {
    name: 'CommitUploadResponse with blanks inside and around',
    parse: parseCommitUploadReply,
    body: env(' <jpe:CommitUploadResponse> </jpe:CommitUploadResponse> '),
    expect: { ok: undefined },
  },

  // --- faults
  {
    name: 'EEXIST fault, genericFault in detail (gSOAP >= 2.7.9)',
    parse: reg,
    status: 500,
    body: fault(`<detail><jpe:genericFault>${gf('17', 'Job already registered')}</jpe:genericFault></detail>`),
    expect: { code: 'JP_SOAP_FAULT', faultCode: 17, status: 500, includes: ['RegisterJob', 'Job already registered', 'SOAP-ENV:Server', 'Oh, shit!'] },
  },
  {
    name: 'xsi:type’d detail element under another name',
    parse: reg,
    status: 500,
    body: fault(`<detail><ns2:fault xmlns:ns2="urn:x" xsi:type="jpt:genericFault">${gf('17', 'Job already registered')}</ns2:fault></detail>`),
    expect: { code: 'JP_SOAP_FAULT', faultCode: 17 },
  },
  {
    name: 'old gSOAP wrapper: genericFault inside genericFault',
    parse: reg,
    status: 500,
    body: fault(`<detail><jpelem:genericFault xmlns:jpelem="urn:e"><jpelem:genericFault>${gf('13', 'denied')}</jpelem:genericFault></jpelem:genericFault></detail>`),
    expect: { code: 'JP_SOAP_FAULT', faultCode: 13, includes: ['denied'] },
  },
  {
    name: 'nested reason chain is shown in order',
    parse: gja,
    status: 500,
    body: fault(
      `<detail><jpe:genericFault>${gf('2', 'Cannot retrieve job info', `<reason>${gf('2', 'No records for this job', '<reason><code>5</code><description>db down</description></reason>')}</reason>`)}</jpe:genericFault></detail>`,
    ),
    expect: { code: 'JP_SOAP_FAULT', faultCode: 2, includes: ['Cannot retrieve job info [glite_jppsbe_x] <- reason: 2 strerror: No records for this job', '<- reason: 5: db down'] },
  },
  {
    name: 'fault without detail',
    parse: gja,
    status: 500,
    body: fault(''),
    expect: { code: 'JP_SOAP_FAULT', faultCode: undefined, includes: ['without detail'] },
  },
  {
    name: 'fault with empty detail',
    parse: gja,
    status: 500,
    body: fault('<detail/>'),
    expect: { code: 'JP_SOAP_FAULT', faultCode: undefined },
  },
  {
    name: 'no code on top, code in reason',
    parse: reg,
    status: 500,
    body: fault(`<detail><genericFault><description>outer</description><reason>${gf('28', 'disk full')}</reason></genericFault></detail>`),
    expect: { code: 'JP_SOAP_FAULT', faultCode: 28, includes: ['outer', 'disk full'] },
  },
  {
    name: 'non-numeric code',
    parse: reg,
    status: 500,
    body: fault('<detail><genericFault><code>abc</code><description>weird</description></genericFault></detail>'),
    expect: { code: 'JP_SOAP_FAULT', faultCode: undefined, includes: ['weird'] },
  },
  {
    name: 'fault with HTTP 200',
    parse: reg,
    status: 200,
    body: fault(`<detail><genericFault>${gf('11', 'try later')}</genericFault></detail>`),
    expect: { code: 'JP_SOAP_FAULT', faultCode: 11, status: undefined },
  },
  {
    name: 'pretty-printed fault: texts trimmed, code read as a number',
    parse: reg,
    status: 500,
    body: env(
      '\n<SOAP-ENV:Fault>\n  <faultcode>\n SOAP-ENV:Server \n</faultcode>\n  <faultstring>  Job already registered\n</faultstring>\n  <detail>\n' +
        '    <jpe:genericFault>\n      <source> glite_jppsbe_x </source>\n      <code> 17\n</code>\n      <text>\tFile exists </text>\n' +
        '      <description>\n Job already registered \n</description>\n      <reason>  db  </reason>\n    </jpe:genericFault>\n  </detail>\n</SOAP-ENV:Fault>\n',
    ),
    expect: {
      code: 'JP_SOAP_FAULT',
      faultCode: 17,
      status: 500,
      includes: ['RegisterJob: SOAP fault SOAP-ENV:Server: 17 File exists: Job already registered [glite_jppsbe_x] <- reason: db'],
    },
  },
  {
    name: 'SOAP 1.2 fault',
    parse: reg,
    status: 500,
    body: '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault><env:Code><env:Value>env:Receiver</env:Value></env:Code><env:Reason><env:Text xml:lang="en">broken</env:Text></env:Reason><env:Detail><genericFault><code>17</code></genericFault></env:Detail></env:Fault></env:Body></env:Envelope>',
    expect: { code: 'JP_SOAP_FAULT', faultCode: 17, includes: ['env:Receiver', 'broken'] },
  },
  {
    name: 'Client fault from the SOAP stack',
    parse: su,
    status: 500,
    body: fault('', 'Method &apos;StartUpload&apos; not implemented'),
    expect: { code: 'JP_SOAP_FAULT', includes: ["Method 'StartUpload' not implemented"] },
  },

  // --- not SOAP / broken
  { name: 'HTML error page, 502', parse: reg, status: 502, body: '<html><body><h1>502 Bad Gateway</h1><hr><center>nginx</center></body></html>', expect: { code: 'JP_HTTP_STATUS', status: 502, includes: ['502', 'Bad Gateway'] } },
  { name: 'HTML error page, 200', parse: reg, status: 200, body: '<!DOCTYPE html><html><body>It works!</body></html>', expect: { code: 'JP_BAD_REPLY' } },
  { name: 'well-formed XHTML, 200', parse: reg, status: 200, body: '<html><body><p>hello</p></body></html>', expect: { code: 'JP_BAD_REPLY', includes: ['no SOAP Envelope'] } },
  { name: 'truncated XML', parse: reg, status: 200, body: env('<jpe:RegisterJobResponse/>').slice(0, 120), expect: { code: 'JP_BAD_REPLY', includes: ['not well-formed'] } },
  { name: 'empty body, 200', parse: reg, status: 200, body: '', expect: { code: 'JP_BAD_REPLY', includes: ['empty'] } },
  { name: 'empty body, 503', parse: reg, status: 503, body: '', expect: { code: 'JP_HTTP_STATUS', status: 503 } },
  { name: 'whitespace body', parse: reg, status: 200, body: ' \n\t', expect: { code: 'JP_BAD_REPLY' } },
  { name: 'binary garbage', parse: reg, status: 200, body: '\u0000\u0001\u00ff\u0002garbage', expect: { code: 'JP_BAD_REPLY' } },
  { name: 'plain text', parse: reg, status: 200, body: 'OK', expect: { code: 'JP_BAD_REPLY' } },
  { name: 'JSON', parse: reg, status: 200, body: '{"ok":true}', expect: { code: 'JP_BAD_REPLY' } },
  { name: 'envelope without Body', parse: reg, body: `<SOAP-ENV:Envelope ${ENV}><SOAP-ENV:Header/></SOAP-ENV:Envelope>`, expect: { code: 'JP_BAD_REPLY', includes: ['Body'] } },
  { name: 'empty Body', parse: reg, body: env(''), expect: { code: 'JP_BAD_REPLY', includes: ['empty'] } },
  { name: 'two Bodies', parse: reg, body: `<SOAP-ENV:Envelope ${ENV}><SOAP-ENV:Body><a/></SOAP-ENV:Body><SOAP-ENV:Body><b/></SOAP-ENV:Body></SOAP-ENV:Envelope>`, expect: { code: 'JP_BAD_REPLY' } },
  { name: 'wrong response element', parse: reg, body: env('<jpe:StartUploadResponse/>'), expect: { code: 'JP_BAD_REPLY', includes: ['RegisterJobResponse', 'StartUploadResponse'] } },
  { name: 'success body with HTTP 500', parse: reg, status: 500, body: env('<jpe:RegisterJobResponse/>'), expect: { code: 'JP_HTTP_STATUS', status: 500 } },
  { name: 'success body with HTTP 404', parse: reg, status: 404, body: env('<jpe:RegisterJobResponse/>'), expect: { code: 'JP_HTTP_STATUS', status: 404 } },
  { name: 'StartUpload without destination', parse: su, body: env('<jpe:StartUploadResponse><commitBefore>2030-01-01T00:00:00Z</commitBefore></jpe:StartUploadResponse>'), expect: { code: 'JP_BAD_REPLY', includes: ['destination'] } },
  { name: 'StartUpload empty destination', parse: su, body: env('<jpe:StartUploadResponse><destination>  </destination></jpe:StartUploadResponse>'), expect: { code: 'JP_BAD_REPLY' } },
  { name: 'StartUpload bad commitBefore', parse: su, body: env('<jpe:StartUploadResponse><destination>ftp://h/x</destination><commitBefore>tomorrow</commitBefore></jpe:StartUploadResponse>'), expect: { code: 'JP_BAD_REPLY', includes: ['commitBefore'] } },
  { name: 'StartUpload impossible date', parse: su, body: env('<jpe:StartUploadResponse><destination>ftp://h/x</destination><commitBefore>2030-02-31T25:00:00Z</commitBefore></jpe:StartUploadResponse>'), expect: { code: 'JP_BAD_REPLY' } },
  { name: 'attrValues with a blank name', parse: gja, body: env('<jpe:GetJobAttributesResponse><attrValues><name> \n </name><value><string>x</string></value></attrValues></jpe:GetJobAttributesResponse>'), expect: { code: 'JP_BAD_REPLY', includes: ['name'] } },
  { name: 'StartUpload blank commitBefore is no commitBefore', parse: su, body: env('<jpe:StartUploadResponse><destination>ftp://h/x</destination><commitBefore>\n </commitBefore></jpe:StartUploadResponse>'), expect: { ok: { destination: 'ftp://h/x', commitBefore: undefined } } },
  { name: 'attrValues without name', parse: gja, body: env('<jpe:GetJobAttributesResponse><attrValues><value><string>x</string></value></attrValues></jpe:GetJobAttributesResponse>'), expect: { code: 'JP_BAD_REPLY', includes: ['name'] } },
  { name: 'unclosed tag inside Body', parse: gja, body: env('<jpe:GetJobAttributesResponse><attrValues>'), expect: { code: 'JP_BAD_REPLY' } },
];

describe('SOAP replies', () => {
  for (const c of replyCases) {
    it(c.name, () => {
      const status = c.status ?? 200;
      if ('ok' in c.expect) {
        assert.deepEqual(c.parse(status, c.body), c.expect.ok);
        return;
      }
      const exp = c.expect;
      assert.throws(
        () => c.parse(status, c.body),
        (e: unknown) => {
          assert.ok(e instanceof JpError, `expected JpError, got ${String(e)}`);
          assert.equal(e.code, exp.code, e.message);
          if ('faultCode' in exp) assert.equal(e.faultCode, exp.faultCode);
          if ('status' in exp) assert.equal(e.status, exp.status);
          for (const s of exp.includes ?? []) assert.ok(e.message.includes(s), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(s)}`);
          assert.ok(!e.message.includes('\n'), 'one-line message');
          return true;
        },
      );
    });
  }
});

describe('SOAP requests', () => {
  it('RegisterJob: element namespace, unqualified children, escaping; round trip', () => {
    const owner = `/C=CZ/O=A & B <x> "q" 'a'/CN=Žluť`;
    const xml = registerJobRequest('https://lb.example.org:9000/AbC', owner);
    assert.match(xml, /xmlns:jpe="http:\/\/glite.org\/wsdl\/elements\/jp"/);
    assert.match(xml, /<jpe:RegisterJob><job>https:\/\/lb.example.org:9000\/AbC<\/job><owner>/);
    assert.ok(xml.includes('A &amp; B &lt;x&gt; &quot;q&quot; &apos;a&apos;'));
    assert.deepEqual(parseDevRequest(xml), { ok: true, req: { op: 'RegisterJob', job: 'https://lb.example.org:9000/AbC', owner } });
  });

  it('StartUpload: all children in order, xsd:dateTime without fractions', () => {
    const xml = startUploadRequest({
      job: 'https://lb/x',
      class: 'urn:org.glite.jp.primary:lb',
      name: '',
      commitBefore: new Date('2030-01-02T03:04:05.678Z'),
      contentType: 'text/lb',
    });
    assert.match(
      xml,
      /<jpe:StartUpload><job>https:\/\/lb\/x<\/job><class>urn:org.glite.jp.primary:lb<\/class><name><\/name><commitBefore>2030-01-02T03:04:05Z<\/commitBefore><contentType>text\/lb<\/contentType><\/jpe:StartUpload>/,
    );
    const back = parseDevRequest(xml);
    assert.ok(back.ok);
    assert.equal(back.req.op, 'StartUpload');
  });

  it('CommitUpload and GetJobAttributes (repeated attributes) round trip', () => {
    assert.deepEqual(parseDevRequest(commitUploadRequest('ftp://h:1/a/b?c&d')), { ok: true, req: { op: 'CommitUpload', destination: 'ftp://h:1/a/b?c&d' } });
    const xml = getJobAttributesRequest('https://lb/j', ['a', 'b']);
    assert.ok(xml.includes('<attributes>a</attributes><attributes>b</attributes>'));
    assert.deepEqual(parseDevRequest(xml), { ok: true, req: { op: 'GetJobAttributes', jobid: 'https://lb/j', attributes: ['a', 'b'] } });
  });

  const unsendable: [string, () => string][] = [
    ['control character in job', () => registerJobRequest('https://lb/a\u0001b', 'o')],
    ['NUL in owner', () => registerJobRequest('https://lb/a', 'o\u0000')],
    ['lone surrogate', () => commitUploadRequest('ftp://h/\uD800x')],
    ['U+FFFE', () => getJobAttributesRequest('https://lb/a', ['\uFFFE'])],
    ['invalid date', () => startUploadRequest({ job: 'j', class: 'c', name: '', commitBefore: new Date(NaN), contentType: 't' })],
  ];
  for (const [name, f] of unsendable) {
    it(`refuses to build: ${name}`, () => {
      assert.throws(f, (e: unknown) => e instanceof JpError && e.code === 'JP_MALFORMED_MESSAGE');
    });
  }

  it('keeps tabs, newlines and astral characters', () => {
    const owner = 'a\tb\nc 😀';
    const back = parseDevRequest(registerJobRequest('https://lb/a', owner));
    assert.ok(back.ok && back.req.op === 'RegisterJob');
    assert.equal(back.req.owner, owner);
  });

  it('keeps leading and trailing whitespace of request fields; blank required fields are missing', () => {
    const owner = ' \n/CN=x\t\r\n';
    assert.deepEqual(parseDevRequest(registerJobRequest('https://lb/a', owner)), { ok: true, req: { op: 'RegisterJob', job: 'https://lb/a', owner } });
    assert.deepEqual(parseDevRequest(getJobAttributesRequest('https://lb/j', [' a', 'b\n', ''])), {
      ok: true,
      req: { op: 'GetJobAttributes', jobid: 'https://lb/j', attributes: [' a', 'b\n', ''] },
    });
    const blankOwner = parseDevRequest(registerJobRequest('https://lb/a', ' \n\t'));
    assert.ok(!blankOwner.ok && blankOwner.bad.problem.includes('<owner>'), JSON.stringify(blankOwner));
  });
});
