import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isJpError } from '../../src/core/errors.js';
import { parseListen } from '../../src/metrics/listen.js';

test('parseListen: accepted forms', () => {
  const cases: [string, string, number][] = [
    ['127.0.0.1:0', '127.0.0.1', 0],
    ['127.0.0.1:9464', '127.0.0.1', 9464],
    ['0.0.0.0:65535', '0.0.0.0', 65535],
    ['[::1]:9464', '::1', 9464],
    ['[fe80::1%eth0]:80', 'fe80::1%eth0', 80],
    ['localhost:9464', 'localhost', 9464],
    ['metrics.example.org:1', 'metrics.example.org', 1],
    ['127.0.0.1:00080', '127.0.0.1', 80],
  ];
  for (const [text, host, port] of cases) assert.deepEqual(parseListen(text), { host, port }, text);
});

test('parseListen: refused forms, each with JP_CONFIG, the value and the reason', () => {
  const cases: [unknown, RegExp][] = [
    ['', /empty/],
    ['9464', /no port/],
    [':9464', /no host/],
    ['127.0.0.1', /no port/],
    ['127.0.0.1:', /no port/],
    ['127.0.0.1:65536', /out of range/],
    ['127.0.0.1:-1', /not a number/],
    ['127.0.0.1:123456', /not a number/],
    ['127.0.0.1:0x50', /not a number/],
    ['::1:9464', /brackets/],
    ['[::1]', /followed by :port/],
    ['[::1]9464', /followed by :port/],
    ['[::1]:', /no port/],
    ['[127.0.0.1]:80', /not an IPv6 address/],
    ['[zz::1]:80', /not an IPv6 address/],
    ['256.1.1.1:80', /not an IPv4 address/],
    ['1.2.3:80', /not an IPv4 address/],
    ['host name:80', /white space/],
    ['127.0.0.1:80\n', /white space/],
    ['a_b:80', /not a valid host name/],
    ['-bad:80', /not a valid host name/],
    [`${'a'.repeat(64)}:80`, /not a valid host name/],
    ['http://127.0.0.1:80', /scheme or path/],
    ['127.0.0.1:80/metrics', /scheme or path/],
    [9464, /not a string/],
    [undefined, /not a string/],
  ];
  for (const [value, why] of cases) {
    assert.throws(() => parseListen(value, 'metrics_listen'), (e: unknown) => {
      assert.ok(isJpError(e, 'JP_CONFIG'), String(value));
      assert.ok(e.message.startsWith(`metrics_listen ${JSON.stringify(value)}: `), e.message);
      assert.match(e.message, why);
      assert.match(e.message, /expected host:port/);
      return true;
    }, String(value));
  }
});
