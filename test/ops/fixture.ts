/**
 * A spool with messages in every state, built through the real Spool with
 * a fake clock so every age is exact. Times are relative to T0.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { claimName } from '../../src/queue/names.js';
import { Spool } from '../../src/maildir/spool.js';

export const T0 = 1_700_000_000_000;
export const HOST = 'testhost';
/** The injected "now" of the status tests: 302.5 s after T0. */
export const NOW = T0 + 302_500;
export const DEAD_PID = 999999;
export const isAlive = (pid: number): boolean => pid === process.pid;

export function fakeClock(start = T0): { now(): number; set(ms: number): void } {
  let now = start;
  return { now: () => now, set: (ms: number) => { now = ms; } };
}

export interface Built {
  readonly root: string;
  readonly spool: Spool;
  readonly clock: { now(): number; set(ms: number): void };
  /** new/: stored at T0+5 s and T0+6 s. */
  readonly n1: string;
  readonly n2: string;
  /** post/: stored at T0+1 s, +2 s, +3 s, failed at once (next attempt +300 s). */
  readonly p1: string;
  readonly p2: string;
  readonly p3: string;
  /** undeliverable/: u1 given up at T0 (malformed), u2 at T0+4 s (connection refused). */
  readonly u1: string;
  readonly u2: string;
  /** cur/: claimed by this process (stored T0+7 s). */
  readonly live: string;
  readonly liveEntry: string;
  /** cur/: a C-style name claimed by a dead pid of this host (time T0+8 s). */
  readonly dead: string;
  readonly deadEntry: string;
  /** cur/: claimed on another host (time T0+9 s). */
  readonly foreign: string;
  readonly foreignEntry: string;
}

export async function buildSpool(root: string): Promise<Built> {
  const clock = fakeClock();
  const spool = new Spool(root, { clock, host: HOST, random: () => 0.5 });
  await spool.init();
  const at = async (ms: number, body: string): Promise<string> => {
    clock.set(T0 + ms);
    return spool.store(body, { keepTmpLink: false }); // the states under test, without LB tmp/ twins (tests of the twin make their own)
  };
  const claimed = async (name: string) => {
    const m = await spool.claim(name, 'new');
    if (m === undefined) throw new Error(`could not claim ${name}`);
    return m;
  };
  const u1 = await at(0, 'jobid\n');
  await spool.giveUp(await claimed(u1), 'malformed message: key "jobid" without a value');
  const p1 = await at(1000, 'jobid https://lb:9000/p1\nfile /tmp/p1');
  await spool.failed(await claimed(p1), 'connect ECONNREFUSED 127.0.0.1:8900');
  const p2 = await at(2000, 'jobid https://lb:9000/p2\nfile /tmp/p2');
  await spool.failed(await claimed(p2), 'connect ECONNREFUSED 127.0.0.1:8901');
  const p3 = await at(3000, 'jobid https://lb:9000/p3\nfile /tmp/p3');
  await spool.failed(await claimed(p3), 'HTTP 503 from https://jp.example.org:8900/');
  const u2 = await at(4000, 'https://lb:9000/u2\n/CN=u2');
  await spool.giveUp(await claimed(u2), 'connect ECONNREFUSED 127.0.0.1:8903');
  const n1 = await at(5000, 'https://lb:9000/n1\n/CN=n1');
  const n2 = await at(6000, 'https://lb:9000/n2\n/CN=n2');
  const live = await at(7000, 'https://lb:9000/live\n/CN=live');
  await claimed(live);
  const dead = '1700000008_000000.lbhost';
  const deadEntry = `${dead}:${DEAD_PID}@${HOST}`;
  await writeFile(join(root, 'cur', deadEntry), 'https://lb:9000/dead\n/CN=dead', { mode: 0o600 });
  const foreign = '1700000009_000000.lbhost';
  const foreignEntry = `${foreign}:1234@otherhost`;
  await writeFile(join(root, 'cur', foreignEntry), 'https://lb:9000/foreign\n/CN=foreign', { mode: 0o600 });
  clock.set(NOW);
  return {
    root, spool, clock, n1, n2, p1, p2, p3, u1, u2, live, liveEntry: claimName(live, process.pid, HOST, spool.life),
    dead, deadEntry, foreign, foreignEntry,
  };
}

/** A Writable collecting what is written, as text. */
export class Collect extends Writable {
  chunks: Buffer[] = [];

  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    cb();
  }

  get text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }

  json(): Record<string, unknown> {
    return JSON.parse(this.text) as Record<string, unknown>;
  }
}
