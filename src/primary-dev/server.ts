/**
 * The HTTPS request handler of the reference primary service: SOAP calls
 * (any path, POST) and the admin endpoint (/admin/hooks, /admin/stats).
 * Only clients whose certificate the TLS layer accepted get here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { describeError } from '../core/errors.js';
import { nodeSubjectToSlash } from '../primary/dn.js';
import type { AppendLog } from './append-log.js';
import { parseHooksPatch, type Counters, type DevHooks, type DevStats } from './hooks.js';
import { handleRequest, type OpResult, type OpsContext } from './ops.js';
import { clientFault, jpError, parseDevRequest, serverFault, type DevRequest } from './soap-server.js';

const MAX_BODY = 1 << 20;

export interface HandlerDeps {
  readonly ops: OpsContext;
  readonly counters: Counters;
  readonly calls: AppendLog;
  readonly logger: Logger;
  hooks(): DevHooks;
  setHooks(patch: Partial<DevHooks>): DevHooks;
  /** Take one from a countdown hook; true when it fired. */
  take(hook: 'failNext' | 'closeNext' | 'loseAnswerNext'): boolean;
  stats(): DevStats;
  /** Resolves after ms, or early (false) when the service closes. */
  sleep(ms: number): Promise<boolean>;
  isClosing(): boolean;
}

const subjects = new WeakMap<TLSSocket, string>();

/** Slash-form subject of the peer certificate (cached per connection). */
export function clientSubject(sock: TLSSocket): string {
  let s = subjects.get(sock);
  if (s === undefined) {
    const cert = sock.getPeerX509Certificate();
    s = cert === undefined ? '' : nodeSubjectToSlash(cert.subject);
    subjects.set(sock, s);
  }
  return s;
}

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > MAX_BODY) throw new BodyTooLarge();
    parts.push(b);
  }
  return Buffer.concat(parts).toString('utf8');
}

function send(res: ServerResponse, status: number, type: string, body: string, close = false): void {
  if (res.destroyed || res.headersSent) return;
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...(close ? { connection: 'close' } : {}) });
  res.end(body);
}

const sendXml = (res: ServerResponse, status: number, xml: string): void => send(res, status, 'text/xml; charset=utf-8', xml);
/** A fault: HTTP 500, and in the gSOAP shape the connection closed after it, as the real service does. */
const sendFault = (deps: HandlerDeps, res: ServerResponse, xml: string): void =>
  send(res, 500, 'text/xml; charset=utf-8', xml, (deps.ops.shape ?? 'gsoap') === 'gsoap');
const sendJson = (res: ServerResponse, status: number, v: unknown): void => send(res, status, 'application/json', `${JSON.stringify(v)}\n`);

/** Fields of a request for calls.jsonl when it was not processed. */
function requestFields(r: DevRequest): Record<string, unknown> {
  switch (r.op) {
    case 'RegisterJob':
      return { job: r.job, owner: r.owner };
    case 'StartUpload':
      return { job: r.job, class: r.class, name: r.name };
    case 'CommitUpload':
      return { destination: r.destination };
    case 'GetJobAttributes':
      return { job: r.jobid, attributes: r.attributes };
  }
}

export function createHandler(deps: HandlerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(deps, req, res).catch((e: unknown) => {
      deps.logger.error({ err: describeError(e) }, 'jp-primary-dev: request failed');
      sendFault(deps, res, serverFault(jpError(5, 'jp-primary-dev', `internal error: ${describeError(e)}`), deps.ops.shape ?? 'gsoap'));
    });
  };
}

