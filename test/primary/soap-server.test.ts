import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JpError } from '../../src/core/errors.js';
import { classify } from '../../src/core/classify.js';
import { parseRegisterJobReply, parseGetJobAttributesReply, parseStartUploadReply } from '../../src/primary/soap.js';
import { parseDateTime, formatDateTime, xmlEscape } from '../../src/primary/soap-xml.js';
import {
  clientFault,
  getJobAttributesResponse,
  jpError,
  parseDevRequest,
  serverFault,
  startUploadResponse,
} from '../../src/primary-dev/soap-server.js';

const env = (inner: string): string =>
  `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>${inner}</s:Body></s:Envelope>`;

describe('service side: request parsing', () => {
  const cases: { name: string; xml: string; ok?: unknown; bad?: { op: string; includes: string } }[] = [
    { name: 'RegisterJob', xml: env('<j:RegisterJob xmlns:j="x"><job>https://lb/a</job><owner>/CN=x</owner></j:RegisterJob>'), ok: { op: 'RegisterJob', job: 'https://lb/a', owner: '/CN=x' } },
    { name: 'RegisterJob without owner', xml: env('<j:RegisterJob xmlns:j="x"><job>https://lb/a</job></j:RegisterJob>'), bad: { op: 'RegisterJob', includes: '<owner>' } },
    { name: 'RegisterJob with empty job', xml: env('<j:RegisterJob xmlns:j="x"><job/><owner>o</owner></j:RegisterJob>'), bad: { op: 'RegisterJob', includes: '<job>' } },
    {
      name: 'StartUpload without name (optional)',
      xml: env('<j:StartUpload xmlns:j="x"><job>https://lb/a</job><class>c</class><commitBefore>2030-01-01T00:00:00Z</commitBefore></j:StartUpload>'),
      ok: { op: 'StartUpload', job: 'https://lb/a', class: 'c', name: '', commitBefore: '2030-01-01T00:00:00Z', contentType: '' },
    },
    { name: 'StartUpload without class', xml: env('<j:StartUpload xmlns:j="x"><job>https://lb/a</job></j:StartUpload>'), bad: { op: 'StartUpload', includes: '<class>' } },
    { name: 'CommitUpload without destination', xml: env('<j:CommitUpload xmlns:j="x"/>'), bad: { op: 'CommitUpload', includes: '<destination>' } },
    { name: 'GetJobAttributes without attributes', xml: env('<j:GetJobAttributes xmlns:j="x"><jobid>https://lb/a</jobid></j:GetJobAttributes>'), ok: { op: 'GetJobAttributes', jobid: 'https://lb/a', attributes: [] } },
    { name: 'unknown operation', xml: env('<j:FeedIndex xmlns:j="x"/>'), bad: { op: 'FeedIndex', includes: 'not implemented' } },
    { name: 'a fault as request', xml: env('<s:Fault><faultcode>x</faultcode></s:Fault>'), bad: { op: 'Fault', includes: 'not a request' } },
    { name: 'not XML', xml: 'hello', bad: { op: 'invalid', includes: 'not a SOAP request' } },
    { name: 'empty', xml: '', bad: { op: 'invalid', includes: 'empty' } },
    { name: 'truncated', xml: env('<j:RegisterJob xmlns:j="x"><job>https://lb/a</job>').slice(0, 60), bad: { op: 'invalid', includes: 'not' } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = parseDevRequest(c.xml);
      if (c.ok !== undefined) {
        assert.deepEqual(r, { ok: true, req: c.ok });
      } else {
        assert.equal(r.ok, false);
        if (!r.ok) {
          assert.equal(r.bad.op, c.bad?.op);
          assert.ok(r.bad.problem.includes(c.bad?.includes ?? '?'), r.bad.problem);
        }
      }
    });
  }
});

describe('service side: responses and faults read by the client codec', () => {
  it('a server fault with a reason chain has the real shape and classifies as delivered for EEXIST', () => {
    const xml = serverFault(jpError(17, 'glite_jppsbe_register_job', 'Job already registered'));
    assert.match(xml, /<SOAP-ENV:Fault><faultcode>SOAP-ENV:Server<\/faultcode>/);
    assert.match(xml, /<detail><jpe:genericFault><source>glite_jppsbe_register_job<\/source><code>17<\/code><text>File exists<\/text><description>Job already registered<\/description><\/jpe:genericFault><\/detail>/);
    assert.throws(
      () => parseRegisterJobReply(500, xml),
      (e: unknown) => e instanceof JpError && e.faultCode === 17 && classify(e, { operation: 'RegisterJob' }).kind === 'delivered',
    );
  });

  it('nested reasons survive', () => {
    const xml = serverFault(jpError(2, 'a', 'Cannot retrieve job info', jpError(2, 'b', 'No records for this job')));
    assert.match(xml, /<reason><source>b<\/source><code>2<\/code>/);
    assert.throws(
      () => parseGetJobAttributesReply(500, xml),
      (e: unknown) => e instanceof JpError && e.faultCode === 2 && e.message.includes('No records for this job'),
    );
  });

  it('client fault carries EINVAL and escapes the problem text', () => {
    const xml = clientFault('bad <thing> & more');
    assert.match(xml, /SOAP-ENV:Client/);
    assert.throws(() => parseRegisterJobReply(500, xml), (e: unknown) => e instanceof JpError && e.faultCode === 22 && e.message.includes('bad <thing> & more'));
  });

  it('StartUpload and GetJobAttributes responses parse back', () => {
    const d = new Date('2031-05-06T07:08:09Z');
    assert.deepEqual(parseStartUploadReply(200, startUploadResponse('ftp://h:2/a/b%20c', d)), { destination: 'ftp://h:2/a/b%20c', commitBefore: d });
    const vals = parseGetJobAttributesReply(200, getJobAttributesResponse([{ name: 'n&', value: 'v<', timestamp: d.getTime(), origin: 'SYSTEM' }]));
    assert.deepEqual(vals, [{ name: 'n&', value: 'v<', timestamp: '2031-05-06T07:08:09Z', origin: 'SYSTEM' }]);
  });
});

describe('xsd:dateTime and escaping helpers', () => {
  const dates: [string, string | undefined][] = [
    ['2030-01-02T03:04:05Z', '2030-01-02T03:04:05.000Z'],
    ['2030-01-02T03:04:05', '2030-01-02T03:04:05.000Z'],
    ['2030-01-02T03:04:05.5-01:30', '2030-01-02T04:34:05.500Z'],
    [' 2030-01-02T03:04:05Z ', '2030-01-02T03:04:05.000Z'],
    ['2030-01-02', undefined],
    ['2030-13-02T03:04:05Z', undefined],
    ['2030-01-02 03:04:05Z', undefined],
    ['1700000000', undefined],
    ['', undefined],
  ];
  for (const [s, iso] of dates) {
    it(`parseDateTime(${JSON.stringify(s)})`, () => assert.equal(parseDateTime(s)?.toISOString(), iso));
  }
  it('formatDateTime drops fractions', () => assert.equal(formatDateTime(new Date('2030-01-02T03:04:05.999Z')), '2030-01-02T03:04:05Z'));
  it('xmlEscape escapes markup and CR, names the field on bad characters', () => {
    assert.equal(xmlEscape(`<a href="x">&'\r`), '&lt;a href=&quot;x&quot;&gt;&amp;&apos;&#13;');
    assert.throws(() => xmlEscape('a\u001Fb', '<owner>'), /<owner> contains a character XML cannot carry \(U\+001F at offset 1\)/);
  });
});
