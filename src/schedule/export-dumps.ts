/**
 * export-dumps: run the dump exporter (as `lb-dump-exporter -d FILE -s store
 * -m lbmaildir [-j jpps] [--skip-bad-lines]`) on every dump waiting in a
 * directory, oldest first, then move each dump into done/ or, with a
 * `<name>.reason` file beside it, into failed/. One dump's failure does not
 * stop the others; a problem of the environment (store or maildir
 * unusable) stops the run and leaves the dumps where they are.
 *
 * The run holds the maildir's exporter lock from start to end: while another
 * exporter (lb-dump-exporter, or this task in another process) writes into
 * the maildir, the run is skipped as "already running" (ok, every dump left
 * for the next run). A dump locked by another process is left in place and
 * counted as busy. A dump that is not finished (last line without newline,
 * or changed while read) is refused: nothing of it is announced and it is
 * left in place, neither moved nor deleted, with the reason logged; it is
 * tried again on the next run. A dump that changed after its export was read
 * (its jobs announced) is moved into failed/ with the reason, not into done/.
 */
import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { describeError, isJpError, JpError, systemCode } from '../core/errors.js';
import { DumpFile, ExportFailure, ExportLocked, lockSpool, runExport, type ExportSummary, type SpoolLock } from '../exporter/index.js';
import { writeFileAtomic } from '../queue/fs.js';
import { DUMP_NAMES, FileReplaced, moveInto as moveFile, type FileIdentity } from '../queue/move.js';
import { regularFiles, type RegularFile } from './fs-walk.js';
import type { ExportDumpsSpec, TaskDeps, TaskResult } from './types.js';

/** A dump modified less than this long ago may still be being written: it waits for the next run. */
export const DUMP_SETTLE_MS = 60_000;
const READ_CHUNK = 1024 * 1024;
const DIR_MODE = 0o700;
const REASON_MODE = 0o600;

