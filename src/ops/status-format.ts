/** Text rendering of a status report (pure). */
import { formatAge, isoTime, plural, printable } from './output.js';
import type { CurSummary, PostSummary, StateSummary, StatusReport, SubtreeStatus, UndeliverableSummary } from './status-report.js';

const HOLDERS_SHOWN = 3;

function row(subtree: string, state: string, count: string, oldest: string, details: string): string {
  return `${subtree.padEnd(9)}${state.padEnd(15)}${count.padStart(7)}  ${oldest.padEnd(8)}${details}`.trimEnd();
}

const oldestCol = (s: StateSummary): string => (s.oldest === null ? '-' : formatAge(s.oldest.ageMs));

/** "dead (pid reused)" when the pid now names another process. */
export function stateText(state: string, pidReused: boolean): string {
  return pidReused ? `${state} (pid reused)` : state;
}

function curDetails(c: CurSummary): string {
  if (c.count === 0) return '';
  const shown = c.holders.slice(0, HOLDERS_SHOWN).map((h) => `${printable(h.holder)} ${stateText(h.state, h.pidReused)} (${h.claims})`);
  const more = c.holders.length - shown.length + c.holdersOmitted;
  return `held by ${shown.join(', ')}${more > 0 ? `, +${more} more` : ''}`;
}

function postDetails(p: PostSummary): string {
  const parts: string[] = [];
  if (p.nextRetryInMs !== null) parts.push(p.nextRetryInMs > 0 ? `next retry in ${formatAge(p.nextRetryInMs)}` : 'next retry due now');
  if (p.dueNow > 0) parts.push(`${p.dueNow} due`);
  if (p.oldestFailure !== null) parts.push(`failing for ${formatAge(p.oldestFailure.ageMs)}`);
  if (p.withoutMeta > 0) parts.push(`${p.withoutMeta} without .meta`);
  return parts.join(', ');
}

function undeliverableDetails(u: UndeliverableSummary): string {
  const parts: string[] = [];
  if (u.oldestFailure !== null) parts.push(`first failure ${formatAge(u.oldestFailure.ageMs)} ago`);
  if (u.withoutMeta > 0) parts.push(`${u.withoutMeta} without .meta`);
  return parts.join(', ');
}

const missingNote = (s: StateSummary): string => (s.missing ? 'directory missing' : '');

function subtreeLines(s: SubtreeStatus, claimLimit: number): string[] {
  if (s.status === 'missing') return [`${s.name.padEnd(9)}(missing: ${printable(s.root)} does not exist)`];
  const lines: string[] = [];
  if (s.status === 'error') lines.push(`${s.name.padEnd(9)}(ERROR: ${printable(s.root)}: ${printable(s.error ?? '')})`);
  const { new: n, cur, post, undeliverable: u } = s.states;
  const name = s.status === 'error' ? '' : s.name;
  lines.push(row(name, 'new', String(n.count), oldestCol(n), missingNote(n)));
  lines.push(row('', 'cur', String(cur.count), oldestCol(cur), missingNote(cur) || curDetails(cur)));
  lines.push(row('', 'post', String(post.count), oldestCol(post), missingNote(post) || postDetails(post)));
  lines.push(row('', 'undeliverable', String(u.count), oldestCol(u), missingNote(u) || undeliverableDetails(u)));
  const w = s.legacyWork;
  if (w !== null && w.count > 0) {
    lines.push(row('', 'work (C)', String(w.count), w.longestHeldMs === null ? '-' : formatAge(w.longestHeldMs),
      "the C importer's claims: taken over once held longer than --legacy-work-age, or by requeue --adopt-legacy"));
  }
  for (const d of s.destinationDown) {
    const probe = d.nextProbeInMs > 0 ? `next probe in ${formatAge(d.nextProbeInMs)}` : 'probe due now';
    lines.push(row('', 'DESTINATION', 'DOWN', formatAge(d.downForMs),
      `${printable(d.worker)} (${printable(d.holder)}) holds its messages: ${plural(d.failures, 'attempt')} without an answer, ${probe}`));
    lines.push(`${''.padEnd(11)}reason: ${printable(d.reason)}`);
  }
  if (s.errors.length > 0) {
    lines.push(`${''.padEnd(9)}top errors (post/ + undeliverable/, ${plural(s.errorGroups, 'kind')}):`);
    for (const e of s.errors) {
      lines.push(`${''.padEnd(11)}${String(e.count).padStart(6)}× ${printable(e.error)}  [post ${e.post}, undeliverable ${e.undeliverable}]`);
    }
    if (s.errorsNotGrouped > 0) lines.push(`${''.padEnd(11)}${String(s.errorsNotGrouped).padStart(6)}× (other errors, not grouped)`);
  }
  const claims = cur.claims.slice(0, claimLimit);
  if (claims.length > 0) {
    lines.push(`${''.padEnd(9)}claims, longest held first (${claims.length} of ${cur.count}):`);
    for (const c of claims) {
      const age = c.ageMs === null ? '' : `, message age ${formatAge(c.ageMs)}`;
      lines.push(`${''.padEnd(11)}${printable(c.id)}  ${printable(c.holder ?? '-')} ${stateText(c.holderState, c.pidReused)}, held ${formatAge(c.heldForMs)}${age}`);
    }
  }
  return lines;
}

/** The report as a table; `claimLimit` claims are listed per subtree. */
export function formatStatus(r: StatusReport, claimLimit = 20): string {
  const lines = [
    `spool status at ${isoTime(r.now)} on ${printable(r.host)}`,
    row('SUBTREE', 'STATE', 'COUNT', 'OLDEST', 'DETAILS'),
  ];
  for (const s of r.subtrees) lines.push(...subtreeLines(s, claimLimit));
  if (r.attention.length > 0) {
    lines.push('', r.exitCode >= 2 ? 'ERRORS / ATTENTION:' : 'ATTENTION:');
    for (const a of r.attention) lines.push(`  ${printable(a)}`);
    lines.push("  (see 'jp-importer show <id>' for one message, 'jp-importer requeue' to retry undeliverable ones)");
  } else {
    lines.push('', 'OK');
  }
  return lines.join('\n') + '\n';
}
