/**
 * The client's HTTP exchange (undici dispatch, reply collected in memory)
 * against a scripted mutual-TLS HTTPS server on loopback: aborts before and
 * while waiting, the reply size limit, replies in many chunks, and where
 * Pool/buildConnector are loaded from.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool as PackagePool, buildConnector as packageBuildConnector } from 'undici';
import { JpError } from '../../src/core/errors.js';
import { PrimaryClient } from '../../src/primary/client.js';
import { exchange } from '../../src/primary/http-exchange.js';
import { buildConnector, Pool, undiciCoreSource } from '../../src/primary/undici-core.js';
import { CLIENT_SUBJECT, devCerts } from '../helpers/certs.js';

const OK_REPLY =
  '<?xml version="1.0" encoding="UTF-8"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" ' +
  'xmlns:jpe="http://glite.org/wsdl/elements/jp"><SOAP-ENV:Body><jpe:RegisterJobResponse/></SOAP-ENV:Body></SOAP-ENV:Envelope>';

type Script = (req: IncomingMessage, res: ServerResponse) => void;

describe('HTTP exchange of the primary client', () => {
  const certs = devCerts();
  let server: Server;
  let port = 0;
  let script: Script = (_req, res) => res.end(OK_REPLY);
  /** Requests that reached the server (path + body). */
  const received: string[] = [];
  const held: ServerResponse[] = [];

  before(async () => {
    server = createServer({
      cert: readFileSync(certs.server), key: readFileSync(certs.serverKey), ca: readFileSync(certs.ca), requestCert: true, rejectUnauthorized: true,
    }, (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        received.push(body);
        script(req, res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    for (const r of held) r.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const client = (maxReplyBytes?: number): PrimaryClient => new PrimaryClient({
    endpoint: `127.0.0.1:${port}`, certFile: certs.client, keyFile: certs.clientKey, caPath: certs.caDir, connections: 2,
    ...(maxReplyBytes !== undefined ? { maxReplyBytes } : {}),
  });
  const rejection = async (p: Promise<unknown>): Promise<JpError> => {
    const e = await p.then(() => assert.fail('the call succeeded'), (err: unknown) => err);
    assert.ok(e instanceof JpError, String(e));
    return e;
  };

  it('Pool and buildConnector come from their own undici modules and are the package\'s classes', () => {
    assert.equal(undiciCoreSource, 'modules');
    assert.equal(Pool, PackagePool);
    assert.equal(buildConnector, packageBuildConnector);
  });

  it('a canonical reply completes RegisterJob; the request carried the SOAP envelope', async () => {
    script = (_req, res) => res.end(OK_REPLY);
    const c = client();
    try {
      const before = received.length;
      await c.registerJob('https://lb.example.org:9000/x1', CLIENT_SUBJECT);
      assert.equal(received.length, before + 1);
      assert.match(received.at(-1) ?? '', /<jpe:RegisterJob><job>https:\/\/lb\.example\.org:9000\/x1<\/job>/);
    } finally {
      await c.close();
    }
  });

  it('a reply in many chunks, with a UTF-8 character split between two of them, arrives whole', async () => {
    const text = 'é'.repeat(3000);
    const bytes = Buffer.from(text, 'utf8');
    script = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      // odd slice sizes split the two-byte characters
      for (let off = 0; off < bytes.length; off += 999) res.write(bytes.subarray(off, off + 999));
      res.end();
    };
    const pool = new Pool(`https://127.0.0.1:${port}`, {
      connect: { ca: readFileSync(certs.ca), cert: readFileSync(certs.client), key: readFileSync(certs.clientKey), rejectUnauthorized: true },
    });
    try {
      const r = await exchange(pool, { path: '/', method: 'POST', headers: { 'content-type': 'text/xml' }, body: 'x' });
      assert.equal(r.status, 200);
      assert.equal(r.body, text);
    } finally {
      await pool.close();
    }
  });

  it('a signal aborted before the call: JP_ABORTED, and nothing is sent', async () => {
    script = (_req, res) => res.end(OK_REPLY);
    const c = client();
    try {
      await c.registerJob('https://lb.example.org:9000/warm', CLIENT_SUBJECT); // a connection exists
      const before = received.length;
      const ac = new AbortController();
      ac.abort();
      const e = await rejection(c.registerJob('https://lb.example.org:9000/x2', CLIENT_SUBJECT, ac.signal));
      assert.equal(e.code, 'JP_ABORTED', e.message);
      assert.equal(received.length, before, 'no request reached the service');
    } finally {
      await c.close();
    }
  });

  it('a signal aborted while the service holds the answer: JP_ABORTED at once', async () => {
    let arrived: () => void = () => undefined;
    const reached = new Promise<void>((r) => (arrived = r));
    script = (_req, res) => {
      held.push(res);
      arrived();
    };
    const c = client();
    try {
      const ac = new AbortController();
      const call = c.registerJob('https://lb.example.org:9000/x3', CLIENT_SUBJECT, ac.signal);
      await reached;
      ac.abort();
      const e = await rejection(call);
      assert.equal(e.code, 'JP_ABORTED', e.message);
    } finally {
      await c.close();
    }
  });

  it('a reply larger than maxReplyBytes is refused as a bad reply', async () => {
    script = (_req, res) => res.end(`${OK_REPLY}${' '.repeat(4096)}`);
    const c = client(1024);
    try {
      const e = await rejection(c.registerJob('https://lb.example.org:9000/x4', CLIENT_SUBJECT));
      assert.equal(e.code, 'JP_BAD_REPLY', e.message);
    } finally {
      await c.close();
    }
  });
});
