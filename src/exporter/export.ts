/**
 * The dump exporter: split an LB dump (any order, any size, streamed) into
 * one file per job, make every file durable, and only then announce each
 * job with one key/value message in the maildir. Each message is written
 * into the maildir's tmp/ when its job file is created (invisible to
 * consumers there, and made durable by the same syncfs as the job files)
 * and linked into new/ at the end. Any failure before the announcement (bad
 * line without skipBadLines, read or write error) stores no message at all
 * and removes those tmp/ files; the job files written so far stay, as in
 * the original.
 *
 * An input that ends inside a line (no final newline: a cut dump, or one
 * still being written) is refused the same way, or with allowPartial that
 * line is left out and reported. A dump that changes while it is read
 * (dump-file.ts) fails the read, so nothing is announced either. Only one
 * run at a time writes into a maildir (locks.ts): the run holds the
 * maildir's lock from before its first job file until its last link.
 */
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describeError, isJpError, JpError, type JpErrorCode } from '../core/errors.js';
import { Spool } from '../maildir/spool.js';
import { MessageBatch } from '../maildir/store-many-sync.js';
import { formatUploadMessage } from '../messages/keyvalue.js';
import { jobUnique } from '../messages/jobid.js';
import { AnnounceError } from './announce-store.js';
import { BatchAnnouncer } from './announce-batch.js';
import { DumpChanged } from './dump-file.js';
import { nodeExportFs } from './fsops.js';
import { JobWriter, newJob, type JobRecord } from './job-writer.js';
import { LineSplitter } from './lines.js';
import { lockSpool, type SpoolLock } from './locks.js';
import { resolveExportOptions, type ExportOptions, type ExportProgress, type ResolvedExportOptions } from './options.js';
import { checkStoreDir } from './store-dir.js';
import { parseUlmLine } from './ulm.js';

export interface BadLine {
  readonly line: number;
  readonly reason: string;
}

/** A last line without its newline. */
export interface PartialLine {
  /** Its line number. */
  readonly line: number;
  /** Byte offset of its first byte in the input. */
  readonly offset: number;
  readonly bytes: number;
}

export interface ExportSummary {
  readonly jobs: number;
  readonly events: number;
  readonly lines: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly badLineCount: number;
  /** The first `keepBadLines` bad lines. */
  readonly badLines: readonly BadLine[];
  readonly announced: number;
  readonly seconds: number;
  /** Seconds spent reading and writing, making the files durable, storing messages. */
  readonly phases: { readonly split: number; readonly sync: number; readonly announce: number };
  /** Absolute store directory. */
  readonly store: string;
  /** The cut last line left out (allowPartial). */
  readonly partialLine?: PartialLine;
}

export interface ExportFailureInfo {
  /** Line number when a bad line stopped the run. */
  readonly line?: number;
  /** Job files created in the store (they stay). */
  readonly filesLeft: number;
  /** Messages stored before the failure (0 unless announcing failed). */
  readonly announced: number;
  readonly jobs: number;
  readonly store: string;
  /**
   * The input is not (yet) a finished dump: its last line has no newline
   * ('incomplete') or the dump changed while it was read ('changed').
   * Nothing was announced; the dump is fine to export once it is finished.
   */
  readonly refused?: 'incomplete' | 'changed';
  readonly partialLine?: PartialLine;
}

export class ExportFailure extends JpError {
  readonly info: ExportFailureInfo;
  constructor(code: JpErrorCode, message: string, info: ExportFailureInfo, cause?: unknown) {
    super(code, message, cause === undefined ? {} : { cause });
    this.name = 'ExportFailure';
    this.info = info;
  }
}

class BadLineError extends Error {
  constructor(readonly line: number, readonly reason: string) {
    super(`line ${line}: ${reason}`);
  }
}

class IncompleteInput extends Error {
  constructor(message: string, readonly partial: PartialLine) {
    super(message);
  }
}

