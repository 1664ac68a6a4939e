/**
 * A fault-injecting TCP relay of the tests' own (the kernel here has no
 * netem): it listens on a set of ports and forwards each connection to its
 * target host:port, adding faults on the way —
 *
 * - delay: every chunk, in each direction, is passed on `delayMs` after it
 *   arrived (a one-way latency; order kept, reading paused above 1 MiB queued);
 * - resets: each connection is reset after a random time (exponential, mean
 *   `resetMeanMs`; 0 = never): both sides get an RST (socket.resetAndDestroy),
 *   never a FIN, so no peer mistakes a cut for the end of the data;
 * - stalls: each connection stops forwarding for `stallMs` at random times
 *   (exponential gaps, mean `stallMeanMs`; 0 = never), then goes on.
 *
 * An RST from either side is passed on as an RST; a FIN is passed on once
 * everything before it was. Randomness from a seed (./rng.ts). Used in
 * process on loopback or as its own process inside a network namespace
 * (test/fixtures/fault-relay.ts, driven by ./relay-process.ts).
 */
import { createServer, Socket, type Server } from 'node:net';
import { rng } from './rng.js';

export interface Forward {
  readonly listenPort: number;
  readonly targetHost: string;
  readonly targetPort: number;
  /** Groups ports in the stats (e.g. `https`, `ftp`, `ftp-data`). */
  readonly tag: string;
}

export interface Faults {
  /** Added one-way delay per chunk and direction (ms). */
  readonly delayMs: number;
  /** Mean time from a connection's start to its reset (exponential; 0 = no resets). */
  readonly resetMeanMs: number;
  /** Mean gap between stalls of a connection (exponential; 0 = no stalls). */
  readonly stallMeanMs: number;
  /** Length of a stall: uniform in [min, max] ms. */
  readonly stallMs: readonly [number, number];
  /** Only connections of these tags get resets and stalls (default: all). */
  readonly tags?: readonly string[];
}

export const NO_FAULTS: Faults = { delayMs: 0, resetMeanMs: 0, stallMeanMs: 0, stallMs: [0, 0] };

export interface TagStats {
  accepted: number;
  resets: number;
  stalls: number;
  /** Bytes received from the connecting side (client → target) and from the target. */
  bytesIn: number;
  bytesOut: number;
  /** Target connections that failed (the client got an RST). */
  upstreamFailed: number;
}

export interface RelayStats {
  readonly open: number;
  readonly byTag: Record<string, TagStats>;
  readonly total: TagStats;
}

const HIGH_WATER = 1 << 20;
const LOW_WATER = 256 << 10;

interface Timed {
  readonly at: number;
  /** null: the end (FIN). */
  readonly chunk: Buffer | null;
}

/** One direction of a relayed connection: chunks wait their delay, then go on in order. */
class DelayedPipe {
  private readonly queue: Timed[] = [];
  private queued = 0;
  private lastAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private waitingDrain = false;
  ended = false;

  constructor(
    private readonly src: Socket,
    private readonly dst: Socket,
    private readonly conn: RelayConn,
    onBytes: (n: number) => void,
  ) {
    src.on('data', (chunk: Buffer) => {
      onBytes(chunk.length);
      this.push(chunk);
      this.queued += chunk.length;
      if (this.queued > HIGH_WATER) src.pause();
    });
    src.on('end', () => this.push(null));
    dst.on('drain', () => {
      this.waitingDrain = false;
      this.flush();
    });
  }

  private push(chunk: Buffer | null): void {
    this.lastAt = Math.max(this.lastAt, Date.now() + this.conn.delayMs());
    this.queue.push({ at: this.lastAt, chunk });
    this.schedule();
  }

