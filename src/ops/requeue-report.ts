/** The `requeue` report: JSON shape (version 1) and its text rendering (pure). */
import type { LocationState } from './locate.js';
import { formatAge, plural, printable } from './output.js';

export const REQUEUE_VERSION = 1;
export type RequeueArea = 'undeliverable' | 'post';

export interface AreaCount {
  readonly subtree: string;
  readonly from: RequeueArea;
  /** Messages moved to new/. */
  moved: number;
  /** Seen in the directory but gone before the move (a worker claimed it from post/). */
  vanished: number;
  /** Not moved because new/ already holds a message of that name. */
  conflicts: number;
}

export interface RequeueReport {
  readonly version: typeof REQUEUE_VERSION;
  /** `adopt`: --adopt-legacy alone. */
  readonly mode: 'all' | 'ids' | 'adopt';
  /** Distinct ids asked for (0 with --all). */
  readonly requested: number;
  /** Areas searched, in order. */
  readonly from: RequeueArea[];
  /** Subtrees searched. */
  subtrees: string[];
  /** Moved messages (at most 10,000 listed; movedTotal counts all). */
  moved: { readonly id: string; readonly subtree: string; readonly from: RequeueArea }[];
  movedTotal: number;
  movedListTruncated: boolean;
  counts: AreaCount[];
  /** With --adopt-legacy: messages moved from the C importer's work/ into new/, and how long they had been held there. */
  adopted: { readonly id: string; readonly subtree: string; readonly heldMs: number }[];
  /** Requested ids not in the searched areas; seenIn tells where they are instead. */
  notFound: { readonly id: string; readonly seenIn: { readonly subtree: string; readonly state: LocationState }[] }[];
  conflicts: { readonly id: string; readonly subtree: string; readonly from: RequeueArea }[];
  /** Subtrees not searched (root missing), only when no --subtree was named. */
  skipped: { readonly subtree: string; readonly root: string; readonly reason: string }[];
  /** Bad arguments or unreadable directories (exit 2). */
  errors: string[];
  exitCode: number;
}

const LISTED_IN_TEXT = 20;

/** Text for stdout; errors are not included (they go to stderr). */
export function formatRequeue(r: RequeueReport): string {
  const lines: string[] = [];
  if (r.mode === 'ids') {
    for (const m of r.moved) lines.push(`requeued ${printable(m.id)}: ${m.subtree} ${m.from}/ → new/`);
  } else {
    for (const name of r.subtrees) {
      const parts = r.counts.filter((c) => c.subtree === name).map((c) => {
        const extra = [c.vanished > 0 ? `${c.vanished} claimed by a worker meanwhile` : '', c.conflicts > 0 ? `${c.conflicts} name(s) already in new/` : '']
          .filter((s) => s.length > 0);
        return `${c.moved} from ${c.from}/${extra.length > 0 ? ` (${extra.join(', ')})` : ''}`;
      });
      lines.push(`${printable(name)}: requeued ${parts.join(', ')}`);
    }
    const shown = r.moved.slice(0, LISTED_IN_TEXT);
    for (const m of shown) lines.push(`  ${printable(m.id)}  ${m.subtree} ${m.from}/ → new/`);
    if (r.movedTotal > shown.length) lines.push(`  … and ${r.movedTotal - shown.length} more (--json lists up to 10,000)`);
  }
  for (const a of r.adopted) lines.push(`adopted ${printable(a.id)}: ${a.subtree} work/ → new/ (held there ${formatAge(a.heldMs)})`);
  if (r.adopted.length > 0 || (r.mode === 'adopt' && r.errors.length === 0)) lines.push(`adopted ${plural(r.adopted.length, 'message')} from work/`);
  for (const n of r.notFound) {
    const seen = n.seenIn.length === 0 ? 'not in any state'
      : `it is in ${n.seenIn.map((s) => `${printable(s.subtree)} ${s.state}/`).join(', ')}`;
    lines.push(`not found: ${printable(n.id)} (${seen})`);
  }
  for (const c of r.conflicts) {
    lines.push(`not moved: ${printable(c.id)} in ${c.subtree} ${c.from}/: new/ already holds a message of that name`);
  }
  for (const s of r.skipped) lines.push(`skipped ${printable(s.subtree)}: ${printable(s.reason)}`);
  if (r.errors.length === 0 && r.mode !== 'adopt') {
    const asked = r.mode === 'ids' ? ` (${plural(r.requested, 'id')} requested)` : '';
    lines.push(`requeued ${plural(r.movedTotal, 'message')}${asked}`);
  }
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}
