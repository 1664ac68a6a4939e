import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JpError } from '../../src/core/errors.js';
import { parseEndpoint } from '../../src/primary/client.js';
import { parseListen } from '../../src/primary-dev/addresses.js';

describe('parseEndpoint', () => {
  const good: [string, { origin: string; path: string; hostname: string; port: number; upgradedFromHttp?: boolean }][] = [
    ['localhost:8900', { origin: 'https://localhost:8900', path: '/', hostname: 'localhost', port: 8900 }],
    ['jp.example.org:8901', { origin: 'https://jp.example.org:8901', path: '/', hostname: 'jp.example.org', port: 8901 }],
    ['127.0.0.1:1', { origin: 'https://127.0.0.1:1', path: '/', hostname: '127.0.0.1', port: 1 }],
    ['[::1]:8900', { origin: 'https://[::1]:8900', path: '/', hostname: '::1', port: 8900 }],
    ['host:65535/jpps', { origin: 'https://host:65535', path: '/jpps', hostname: 'host', port: 65535 }],
    ['https://jp.example.org:8900/', { origin: 'https://jp.example.org:8900', path: '/', hostname: 'jp.example.org', port: 8900 }],
    ['https://jp.example.org:8900', { origin: 'https://jp.example.org:8900', path: '/', hostname: 'jp.example.org', port: 8900 }],
    ['HTTPS://JP.example.org:8900/a/b', { origin: 'https://jp.example.org:8900', path: '/a/b', hostname: 'jp.example.org', port: 8900 }],
    ['https://jp.example.org/', { origin: 'https://jp.example.org:443', path: '/', hostname: 'jp.example.org', port: 443 }],
    ['http://localhost:8901', { origin: 'https://localhost:8901', path: '/', hostname: 'localhost', port: 8901, upgradedFromHttp: true }],
  ];
  for (const [value, exp] of good) {
    it(`accepts ${value}`, () => {
      const e = parseEndpoint(value);
      assert.equal(e.origin, exp.origin);
      assert.equal(e.path, exp.path);
      assert.equal(e.hostname, exp.hostname);
      assert.equal(e.port, exp.port);
      assert.equal(e.url, `${exp.origin}${exp.path}`);
      assert.equal(e.upgradedFromHttp, exp.upgradedFromHttp ?? false);
    });
  }

  const bad: [string, string][] = [
    ['', 'empty'],
    ['   ', 'empty'],
    ['localhost', 'no port'],
    ['localhost:', 'not a host:port'],
    [':8900', 'not a host:port'],
    ['localhost:0', 'port out of range'],
    ['localhost:65536', 'port out of range'],
    ['localhost:99999', 'port out of range'],
    ['https://h:0/', 'port out of range'],
    ['https://h:70000/', 'port out of range'],
    ['localhost:89a0', 'not a host:port'],
    ['local host:8900', 'blanks'],
    ['host:8900\n', 'control'],
    ['ftp://host:21/', 'scheme ftp:// is not supported'],
    ['gsiftp://host:2811/', 'not supported'],
    ['https://user:pw@host:8900/', 'user information'],
    ['https://host:8900/?q=1', 'query'],
    ['https://host:8900/#frag', 'fragment'],
    ['https://:8900/', 'not a valid URL'],
    ['-host:8900', 'not a host:port'],
    ['::1:8900', 'not a host:port'],
  ];
  for (const [value, reason] of bad) {
    it(`refuses ${JSON.stringify(value)} (${reason})`, () => {
      assert.throws(
        () => parseEndpoint(value, '--jpps'),
        (e: unknown) =>
          e instanceof JpError && e.code === 'JP_CONFIG' && e.message.startsWith('--jpps ') && e.message.includes(JSON.stringify(value)) && e.message.includes(reason),
      );
    });
  }
});

describe('parseListen', () => {
  const good: [string, string, number][] = [
    ['127.0.0.1:0', '127.0.0.1', 0],
    ['localhost:8900', 'localhost', 8900],
    ['[::1]:0', '::1', 0],
  ];
  for (const [v, host, port] of good) it(`accepts ${v}`, () => assert.deepEqual(parseListen(v, '--listen'), { host, port }));
  for (const v of ['', '8900', ':8900', 'host:', 'host:65536', 'host:-1', 'a b:1', '::1:0']) {
    it(`refuses ${JSON.stringify(v)}`, () => {
      assert.throws(() => parseListen(v, '--listen'), (e: unknown) => e instanceof JpError && e.code === 'JP_CONFIG' && e.message.startsWith('--listen'));
    });
  }
});
