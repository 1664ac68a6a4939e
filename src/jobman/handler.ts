/**
 * The jobman message handler the worker loop calls for each claimed request
 * (from a JobmanQueue or a maildir Spool): validate, run (or forward in
 * client mode), record, and answer with an Outcome via classify().
 *
 *   malformed body / unknown script / bad name     → give up (reason)
 *   database unreachable, lock, deadlock, abort    → retry later
 *   a row failed (rolled back, results recorded)   → give up (reason)
 *   client mode: 2xx delivered, 4xx give up, else retry
 *
 * Calls to handle() are serialised (one destination connection per
 * handler); run several workers for parallelism.
 */
import type { Dispatcher } from 'undici';
import { classify } from '../core/classify.js';
import { systemClock, type Clock } from '../core/clock.js';
import { silentLogger, type Logger } from '../core/log.js';
import { delivered, type Outcome } from '../core/outcome.js';
import type { Delivery } from '../core/handler.js';
import type { ClaimedMessage } from '../core/queue.js';
import type { JobmanConfig, JobmanMode } from './config-types.js';
import { openConnection, sameDatabase } from './db/connect.js';
import type { SqlConnection } from './db/types.js';
import { RequestEngine } from './engine.js';
import { forwardRequest } from './forward.js';
import { parseRequest, requestUid } from './request.js';
import { ResultStore } from './results/store.js';
import { ScriptCache } from './scripts.js';

export interface JobmanHandlerDeps {
  logger?: Logger;
  clock?: Clock;
  /** Value of the results' `dir` column (default: the config's sub-folder). */
  dir?: string;
  /** Overrides the config's mode (e.g. from a command-line flag). */
  mode?: JobmanMode;
  /** undici dispatcher for client mode (proxies, tests). */
  dispatcher?: Dispatcher;
  forwardTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Rows kept per execution of a statement that returns rows (default 50). */
  maxRows?: number;
}

/** The jobman worker's delivery; close() closes the database connections (the handler may be used again: they reopen). */
export type JobmanHandler = Delivery;

interface Conns {
  readonly dest: SqlConnection;
  readonly store: ResultStore;
  readonly sameDb: boolean;
}

class Handler implements JobmanHandler {
  private conns: Conns | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly scripts: ScriptCache | undefined;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly mode: JobmanMode;

  constructor(private readonly config: JobmanConfig, private readonly deps: JobmanHandlerDeps) {
    this.log = deps.logger ?? silentLogger;
    this.clock = deps.clock ?? systemClock;
    this.mode = deps.mode ?? config.mode;
    const dest = config.destination;
    this.scripts = dest === undefined ? undefined : new ScriptCache(dest.scriptsDir, dest.target.driver);
  }

  handle(msg: ClaimedMessage, body: Buffer, signal: AbortSignal): Promise<Outcome> {
    const next = this.chain.then(() => this.handleOne(msg, body, signal));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async handleOne(msg: ClaimedMessage, body: Buffer, signal: AbortSignal): Promise<Outcome> {
    const uid = requestUid(msg.name);
    try {
      const steps = parseRequest(body);
      if (this.mode === 'client') {
        const url = this.config.client?.postUrl;
        if (url === undefined) throw new Error('client mode without [client] postURL');
        const answer = await forwardRequest(url, body, {
          signal,
          ...(this.deps.dispatcher === undefined ? {} : { dispatcher: this.deps.dispatcher }),
          ...(this.deps.forwardTimeoutMs === undefined ? {} : { timeoutMs: this.deps.forwardTimeoutMs }),
        });
        return delivered(`forwarded request ${uid}${answer === '' ? '' : `; answer: ${answer}`}`);
      }
      const dest = this.config.destination;
      if (dest === undefined || this.scripts === undefined) throw new Error('run mode without a destination');
      const c = await this.connections();
      const engine = new RequestEngine({
        dest: c.dest,
        store: c.store,
        sameDb: c.sameDb,
        scripts: this.scripts,
        rowcommit: dest.rowcommit,
        dir: this.deps.dir ?? this.config.sub,
        clock: this.clock,
        ...(this.deps.maxRows === undefined ? {} : { maxRows: this.deps.maxRows }),
      });
      const s = await engine.run(uid, steps, signal);
      this.log.debug({ uid, ...s }, 'jobman request done');
      return delivered(`request ${uid}: ${s.ran} step(s) run, ${s.skipped} already recorded, ${s.rows} row(s)`);
    } catch (e) {
      const outcome = classify(e);
      if (outcome.kind === 'retry') await this.dropConnections();
      return outcome;
    }
  }

  private async connections(): Promise<Conns> {
    const c = this.conns;
    if (c !== undefined && c.dest.healthy && c.store.conn.healthy) return c;
    if (c !== undefined) await this.dropConnections();
    const dest = this.config.destination;
    if (dest === undefined) throw new Error('run mode without a destination');
    const rdb = this.config.resultdb;
    const timeouts = this.deps.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: this.deps.connectTimeoutMs };
    const destConn = await openConnection(dest.target, { role: `destination [${dest.section}]`, mustExist: true, ...timeouts });
    const same = sameDatabase(dest.target, rdb.target);
    let storeConn: SqlConnection = destConn;
    try {
      if (!same) storeConn = await openConnection(rdb.target, { role: `result store [${rdb.section}]`, wal: true, ...timeouts });
      const store = new ResultStore(storeConn, rdb.table);
      await store.ensureSchema();
      this.conns = { dest: destConn, store, sameDb: same };
      return this.conns;
    } catch (e) {
      await destConn.close().catch(() => undefined);
      if (storeConn !== destConn) await storeConn.close().catch(() => undefined);
      throw e;
    }
  }

  private async dropConnections(): Promise<void> {
    const c = this.conns;
    this.conns = undefined;
    if (c === undefined) return;
    await c.dest.close().catch(() => undefined);
    if (!c.sameDb) await c.store.conn.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.chain;
    await this.dropConnections();
  }
}

export function createJobmanHandler(config: JobmanConfig, deps: JobmanHandlerDeps = {}): JobmanHandler {
  return new Handler(config, deps);
}
