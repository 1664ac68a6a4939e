/**
 * Fuzz, adversarial SOAP replies: entity expansion (billion laughs,
 * quadratic blowup), external entities/DTDs/XInclude (never read), 10 MB
 * bodies, deep and wide trees, NUL, CRLF, huge numbers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRegisterJobReply, parseStartUploadReply } from '../../src/primary/soap.js';
import { parseDevRequest } from '../../src/primary-dev/soap-server.js';
import { attempt, jpErrorWith, total } from './fuzz.js';

const replyError = jpErrorWith('JP_BAD_REPLY', 'JP_HTTP_STATUS', 'JP_SOAP_FAULT');
const ENV_NS = 'http://schemas.xmlsoap.org/soap/envelope/';

describe('fuzz: adversarial SOAP replies', () => {
  // BUG (see report): findGenericFault does queue.push(...children(n, name));
  // a fault detail with ~130k same-named siblings (a 0.5 MB reply) overflows
  // the argument stack: RangeError "Maximum call stack size exceeded" escapes
  // parseEnvelope (not an EnvelopeError), so readReply rethrows it instead of
  // a JpError, and parseDevRequest (reference service) throws too.
  it('fixed: a fault detail with 200k sibling elements is a JpError, not a RangeError', () => {
    const wide = `<SOAP-ENV:Envelope xmlns:SOAP-ENV="${ENV_NS}"><SOAP-ENV:Body><SOAP-ENV:Fault><detail>${'<x><y/></x>'.repeat(200_000)}</detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`;
    attempt('wide fault detail', wide, () => parseRegisterJobReply(500, wide), replyError);
    total('parseDevRequest (wide fault)', wide, () => parseDevRequest(wide));
  });

  it('adversarial: billion laughs, quadratic blowup, external entities and DTDs, 10 MB, deep nesting, NUL, CRLF', () => {
    const wrap = (prolog: string, dest: string): string =>
      `<?xml version="1.0"?>${prolog}<SOAP-ENV:Envelope xmlns:SOAP-ENV="${ENV_NS}"><SOAP-ENV:Body><StartUploadResponse><destination>${dest}</destination></StartUploadResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>`;
    const lols = Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i};`.repeat(10)}">`).join('');
    const refusedOrInert = (name: string, body: string, forbidden: RegExp): void => {
      const v = attempt(name, body, () => parseStartUploadReply(200, body), replyError);
      if (v.ok) {
        assert.ok(v.value.destination.length < 1000, `${name}: destination of ${v.value.destination.length} characters (expanded)`);
        assert.doesNotMatch(v.value.destination, forbidden, name);
      }
    };
    refusedOrInert('billion laughs', wrap(`<!DOCTYPE l [<!ENTITY lol0 "lol">${lols}]>`, '&lol9;'), /lollol/);
    refusedOrInert('quadratic blowup', wrap(`<!DOCTYPE x [<!ENTITY a "${'x'.repeat(9999)}">]>`, '&a;'.repeat(10000)), /xxxxxxxxxx/);
    refusedOrInert('external entity', wrap('<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', 'ftp://h/&xxe;'), /root:|\/bin\//);
    refusedOrInert('external entity (public)', wrap('<!DOCTYPE x [<!ENTITY xxe PUBLIC "-//x" "file:///etc/hostname">]>', 'ftp://h/&xxe;'), /root:/);
    refusedOrInert('parameter entity', wrap('<!DOCTYPE x [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>', 'ftp://h/'), /root:/);
    refusedOrInert('external DTD', wrap('<!DOCTYPE x SYSTEM "file:///etc/passwd">', 'ftp://h/'), /root:/);
    refusedOrInert('remote DTD (never fetched)', wrap('<!DOCTYPE x PUBLIC "-//x" "http://127.0.0.1:9/x.dtd">', 'ftp://h/'), /root:/);
    refusedOrInert('XInclude', wrap('', '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/>'), /root:/);
    refusedOrInert('many entities', wrap(`<!DOCTYPE x [${Array.from({ length: 1500 }, (_, i) => `<!ENTITY e${i} "v">`).join('')}]>`, '&e1;'), /root:/);

    const big = wrap('', `ftp://h/${'a'.repeat(10 * 1024 * 1024)}`);
    assert.equal(parseStartUploadReply(200, big).destination.length, 10 * 1024 * 1024 + 8);
    const deep = wrap('', `${'<a>'.repeat(20_000)}${'</a>'.repeat(20_000)}`);
    attempt('deep nesting', deep, () => parseStartUploadReply(200, deep), replyError);
    const deepFault = `<SOAP-ENV:Envelope xmlns:SOAP-ENV="${ENV_NS}"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>c</faultcode><detail>${'<reason><code>1</code>'.repeat(5000)}${'</reason>'.repeat(5000)}</detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`;
    attempt('deep fault chain', deepFault, () => parseRegisterJobReply(500, deepFault), replyError);
    const wideOk = `<SOAP-ENV:Envelope xmlns:SOAP-ENV="${ENV_NS}"><SOAP-ENV:Body><SOAP-ENV:Fault><detail>${'<x><y/></x>'.repeat(5_000)}</detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`;
    attempt('wide fault detail', wideOk, () => parseRegisterJobReply(500, wideOk), replyError);
    for (const body of [wrap('', 'ftp://h/a\0b'), `\0${wrap('', 'x')}`, wrap('', 'ftp://h/&#0;'), wrap('', '&#x110000;')]) {
      attempt('NUL / invalid character references', body, () => parseStartUploadReply(200, body), replyError);
    }
    assert.equal(parseStartUploadReply(200, wrap('', 'ftp://h/x').replace(/></g, '>\r\n<')).destination, 'ftp://h/x');
    assert.equal(parseStartUploadReply(200, `\ufeff${wrap('', 'ftp://h/x')}`).destination, 'ftp://h/x');
    // Huge numbers: an errno that does not fit is not taken as a fault code.
    const huge = `<SOAP-ENV:Envelope xmlns:SOAP-ENV="${ENV_NS}"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>c</faultcode><detail><code>${'9'.repeat(400)}</code></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`;
    const hv = attempt('huge errno', huge, () => parseRegisterJobReply(500, huge), jpErrorWith('JP_SOAP_FAULT'));
    assert.ok(!hv.ok && (hv.error as Error & { faultCode?: number }).faultCode === undefined);
  });
});
