/**
 * The fault relay (./fault-relay.ts) as its own process inside a network
 * namespace (test/fixtures/fault-relay.ts), driven over its stdin/stdout:
 * stats, new fault settings, close. Killed by the after-hook.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Faults, Forward, RelayStats } from './fault-relay.js';
import { inNs } from './netns.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/fault-relay.js', import.meta.url));

export interface RelayConfig {
  readonly listenHost: string;
  readonly forwards: readonly Forward[];
  readonly faults: Faults;
  readonly seed: number;
}

export interface RelayProcess {
  readonly pid: number;
  stats(): Promise<RelayStats>;
  setFaults(patch: Partial<Faults>): Promise<Faults>;
  close(): Promise<void>;
}

type AfterHook = { after: (fn: () => Promise<void> | void) => void };

export async function startRelayIn(t: AfterHook, ns: string, cfg: RelayConfig): Promise<RelayProcess> {
  const [file, args] = inNs(ns, process.execPath, [FIXTURE, JSON.stringify(cfg)]);
  const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr = (stderr + d).slice(-4000); });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const waiting = new Map<number, (reply: Record<string, unknown>) => void>();
  let ready: ((pid: number) => void) | undefined;
  createInterface({ input: child.stdout }).on('line', (line) => {
    const o = JSON.parse(line) as Record<string, unknown>;
    if (o['ready'] === true) ready?.(Number(o['pid']));
    const w = waiting.get(Number(o['id']));
    if (w !== undefined) {
      waiting.delete(Number(o['id']));
      w(o);
    }
  });
  const pid = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the relay did not start within 15 s: ${stderr}`)), 15_000);
    ready = (p) => {
      clearTimeout(timer);
      resolve(p);
    };
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the relay exited (${code}) before it was ready: ${stderr}`));
    });
  });
  let nextId = 1;
  const call = (cmd: Record<string, unknown>): Promise<Record<string, unknown>> => {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.reject(new Error(`the relay has exited: ${stderr}`));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`the relay did not answer ${JSON.stringify(cmd)} within 10 s: ${stderr}`));
      }, 10_000);
      waiting.set(id, (o) => {
        clearTimeout(timer);
        resolve(o);
      });
      child.stdin.write(`${JSON.stringify({ id, ...cmd })}\n`);
    });
  };
  return {
    pid,
    async stats() {
      return (await call({ cmd: 'stats' }))['stats'] as RelayStats;
    },
    async setFaults(patch) {
      return (await call({ cmd: 'set', faults: patch }))['faults'] as Faults;
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await call({ cmd: 'close' }).catch(() => undefined);
      await exited;
    },
  };
}