/** Run the exporter over `input` (chunks of bytes). */
export async function runExport(input: AsyncIterable<Uint8Array>, options: ExportOptions & { inputName?: string }): Promise<ExportSummary> {
  const o = resolveExportOptions(options);
  const started = performance.now();
  const store = resolve(o.store);
  checkStoreDir(store);
  try {
    formatUploadMessage({ jobid: 'https://check.invalid/x', file: join(store, 'x'), ...(o.jpps !== undefined ? { jpps: o.jpps } : {}) });
  } catch (e) {
    throw new JpError('JP_CONFIG', `store directory ${JSON.stringify(store)} cannot be written into a message: ${describeError(e)}`);
  }
  const inputName = options.inputName ?? 'the input';
  // Each message is written into the batch when its job file is created.
  let ownLock: SpoolLock | undefined;
  let batch: MessageBatch;
  if (o.messages !== undefined) batch = o.messages;
  else {
    const root = resolve(o.maildir);
    if (o.spoolLock === undefined) {
      ownLock = await lockSpool(root, inputName);
      batch = new MessageBatch(root);
    } else {
      if (o.spoolLock.root !== root) throw new JpError('JP_CONFIG', `the lock held is for maildir ${o.spoolLock.root}, not ${root}`);
      o.spoolLock.setInput(inputName);
      batch = await openBatch(root);
    }
  }
  try {
    return await exportLocked(input, o, inputName, store, started, batch);
  } finally {
    ownLock?.release();
  }
}

