/**
 * Separate test hosts on one machine (targets.md R10): network namespaces
 * joined by veth pairs, each end with an address of its own (10.231.<link>.1
 * and .2, /24; loopback up in every namespace but not used between hosts),
 * made and removed by the test itself with iproute2.
 *
 * Namespace names are `jp-test-<pid>-<n>-<host>`: unique per test process,
 * removed in an after-hook (also when the test fails) and at process exit;
 * namespaces of this prefix whose pid is dead (a killed earlier run) are
 * removed before new ones are made. A link goes down and up again with
 * partition()/heal(): the side named goes administratively down, its peer
 * loses its carrier: packets between the two vanish (a black hole: the
 * peer's connections time out, its new ones fail once ARP gives up); taking
 * both ends down, the hosts see the link gone (new connections fail at once).
 *
 * Needs root and a kernel with network namespaces and veth: netnsMissing()
 * skips with the reason printed, or fails under CI=true.
 */
import { spawn, spawnSync } from 'node:child_process';

type AfterHook = { after: (fn: () => Promise<void> | void) => void };

const PREFIX = 'jp-test-';
/** 10.231.<link index + 1>.0/24 per link. */
const NET = '10.231';

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `ip …` synchronously; throws with its stderr on a non-zero exit. */
export function ip(args: readonly string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 30_000 });
  if (r.error !== undefined) throw new Error(`ip ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** argv that runs `cmd args` inside namespace `ns` (`ip netns exec` execs it: the pid is the command's). */
export function inNs(ns: string, cmd: string, args: readonly string[] = []): [string, string[]] {
  return ['ip', ['netns', 'exec', ns, cmd, ...args]];
}

/** Run a command inside a namespace to its end; a non-zero exit is a result. */
export function nsRun(ns: string, cmd: string, args: readonly string[] = [], timeoutMs = 30_000): Promise<RunResult> {
  const [file, argv] = inNs(ns, cmd, args);
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function listNamespaces(): string[] {
  return ip(['netns', 'list']).split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter((n) => n !== '');
}

/** SIGKILL what still runs in the namespace, then delete it (its veth ends go with it). Never throws. */
function removeNamespace(ns: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 10_000 });
  for (const p of (pids.stdout ?? '').split('\n').map(Number).filter((n) => n > 0 && n !== process.pid)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone
    }
  }
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 });
}

/** Remove namespaces of earlier test processes that are gone (killed runs). Returns their names. */
export function removeStaleNamespaces(): string[] {
  const removed: string[] = [];
  for (const ns of listNamespaces()) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(ns);
    if (m === null || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    removeNamespace(ns);
    removed.push(ns);
  }
  return removed;
}

let cachedReason: string | null | undefined;

/**
 * Why namespaces cannot be made here, or undefined when they can: root,
 * `ip` present, and a probe namespace with a veth pair made and removed.
 */
export function netnsUnavailable(): string | undefined {
  if (cachedReason !== undefined) return cachedReason ?? undefined;
  cachedReason = probe() ?? null;
  return cachedReason ?? undefined;
}

function probe(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to make network namespaces (ip netns add)';
  const a = `${PREFIX}${process.pid}-probe-a`;
  const b = `${PREFIX}${process.pid}-probe-b`;
  try {
    ip(['netns', 'list']);
  } catch (e) {
    return `iproute2's ip netns does not work here: ${(e as Error).message}`;
  }
  try {
    ip(['netns', 'add', a]);
    ip(['netns', 'add', b]);
    ip(['link', 'add', 'p0', 'netns', a, 'type', 'veth', 'peer', 'name', 'p1', 'netns', b]);
    return undefined;
  } catch (e) {
    return `cannot make network namespaces joined by veth here: ${(e as Error).message}`;
  } finally {
    removeNamespace(a);
    removeNamespace(b);
  }
}

/**
 * Skip with the reason printed; under CI=true fail instead (`.ci/run` runs
 * the tests as root with iproute2), as a missing real peer does (./peers.ts).
 */
export function netnsMissing(t: { skip: (msg?: string) => void }, reason: string): void {
  if (process.env['CI'] === 'true') throw new Error(`${reason} — CI runs these tests as root with iproute2 (ip netns), so this is a failure there`);
  t.skip(reason);
}

export interface LinkEnd {
  /** The host (namespace) this end is in. */
  readonly host: string;
  readonly ns: string;
  readonly dev: string;
  /** Its IPv4 address (without the prefix length). */
  readonly addr: string;
}

