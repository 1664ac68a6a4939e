/**
 * The reference service answers in the real gSOAP shapes by default
 * (primary-service.md "What the real service puts on the wire"): every
 * namespace of gSOAP's table on the Envelope, empty responses with an open
 * and a close tag, a fault's detail as `<fault xsi:type="jptype:genericFault">`,
 * faults as HTTP 500 with `Connection: close`. The earlier compact shape
 * stays behind `replyShape: 'compact'`. The importer reads both, and its
 * RegisterJob fast path takes the real success reply.
 */
import assert from 'node:assert/strict';
import { Agent, request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { isJpError } from '../../src/core/errors.js';
import {
  isCanonicalRegisterJobOk, parseCommitUploadReply, parseGetJobAttributesReply, parseRegisterJobReply, parseStartUploadReply, readReply,
  registerJobRequest,
} from '../../src/primary/soap.js';
import {
  clientFault, commitUploadResponse, getJobAttributesResponse, jpError, registerJobResponse, REPLY_SHAPES, serverFault, startUploadResponse,
  type ReplyShape,
} from '../../src/primary-dev/soap-server.js';
import { REGTIME_ATTRIBUTE } from '../../src/primary/api.js';
import { CLIENT_SUBJECT } from '../helpers/certs.js';
import { startDevService, type DevService } from '../helpers/primary-dev.js';

const when = new Date('2026-12-07T12:00:00Z');

describe('gSOAP reply shapes', () => {
  it('the success replies: the real namespaces and prefixes, open and close tags', () => {
    const r = registerJobResponse('gsoap');
    for (const ns of ['xmlns:SOAP-ENV=', 'xmlns:SOAP-ENC=', 'xmlns:xsi=', 'xmlns:xsd=', 'xmlns:jptype="http://glite.org/wsdl/types/jp"',
      'xmlns:jpelem="http://glite.org/wsdl/elements/jp"', 'xmlns:jpsrv="http://glite.org/wsdl/services/jp"']) assert.ok(r.includes(ns), ns);
    assert.match(r, /<SOAP-ENV:Body><jpelem:RegisterJobResponse><\/jpelem:RegisterJobResponse><\/SOAP-ENV:Body>/);
    assert.match(commitUploadResponse('gsoap'), /<jpelem:CommitUploadResponse><\/jpelem:CommitUploadResponse>/);
    assert.doesNotMatch(registerJobResponse('gsoap') + commitUploadResponse('gsoap'), /\/>/);
    assert.match(registerJobResponse('compact'), /<jpe:RegisterJobResponse\/>/);
  });

  it('a fault\'s detail is <fault xsi:type="jptype:genericFault"> with the chain in <reason>', () => {
    const f = serverFault(jpError(5, 'glite_jppsbe_register_job', 'Cannot mkdir', jpError(13, 'mkdir', '/x: denied')), 'gsoap');
    assert.match(f, /<faultcode>SOAP-ENV:Server<\/faultcode><faultstring>Cannot mkdir<\/faultstring><detail><fault xsi:type="jptype:genericFault"><source>glite_jppsbe_register_job<\/source><code>5<\/code><text>Input\/output error<\/text><description>Cannot mkdir<\/description><reason><source>mkdir<\/source><code>13<\/code>/);
    assert.doesNotMatch(f, /genericFault>/);
  });

  for (const shape of REPLY_SHAPES) {
    it(`the importer reads every ${shape} reply and fault`, () => {
      parseRegisterJobReply(200, registerJobResponse(shape));
      assert.equal(isCanonicalRegisterJobOk(200, registerJobResponse(shape)), true, 'fast path');
      parseCommitUploadReply(200, commitUploadResponse(shape));
      assert.equal(parseStartUploadReply(200, startUploadResponse('gsiftp://h:2811/d/f', when, shape)).destination, 'gsiftp://h:2811/d/f');
      const attrs = parseGetJobAttributesReply(200, getJobAttributesResponse([{ name: REGTIME_ATTRIBUTE, value: '42', timestamp: when.getTime(), origin: 'SYSTEM' }], shape));
      assert.equal(attrs[0]?.value, '42');
      const cases: Array<[string, number]> = [
        [serverFault(jpError(17, 'glite_jppsbe_register_job', 'Job already registered'), shape), 17],
        [serverFault(jpError(5, 'outer', 'o', jpError(2, 'inner', 'i')), shape), 5],
        [clientFault('bad request', shape), 22],
      ];
      for (const [xml, code] of cases) {
        assert.throws(() => readReply('RegisterJob', 500, xml), (e: unknown) => isJpError(e, 'JP_SOAP_FAULT') && e.faultCode === code, xml);
      }
    });
  }
});

/** One raw POST over mutual TLS: status, headers, body. */
function postWith(svc: DevService, body: string, agent: Agent): Promise<{ status: number; connection: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${svc.dev.url}`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=utf-8', SOAPAction: '""' },
      agent,
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

for (const shape of REPLY_SHAPES) {
  describe(`jp-primary-dev answering in the ${shape} shape${shape === 'gsoap' ? ' (its default)' : ''}`, () => {
    let svc: DevService;
    before(async () => {
      svc = await startDevService(shape === 'gsoap' ? {} : { replyShape: shape as ReplyShape });
    });
    after(() => svc.close());

    it('success 200 on a kept connection; a fault is HTTP 500 and, as gSOAP does, closes the connection', async () => {
      const job = `https://lb.example.org:9000/${randomBytes(9).toString('base64url')}`;
      // A keep-alive client, as the importer is: only the service's answer decides whether the connection stays.
      const agent = new Agent({ keepAlive: true, cert: readFileSync(svc.certs.client), key: readFileSync(svc.certs.clientKey), ca: readFileSync(svc.certs.ca) });
      const post = (b: string) => postWith(svc, b, agent);
      const ok = await post(registerJobRequest(job, CLIENT_SUBJECT));
      assert.equal(ok.connection, 'keep-alive');
      assert.equal(ok.status, 200);
      assert.equal(ok.body, registerJobResponse(shape));
      const again = await post(registerJobRequest(job, CLIENT_SUBJECT));
      agent.destroy();
      assert.equal(again.status, 500);
      assert.equal(again.connection, shape === 'gsoap' ? 'close' : 'keep-alive');
      assert.match(again.body, shape === 'gsoap' ? /<detail><fault xsi:type="jptype:genericFault">/ : /<detail><jpe:genericFault>/);
    });

    it('the importer\'s client works against it: a fault (EEXIST) then more calls on a fresh connection', async () => {
      const c = svc.client();
      const job = `https://lb.example.org:9000/${randomBytes(9).toString('base64url')}`;
      await c.registerJob(job, CLIENT_SUBJECT);
      await assert.rejects(c.registerJob(job, CLIENT_SUBJECT), (e: unknown) => isJpError(e, 'JP_SOAP_FAULT') && e.faultCode === 17);
      const attrs = await c.getJobAttributes(job, [REGTIME_ATTRIBUTE]);
      assert.equal(attrs.length, 1);
      await c.registerJob(`${job}x`, CLIENT_SUBJECT);
    });
  });
}
