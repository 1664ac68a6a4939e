import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DestinationGate, FIRST_PROBE_CAP_MS, gatePolicyFromRetry, PROBE_CAP_MS, type Admission, type GateState,
} from '../../src/daemon/destination-gate.js';
import type { Contact } from '../../src/core/outcome.js';

type Step =
  | { at: number; admit: number; expect: Admission; state: GateState }
  | { at: number; record: Contact | undefined; change: 'closed' | 'reopened' | undefined; state: GateState; nextProbeAt?: number }
  | { at: number; probeNotSent: true; retryAt?: number; state: GateState }
  | { at: number; idle: 'idle' | undefined; state: GateState }
  | { at: number; foundNothing: { ranDry: boolean; empty: boolean }; change: 'idle' | undefined; state: GateState; nextProbeAt?: number };

const CASES: { name: string; steps: Step[] }[] = [
  {
    name: 'open gate admits everything; answers keep it open',
    steps: [
      { at: 0, admit: 5, expect: 'all', state: 'open' },
      { at: 1, record: 'answered', change: undefined, state: 'open' },
      { at: 2, record: undefined, change: undefined, state: 'open' },
    ],
  },
  {
    name: 'no answer closes; nothing admitted before the probe time; one probe then; an answer reopens',
    steps: [
      { at: 0, record: 'unreachable', change: 'closed', state: 'closed', nextProbeAt: 100 },
      { at: 50, admit: 0, expect: 'none', state: 'closed' },
      { at: 100, admit: 3, expect: 'none', state: 'closed' }, // older attempts still in flight
      { at: 100, admit: 0, expect: 'probe', state: 'probing' },
      { at: 101, admit: 1, expect: 'none', state: 'probing' },
      { at: 120, record: 'answered', change: 'reopened', state: 'open' },
      { at: 121, admit: 0, expect: 'all', state: 'open' },
    ],
  },
  {
    name: 'failed probes double the delay up to the cap',
    steps: [
      { at: 0, record: 'unreachable', change: 'closed', state: 'closed', nextProbeAt: 100 },
      { at: 100, admit: 0, expect: 'probe', state: 'probing' },
      { at: 110, record: 'unreachable', change: 'closed', state: 'closed', nextProbeAt: 310 },
      { at: 310, admit: 0, expect: 'probe', state: 'probing' },
      { at: 310, record: 'unreachable', change: 'closed', state: 'closed', nextProbeAt: 710 },
      { at: 710, admit: 0, expect: 'probe', state: 'probing' },
      { at: 710, record: 'unreachable', change: 'closed', state: 'closed', nextProbeAt: 1210 },
      { at: 1210, admit: 0, expect: 'probe', state: 'probing' },
      { at: 1210, record: 'unreachable', change: 'closed', state: 'closed', nextProbeAt: 1710 },
    ],
  },
  {
    name: 'attempts in flight when the gate closed: failures do not lengthen the delay, an answer reopens',
    steps: [
      { at: 0, record: 'unreachable', change: 'closed', state: 'closed', nextProbeAt: 100 },
      { at: 5, record: 'unreachable', change: undefined, state: 'closed', nextProbeAt: 100 },
      { at: 6, record: 'answered', change: 'reopened', state: 'open' },
    ],
  },
  {
    name: 'a probe that never contacted the destination (malformed message) is repeated at once',
    steps: [
      { at: 0, record: 'unreachable', change: 'closed', state: 'closed', nextProbeAt: 100 },
      { at: 100, admit: 0, expect: 'probe', state: 'probing' },
      { at: 101, record: undefined, change: undefined, state: 'closed', nextProbeAt: 100 },
      { at: 101, admit: 0, expect: 'probe', state: 'probing' },
    ],
  },
  {
    name: 'a probe with nothing due waits the given time; an idle gate (queue empty) opens with the outage it ends',
    steps: [
      { at: 0, record: 'unreachable', change: 'closed', state: 'closed', nextProbeAt: 100 },
      { at: 100, admit: 0, expect: 'probe', state: 'probing' },
      { at: 100, probeNotSent: true, retryAt: 200, state: 'closed' },
      { at: 150, admit: 0, expect: 'none', state: 'closed' },
      { at: 200, admit: 0, expect: 'probe', state: 'probing' },
      { at: 200, idle: 'idle', state: 'open' },
      { at: 201, admit: 3, expect: 'all', state: 'open' },
      { at: 202, idle: undefined, state: 'open' },
    ],
  },
  {
    name: 'a probe pass that found nothing: a lost claim probes again at once, nothing due waits the first delay, an empty queue goes idle',
    steps: [
      { at: 0, record: 'unreachable', change: 'closed', state: 'closed', nextProbeAt: 100 },
      { at: 100, admit: 0, expect: 'probe', state: 'probing' },
      { at: 100, foundNothing: { ranDry: false, empty: false }, change: undefined, state: 'closed', nextProbeAt: 100 },
      { at: 101, admit: 0, expect: 'probe', state: 'probing' },
      { at: 101, foundNothing: { ranDry: true, empty: false }, change: undefined, state: 'closed', nextProbeAt: 201 },
      { at: 150, admit: 0, expect: 'none', state: 'closed' },
      { at: 201, admit: 0, expect: 'probe', state: 'probing' },
      { at: 201, foundNothing: { ranDry: true, empty: true }, change: 'idle', state: 'open' },
    ],
  },
  {
    name: 'a probe that found no message goes back to closed and may probe again',
    steps: [
      { at: 0, record: 'unreachable', change: 'closed', state: 'closed', nextProbeAt: 100 },
      { at: 100, admit: 0, expect: 'probe', state: 'probing' },
      { at: 100, probeNotSent: true, state: 'closed' },
      { at: 150, admit: 0, expect: 'probe', state: 'probing' },
    ],
  },
];