async function handle(deps: HandlerDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const sock = req.socket as TLSSocket;
  if (sock.authorized !== true) {
    // Unreachable with rejectUnauthorized; kept as a second lock.
    send(res, 403, 'text/plain', 'client certificate required\n');
    return;
  }
  const client = clientSubject(sock);
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  let body: string;
  try {
    body = await readBody(req);
  } catch (e) {
    if (e instanceof BodyTooLarge) {
      send(res, 413, 'text/plain', `request body larger than ${MAX_BODY} bytes\n`);
      return;
    }
    throw e;
  }
  if (path.startsWith('/admin/')) {
    admin(deps, req.method ?? 'GET', path, body, res);
    return;
  }
  if (req.method !== 'POST') {
    send(res, 405, 'text/plain', 'SOAP endpoint: POST only\n');
    return;
  }
  await soapCall(deps, body, client, sock, res);
}

function admin(deps: HandlerDeps, method: string, path: string, body: string, res: ServerResponse): void {
  if (path === '/admin/hooks' && method === 'POST') {
    let patch: Partial<DevHooks>;
    try {
      patch = parseHooksPatch(body.trim() === '' ? {} : JSON.parse(body));
    } catch (e) {
      sendJson(res, 400, { error: e instanceof Error ? e.message : String(e) });
      return;
    }
    sendJson(res, 200, { hooks: deps.setHooks(patch) });
  } else if (path === '/admin/hooks' && method === 'GET') {
    sendJson(res, 200, { hooks: deps.hooks() });
  } else if (path === '/admin/stats' && method === 'GET') {
    sendJson(res, 200, deps.stats());
  } else {
    sendJson(res, 404, { error: `no admin resource ${method} ${path} (POST/GET /admin/hooks, GET /admin/stats)` });
  }
}

async function soapCall(deps: HandlerDeps, body: string, client: string, sock: TLSSocket, res: ServerResponse): Promise<void> {
  const parsed = parseDevRequest(body);
  const op = parsed.ok ? parsed.req.op : 'invalid';
  const fields = parsed.ok ? requestFields(parsed.req) : { element: parsed.bad.op, problem: parsed.bad.problem };
  const line = (extra: Record<string, unknown>): string =>
    JSON.stringify({ op, ...fields, client, at: new Date(deps.ops.clock.now()).toISOString(), ...extra });

  if (deps.take('closeNext')) {
    deps.counters.closed++;
    await deps.calls.append(line({ ok: false, closed: true }));
    sock.destroy();
    return;
  }
  const latency = deps.hooks().latencyMs;
  if (latency > 0 && !(await deps.sleep(latency))) {
    sock.destroy();
    return;
  }
  if (deps.isClosing()) {
    sock.destroy();
    return;
  }
  if (!parsed.ok) {
    deps.counters.count('invalid', false);
    await deps.calls.append(line({ ok: false, fault: 22 }));
    sendFault(deps, res, clientFault(parsed.bad.problem, deps.ops.shape ?? 'gsoap'));
    return;
  }
  if (deps.take('failNext')) {
    const code = deps.hooks().failCode;
    deps.counters.injected++;
    deps.counters.count(op, false);
    await deps.calls.append(line({ ok: false, fault: code, injected: true }));
    sendFault(deps, res, serverFault(jpError(code, 'jp-primary-dev hook', 'injected failure'), deps.ops.shape ?? 'gsoap'));
    return;
  }
  const result: OpResult = handleRequest(deps.ops, parsed.req, client);
  const loseOp = deps.hooks().loseAnswerOp;
  const lose = (loseOp === '' || loseOp === op) && deps.take('loseAnswerNext');
  const out = { ...fields, ...result.record };
  const entry = JSON.stringify({
    op,
    ...out,
    client,
    at: new Date(deps.ops.clock.now()).toISOString(),
    ok: result.ok,
    ...(result.ok ? {} : { fault: result.fault?.code ?? null }),
    ...(lose ? { answerLost: true } : {}),
  });
  deps.counters.count(op, result.ok);
  await Promise.all([result.persist, deps.calls.append(entry)]);
  if (lose) {
    // Done and journaled, but the client never hears of it.
    deps.counters.answersLost++;
    sock.destroy();
    return;
  }
  if (result.ok) sendXml(res, 200, result.xml);
  else sendFault(deps, res, result.xml);
}
