/**
 * PrimaryClient: the JP primary service over HTTPS with mutual TLS, using a
 * pooled keep-alive undici dispatcher. Every failure becomes a JpError
 * (see ./api.ts). Credentials are re-checked on use (at most every
 * credentialCheckIntervalMs) and the pool is rebuilt when they change on disk
 * (also a CRL of the CA directory); the old pool finishes its in-flight calls
 * and is then closed. The service's certificate is checked against the CRLs
 * (./tls-trust.ts) before any byte of a request is sent.
 */
import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import type { buildConnector as BuildConnector } from 'undici';
import type { Logger } from 'pino';
import { JpError } from '../core/errors.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { AttrValue, PrimaryApi, StartUploadRequest, StartUploadResult } from './api.js';
import { CredentialWatcher, type Credentials } from './credentials.js';
import { parseEndpoint, type Endpoint } from './endpoint.js';
import { exchange, type HttpReply } from './http-exchange.js';
import { toJpError } from './net-errors.js';
import {
  commitUploadRequest,
  getJobAttributesRequest,
  parseCommitUploadReply,
  parseGetJobAttributesReply,
  parseRegisterJobReply,
  parseStartUploadReply,
  registerJobRequest,
  startUploadRequest,
  type PrimaryOperation,
} from './soap.js';
import { clientTlsOptions, PeerRevocationError } from './tls-trust.js';
import { buildConnector, Pool } from './undici-core.js';

export { parseEndpoint, type Endpoint } from './endpoint.js';