for (const c of CASES) {
  test(`destination gate: ${c.name}`, () => {
    const g = new DestinationGate({ firstProbeMs: 100, maxProbeMs: 500 });
    for (const [i, s] of c.steps.entries()) {
      const where = `step ${i} at ${s.at}`;
      if ('admit' in s) assert.equal(g.admit(s.at, s.admit), s.expect, where);
      else if ('probeNotSent' in s) g.probeNotSent(s.retryAt);
      else if ('idle' in s) assert.equal(g.idle()?.kind, s.idle, where);
      else if ('foundNothing' in s) {
        assert.equal(g.foundNothing(s.at, s.foundNothing.ranDry, s.foundNothing.empty)?.kind, s.change, where);
        if (s.nextProbeAt !== undefined) assert.equal(g.snapshot().nextProbeAt, s.nextProbeAt, where);
      }
      else {
        const change = g.record(s.record, s.at, 'why');
        assert.equal(change?.kind, s.change, where);
        if (s.nextProbeAt !== undefined) assert.equal(g.snapshot().nextProbeAt, s.nextProbeAt, where);
      }
      assert.equal(g.state, s.state, where);
    }
  });
}

test('destination gate: the outage keeps its start time and counts its failures; reopening reports them', () => {
  const g = new DestinationGate({ firstProbeMs: 10, maxProbeMs: 10 });
  g.record('unreachable', 1000, 'refused');
  assert.equal(g.admit(1010, 0), 'probe');
  const again = g.record('unreachable', 1011, 'reset');
  assert.deepEqual(again, { kind: 'closed', since: 1000, nextProbeAt: 1021, failures: 2, reason: 'reset' });
  assert.equal(g.untilProbe(1015), 6);
  assert.equal(g.admit(1021, 0), 'probe');
  assert.equal(g.untilProbe(1021), Number.POSITIVE_INFINITY);
  assert.deepEqual(g.record('answered', 1030, undefined), { kind: 'reopened', since: 1000, downMs: 30, failures: 2 });
  assert.deepEqual(g.snapshot(), { state: 'open', since: undefined, nextProbeAt: undefined, failures: 0, reason: undefined });
});

test('destination gate: policy from the retry policy is capped (probes are cheap) and refuses nonsense', () => {
  assert.deepEqual(gatePolicyFromRetry({ firstDelayMs: 300_000, maxDelayMs: 3_600_000 }), { firstProbeMs: FIRST_PROBE_CAP_MS, maxProbeMs: PROBE_CAP_MS });
  assert.deepEqual(gatePolicyFromRetry({ firstDelayMs: 1000, maxDelayMs: 2000 }), { firstProbeMs: 1000, maxProbeMs: 2000 });
  assert.deepEqual(gatePolicyFromRetry({ firstDelayMs: 0, maxDelayMs: 0 }), { firstProbeMs: 1, maxProbeMs: 1 });
  assert.throws(() => new DestinationGate({ firstProbeMs: 0, maxProbeMs: 10 }), RangeError);
  assert.throws(() => new DestinationGate({ firstProbeMs: 10, maxProbeMs: 5 }), RangeError);
});
