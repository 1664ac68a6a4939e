/**
 * The reference primary service (jp-primary-dev CLI) in its own process,
 * so that the measured client and the service do not share an event loop.
 * Started on 127.0.0.1 port 0; its JSON ready line gives the port.
 */
import type { ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import type { BenchCerts } from './certs.js';
import { spawnTracked } from './procs.js';

export const PRIMARY_DEV_CLI = fileURLToPath(new URL('../../src/cli/jp-primary-dev.js', import.meta.url));

export interface ServiceChild {
  readonly child: ChildProcess;
  readonly port: number;
  /** `https://127.0.0.1:port` */
  readonly origin: string;
  readonly dataDir: string;
  readonly callsFile: string;
  readonly logFile: string;
}

export interface ServiceChildOptions {
  readonly certs: BenchCerts;
  readonly dataDir: string;
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv;
  /** node options before the script (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[];
  readonly timeoutMs?: number;
  /** More jp-primary-dev flags (e.g. --latency-ms). */
  readonly extraArgs?: readonly string[];
}

export async function startServiceChild(o: ServiceChildOptions): Promise<ServiceChild> {
  const fd = openSync(o.logFile, 'a', 0o600);
  const child = spawnTracked(process.execPath, [...(o.nodeArgs ?? []), PRIMARY_DEV_CLI, '--listen', '127.0.0.1:0', '-c', o.certs.server, '-k', o.certs.serverKey,
    '-C', o.certs.caDir, '--data-dir', o.dataDir, '--log-level', 'warn', ...(o.extraArgs ?? [])], {
    stdio: ['ignore', 'pipe', fd],
    env: { ...process.env, ...o.env },
  });
  closeSync(fd);
  const timeoutMs = o.timeoutMs ?? 30_000;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`jp-primary-dev did not print its ready line within ${timeoutMs} ms (log: ${o.logFile})`)), timeoutMs);
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.on('line', (line) => {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        return;
      }
      const https = (v as { listening?: { https?: unknown } }).listening?.https;
      const m = typeof https === 'string' ? /:(\d+)$/.exec(https) : null;
      if (m === null) return;
      clearTimeout(timer);
      resolve(Number(m[1]));
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`jp-primary-dev exited with ${code ?? sig} before it was ready (log: ${o.logFile})`));
    });
  });
  return { child, port, origin: `https://127.0.0.1:${port}`, dataDir: o.dataDir, callsFile: join(o.dataDir, 'calls.jsonl'), logFile: o.logFile };
}

export interface AdminStats {
  readonly calls: Record<string, { ok: number; fault: number }>;
  readonly jobs: number;
  readonly tlsRefused: number;
}

/** GET /admin/stats over mutual TLS. */
export async function adminStats(origin: string, tls: { cert: string; key: string; ca: string }): Promise<AdminStats> {
  const pool = new Pool(origin, { connections: 1, connect: { ...tls, rejectUnauthorized: true } });
  try {
    const res = await pool.request({ path: '/admin/stats', method: 'GET', headersTimeout: 10_000, bodyTimeout: 10_000 });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`/admin/stats: HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
    return JSON.parse(text) as AdminStats;
  } finally {
    await pool.close();
  }
}