  schedule(): void {
    if (this.timer !== undefined || this.waitingDrain || this.conn.stalled || this.conn.closed) return;
    const head = this.queue[0];
    if (head === undefined || !this.conn.connected) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, Math.max(0, head.at - Date.now()));
  }

  private flush(): void {
    const now = Date.now();
    while (!this.conn.stalled && !this.conn.closed && !this.waitingDrain) {
      const head = this.queue[0];
      if (head === undefined || head.at > now) break;
      this.queue.shift();
      if (head.chunk === null) {
        this.ended = true;
        this.dst.end();
        this.conn.maybeDone();
        return;
      }
      this.queued -= head.chunk.length;
      if (!this.dst.write(head.chunk)) this.waitingDrain = true;
      if (this.queued < LOW_WATER && this.src.isPaused()) this.src.resume();
    }
    this.schedule();
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** A relayed connection: client ⇄ target through two delayed pipes, with its own fault timers. */
class RelayConn {
  connected = false;
  stalled = false;
  closed = false;
  private readonly up: DelayedPipe;
  private readonly down: DelayedPipe;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    readonly client: Socket,
    readonly target: Socket,
    private readonly relay: FaultRelay,
    readonly tag: string,
  ) {
    const st = relay.tagStats(tag);
    this.up = new DelayedPipe(client, target, this, (n) => { st.bytesIn += n; });
    this.down = new DelayedPipe(target, client, this, (n) => { st.bytesOut += n; });
    target.once('connect', () => {
      this.connected = true;
      this.up.schedule();
    });
    // An error on one side (an RST from a peer, a refused target) is passed on as an RST.
    client.on('error', () => this.reset(false));
    target.on('error', () => {
      if (!this.connected) st.upstreamFailed++;
      this.reset(false);
    });
    client.on('close', (hadError: boolean) => this.onClose(client, hadError));
    target.on('close', (hadError: boolean) => this.onClose(target, hadError));
  }

  delayMs(): number {
    return this.relay.faults.delayMs;
  }

  /** Fault timers for this connection, drawn from the relay's random source. */
  arm(): void {
    const f = this.relay.faults;
    if (f.tags !== undefined && !f.tags.includes(this.tag)) return;
    if (f.resetMeanMs > 0) this.later(this.relay.exponential(f.resetMeanMs), () => this.reset(true));
    if (f.stallMeanMs > 0) this.nextStall();
  }

  private nextStall(): void {
    const f = this.relay.faults;
    this.later(this.relay.exponential(f.stallMeanMs), () => {
      if (this.closed) return;
      const [min, max] = f.stallMs;
      this.stalled = true;
      this.relay.tagStats(this.tag).stalls++;
      this.later(min + this.relay.random() * (max - min), () => {
        this.stalled = false;
        this.up.schedule();
        this.down.schedule();
        this.nextStall();
      });
    });
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** RST to both sides. `injected`: a fault of ours (counted), else passing on a peer's. */
  reset(injected: boolean): void {
    if (this.closed) return;
    if (injected) this.relay.tagStats(this.tag).resets++;
    this.finish();
    for (const s of [this.client, this.target]) {
      if (s.destroyed) continue;
      try {
        s.resetAndDestroy();
      } catch {
        s.destroy();
      }
    }
  }

  /** Both directions have passed their FIN on: done. */
  maybeDone(): void {
    if (this.up.ended && this.down.ended) {
      this.finish();
      this.client.destroy();
      this.target.destroy();
    }
  }

  /**
   * A side closes after both its FINs (received and sent: the other
   * direction may still be passing data on), or abruptly: then the other
   * side gets an RST.
   */
  private onClose(s: Socket, hadError: boolean): void {
    if (this.closed) return;
    if (hadError || !s.readableEnded || !s.writableFinished) this.reset(false);
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.up.stop();
    this.down.stop();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.relay.forget(this);
  }
}

export class FaultRelay {
  faults: Faults;
  private readonly servers: Server[] = [];
  private readonly conns = new Set<RelayConn>();
  private readonly stats_ = new Map<string, TagStats>();
  private readonly rand: () => number;

  constructor(
    private readonly listenHost: string,
    private readonly forwards: readonly Forward[],
    faults: Faults,
    seed: number,
  ) {
    this.faults = faults;
    this.rand = rng(seed);
  }

  random(): number {
    return this.rand();
  }

  exponential(mean: number): number {
    return -Math.log(1 - this.rand()) * mean;
  }

  tagStats(tag: string): TagStats {
    let s = this.stats_.get(tag);
    if (s === undefined) {
      s = { accepted: 0, resets: 0, stalls: 0, bytesIn: 0, bytesOut: 0, upstreamFailed: 0 };
      this.stats_.set(tag, s);
    }
    return s;
  }

  forget(c: RelayConn): void {
    this.conns.delete(c);
  }

  async start(): Promise<void> {
    for (const f of this.forwards) {
      this.tagStats(f.tag);
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: false }, (client) => this.accept(client, f));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(f.listenPort, this.listenHost, () => {
          server.off('error', reject);
          resolve();
        });
      });
      this.servers.push(server);
    }
  }

  private accept(client: Socket, f: Forward): void {
    this.tagStats(f.tag).accepted++;
    client.setNoDelay(true);
    const target = new Socket({ allowHalfOpen: true });
    target.setNoDelay(true);
    const conn = new RelayConn(client, target, this, f.tag);
    this.conns.add(conn);
    conn.arm();
    target.connect(f.targetPort, f.targetHost);
  }

  setFaults(patch: Partial<Faults>): Faults {
    this.faults = { ...this.faults, ...patch };
    return this.faults;
  }

  stats(): RelayStats {
    const byTag: Record<string, TagStats> = {};
    const total: TagStats = { accepted: 0, resets: 0, stalls: 0, bytesIn: 0, bytesOut: 0, upstreamFailed: 0 };
    for (const [tag, s] of this.stats_) {
      byTag[tag] = { ...s };
      for (const k of Object.keys(total) as (keyof TagStats)[]) total[k] += s[k];
    }
    return { open: this.conns.size, byTag, total };
  }

  /** Stop listening and reset every open connection. */
  async close(): Promise<void> {
    for (const c of [...this.conns]) c.reset(false);
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