export interface NetLink {
  readonly a: LinkEnd;
  readonly b: LinkEnd;
}

export interface TestNet {
  /** Namespace name of a host. */
  ns(host: string): string;
  /** The link between two hosts (either order). */
  link(h1: string, h2: string): NetLink;
  /** The address `host` has on its link to `peer`. */
  addr(host: string, peer: string): string;
  /** Take `host`'s end of its link to `peer` down: nothing passes between them. */
  partition(host: string, peer: string): void;
  /** Bring it up again. */
  heal(host: string, peer: string): void;
  /** Kill what runs in the namespaces and delete them (also done by the after-hook). */
  remove(): void;
}

const live = new Set<string>();
let exitHook = false;
let counter = 0;

/**
 * Namespaces for `hosts` and a veth link for each pair in `links` (link i:
 * 10.231.<i+1>.1 on its first host, .2 on its second). Removed by t.after.
 */
export function makeTestNet(t: AfterHook, hosts: readonly string[], links: ReadonlyArray<readonly [string, string]>): TestNet {
  removeStaleNamespaces();
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const ns of live) removeNamespace(ns);
    });
  }
  const run = `${PREFIX}${process.pid}-${counter++}`;
  const names = new Map(hosts.map((h) => [h, `${run}-${h}`]));
  const made: string[] = [];
  const remove = (): void => {
    for (const ns of made.splice(0)) {
      removeNamespace(ns);
      live.delete(ns);
    }
  };
  t.after(remove);
  const nsOf = (h: string): string => {
    const n = names.get(h);
    if (n === undefined) throw new Error(`no host ${h} in this test network (${hosts.join(', ')})`);
    return n;
  };
  const netLinks: NetLink[] = [];
  try {
    for (const ns of names.values()) {
      ip(['netns', 'add', ns]);
      made.push(ns);
      live.add(ns);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    links.forEach(([h1, h2], i) => {
      if (i > 250) throw new Error('too many links');
      const a: LinkEnd = { host: h1, ns: nsOf(h1), dev: `to-${h2}`.slice(0, 15), addr: `${NET}.${i + 1}.1` };
      const b: LinkEnd = { host: h2, ns: nsOf(h2), dev: `to-${h1}`.slice(0, 15), addr: `${NET}.${i + 1}.2` };
      ip(['link', 'add', a.dev, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.dev, 'netns', b.ns]);
      for (const end of [a, b]) {
        ip(['-n', end.ns, 'addr', 'add', `${end.addr}/24`, 'dev', end.dev]);
        ip(['-n', end.ns, 'link', 'set', end.dev, 'up']);
      }
      netLinks.push({ a, b });
    });
  } catch (e) {
    remove();
    throw e;
  }
  const link = (h1: string, h2: string): NetLink => {
    const l = netLinks.find((x) => (x.a.host === h1 && x.b.host === h2) || (x.a.host === h2 && x.b.host === h1));
    if (l === undefined) throw new Error(`no link between ${h1} and ${h2}`);
    return l;
  };
  const end = (host: string, peer: string): LinkEnd => {
    const l = link(host, peer);
    return l.a.host === host ? l.a : l.b;
  };
  return {
    ns: nsOf,
    link,
    addr: (host, peer) => end(host, peer).addr,
    partition(host, peer) {
      const e = end(host, peer);
      ip(['-n', e.ns, 'link', 'set', e.dev, 'down']);
    },
    heal(host, peer) {
      const e = end(host, peer);
      ip(['-n', e.ns, 'link', 'set', e.dev, 'up']);
    },
    remove,
  };
}

/**
 * The kernel's SNMP counters as seen inside a namespace (/proc/net/snmp):
 * e.g. `Tcp.ActiveOpens` (connections attempted from it: SYNs sent) and
 * `Ip.OutNoRoutes` (sends, connects included, refused at once for want of a route).
 */
export async function snmpCounters(ns: string): Promise<Record<string, Record<string, number>>> {
  const r = await nsRun(ns, 'cat', ['/proc/net/snmp']);
  const out: Record<string, Record<string, number>> = {};
  const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const keys = (lines[i] ?? '').split(/\s+/);
    const values = (lines[i + 1] ?? '').split(/\s+/);
    const group = (keys[0] ?? '').replace(/:$/, '');
    out[group] = Object.fromEntries(keys.slice(1).map((k, j) => [k, Number(values[j + 1])]));
  }
  return out;
}
