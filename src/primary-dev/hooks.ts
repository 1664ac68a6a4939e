/**
 * Failure injection and counters of the reference primary service
 * (admin endpoint /admin/hooks and /admin/stats).
 */
import { DEV_OPS } from './soap-server.js';

export interface DevHooks {
  /** Answer the next N SOAP calls with a fault (errno failCode). */
  readonly failNext: number;
  /** errno of injected faults (default 11, EAGAIN). */
  readonly failCode: number;
  /** Delay every SOAP answer by this many ms. */
  readonly latencyMs: number;
  /** Destroy the connection without answering for the next N SOAP calls. */
  readonly closeNext: number;
  /**
   * Carry out the next N SOAP calls (of loseAnswerOp, when set) as usual —
   * state changed and journaled — then destroy the connection instead of
   * answering: the client cannot tell whether the call was done.
   */
  readonly loseAnswerNext: number;
  /** The operation loseAnswerNext applies to ('' = any). */
  readonly loseAnswerOp: string;
  /**
   * FTP side: break off the data connection of the next upload(s) after this
   * many bytes. One-shot: handed to the FTP endpoint (which counts it down)
   * and reset to 0 here; setting any ftp hook later re-sends the FTP hooks,
   * which disarms a drop that has not happened yet.
   */
  readonly ftpDropAfterBytes: number;
  /** FTP side: how many uploads in a row ftpDropAfterBytes breaks off (default 1). */
  readonly ftpDropCount: number;
  /** FTP side: refuse logins. */
  readonly ftpRefuseLogins: boolean;
}

export const DEFAULT_HOOKS: DevHooks = {
  failNext: 0,
  failCode: 11,
  latencyMs: 0,
  closeNext: 0,
  loseAnswerNext: 0,
  loseAnswerOp: '',
  ftpDropAfterBytes: 0,
  ftpDropCount: 1,
  ftpRefuseLogins: false,
};

const INT_KEYS = ['failNext', 'failCode', 'latencyMs', 'closeNext', 'loseAnswerNext', 'ftpDropAfterBytes', 'ftpDropCount'] as const;
/** Hooks that belong to the FTP endpoint. */
export const FTP_HOOK_KEYS = ['ftpDropAfterBytes', 'ftpDropCount', 'ftpRefuseLogins'] as const;
const BOOL_KEYS = ['ftpRefuseLogins'] as const;
/** String hooks and the values each accepts. */
const OP_KEYS = ['loseAnswerOp'] as const;
const MAX_INT = 2 ** 31 - 1;

/** Validate a hooks patch (JSON from the admin endpoint or options). Throws Error naming the key. */
export function parseHooksPatch(input: unknown): Partial<DevHooks> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new Error('hooks must be a JSON object');
  }
  const out: Record<string, number | boolean | string> = {};
  for (const [k, v] of Object.entries(input as Record<string, unknown>)) {
    if ((INT_KEYS as readonly string[]).includes(k)) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_INT) {
        throw new Error(`hook ${k} must be a non-negative integer, got ${JSON.stringify(v)}`);
      }
      if ((k === 'failCode' || k === 'ftpDropCount') && v === 0) throw new Error(`hook ${k} must be > 0`);
      out[k] = v;
    } else if ((BOOL_KEYS as readonly string[]).includes(k)) {
      if (typeof v !== 'boolean') throw new Error(`hook ${k} must be true or false, got ${JSON.stringify(v)}`);
      out[k] = v;
    } else if ((OP_KEYS as readonly string[]).includes(k)) {
      if (typeof v !== 'string' || (v !== '' && !(DEV_OPS as readonly string[]).includes(v))) {
        throw new Error(`hook ${k} must be '' (any) or one of ${DEV_OPS.join(', ')}, got ${JSON.stringify(v)}`);
      }
      out[k] = v;
    } else {
      throw new Error(`unknown hook ${JSON.stringify(k)} (known: ${[...INT_KEYS, ...BOOL_KEYS, ...OP_KEYS].join(', ')})`);
    }
  }
  return out as Partial<DevHooks>;
}

export interface OpCounts {
  ok: number;
  fault: number;
}

export interface DevStats {
  /** Per SOAP operation (plus `invalid` for requests that could not be understood). */
  readonly calls: Record<string, OpCounts>;
  /** Connections destroyed by the closeNext hook. */
  readonly closed: number;
  /** Calls carried out whose answer the loseAnswerNext hook withheld. */
  readonly answersLost: number;
  /** Faults injected by the failNext hook (also counted under calls). */
  readonly injected: number;
  /** TLS handshakes the service refused (no/unknown/expired client certificate…). */
  readonly tlsRefused: number;
  readonly jobs: number;
  readonly uploadsInProgress: number;
  readonly filesCommitted: number;
}

export class Counters {
  readonly calls: Record<string, OpCounts> = Object.fromEntries([...DEV_OPS, 'invalid'].map((op) => [op, { ok: 0, fault: 0 }]));
  closed = 0;
  answersLost = 0;
  injected = 0;
  tlsRefused = 0;

  count(op: string, ok: boolean): void {
    const key = op in this.calls ? op : 'invalid';
    const c = (this.calls[key] ??= { ok: 0, fault: 0 });
    if (ok) c.ok++;
    else c.fault++;
  }

  snapshot(extra: Pick<DevStats, 'jobs' | 'uploadsInProgress' | 'filesCommitted'>): DevStats {
    const calls: Record<string, OpCounts> = {};
    for (const [k, v] of Object.entries(this.calls)) calls[k] = { ...v };
    return { calls, closed: this.closed, answersLost: this.answersLost, injected: this.injected, tlsRefused: this.tlsRefused, ...extra };
  }
}
