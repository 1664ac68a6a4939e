/**
 * A TLS client running over an in-memory duplex: what it writes (handshake
 * records, encrypted application data) is collected for the caller to carry
 * (as `ADAT`/`ENC` tokens of the control channel, or onto a data socket),
 * and what the peer sent is fed in by the caller. GSI's GSSAPI mechanism
 * is exactly this: TLS records as security tokens.
 *
 * Node's TLS engine answers fed input within a few event-loop turns (all
 * in this process, no I/O), so settle() waits until nothing changed for a
 * few turns; a bounded number of turns, never a timer. Callers that wait
 * for the peer as well (a data socket) also get told of every change
 * (`onChange`), so output the engine produces late is never left unsent.
 */
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { Duplex } from 'node:stream';

/** Consecutive unchanged event-loop turns after which the engine is taken as settled. */
const IDLE_TURNS = 3;
/** Turns to wait at most for a condition (a CPU-bound RSA signature happens within one turn). */
const UNTIL_TURNS = 5_000;
/** Turns to wait at most for the engine to go quiet. */
const MAX_TURNS = 20_000;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class MemoryTls {
  readonly socket: TLSSocket;
  private readonly duplex: Duplex;
  private out: Buffer[] = [];
  private outLen = 0;
  private app: Buffer[] = [];
  private appLen = 0;
  private changes = 0;
  private failure: Error | undefined;
  private secure = false;
  private ended = false;
  /** Called (synchronously) on every change: output, data, handshake end, error, close. */
  onChange: (() => void) | undefined;

  constructor(options: ConnectionOptions) {
    this.duplex = new Duplex({
      read: () => undefined,
      write: (chunk: Buffer, _enc, cb) => {
        this.out.push(chunk);
        this.outLen += chunk.length;
        this.changed();
        cb();
      },
      final: (cb) => cb(),
    });
    // Errors are kept and reported through `error`; the duplex never errors by itself.
    this.duplex.on('error', () => undefined);
    this.socket = connect({ ...options, socket: this.duplex });
    this.socket.on('secureConnect', () => {
      this.secure = true;
      this.changed();
    });
    this.socket.on('data', (chunk: Buffer) => {
      this.app.push(chunk);
      this.appLen += chunk.length;
      this.changed();
    });
    this.socket.on('error', (e: Error) => {
      this.failure ??= e;
      this.changed();
    });
    this.socket.on('close', () => {
      this.ended = true;
      this.changed();
    });
  }

  private changed(): void {
    this.changes++;
    this.onChange?.();
  }

  /** The handshake completed and the peer was accepted. */
  get established(): boolean {
    return this.secure && this.failure === undefined;
  }

  /** The error that stopped the engine (a refused certificate, a bad record), if any. */
  get error(): Error | undefined {
    return this.failure ?? (this.ended && !this.secure ? new Error('the TLS engine closed before the handshake completed') : undefined);
  }

  get pendingOutput(): number {
    return this.outLen;
  }

  get pendingApp(): number {
    return this.appLen;
  }

  /**
   * Hand the engine bytes the peer sent. Returns a condition for settle():
   * the engine did something with them (output, data, the handshake's end,
   * an error) — true at once for whole records, later or never for a part.
   */
  feed(data: Buffer): () => boolean {
    if (data.length === 0 || this.ended || this.failure !== undefined) return () => true;
    const mark = this.changes;
    this.duplex.push(data);
    return () => this.changes !== mark;
  }

  /** Application data to send (it appears as output records). */
  write(data: Buffer | string): void {
    if (this.ended || this.failure !== undefined) return;
    this.socket.write(data);
  }

  /**
   * Wait until `until` holds (at most a bounded number of turns; the caller
   * looks at the state afterwards), then until the engine stayed unchanged
   * for a few turns.
   */
  async settle(until?: () => boolean): Promise<void> {
    if (until !== undefined) {
      for (let turn = 0; turn < UNTIL_TURNS && !until() && this.failure === undefined && !this.ended; turn++) await nextTurn();
    }
    let seen = this.changes;
    let idle = 0;
    for (let turn = 0; turn < MAX_TURNS; turn++) {
      await nextTurn();
      if (this.changes !== seen) {
        seen = this.changes;
        idle = 0;
      } else if (++idle >= IDLE_TURNS) {
        return;
      }
    }
    throw new Error(`the TLS engine did not settle within ${MAX_TURNS} event-loop turns`);
  }

  /** Everything written since the last take. */
  takeOutput(): Buffer {
    const b = this.out.length === 1 ? (this.out[0] as Buffer) : Buffer.concat(this.out);
    this.out = [];
    this.outLen = 0;
    return b;
  }

  /** Application data received since the last take. */
  takeApp(): Buffer {
    const b = this.app.length === 1 ? (this.app[0] as Buffer) : Buffer.concat(this.app);
    this.app = [];
    this.appLen = 0;
    return b;
  }

  /** The negotiated protocol (`TLSv1.3`, …) once established. */
  get protocol(): string | null {
    return this.socket.getProtocol();
  }

  destroy(): void {
    this.ended = true;
    this.onChange = undefined;
    this.socket.destroy();
    this.duplex.destroy();
  }
}
