/**
 * `jp-importer requeue`: move messages from undeliverable/ and/or post/
 * back to new/ with their retry state dropped (attempts start again), all
 * of them (--all) or by id (think postsuper -r). Each move is
 * Spool.requeueMessage: the message is claimed first (one rename into cur/),
 * then moved into new/ without replacing anything, so it is safe while
 * workers run: a worker claiming it from post/ at the same moment cannot
 * leave it in two places.
 *
 * `--adopt-legacy` also moves every message the C importer holds in
 * work/ into new/ — only when no C importer runs on that spool any more
 * (spec/maildir.md §5: a C consumer holds work/X for its whole
 * transaction). The daemon itself takes over only what has been held there
 * longer than --legacy-work-age.
 *
 * Exit codes: 0 every requested message moved (or nothing to do with
 * --all); 1 some ids not found (or not moved because new/ already holds
 * that name); 2 error or bad arguments (neither --all nor ids, both,
 * unknown subtree, bad id, unreadable or missing selected spool).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { describeError } from '../core/errors.js';
import { Spool } from '../maildir/spool.js';
import { requeueArea } from '../queue/requeue.js';
import { lstatIfExists } from './dir-stream.js';
import { locate } from './locate.js';
import { toJson, write } from './output.js';
import {
  formatRequeue, REQUEUE_VERSION, type AreaCount, type RequeueArea, type RequeueReport,
} from './requeue-report.js';
import { EXIT_ATTENTION, EXIT_ERROR, EXIT_OK } from './status-report.js';
import { badId, type OpsSubtree } from './subtrees.js';

export interface RequeueOptions {
  readonly subtrees: readonly OpsSubtree[];
  /** Only this subtree (by name); default every subtree. */
  readonly subtree?: string;
  readonly all: boolean;
  readonly ids: readonly string[];
  /** Where from: default both (undeliverable/, then post/). */
  readonly from?: 'undeliverable' | 'post' | 'both';
  /** Move the C importer's claims (work/) into new/ too. */
  readonly adoptLegacy?: boolean;
  readonly json: boolean;
}

/** Moved messages listed by name in the report (all are counted). */
export const MOVED_LIST_LIMIT = 10_000;

function areasOf(from: RequeueOptions['from']): RequeueArea[] | undefined {
  if (from === undefined || from === 'both') return ['undeliverable', 'post'];
  if (from === 'undeliverable' || from === 'post') return [from];
  return undefined;
}

function badArgs(o: RequeueOptions): string | undefined {
  if (o.all && o.ids.length > 0) return 'give either --all or message ids, not both';
  if (!o.all && o.ids.length === 0 && o.adoptLegacy !== true) return 'give the ids of the messages to requeue, or --all, or --adopt-legacy';
  if (areasOf(o.from) === undefined) return `--from: must be undeliverable, post or both, got ${JSON.stringify(o.from)}`;
  if (o.subtrees.length === 0) return 'no spool subtrees given';
  if (o.subtree !== undefined && !o.subtrees.some((t) => t.name === o.subtree)) {
    return `--subtree: unknown subtree ${JSON.stringify(o.subtree)} (known: ${o.subtrees.map((t) => t.name).join(', ')})`;
  }
  for (const id of o.ids) {
    const why = badId(id);
    if (why !== undefined) return `refusing message id ${JSON.stringify(id)}: ${why}`;
    if (id.includes(':')) return `message id ${JSON.stringify(id)} is a claimed name (in cur/, being processed); requeue takes messages from post/ and undeliverable/`;
  }
  return undefined;
}

