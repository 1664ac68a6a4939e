/** Text rendering of `show` (pure). */
import { hexDump } from './body.js';
import type { Location, LocationState } from './locate.js';
import { formatAge, isoTime, printable } from './output.js';
import type { ShowReport } from './show-report.js';

export const STATE_MEANING: Readonly<Record<LocationState, string>> = {
  new: 'waiting to be delivered',
  cur: 'claimed by a worker (being delivered)',
  post: 'failed temporarily, waiting for a retry',
  undeliverable: "given up (retry it with 'jp-importer requeue <id>')",
  work: "in the C importer's work/ (taken over into new/ once held longer than --legacy-work-age, or by requeue --adopt-legacy)",
  tmp: 'only in tmp/: being written by a producer, or a leftover link',
};

const when = (ms: number, now: number): string => {
  const d = now - ms;
  return `${isoTime(ms)}, ${d >= 0 ? `${formatAge(d)} ago` : `in ${formatAge(-d)}`}`;
};

const where = (l: Location): string => `${printable(l.subtree)} ${l.state}/ (${printable(l.path)})`;

function field(label: string, value: string): string {
  return `${label.padEnd(10)}${value}`;
}

export function formatShow(r: ShowReport): string {
  const lines: string[] = [];
  lines.push(field('message', printable(r.name)));
  lines.push(field('where', where(r.location)));
  lines.push(field('state', `${r.location.state}: ${STATE_MEANING[r.location.state]}`));
  for (const o of r.otherLocations) lines.push(field('also', where(o)));
  lines.push(field('created', r.createdAt === null ? `unknown (name carries no time); file modified ${when(r.modifiedAt, r.now)}` : when(r.createdAt, r.now)));
  lines.push(field('size', `${r.size} bytes`));
  if (r.claim !== null) {
    const state = r.claim.pidReused ? `${r.claim.holderState}: pid ${r.claim.pid} now belongs to another process` : r.claim.holderState;
    lines.push(field('claimed', `by ${printable(r.claim.holder)} (${state}), held ${formatAge(r.claim.heldForMs)}`));
  }
  if (r.retry !== null) {
    const m = r.retry;
    lines.push(field('attempts', `${m.attempts} failed; first failure ${when(m.firstFailureAt, r.now)}; last attempt ${when(m.lastAttemptAt, r.now)}`));
  } else {
    lines.push(field('attempts', 'none recorded'));
  }
  if (r.nextAttemptAt !== null) {
    lines.push(field('next', r.nextAttemptAt <= r.now ? `due now (was due at ${when(r.nextAttemptAt, r.now)})` : when(r.nextAttemptAt, r.now)));
  }
  if (r.gaveUp !== null) {
    lines.push(field('gave up', `${r.gaveUp.at === null ? '' : `${when(r.gaveUp.at, r.now)}: `}${printable(r.gaveUp.reason)}`));
  }
  if (r.retry !== null) {
    lines.push(field('errors', 'oldest first'));
    for (const h of r.retry.history) lines.push(field('', `${isoTime(h.at)}  ${printable(h.reason)}`));
  }
  lines.push(...bodyLines(r));
  return lines.join('\n') + '\n';
}

function bodyLines(r: ShowReport): string[] {
  const b = r.body;
  if (b === null) return [`--- body not readable: ${printable(r.bodyError ?? 'unknown')} ---`];
  if (b.kind === 'text') {
    const text = b.text ?? '';
    const lines = [`--- body: ${b.size} bytes, text ---`, text.endsWith('\n') ? text.slice(0, -1) : text];
    lines.push(b.truncated ? `--- truncated: ${b.shownBytes} of ${b.size} bytes shown (--json shows up to 1 MiB) ---` : '--- end of body ---');
    return lines;
  }
  return [
    `--- body: ${b.size} bytes, binary (not UTF-8 text, or control characters); first ${b.shownBytes} bytes ---`,
    hexDump(Buffer.from(b.hex ?? '', 'hex')),
    b.truncated ? `--- ${b.size - b.shownBytes} more bytes not shown ---` : '--- end of body ---',
  ];
}