async function exportLocked(
  input: AsyncIterable<Uint8Array>,
  o: ResolvedExportOptions,
  inputName: string,
  store: string,
  started: number,
  batch: MessageBatch,
): Promise<ExportSummary> {
  const announcer = new BatchAnnouncer(batch, o.jpps);
  const writer = new JobWriter({
    store,
    maxOpen: o.maxOpen,
    bufferBytes: o.bufferBytes,
    writebackBytes: o.writebackBytes,
    fs: o.fs ?? nodeExportFs,
    now: o.now ?? (() => performance.timeOrigin + performance.now()),
    onCreate: (job: JobRecord, path: string) => announcer.add(job.jobid, path),
  });
  const jobs = new Map<string, JobRecord>();
  const badLines: BadLine[] = [];
  let badLineCount = 0;
  let events = 0;
  let bytesRead = 0;

  const bad = (line: number, reason: string): void => {
    if (!o.skipBadLines) throw new BadLineError(line, reason);
    badLineCount++;
    if (badLines.length < o.keepBadLines) badLines.push({ line, reason });
  };
  const splitter = new LineSplitter(o.maxLineBytes, {
    line(buf, lineNo) {
      const r = parseUlmLine(buf, { maxLineBytes: o.maxLineBytes });
      if (r.kind === 'empty') return;
      if (r.kind === 'bad') return bad(lineNo, r.reason);
      let job = jobs.get(r.jobid);
      if (job === undefined) {
        let unique: string;
        try {
          unique = jobUnique(r.jobid);
        } catch (e) {
          return bad(lineNo, `DG.JOBID is not a valid job id: ${e instanceof Error ? e.message : String(e)}`);
        }
        job = newJob(r.jobid, unique);
        jobs.set(r.jobid, job);
      }
      writer.append(job, buf);
      events++;
    },
    overlong(lineNo, bytes) {
      bad(lineNo, `line is ${bytes} bytes, longer than the limit of ${o.maxLineBytes}`);
    },
  });
  const progress = (phase: ExportProgress['phase'], done: number): ExportProgress => ({
    phase, done, bytesRead, lines: splitter.lines, events, jobs: jobs.size, badLines: badLineCount, elapsedMs: performance.now() - started,
  });
  const report = o.onProgress === undefined ? undefined
    : (phase: ExportProgress['phase']) => (done: number): void => o.onProgress?.(progress(phase, done));
  const info = (line?: number): ExportFailureInfo => ({
    ...(line !== undefined ? { line } : {}), filesLeft: writer.filesCreated, announced: 0, jobs: jobs.size, store,
  });

  let splitDone = 0;
  let syncDone = 0;
  let partialLine: PartialLine | undefined;
  try {
    try {
      for await (const chunk of input) {
        const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
        bytesRead += b.length;
        splitter.push(b);
        if (o.onProgress !== undefined) o.onProgress(progress('split', 0));
      }
    } catch (e) {
      if (e instanceof BadLineError || isJpError(e)) throw e;
      throw new JpError('JP_LOCAL_FILE', `cannot read ${inputName}: ${describeError(e)}`, { cause: e });
    }
    const pending = splitter.pendingBytes;
    if (pending > 0) {
      partialLine = { line: splitter.lines + 1, offset: bytesRead - pending, bytes: pending };
      const where = `${inputName}: line ${partialLine.line} (from byte offset ${partialLine.offset}, ${pending} bytes) has no newline`;
      if (!o.allowPartial) {
        throw new IncompleteInput(`${where}: the dump is cut or still being written (--allow-partial exports it up to its last complete line)`, partialLine);
      }
      splitter.dropPending();
    }
    splitter.end();
    if (badLineCount > 0 && events === 0) {
      throw new JpError('JP_MALFORMED_MESSAGE', `all ${badLineCount} non-empty lines were bad (first: line ${badLines[0]?.line ?? '?'}: ${badLines[0]?.reason ?? '?'})`);
    }
    writer.flush();
    splitDone = performance.now();
    const flushed = await writer.syncAll(jobs.values(), report?.('sync'));
    // When tmp/ is on the store's file system, the syncfs of the store flushed the messages too;
    // if none succeeded there, a write-back error may have been reported to it alone: fsync each.
    announcer.sync(!sameDevice(store, announcer.tmpDir) ? 'syncfs' : flushed ? 'flushed' : 'fsync');
    syncDone = performance.now();
  } catch (e) {
    writer.abandon();
    announcer.discard();
    if (e instanceof BadLineError) throw new ExportFailure('JP_MALFORMED_MESSAGE', e.message, info(e.line));
    if (e instanceof IncompleteInput) {
      throw new ExportFailure('JP_MALFORMED_MESSAGE', e.message, { ...info(e.partial.line), refused: 'incomplete', partialLine: e.partial });
    }
    if (e instanceof DumpChanged) throw new ExportFailure(e.code, e.message, { ...info(), refused: 'changed' }, e);
    if (isJpError(e)) throw new ExportFailure(e.code, e.message, info(), e.cause);
    throw new ExportFailure('JP_LOCAL_FILE', describeError(e), info(), e);
  }

  const announced = await announcer.link(report?.('announce'))
    .catch((e: unknown) => {
      const n = e instanceof AnnounceError ? e.announced : 0;
      throw new ExportFailure('JP_LOCAL_FILE', e instanceof Error ? e.message : String(e), { ...info(), announced: n }, e);
    });
  return {
    jobs: jobs.size,
    events,
    lines: splitter.lines,
    bytesRead,
    bytesWritten: writer.bytesWritten,
    badLineCount,
    badLines,
    announced,
    seconds: (performance.now() - started) / 1000,
    phases: { split: (splitDone - started) / 1000, sync: (syncDone - splitDone) / 1000, announce: (performance.now() - syncDone) / 1000 },
    store,
    ...(partialLine !== undefined ? { partialLine } : {}),
  };
}

/** The maildir's directories made (and a legacy work/ adopted), then a batch on it. */
async function openBatch(root: string): Promise<MessageBatch> {
  try {
    await new Spool(root).init();
  } catch (e) {
    throw new JpError('JP_CONFIG', `cannot use maildir ${root}: ${describeError(e)}`, { cause: e });
  }
  return new MessageBatch(root);
}

function sameDevice(a: string, b: string): boolean {
  return statSync(a).dev === statSync(b).dev;
}
