import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { JpError } from '../../src/core/errors.js';
import { classify } from '../../src/core/classify.js';
import { parseJobmanConfig } from '../../src/jobman/config.js';
import { forwardRequest } from '../../src/jobman/forward.js';
import { createJobmanHandler } from '../../src/jobman/handler.js';
import { claimed, SPEC_EXAMPLE } from './fixtures.js';

interface Received {
  path: string;
  contentType: string | undefined;
  params: string | null;
}

async function startServer(): Promise<{ server: Server; base: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      received.push({ path: req.url ?? '', contentType: req.headers['content-type'], params: form.get('params') });
      const status = Number((req.url ?? '').split('/')[1] ?? '500');
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status === 200 ? 'job 42 queued' : `answer for ${status}`);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { server, base: `http://127.0.0.1:${port}`, received };
}

const clientConfig = (url: string) =>
  parseJobmanConfig(`[DEFAULT]\nmode=client\n[client]\npostURL_develop=${url}\npostURL_product=http://192.0.2.1/never\n`, '/etc/jp/config.ini', {});

test('client mode: 2xx delivered, 4xx give up with the answer, 5xx/408/429 retry', async () => {
  const { server, base, received } = await startServer();
  const signal = new AbortController().signal;
  try {
    const cases: { path: string; kind: string; re: RegExp }[] = [
      { path: '/200/job/add.php', kind: 'delivered', re: /forwarded request r1; answer: job 42 queued/ },
      { path: '/201/', kind: 'delivered', re: /forwarded/ },
      { path: '/400/', kind: 'giveup', re: /HTTP 400: answer for 400/ },
      { path: '/404/', kind: 'giveup', re: /HTTP 404: answer for 404/ },
      { path: '/408/', kind: 'retry', re: /HTTP 408/ },
      { path: '/429/', kind: 'retry', re: /HTTP 429/ },
      { path: '/500/', kind: 'retry', re: /HTTP 500: answer for 500/ },
      { path: '/503/', kind: 'retry', re: /HTTP 503/ },
    ];
    for (const c of cases) {
      const h = createJobmanHandler(clientConfig(base + c.path));
      const o = await h.handle(claimed('r1.req'), Buffer.from(SPEC_EXAMPLE), signal);
      await h.close();
      assert.equal(o.kind, c.kind, c.path);
      assert.match(o.kind === 'delivered' ? o.note ?? '' : o.reason, c.re, c.path);
    }
    assert.equal(received.length, cases.length);
    for (const r of received) {
      assert.equal(r.params, SPEC_EXAMPLE, 'the body is posted unchanged as form field params');
      assert.match(r.contentType ?? '', /^application\/x-www-form-urlencoded/);
    }
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('client mode: malformed requests are refused without posting; network errors retry', async () => {
  const { server, base, received } = await startServer();
  const signal = new AbortController().signal;
  try {
    const h = createJobmanHandler(clientConfig(`${base}/200/`));
    const o = await h.handle(claimed('bad.req'), Buffer.from('{"sql":1}'), signal);
    assert.equal(o.kind, 'giveup');
    assert.equal(received.length, 0);
    await h.close();
  } finally {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  }
  // The server is gone: connection refused.
  const h2 = createJobmanHandler(clientConfig(`${base}/200/`));
  const o2 = await h2.handle(claimed('net.req'), Buffer.from(SPEC_EXAMPLE), signal);
  await h2.close();
  assert.equal(o2.kind, 'retry');
  assert.match(o2.kind === 'retry' ? o2.reason : '', /POST http:\/\/127\.0\.0\.1:\d+\/200\/: .*ECONNREFUSED/);
});

test('forwardRequest: errors are JpErrors that classify() maps', async () => {
  const { server, base } = await startServer();
  try {
    await assert.rejects(forwardRequest(`${base}/422/`, '[]'), (e: unknown) => {
      assert.ok(e instanceof JpError);
      assert.equal(e.code, 'JP_HTTP_STATUS');
      assert.equal(e.status, 422);
      assert.equal(classify(e).kind, 'giveup');
      return true;
    });
    assert.equal(await forwardRequest(`${base}/200/`, Buffer.from('[]')), 'job 42 queued');
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(forwardRequest(`${base}/200/`, '[]', { signal: ac.signal }), (e: unknown) => {
      assert.ok(e instanceof JpError);
      assert.equal(e.code, 'JP_ABORTED');
      return true;
    });
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
