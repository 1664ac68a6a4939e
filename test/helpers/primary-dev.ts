/**
 * Run the reference primary service in-process for tests: loopback, port 0,
 * dev certificates, a temporary data directory. Also a PrimaryClient
 * factory and a raw HTTPS helper (admin endpoint, handshake tests).
 */
import { request } from 'node:https';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPrimaryDev, type PrimaryDevHandle, type PrimaryDevOptions } from '../../src/primary-dev/index.js';
import { PrimaryClient, type PrimaryClientOptions } from '../../src/primary/client.js';
import { devCerts, type DevCerts } from './certs.js';

export interface CallRecord {
  op: string;
  client: string;
  at: string;
  ok: boolean;
  fault?: number | null;
  job?: string;
  owner?: string;
  destination?: string;
  bytes?: number;
  injected?: boolean;
  closed?: boolean;
  [k: string]: unknown;
}

export type ServerCertKind = 'good' | 'rogue' | 'expired' | 'wronghost';

export interface DevServiceOptions extends Partial<PrimaryDevOptions> {
  readonly serverCert?: ServerCertKind;
  /** Reuse this data directory (restart tests); default a new temp dir. */
  readonly dataDir?: string;
}

export interface DevService {
  readonly dev: PrimaryDevHandle;
  readonly certs: DevCerts;
  readonly dataDir: string;
  /** `127.0.0.1:port` (bare form, as operators write it). */
  readonly endpoint: string;
  readCalls(): Promise<CallRecord[]>;
  /** A client with the dev client certificate (overridable); closed by close(). */
  client(overrides?: Partial<PrimaryClientOptions>): PrimaryClient;
  /** Stop the service and close clients; keeps the data dir. */
  stop(): Promise<void>;
  /** stop() and remove the data directory. */
  close(): Promise<void>;
}

function serverFiles(c: DevCerts, kind: ServerCertKind): { cert: string; key: string } {
  switch (kind) {
    case 'good':
      return { cert: c.server, key: c.serverKey };
    case 'rogue':
      return { cert: c.rogueServer, key: c.rogueServerKey };
    case 'expired':
      return { cert: c.serverExpired, key: c.serverExpiredKey };
    case 'wronghost':
      return { cert: c.serverWronghost, key: c.serverWronghostKey };
  }
}

export async function startDevService(opts: DevServiceOptions = {}): Promise<DevService> {
  const certs = devCerts();
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'jp-primary-dev-')));
  const sc = serverFiles(certs, opts.serverCert ?? 'good');
  const { serverCert: _ignored, ...rest } = opts;
  void _ignored;
  const dev = await startPrimaryDev({
    listen: '127.0.0.1:0',
    certFile: sc.cert,
    keyFile: sc.key,
    caPath: certs.caDir,
    ...rest,
    dataDir,
  });
  const clients: PrimaryClient[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(clients.map((c) => c.close()));
    await dev.close();
  };
  return {
    dev,
    certs,
    dataDir,
    endpoint: `127.0.0.1:${dev.httpsPort}`,
    readCalls: () => readCalls(dev.callsFile),
    client(overrides = {}) {
      const c = new PrimaryClient({
        endpoint: `127.0.0.1:${dev.httpsPort}`,
        certFile: certs.client,
        keyFile: certs.clientKey,
        caPath: certs.caDir,
        timeoutMs: 20_000,
        ...overrides,
      });
      clients.push(c);
      return c;
    },
    stop,
    async close() {
      await stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function readCalls(file: string): Promise<CallRecord[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as CallRecord);
}

export interface RawReply {
  status: number;
  body: string;
}

/** One HTTPS request with chosen client credentials (none = no certificate). */
export function rawRequest(
  port: number,
  opts: { method?: string; path?: string; body?: string; cert?: string; key?: string; ca: string; timeoutMs?: number },
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'POST',
        path: opts.path ?? '/',
        ca: readFileSync(opts.ca),
        ...(opts.cert !== undefined ? { cert: readFileSync(opts.cert) } : {}),
        ...(opts.key !== undefined ? { key: readFileSync(opts.key) } : {}),
        agent: false,
        headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '""' },
        timeout: opts.timeoutMs ?? 10_000,
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('raw request timed out')));
    req.on('error', reject);
    req.end(opts.body ?? '');
  });
}

/** Admin calls with the dev client certificate. */
export async function admin(svc: DevService, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const r = await rawRequest(svc.dev.httpsPort, {
    method,
    path,
    body: body === undefined ? '' : JSON.stringify(body),
    cert: svc.certs.client,
    key: svc.certs.clientKey,
    ca: svc.certs.ca,
  });
  return { status: r.status, json: JSON.parse(r.body) as unknown };
}
