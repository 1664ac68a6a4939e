/**
 * The metrics HTTP endpoint (node:http): GET /metrics (Prometheus text),
 * GET /healthz (200 or 503 with JSON), 404 for any other path, 405 for
 * other methods on those two. Bound to exactly one address.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { describeError, JpError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { ListenAddress } from './listen.js';

export interface HealthResult {
  readonly ok: boolean;
  readonly detail: Record<string, unknown>;
}

export interface MetricsServerOptions {
  readonly address: ListenAddress;
  /** The configured text, for messages. */
  readonly display: string;
  readonly registry: Registry;
  readonly health: () => Promise<HealthResult>;
  readonly healthTimeoutMs: number;
  readonly log: Logger;
}

export interface MetricsServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    route(o, req, res).catch((err: unknown) => {
      o.log.warn({ err: describeError(err), url: req.url }, 'metrics: request failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.keepAliveTimeout = 5_000;
  await listen(server, o);
  const addr = server.address() as AddressInfo;
  o.log.info({ listen: `${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` }, 'metrics endpoint listening');
  let closed: Promise<void> | undefined;
  return {
    host: addr.address,
    port: addr.port,
    close: () => {
      closed ??= new Promise<void>((res) => {
        server.close(() => res());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

function listen(server: Server, o: MetricsServerOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(new JpError('JP_CONFIG', `cannot listen on metrics address ${JSON.stringify(o.display)}: ${describeError(err)}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen({ host: o.address.host, port: o.address.port, exclusive: true }, () => {
      server.off('error', onError);
      server.on('error', (err) => o.log.warn({ err: describeError(err) }, 'metrics: server error'));
      resolve();
    });
  });
}

async function route(o: MetricsServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://metrics.invalid').pathname;
  if (path !== '/metrics' && path !== '/healthz') {
    send(res, 404, 'text/plain; charset=utf-8', 'not found: try /metrics or /healthz\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    return;
  }
  if (path === '/metrics') {
    send(res, 200, o.registry.contentType, await o.registry.metrics(), req.method === 'HEAD');
    return;
  }
  const h = await checkHealth(o);
  send(res, h.ok ? 200 : 503, 'application/json; charset=utf-8', `${JSON.stringify(h)}\n`, req.method === 'HEAD');
}

/** health(), bounded by healthTimeoutMs; a throw or a timeout is unhealthy. */
async function checkHealth(o: MetricsServerOptions): Promise<HealthResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<HealthResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: { error: `health check did not answer within ${o.healthTimeoutMs} ms` } }),
      o.healthTimeoutMs);
  });
  try {
    const r = await Promise.race([o.health().then(
      (v): HealthResult => ({ ok: v.ok === true, detail: v.detail }),
      (err: unknown): HealthResult => ({ ok: false, detail: { error: `health check failed: ${describeError(err)}` } }),
    ), timeout]);
    return r;
  } finally {
    clearTimeout(timer);
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, headOnly = false): void {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(headOnly ? undefined : body);
}
