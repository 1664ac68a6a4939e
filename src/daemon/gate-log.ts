/** The one log line of each change of a worker's destination gate (./destination-gate.ts). */
import type { Logger } from '../core/log.js';
import type { GateChange } from './destination-gate.js';

export function logGateChange(log: Logger, change: GateChange, base: Record<string, unknown>): void {
  if (change.kind === 'closed') {
    log.warn({
      ...base, destination: 'unreachable', failures: change.failures, nextProbe: new Date(change.nextProbeAt).toISOString(),
      downSince: new Date(change.since).toISOString(), reason: change.reason,
    }, change.failures === 1
      ? 'destination unreachable: holding the other messages, probing with one'
      : 'destination still unreachable: probe failed');
  } else if (change.kind === 'reopened') {
    log.info({ ...base, destination: 'reachable', downMs: change.downMs, failures: change.failures },
      'destination answers again: resuming');
  } else {
    log.info({ ...base, destination: 'unknown', failures: change.failures, downSince: new Date(change.since).toISOString() },
      'no message left to hold for the destination (other consumers sent them): the next one is tried as usual');
  }
}