/** Dumps ready for export (oldest mtime first, then by name) and how many are too fresh. */
export async function readyDumps(dir: string, now: number, settleMs = DUMP_SETTLE_MS): Promise<{ ready: RegularFile[]; fresh: number }> {
  const ready: RegularFile[] = [];
  let fresh = 0;
  for await (const f of regularFiles(dir)) {
    if (now - f.stats.mtimeMs < settleMs) fresh++;
    else ready.push(f);
  }
  ready.sort((a, b) => a.stats.mtimeMs - b.stats.mtimeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { ready, fresh };
}

export { FileReplaced, type FileIdentity } from '../queue/move.js';

/**
 * Move `from` into `dir` under `name` without replacing anything there
 * (`name.<ms>[_i]` when taken); copies when `dir` is on another file system
 * (../queue/move.ts). With `expect`, only that very file is moved: when
 * `from` names another one (replaced meanwhile) nothing is moved or removed
 * (FileReplaced). Returns the new path.
 */
export async function moveInto(from: string, dir: string, name: string, now: number, expect?: FileIdentity): Promise<string> {
  await fsp.mkdir(dir, { recursive: true, mode: DIR_MODE });
  const moved = await moveFile(from, dir, name, {
    now, names: DUMP_NAMES, acrossDevices: true, takenCode: 'JP_LOCAL_FILE', ...(expect !== undefined ? { expect } : {}),
  });
  if (moved === undefined) throw Object.assign(new Error(`${from} is gone`), { code: 'ENOENT' });
  return join(dir, moved);
}

function reasonText(dump: string, e: unknown, now: number): string {
  const lines = [`time: ${new Date(now).toISOString()}`, `dump: ${dump}`, `error: ${describeError(e)}`];
  if (e instanceof ExportFailure) {
    const i = e.info;
    if (i.line !== undefined) lines.push(`line: ${i.line}`);
    lines.push(`jobs: ${i.jobs}`, `announced: ${i.announced}`, `job files left in ${i.store}: ${i.filesLeft}`);
  }
  return `${lines.join('\n')}\n`;
}

async function exportOne(spec: ExportDumpsSpec, dump: DumpFile, lock: SpoolLock): Promise<ExportSummary> {
  return runExport(dump.chunks(READ_CHUNK), {
    store: spec.store,
    maildir: spec.lbmaildir,
    ...(spec.jpps !== undefined ? { jpps: spec.jpps } : {}),
    skipBadLines: spec.skipBadLines,
    spoolLock: lock,
    inputName: dump.name,
  });
}

/** Store or maildir unusable: not the dump's fault, so the dump stays for the next run. */
function environmentError(e: unknown): boolean {
  return isJpError(e, 'JP_CONFIG') && !(e instanceof ExportFailure);
}

interface Tally {
  exported: number;
  failed: number;
  jobs: number;
  badLines: number;
  vanished: number;
  busy: number;
  refused: number;
}

export async function exportDumps(spec: ExportDumpsSpec, deps: TaskDeps): Promise<TaskResult> {
  const { ready, fresh } = await readyDumps(spec.dumps, deps.clock.now());
  const n: Tally = { exported: 0, failed: 0, jobs: 0, badLines: 0, vanished: 0, busy: 0, refused: 0 };
  let aborted = false;
  const stopping = (): boolean => deps.signal?.aborted === true;
  if (ready.length > 0 && !stopping()) {
    let lock: SpoolLock;
    try {
      lock = await lockSpool(resolve(spec.lbmaildir), `the dumps of ${spec.source}`);
    } catch (e) {
      if (e instanceof ExportLocked) {
        return {
          ok: true,
          summary: `already running: ${e.message}; ${ready.length} dumps left for the next run`,
          counts: { dumps: 0, jobs: 0, failed: 0, fresh, badLines: 0, busy: 1 },
        };
      }
      if (isJpError(e, 'JP_CONFIG')) {
        throw new JpError('JP_CONFIG', `${spec.source}: ${describeError(e)} (dumps left in place)`, { cause: e });
      }
      throw e;
    }
    try {
      for (const f of ready) {
        if (stopping()) {
          aborted = true;
          break;
        }
        await exportAndMove(spec, deps, f, lock, n);
      }
    } finally {
      lock.release();
    }
  } else if (ready.length > 0) {
    aborted = true;
  }
  const parts = [`exported ${n.exported} dumps (${n.jobs} jobs announced)`];
  if (n.failed > 0) parts.push(`${n.failed} failed (moved to ${spec.failed})`);
  if (n.refused > 0) parts.push(`${n.refused} refused (left in place): not finished`);
  if (n.busy > 0) parts.push(`${n.busy} being exported by another process (left in place)`);
  if (n.badLines > 0) parts.push(`${n.badLines} bad lines skipped`);
  if (fresh > 0) parts.push(`${fresh} left for the next run (modified less than ${DUMP_SETTLE_MS / 1000}s ago)`);
  if (n.vanished > 0) parts.push(`${n.vanished} vanished`);
  if (aborted) parts.push(`stopped early (shutdown), ${ready.length - n.exported - n.failed - n.vanished - n.busy - n.refused} left`);
  const counts: Record<string, number> = { dumps: n.exported, jobs: n.jobs, failed: n.failed, fresh, badLines: n.badLines };
  if (n.busy > 0) counts['busy'] = n.busy;
  if (n.refused > 0) counts['refused'] = n.refused;
  return { ok: n.failed === 0 && n.refused === 0, summary: parts.join(', '), counts };
}

/** One dump: open and lock it, export it, then move it into done/ or failed/ (or leave it). */
async function exportAndMove(spec: ExportDumpsSpec, deps: TaskDeps, f: RegularFile, lock: SpoolLock, n: Tally): Promise<void> {
  let dump: DumpFile;
  try {
    dump = await DumpFile.open(f.path, { noFollow: true, regularOnly: true });
  } catch (e) {
    if (systemCode(e) === 'ENOENT') {
      n.vanished++;
      return;
    }
    if (e instanceof ExportLocked) {
      n.busy++;
      deps.log.info({ dump: f.path, reason: e.message }, 'dump being exported by another process, left in place');
      return;
    }
    if (environmentError(e)) throw new JpError('JP_CONFIG', `${spec.source}: ${describeError(e)} (dump ${f.path} left in place)`, { cause: e });
    await failDump(spec, deps, f, e, undefined, n);
    return;
  }
  const id: FileIdentity = { dev: dump.start?.dev ?? 0n, ino: dump.start?.ino ?? 0n };
  try {
    let summary: ExportSummary;
    try {
      summary = await exportOne(spec, dump, lock);
    } catch (e) {
      if (environmentError(e)) {
        throw new JpError('JP_CONFIG', `${spec.source}: ${describeError(e)} (dump ${f.path} left in place)`, { cause: e });
      }
      if (e instanceof ExportFailure && e.info.refused !== undefined) {
        n.refused++;
        deps.log.warn({ dump: f.path, reason: e.message, refused: e.info.refused }, 'dump export refused, left in place');
        return;
      }
      await failDump(spec, deps, f, e, id, n);
      return;
    }
    n.jobs += summary.announced;
    n.badLines += summary.badLineCount;
    // Its jobs are announced: moving it into done/ says all of it was exported, true only if it did not change since.
    const changed = await dump.changedSinceRead();
    if (changed !== undefined) {
      const e = new JpError('JP_LOCAL_FILE', `${dump.name} changed after it was read and exported: ${changed}; ` +
        `the ${summary.announced} jobs of its first ${summary.bytesRead} bytes were announced, anything after that was not exported`);
      await failDump(spec, deps, f, e, id, n);
      return;
    }
    let to: string;
    try {
      to = await moveInto(f.path, spec.done, f.name, deps.clock.now(), id);
    } catch (e) {
      if (!(e instanceof FileReplaced)) {
        // left in place it would be exported again by every run: stop here
        throw new JpError('JP_LOCAL_FILE', `${spec.source}: ${f.path} was exported (${summary.announced} jobs announced) but cannot be ` +
          `moved into ${spec.done}: ${describeError(e)}; move it away by hand, or it is exported again`, { cause: e });
      }
      n.failed++;
      deps.log.warn({ dump: f.path, err: describeError(e), jobs: summary.announced }, 'dump exported but not moved into done/');
      return;
    }
    n.exported++;
    deps.log.info({
      dump: f.path, movedTo: to, jobs: summary.jobs, announced: summary.announced, events: summary.events,
      badLines: summary.badLineCount, seconds: Math.round(summary.seconds * 1000) / 1000,
    }, 'dump exported');
  } finally {
    await dump.close().catch(() => undefined);
  }
}

/** Into failed/ with `<name>.reason` beside it (only the file that was opened, when known). */
async function failDump(spec: ExportDumpsSpec, deps: TaskDeps, f: RegularFile, e: unknown, id: FileIdentity | undefined, n: Tally): Promise<void> {
  n.failed++;
  const now = deps.clock.now();
  let to: string;
  try {
    to = await moveInto(f.path, spec.failed, f.name, now, id);
  } catch (m) {
    if (!(m instanceof FileReplaced)) throw m;
    deps.log.warn({ dump: f.path, err: describeError(e), moveErr: describeError(m) }, 'dump export failed; the dump was replaced meanwhile, nothing moved');
    return;
  }
  const reasonFile = `${to}.reason`;
  await writeFileAtomic(reasonFile, reasonText(f.path, e, now), REASON_MODE);
  deps.log.warn({ dump: f.path, movedTo: to, reasonFile, err: describeError(e) }, 'dump export failed');
}