export async function runRequeue(opts: RequeueOptions, out: Writable, err: Writable = process.stderr): Promise<number> {
  const bad = badArgs(opts);
  const areas = areasOf(opts.from) ?? [];
  const ids = [...new Set(opts.ids)];
  const r: RequeueReport = {
    version: REQUEUE_VERSION, mode: opts.all ? 'all' : ids.length === 0 && opts.adoptLegacy === true ? 'adopt' : 'ids', requested: opts.all ? 0 : ids.length, from: areas,
    subtrees: [], moved: [], movedTotal: 0, movedListTruncated: false, counts: [], adopted: [], notFound: [], conflicts: [],
    skipped: [], errors: [], exitCode: EXIT_OK,
  };
  if (bad !== undefined) {
    r.errors.push(bad);
  } else {
    const selected = opts.subtrees.filter((t) => opts.subtree === undefined || t.name === opts.subtree);
    for (const t of selected) {
      if ((await fsp.stat(t.root).catch(() => undefined))?.isDirectory() !== true) {
        const reason = `${t.root} does not exist or is not a directory`;
        if (opts.subtree !== undefined) r.errors.push(`${t.name}: ${reason}`);
        else r.skipped.push({ subtree: t.name, root: t.root, reason });
        continue;
      }
      r.subtrees.push(t.name);
      if (opts.adoptLegacy === true) await adoptLegacy(t, r);
      if (opts.all) await requeueAll(t, areas, r);
    }
    if (!opts.all && ids.length > 0) await requeueIds(selected.filter((t) => r.subtrees.includes(t.name)), ids, areas, r);
  }
  r.exitCode = r.errors.length > 0 ? EXIT_ERROR : r.notFound.length > 0 || r.conflicts.length > 0 ? EXIT_ATTENTION : EXIT_OK;
  for (const e of r.errors) await write(err, `jp-importer requeue: ${e}\n`);
  await write(out, opts.json ? toJson(r) : formatRequeue(r));
  return r.exitCode;
}

function record(r: RequeueReport, id: string, subtree: string, from: RequeueArea, count: AreaCount): void {
  count.moved++;
  r.movedTotal++;
  if (r.moved.length < MOVED_LIST_LIMIT) r.moved.push({ id, subtree, from });
  else r.movedListTruncated = true;
}

/** Every message in work/ (the C importer's claims), whatever its age, into new/. */
async function adoptLegacy(t: OpsSubtree, r: RequeueReport): Promise<void> {
  try {
    const { adopted, skipped } = await new Spool(t.root).adoptLegacyWork(0);
    for (const a of adopted) r.adopted.push({ id: a.name, subtree: t.name, heldMs: a.heldMs });
    for (const k of skipped) r.errors.push(`${t.name}: ${k.entry}: ${k.reason}`);
  } catch (e) {
    r.errors.push(`${t.name}: work/: ${describeError(e)}`);
  }
}

async function requeueAll(t: OpsSubtree, areas: RequeueArea[], r: RequeueReport): Promise<void> {
  const spool = new Spool(t.root);
  for (const from of areas) {
    const count: AreaCount = { subtree: t.name, from, moved: 0, vanished: 0, conflicts: 0 };
    r.counts.push(count);
    try {
      await requeueArea(spool, from, {
        result: (name, moved) => {
          if (moved === 'moved') record(r, name, t.name, from, count);
          else if (moved === 'exists') {
            count.conflicts++;
            r.conflicts.push({ id: name, subtree: t.name, from });
          } else count.vanished++;
        },
        failed: (name, e) => r.errors.push(`${t.name}: ${from}/${name}: ${describeError(e)}`), // this message only: the others go on
      });
    } catch (e) {
      r.errors.push(`${t.name}: ${from}/: ${describeError(e)}`);
    }
  }
}

async function requeueIds(subtrees: OpsSubtree[], ids: string[], areas: RequeueArea[], r: RequeueReport): Promise<void> {
  const counts = new Map<string, AreaCount>();
  for (const t of subtrees) {
    for (const from of areas) {
      const c: AreaCount = { subtree: t.name, from, moved: 0, vanished: 0, conflicts: 0 };
      counts.set(`${t.name}\0${from}`, c);
      r.counts.push(c);
    }
  }
  for (const id of ids) {
    let done = false;
    for (const t of subtrees) {
      try {
        const spool = new Spool(t.root);
        for (const from of areas) {
          const c = counts.get(`${t.name}\0${from}`) as AreaCount;
          if ((await lstatIfExists(join(t.root, from, id))) === undefined) continue;
          const moved = await spool.requeueMessage(id, from);
          if (moved === 'exists') {
            c.conflicts++;
            r.conflicts.push({ id, subtree: t.name, from });
            done = true;
            break;
          }
          if (moved === 'moved') {
            record(r, id, t.name, from, c);
            done = true;
            break;
          }
          c.vanished++;
        }
      } catch (e) {
        r.errors.push(`${t.name}: ${id}: ${describeError(e)}`);
        done = true;
      }
    }
    if (!done) {
      const { found } = await locate(subtrees, id);
      r.notFound.push({ id, seenIn: found.map((l) => ({ subtree: l.subtree, state: l.state })) });
    }
  }
}
