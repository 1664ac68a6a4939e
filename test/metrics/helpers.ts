import type { TestContext } from 'node:test';
import { pino, type Logger } from 'pino';
import { silentLogger } from '../../src/core/log.js';
import { createMetrics, type Metrics, type MetricsOptions } from '../../src/metrics/index.js';
import { parseExposition, type Exposition } from './prom-text.js';

/** A metrics endpoint on 127.0.0.1, port 0, closed after the test. */
export async function startMetrics(t: TestContext, opts: Partial<MetricsOptions> = {}): Promise<Metrics> {
  const m = await createMetrics({
    listen: '127.0.0.1:0',
    log: silentLogger,
    health: async () => ({ ok: true, detail: {} }),
    defaultMetrics: false,
    ...opts,
  });
  t.after(() => m.close());
  return m;
}

export interface Reply {
  readonly status: number;
  readonly type: string | null;
  readonly body: string;
  readonly headers: Headers;
}

export async function request(m: Metrics, path: string, method = 'GET'): Promise<Reply> {
  const res = await fetch(`http://127.0.0.1:${m.port}${path}`, { method, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text(), headers: res.headers };
}

/** GET /metrics over HTTP, parsed. */
export async function scrape(m: Metrics): Promise<Exposition> {
  const r = await request(m, '/metrics');
  if (r.status !== 200) throw new Error(`GET /metrics answered ${r.status}: ${r.body}`);
  return parseExposition(r.body);
}

/** A logger whose lines are collected as objects. */
export function captureLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines };
}
