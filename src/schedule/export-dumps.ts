/**
 * export-dumps: run the dump exporter (as `lb-dump-exporter -d FILE -s store
 * -m lbmaildir [-j jpps] [--skip-bad-lines]`) on every dump waiting in a
 * directory, oldest first, then move each dump into done/ or, with a
 * `<name>.reason` file beside it, into failed/. One dump's failure does not
 * stop the others; a problem of the environment (store or maildir
 * unusable) stops the run and leaves the dumps where they are.
 */
import { constants, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describeError, isJpError, JpError, systemCode } from '../core/errors.js';
import { ExportFailure, readChunks, runExport, type ExportSummary } from '../exporter/index.js';
import { fsyncDir, writeFileAtomic } from '../maildir/fsutil.js';
import { regularFiles, type RegularFile } from './fs-walk.js';
import type { ExportDumpsSpec, TaskDeps, TaskResult } from './types.js';

/** A dump modified less than this long ago may still be being written: it waits for the next run. */
export const DUMP_SETTLE_MS = 60_000;
const READ_CHUNK = 1024 * 1024;
const DIR_MODE = 0o700;
const REASON_MODE = 0o600;
const MAX_NAME_TRIES = 10;

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

/**
 * Move `from` into `dir` under `name` without replacing anything there
 * (`name.<ms>[_i]` when taken); copies when `dir` is on another file system.
 * Returns the new path.
 */
export async function moveInto(from: string, dir: string, name: string, now: number): Promise<string> {
  await fsp.mkdir(dir, { recursive: true, mode: DIR_MODE });
  for (let i = 0; i < MAX_NAME_TRIES; i++) {
    const to = join(dir, i === 0 ? name : i === 1 ? `${name}.${now}` : `${name}.${now}_${i}`);
    try {
      await fsp.link(from, to);
    } catch (e) {
      const code = systemCode(e);
      if (code === 'EEXIST') continue;
      if (code !== 'EXDEV') throw e;
      try {
        await fsp.copyFile(from, to, constants.COPYFILE_EXCL);
      } catch (c) {
        if (systemCode(c) === 'EEXIST') continue;
        throw c;
      }
      const fh = await fsp.open(to, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    await fsyncDir(dir);
    await fsp.unlink(from);
    return to;
  }
  throw new JpError('JP_LOCAL_FILE', `cannot move ${from} into ${dir}: names taken`);
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

async function exportOne(spec: ExportDumpsSpec, path: string): Promise<ExportSummary> {
  const fh = await fsp.open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    return await runExport(readChunks(fh, READ_CHUNK), {
      store: spec.store,
      maildir: spec.lbmaildir,
      ...(spec.jpps !== undefined ? { jpps: spec.jpps } : {}),
      skipBadLines: spec.skipBadLines,
      inputName: `dump file ${path}`,
    });
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** Store or maildir unusable: not the dump's fault, so the dump stays for the next run. */
function environmentError(e: unknown): boolean {
  return isJpError(e, 'JP_CONFIG') && !(e instanceof ExportFailure);
}

export async function exportDumps(spec: ExportDumpsSpec, deps: TaskDeps): Promise<TaskResult> {
  const { ready, fresh } = await readyDumps(spec.dumps, deps.clock.now());
  let exported = 0;
  let failed = 0;
  let jobs = 0;
  let badLines = 0;
  let vanished = 0;
  let aborted = false;
  for (const f of ready) {
    if (deps.signal?.aborted === true) {
      aborted = true;
      break;
    }
    let summary: ExportSummary;
    try {
      summary = await exportOne(spec, f.path);
    } catch (e) {
      if (systemCode(e) === 'ENOENT') {
        vanished++;
        continue;
      }
      if (environmentError(e)) {
        throw new JpError('JP_CONFIG', `${spec.source}: ${describeError(e)} (dump ${f.path} left in place)`, { cause: e });
      }
      failed++;
      const now = deps.clock.now();
      const to = await moveInto(f.path, spec.failed, f.name, now);
      const reasonFile = `${to}.reason`;
      await writeFileAtomic(reasonFile, reasonText(f.path, e, now), REASON_MODE);
      deps.log.warn({ dump: f.path, movedTo: to, reasonFile, err: describeError(e) }, 'dump export failed');
      continue;
    }
    const to = await moveInto(f.path, spec.done, f.name, deps.clock.now());
    exported++;
    jobs += summary.announced;
    badLines += summary.badLineCount;
    deps.log.info({
      dump: f.path, movedTo: to, jobs: summary.jobs, announced: summary.announced, events: summary.events,
      badLines: summary.badLineCount, seconds: Math.round(summary.seconds * 1000) / 1000,
    }, 'dump exported');
  }
  const parts = [`exported ${exported} dumps (${jobs} jobs announced)`];
  if (failed > 0) parts.push(`${failed} failed (moved to ${spec.failed})`);
  if (badLines > 0) parts.push(`${badLines} bad lines skipped`);
  if (fresh > 0) parts.push(`${fresh} left for the next run (modified less than ${DUMP_SETTLE_MS / 1000}s ago)`);
  if (vanished > 0) parts.push(`${vanished} vanished`);
  if (aborted) parts.push(`stopped early (shutdown), ${ready.length - exported - failed - vanished} left`);
  return {
    ok: failed === 0,
    summary: parts.join(', '),
    counts: { dumps: exported, jobs, failed, fresh, badLines },
  };
}
