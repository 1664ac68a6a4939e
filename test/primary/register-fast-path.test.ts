import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isJpError } from '../../src/core/errors.js';
import { isCanonicalRegisterJobOk, parseRegisterJobReply } from '../../src/primary/soap.js';
import { registerJobResponse } from '../../src/primary-dev/soap-server.js';

const OK = registerJobResponse('compact');
const GSOAP = registerJobResponse('gsoap');
const cases: [string, number, string, boolean][] = [
  ['the reference service reply', 200, OK, true],
  ['without XML declaration', 200, OK.replace(/^<\?xml[^>]*>\s*/, ''), true],
  ['other prefixes', 200, '<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:j="http://glite.org/wsdl/elements/jp"><e:Body><j:RegisterJobResponse/></e:Body></e:Envelope>', true],
  ['HTTP 500', 500, OK, false],
  ['wrong element namespace', 200, OK.replace('http://glite.org/wsdl/elements/jp', 'urn:x'), false],
  ['wrong envelope namespace', 200, OK.replace('http://schemas.xmlsoap.org/soap/envelope/', 'urn:y'), false],
  ['HTML from a proxy', 200, '<html><body>ok</body></html>', false],
  ['another response element', 200, OK.replace('RegisterJobResponse', 'CommitUploadResponse'), false],
  ['truncated', 200, OK.replace('</SOAP-ENV:Envelope>', ''), false],
  ['mismatched closing prefix', 200, OK.replace('</SOAP-ENV:Body>', '</X:Body>'), false],
  ['the real gSOAP service\'s reply (open and close tag, its prefixes)', 200, GSOAP, true],
  ['open and close tag, compact prefixes', 200, OK.replace('<jpe:RegisterJobResponse/>', '<jpe:RegisterJobResponse></jpe:RegisterJobResponse>'), true],
  ['mismatched close tag prefix', 200, GSOAP.replace('</jpelem:RegisterJobResponse>', '</x:RegisterJobResponse>'), false],
  ['non-empty response (full parser)', 200, GSOAP.replace('<jpelem:RegisterJobResponse></jpelem:RegisterJobResponse>', '<jpelem:RegisterJobResponse> </jpelem:RegisterJobResponse>'), false],
  ['gSOAP shape, wrong element namespace', 200, GSOAP.replace('xmlns:jpelem="http://glite.org/wsdl/elements/jp"', 'xmlns:jpelem="urn:x"'), false],
  ['a fault', 200, OK.replace('<jpe:RegisterJobResponse/>', '<SOAP-ENV:Fault><faultcode>x</faultcode></SOAP-ENV:Fault>'), false],
];
for (const [name, status, body, want] of cases) {
  test(`RegisterJob fast path: ${name} → ${want ? 'taken' : 'full parser'}`, () => assert.equal(isCanonicalRegisterJobOk(status, body), want));
}

test('anything off the fast path is still judged by the full parser', () => {
  parseRegisterJobReply(200, OK.replace('<jpe:RegisterJobResponse/>', '<jpe:RegisterJobResponse></jpe:RegisterJobResponse>'));
  assert.throws(() => parseRegisterJobReply(200, '<html><body>ok</body></html>'), (e: unknown) => isJpError(e, 'JP_BAD_REPLY'));
  assert.throws(() => parseRegisterJobReply(500, OK), (e: unknown) => isJpError(e));
});
