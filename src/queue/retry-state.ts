/**
 * Retry state kept on disk beside a message (`post/.<name>.meta`,
 * `undeliverable/<name>.meta`): pure types, (de)serialisation and the
 * backoff policy. The next-attempt time is also the message file's mtime in
 * post/, so a scan needs one stat per entry and no read.
 */
import { parseJsonRecord } from '../core/json.js';

export interface RetryPolicy {
  /** Delay before the first retry. Default 5 min. */
  readonly firstDelayMs: number;
  /** Cap on the delay between attempts. Default 1 h. */
  readonly maxDelayMs: number;
  /** Give up when the first failure is older than this. Default 5 days. */
  readonly giveUpAfterMs: number;
  /** Relative jitter, 0..1: the delay is spread over ±jitter/2. Default 0.2. */
  readonly jitter: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  firstDelayMs: 5 * 60_000,
  maxDelayMs: 60 * 60_000,
  giveUpAfterMs: 5 * 24 * 3600_000,
  jitter: 0.2,
};

export type { AttemptRecord, MessageMeta } from '../core/queue.js';
import type { AttemptRecord, MessageMeta } from '../core/queue.js';

/**
 * Validates the payload a handler keeps with the retry state (the `upload`
 * key): the value, or undefined when it is not valid — then the whole
 * sidecar is refused (what is read from disk and acted upon must be all
 * right). Without one the payload is kept as the JSON it is.
 */
export type PayloadCheck<P> = (v: unknown) => P | undefined;

export const HISTORY_LIMIT = 5;
const MAX_REASON = 2000;

export function clampReason(reason: string): string {
  const oneLine = reason.replace(/[\r\n]+/g, ' ');
  return oneLine.length > MAX_REASON ? oneLine.slice(0, MAX_REASON) + '…' : oneLine;
}

/** Delay before attempt number `attempts + 1`, given `attempts` failures. */
export function backoffDelay(attempts: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const exp = Math.min(Math.max(attempts - 1, 0), 40);
  const base = Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** exp);
  const spread = base * policy.jitter;
  const delay = base - spread / 2 + spread * random();
  return Math.max(0, Math.round(Math.min(delay, policy.maxDelayMs * (1 + policy.jitter / 2))));
}

export type FailureDecision<P = unknown> =
  | { readonly action: 'retry'; readonly meta: MessageMeta<P> }
  | { readonly action: 'giveup'; readonly meta: MessageMeta<P> };

/** After a failed attempt at `now`: schedule the next one, or give up past the limit. */
export function afterFailure(
  prev: MessageMeta | undefined,
  reason: string,
  now: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
  upload?: unknown,
): FailureDecision {
  const r = clampReason(reason);
  const attempts = (prev?.attempts ?? 0) + 1;
  const firstFailureAt = prev?.firstFailureAt ?? now;
  const history = [...(prev?.history ?? []), { at: now, reason: r }].slice(-HISTORY_LIMIT);
  // The payload is what this attempt left, not inherited: the handler passes it on when it still holds.
  const base = {
    version: 1 as const, attempts, firstFailureAt, lastAttemptAt: now, lastError: r, history, ...(upload !== undefined ? { upload } : {}),
  };
  if (now - firstFailureAt >= policy.giveUpAfterMs) {
    const why = `gave up after ${attempts} attempts over ${formatDuration(now - firstFailureAt)}; last error: ${r}`;
    return { action: 'giveup', meta: { ...base, nextAttemptAt: now, gaveUpReason: why, gaveUpAt: now } };
  }
  return { action: 'retry', meta: { ...base, nextAttemptAt: now + backoffDelay(attempts, policy, random) } };
}

/** Meta for a message given up at once (malformed, permanent refusal). */
export function giveUpMeta(prev: MessageMeta | undefined, reason: string, now: number): MessageMeta {
  const r = clampReason(reason);
  return {
    version: 1,
    attempts: (prev?.attempts ?? 0) + 1,
    firstFailureAt: prev?.firstFailureAt ?? now,
    lastAttemptAt: now,
    nextAttemptAt: now,
    lastError: r,
    history: [...(prev?.history ?? []), { at: now, reason: r }].slice(-HISTORY_LIMIT),
    gaveUpReason: r,
    gaveUpAt: now,
  };
}

export function serializeMeta<P>(meta: MessageMeta<P>): string {
  return JSON.stringify(meta, null, 1) + '\n';
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * Parse a sidecar; undefined when it is not a valid meta (caller treats it
 * as absent). `payload` checks the `upload` key (see PayloadCheck).
 */
export function parseMeta<P = unknown>(text: string, payload?: PayloadCheck<P>): MessageMeta<P> | undefined {
  const o = parseJsonRecord(text);
  if (o === undefined) return undefined;
  if (o['version'] !== 1) return undefined;
  if (!isNum(o['attempts']) || !isNum(o['firstFailureAt']) || !isNum(o['lastAttemptAt']) || !isNum(o['nextAttemptAt'])) {
    return undefined;
  }
  if (typeof o['lastError'] !== 'string' || !Array.isArray(o['history'])) return undefined;
  const history: AttemptRecord[] = [];
  for (const h of o['history'] as unknown[]) {
    if (typeof h !== 'object' || h === null) return undefined;
    const hr = h as Record<string, unknown>;
    if (!isNum(hr['at']) || typeof hr['reason'] !== 'string') return undefined;
    history.push({ at: hr['at'], reason: hr['reason'] });
  }
  const meta: MessageMeta<P> = {
    version: 1,
    attempts: o['attempts'],
    firstFailureAt: o['firstFailureAt'],
    lastAttemptAt: o['lastAttemptAt'],
    nextAttemptAt: o['nextAttemptAt'],
    lastError: o['lastError'],
    history,
    ...(typeof o['gaveUpReason'] === 'string' ? { gaveUpReason: o['gaveUpReason'] } : {}),
    ...(isNum(o['gaveUpAt']) ? { gaveUpAt: o['gaveUpAt'] } : {}),
  };
  if (o['upload'] === undefined) return meta;
  if (payload === undefined) return { ...meta, upload: o['upload'] as P };
  // Read from disk and acted upon (an FTP transfer, a commit): anything off makes the whole sidecar invalid.
  const upload = payload(o['upload']);
  return upload === undefined ? undefined : { ...meta, upload };
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${(s / 3600).toFixed(1)}h`;
  return `${(s / 86400).toFixed(1)}d`;
}