export interface PrimaryClientOptions {
  /** `host:port` (= https://host:port/) or an https:// URL. */
  readonly endpoint: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** CA directory (grid-security layout) or one PEM bundle. */
  readonly caPath: string;
  /** Connections (= calls in flight) to the service. Default 4. */
  readonly connections?: number;
  /** No-answer timeout per call (headers and body gaps). Default 120 000 ms. */
  readonly timeoutMs?: number;
  /** TCP+TLS connect timeout. Default min(timeoutMs, 30 000) ms. */
  readonly connectTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this. Default 30 000 ms. */
  readonly keepAliveTimeoutMs?: number;
  /** How often credential files are looked at (on use). Default 5000 ms. */
  readonly credentialCheckIntervalMs?: number;
  /** Largest accepted reply body. Default 16 MiB. */
  readonly maxReplyBytes?: number;
  /** TLS server name to verify instead of the endpoint host. */
  readonly servername?: string;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export const PRIMARY_CLIENT_DEFAULTS = {
  connections: 4,
  timeoutMs: 120_000,
  keepAliveTimeoutMs: 30_000,
  credentialCheckIntervalMs: 5000,
  maxReplyBytes: 16 << 20,
} as const;

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) {
    throw new JpError('JP_CONFIG', `primary client option ${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

const HEADERS = { 'content-type': 'text/xml; charset=utf-8', soapaction: '""', accept: 'text/xml' } as const;
const MAX_ALERTS = 256;

export class PrimaryClient implements PrimaryApi {
  readonly endpoint: Endpoint;
  private readonly watcher: CredentialWatcher;
  private readonly clock: Clock;
  private readonly log: Logger | undefined;
  private readonly connections: number;
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly keepAliveTimeoutMs: number;
  private readonly maxReplyBytes: number;
  private pool: Pool | undefined;
  private poolGeneration = -1;
  private readonly retiring = new Set<Promise<void>>();
  /** TLS alerts by local port: undici reports such a connection only as "closed". */
  private readonly alerts = new Map<number, Error>();
  private closed = false;

  constructor(private readonly opts: PrimaryClientOptions) {
    this.endpoint = parseEndpoint(opts.endpoint);
    this.connections = positiveInt(opts.connections, PRIMARY_CLIENT_DEFAULTS.connections, 'connections');
    this.timeoutMs = positiveInt(opts.timeoutMs, PRIMARY_CLIENT_DEFAULTS.timeoutMs, 'timeoutMs');
    this.connectTimeoutMs = positiveInt(opts.connectTimeoutMs, Math.min(this.timeoutMs, 30_000), 'connectTimeoutMs');
    this.keepAliveTimeoutMs = positiveInt(opts.keepAliveTimeoutMs, PRIMARY_CLIENT_DEFAULTS.keepAliveTimeoutMs, 'keepAliveTimeoutMs');
    this.maxReplyBytes = positiveInt(opts.maxReplyBytes, PRIMARY_CLIENT_DEFAULTS.maxReplyBytes, 'maxReplyBytes');
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger;
    const checkEvery = opts.credentialCheckIntervalMs ?? PRIMARY_CLIENT_DEFAULTS.credentialCheckIntervalMs;
    if (!Number.isInteger(checkEvery) || checkEvery < 0) {
      throw new JpError('JP_CONFIG', `primary client option credentialCheckIntervalMs must be an integer >= 0, got ${String(checkEvery)}`);
    }
    this.watcher = new CredentialWatcher(
      { certFile: opts.certFile, keyFile: opts.keyFile, caPath: opts.caPath },
      {
        checkIntervalMs: checkEvery,
        clock: this.clock,
        onReload: (c) => this.log?.info({ credentials: c.toJSON() }, 'primary client: credentials changed on disk, reloaded'),
        onError: (e) => this.log?.warn({ err: e.message }, 'primary client: changed credentials not usable yet, keeping the previous ones'),
      },
    );
  }

  /** Our own credentials (loads them if needed): subject = RegisterJob owner. */
  async identity(): Promise<Credentials> {
    return (await this.watcher.get()).creds;
  }

  async registerJob(job: string, owner: string, signal?: AbortSignal): Promise<void> {
    const r = await this.call('RegisterJob', registerJobRequest(job, owner), signal);
    parseRegisterJobReply(r.status, r.body);
  }

  async startUpload(req: StartUploadRequest, signal?: AbortSignal): Promise<StartUploadResult> {
    const r = await this.call('StartUpload', startUploadRequest(req), signal);
    return parseStartUploadReply(r.status, r.body);
  }

  async commitUpload(destination: string, signal?: AbortSignal): Promise<void> {
    const r = await this.call('CommitUpload', commitUploadRequest(destination), signal);
    parseCommitUploadReply(r.status, r.body);
  }

  async getJobAttributes(jobid: string, attributes: readonly string[], signal?: AbortSignal): Promise<AttrValue[]> {
    const r = await this.call('GetJobAttributes', getJobAttributesRequest(jobid, attributes), signal);
    return parseGetJobAttributesReply(r.status, r.body);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    await Promise.all([pool?.close(), ...this.retiring]);
  }

  private async call(op: PrimaryOperation, body: string, signal?: AbortSignal): Promise<HttpReply> {
    const pool = await this.dispatcher(op);
    try {
      return await exchange(pool, { path: this.endpoint.path, method: 'POST', headers: HEADERS, body }, signal);
    } catch (e) {
      throw this.mapError(op, e);
    }
  }

  private mapError(op: string, e: unknown): JpError {
    if (e instanceof PeerRevocationError) return new JpError('JP_TLS', `${op} to ${this.endpoint.url}: ${e.message}`);
    const info = typeof e === 'object' && e !== null && 'socket' in e ? (e as { socket: unknown }).socket : undefined;
    const port = typeof info === 'object' && info !== null ? (info as { localPort?: unknown }).localPort : undefined;
    const tlsAlert = typeof port === 'number' ? this.alerts.get(port) : undefined;
    const err = toJpError(e, { op, url: this.endpoint.url, tlsAlert, timeoutMs: this.timeoutMs });
    if (err.code === 'JP_NETWORK' && tlsAlert === undefined && typeof info === 'object' && info !== null) {
      if ((info as { bytesRead?: unknown }).bytesRead === 0) {
        return new JpError(
          'JP_NETWORK',
          `${err.message}; nothing was received on that connection: if this repeats, the service may be refusing our client certificate`,
          { cause: e },
        );
      }
    }
    return err;
  }

  private async dispatcher(op: string): Promise<Pool> {
    if (this.closed) throw new JpError('JP_ABORTED', `${op}: the primary service client is closed`);
    const { creds, generation } = await this.watcher.get();
    const problem = creds.validityProblem(this.clock.now());
    if (problem !== undefined) {
      throw new JpError(
        'JP_TLS',
        `${op} to ${this.endpoint.url}: our client certificate ${creds.paths.certFile} (${creds.subject}) ${problem}; not sending, the service would refuse it`,
      );
    }
    if (this.pool === undefined || this.poolGeneration !== generation) {
      for (const p of creds.revocation.problems(this.clock.now())) {
        this.log?.warn({ caPath: creds.paths.caPath }, `primary client: ${p}`);
      }
      const old = this.pool;
      this.pool = this.buildPool(creds);
      this.poolGeneration = generation;
      if (old !== undefined) {
        const done: Promise<void> = old.close().catch(() => undefined).finally(() => this.retiring.delete(done));
        this.retiring.add(done);
      }
    }
    if (this.closed) throw new JpError('JP_ABORTED', `${op}: the primary service client is closed`);
    return this.pool;
  }

  private buildPool(creds: Credentials): Pool {
    // One SecureContext per credential generation: passing cert/key/ca would
    // make every new connection parse them again (most of a worker's CPU
    // while the service is down and every retry reconnects). A new
    // connector per generation also starts a new TLS session cache.
    const trust = clientTlsOptions(creds, this.clock);
    const base = buildConnector({
      ...trust,
      timeout: this.connectTimeoutMs,
      ...(this.opts.servername !== undefined ? { servername: this.opts.servername } : {}),
    });
    const connect: BuildConnector.connector = (options, callback) => {
      base(options, (err, socket) => {
        // undici passes `undefined`, not null, for the missing half
        if (err !== null && err !== undefined) {
          callback(err, null);
        } else if (socket !== null && socket !== undefined) {
          this.watchAlerts(socket);
          callback(null, socket);
        } else {
          callback(new Error('connector returned neither socket nor error'), null);
        }
      });
    };
    return new Pool(this.endpoint.origin, {
      connections: this.connections,
      pipelining: 1,
      connect,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      keepAliveTimeout: this.keepAliveTimeoutMs,
      keepAliveMaxTimeout: Math.max(this.keepAliveTimeoutMs, 1000),
      maxResponseSize: this.maxReplyBytes,
    });
  }

  private watchAlerts(socket: Socket | TLSSocket): void {
    const port = socket.localPort;
    if (port === undefined) return;
    this.alerts.delete(port); // a stale alert of an earlier connection from this port
    socket.on('error', (e: Error & { code?: string }) => {
      if (typeof e.code !== 'string' || !e.code.startsWith('ERR_SSL_')) return;
      if (this.alerts.size >= MAX_ALERTS) {
        const oldest = this.alerts.keys().next().value;
        if (oldest !== undefined) this.alerts.delete(oldest);
      }
      this.alerts.set(port, e);
    });
  }
}
