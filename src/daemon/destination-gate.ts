/**
 * The worker's view of its destination, like Postfix's dead-destination
 * cache: after an attempt that got no answer at all (outcome contact
 * `unreachable`), the gate closes and the other messages are left untouched
 * in new/ and post/ — no connection attempt, no file operation, no retry
 * state written for them. At the probe time one message is let through; an
 * answer from the destination (delivered, or any reply) opens the gate, no
 * answer closes it again with a doubled delay (capped).
 *
 *   open ──unreachable──▶ closed ──probe time──▶ probing ──answered──▶ open
 *                            ▲                       │  └──nothing to send, the queue empty (idle)──▶ open
 *                            └──unreachable, or nothing due (next probe delayed)
 *
 * An idle gate opens without news of the destination: the worker holds no
 * message any more (other consumers of the spool sent them), so it claims
 * nothing is held; the next message is tried as usual.
 *
 * Pure state machine over a clock value: no timers, no I/O.
 */
import type { Contact } from '../core/outcome.js';

export interface GatePolicy {
  /** Delay before the first probe after the gate closes. */
  readonly firstProbeMs: number;
  /** Cap on the delay between probes. */
  readonly maxProbeMs: number;
}

/** Probing is cheap (one message, one connection attempt): never wait longer than this. */
export const PROBE_CAP_MS = 60_000;
/** Nor wait before the first probe longer than this. */
export const FIRST_PROBE_CAP_MS = 5_000;

/** The gate's delays from the worker's retry policy: the retry delays, capped at 5 s / 60 s. */
export function gatePolicyFromRetry(retry: { readonly firstDelayMs: number; readonly maxDelayMs: number }): GatePolicy {
  const firstProbeMs = Math.max(1, Math.min(retry.firstDelayMs, FIRST_PROBE_CAP_MS));
  return { firstProbeMs, maxProbeMs: Math.max(firstProbeMs, Math.min(retry.maxDelayMs, PROBE_CAP_MS)) };
}

export type GateState = 'open' | 'closed' | 'probing';

/** What the loop may do now: claim freely, claim exactly one (the probe), or nothing. */
export type Admission = 'all' | 'probe' | 'none';

/** A change of the gate worth a log line and a status file. */
export type GateChange =
  | { readonly kind: 'closed'; readonly since: number; readonly nextProbeAt: number; readonly failures: number; readonly reason: string }
  | { readonly kind: 'reopened'; readonly since: number; readonly downMs: number; readonly failures: number }
  | { readonly kind: 'idle'; readonly since: number; readonly failures: number };

export interface GateSnapshot {
  readonly state: GateState;
  /** When the destination was first found unreachable (this outage). */
  readonly since: number | undefined;
  readonly nextProbeAt: number | undefined;
  /** Attempts without an answer in this outage. */
  readonly failures: number;
  readonly reason: string | undefined;
}

export class DestinationGate {
  private st: GateState = 'open';
  private since: number | undefined;
  private nextProbeAt = 0;
  private failures = 0;
  private reason: string | undefined;

  constructor(private readonly policy: GatePolicy) {
    if (!(policy.firstProbeMs > 0) || !(policy.maxProbeMs >= policy.firstProbeMs)) {
      throw new RangeError(`bad gate policy: first ${policy.firstProbeMs} ms, max ${policy.maxProbeMs} ms`);
    }
  }

  get state(): GateState {
    return this.st;
  }

  snapshot(): GateSnapshot {
    return {
      state: this.st,
      since: this.since,
      nextProbeAt: this.st === 'open' ? undefined : this.nextProbeAt,
      failures: this.failures,
      reason: this.reason,
    };
  }

  /**
   * Whether messages may be claimed at `now`. A closed gate whose probe time
   * has come turns to probing and admits one message (only when nothing is in
   * flight, so the probe's answer is not confused with older attempts).
   */
  admit(now: number, inFlight: number): Admission {
    if (this.st === 'open') return 'all';
    if (this.st === 'closed' && now >= this.nextProbeAt && inFlight === 0) {
      this.st = 'probing';
      return 'probe';
    }
    return 'none';
  }

  /** Milliseconds until a probe may be sent (0 when open or due; Infinity while a probe is out). */
  untilProbe(now: number): number {
    if (this.st === 'open') return 0;
    if (this.st === 'probing') return Number.POSITIVE_INFINITY;
    return Math.max(0, this.nextProbeAt - now);
  }

  /**
   * The probe was not sent: a claim lost to another consumer or refused
   * (probe again with another message at once), or nothing due to send
   * (`retryAt`: not before then, so that an empty pass is not repeated in a
   * loop).
   */
  probeNotSent(retryAt?: number): void {
    if (this.st !== 'probing') return;
    this.st = 'closed';
    if (retryAt !== undefined) this.nextProbeAt = Math.max(this.nextProbeAt, retryAt);
  }

  /** The probe found the queue empty: nothing is held any more, the gate opens (the destination's state unknown). */
  idle(): GateChange | undefined {
    if (this.st === 'open') return undefined;
    const change: GateChange = { kind: 'idle', since: this.since ?? 0, failures: this.failures };
    this.st = 'open';
    this.since = undefined;
    this.failures = 0;
    this.reason = undefined;
    return change;
  }

  /**
   * A probe pass claimed nothing. `ranDry`: the scans found no candidate
   * (else a claim was lost or refused: probe again at once). Dry and the
   * queue `empty`: nothing is held, the gate goes idle (the change is
   * returned). Dry with messages only not due yet: the next probe waits the
   * first probe delay, so an empty pass is never repeated in a loop.
   */
  foundNothing(now: number, ranDry: boolean, empty: boolean): GateChange | undefined {
    if (this.st !== 'probing') return undefined;
    if (ranDry && empty) return this.idle();
    this.probeNotSent(ranDry ? now + this.policy.firstProbeMs : undefined);
    return undefined;
  }

  /** Record what one finished attempt said about the destination. */
  record(contact: Contact | undefined, now: number, reason: string | undefined): GateChange | undefined {
    if (contact === 'answered') {
      if (this.st === 'open') return undefined;
      const change: GateChange = { kind: 'reopened', since: this.since ?? now, downMs: now - (this.since ?? now), failures: this.failures };
      this.st = 'open';
      this.since = undefined;
      this.failures = 0;
      this.reason = undefined;
      return change;
    }
    if (contact === 'unreachable') {
      // Nothing starts while closed: this is an attempt that was already in
      // flight when the gate closed. It does not lengthen the delay.
      if (this.st === 'closed') return undefined;
      this.failures++;
      this.since ??= now;
      this.reason = reason ?? this.reason;
      const delay = Math.min(this.policy.maxProbeMs, this.policy.firstProbeMs * 2 ** Math.min(this.failures - 1, 30));
      this.nextProbeAt = now + delay;
      this.st = 'closed';
      return { kind: 'closed', since: this.since, nextProbeAt: this.nextProbeAt, failures: this.failures, reason: this.reason ?? '' };
    }
    // Not contacted (malformed message, local file refused): says nothing about the destination.
    if (this.st === 'probing') this.st = 'closed';
    return undefined;
  }
}
