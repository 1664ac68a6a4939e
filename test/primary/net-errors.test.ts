import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JpError } from '../../src/core/errors.js';
import { classify } from '../../src/core/classify.js';
import { toJpError } from '../../src/primary/net-errors.js';
import { nodeSubjectToSlash } from '../../src/primary/dn.js';

const err = (code: string, message = `boom ${code}`, extra: Record<string, unknown> = {}): Error => Object.assign(new Error(message), { code }, extra);
const ctx = { op: 'RegisterJob', url: 'https://127.0.0.1:8900/', timeoutMs: 1234 };

describe('toJpError', () => {
  const cases: [string, unknown, JpError['code'], string][] = [
    ['unknown CA (leaf)', err('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'JP_TLS', 'unknown CA'],
    ['unknown CA (self-signed)', err('DEPTH_ZERO_SELF_SIGNED_CERT'), 'JP_TLS', 'unknown CA'],
    ['unknown CA (chain)', err('SELF_SIGNED_CERT_IN_CHAIN'), 'JP_TLS', 'unknown CA'],
    ['expired server certificate', err('CERT_HAS_EXPIRED'), 'JP_TLS', 'expired'],
    ['not yet valid', err('CERT_NOT_YET_VALID'), 'JP_TLS', 'not valid yet'],
    ['hostname mismatch', err('ERR_TLS_CERT_ALTNAME_INVALID'), 'JP_TLS', 'hostname mismatch'],
    ['no client certificate', err('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'), 'JP_TLS', 'requires a client certificate'],
    ['client cert expired (alert)', err('ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED'), 'JP_TLS', 'refused our client certificate as expired'],
    ['client CA unknown (alert)', err('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'), 'JP_TLS', 'does not trust the CA of our client certificate'],
    ['plain HTTP port', err('ERR_SSL_WRONG_VERSION_NUMBER'), 'JP_TLS', 'plain HTTP'],
    ['other SSL error', err('ERR_SSL_SOMETHING_NEW'), 'JP_TLS', 'TLS failed'],
    ['EPROTO', err('EPROTO'), 'JP_TLS', 'TLS failed'],
    ['headers timeout', err('UND_ERR_HEADERS_TIMEOUT'), 'JP_TIMEOUT', 'no answer in time (1234 ms)'],
    ['body timeout', err('UND_ERR_BODY_TIMEOUT'), 'JP_TIMEOUT', 'stalled'],
    ['connect timeout', err('UND_ERR_CONNECT_TIMEOUT'), 'JP_TIMEOUT', 'connecting timed out'],
    ['refused', err('ECONNREFUSED'), 'JP_NETWORK', 'connection refused'],
    ['reset', err('ECONNRESET'), 'JP_NETWORK', 'reset'],
    ['closed by peer', err('UND_ERR_SOCKET', 'other side closed'), 'JP_NETWORK', 'closed by the service'],
    ['DNS', err('ENOTFOUND'), 'JP_NETWORK', 'not found'],
    ['cause chain', new Error('fetch failed', { cause: err('ECONNREFUSED') }), 'JP_NETWORK', 'connection refused'],
    ['too big', err('UND_ERR_RES_EXCEEDED_MAX_SIZE'), 'JP_BAD_REPLY', 'larger'],
    ['abort', Object.assign(new Error('aborted'), { name: 'AbortError' }), 'JP_ABORTED', 'aborted'],
    ['undici abort', err('UND_ERR_ABORTED'), 'JP_ABORTED', 'aborted'],
    ['unknown error', new Error('strange'), 'JP_NETWORK', 'strange'],
    ['not an Error', 'a string', 'JP_NETWORK', 'a string'],
  ];
  for (const [name, input, code, text] of cases) {
    it(name, () => {
      const e = toJpError(input, ctx);
      assert.equal(e.code, code, e.message);
      assert.ok(e.message.includes(text), `${JSON.stringify(e.message)} lacks ${JSON.stringify(text)}`);
      assert.ok(e.message.startsWith('RegisterJob to https://127.0.0.1:8900/'), e.message);
      // every transport failure is worth retrying later
      assert.equal(classify(e).kind, 'retry');
    });
  }

  it('a TLS alert seen on the socket explains a bare "other side closed"', () => {
    const e = toJpError(err('UND_ERR_SOCKET', 'other side closed'), { ...ctx, tlsAlert: err('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED') });
    assert.equal(e.code, 'JP_TLS');
    assert.match(e.message, /requires a client certificate/);
  });

  it('JpErrors pass through unchanged', () => {
    const j = new JpError('JP_SOAP_FAULT', 'x', { faultCode: 17 });
    assert.equal(toJpError(j, ctx), j);
  });
});

describe('nodeSubjectToSlash', () => {
  const cases: [string, string][] = [
    ['C=CZ\nO=jp-importer dev\nCN=jp-importer client', '/C=CZ/O=jp-importer dev/CN=jp-importer client'],
    ['DC=org\nDC=example\nCN=Jane Doe', '/DC=org/DC=example/CN=Jane Doe'],
    ['O=Foo\\, Inc.\nCN=x', '/O=Foo, Inc./CN=x'],
    ['O=X\nCN=a + UID=b', '/O=X/CN=a+UID=b'],
    ['CN=a\\+b', '/CN=a+b'],
    ['CN=\\C5\\BDlu\\C5\\A5', '/CN=Žluť'],
    ['CN=Žluť', '/CN=Žluť'],
    ['CN=back\\\\slash', '/CN=back\\slash'],
    ['CN=\\"quoted\\"', '/CN="quoted"'],
    ['emailAddress=j@x.org\nCN=123', '/emailAddress=j@x.org/CN=123'],
    ['', ''],
  ];
  for (const [input, out] of cases) it(JSON.stringify(input), () => assert.equal(nodeSubjectToSlash(input), out));
});
