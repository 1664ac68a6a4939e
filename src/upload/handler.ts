/**
 * The dump / sandbox upload handler (primary-service.md "Upload flow"):
 *
 *   parse message ─▶ path check ─▶ StartUpload (+ failsafe registration for
 *   dumps) ─▶ FTP upload (resumed on a broken connection) ─▶ CommitUpload
 *   ─▶ remove the local file, or move it into the store directory.
 *
 * Every failure goes through classify() with the failing operation in its
 * context; handle() returns an Outcome and never throws. The local file is
 * kept until CommitUpload succeeded; once it did the message is delivered
 * even if removing the file fails (warning), so nothing is committed twice.
 */
import { basename } from 'node:path';
import { classify } from '../core/classify.js';
import { systemClock, type Clock } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { delivered, type Outcome } from '../core/outcome.js';
import type { ClaimedMessage } from '../core/queue.js';
import { parseUploadMessage, type UploadMessage } from '../messages/keyvalue.js';
import type { PrimaryApi, UploadKind } from '../primary/api.js';
import { resolveAllowedFile, type AllowedFile, type PathFs } from './allowed-paths.js';
import type { FtpPool } from './ftp-pool.js';
import { uploadFile } from './ftp-upload.js';
import { disposeUploaded } from './local-file.js';
import { startUploadWithFailsafe, step, StepError } from './start-upload.js';

export interface UploadHandlerDeps {
  /** The primary service client; `jpps` is the message's override (host:port) or undefined. */
  primary: (jpps: string | undefined) => PrimaryApi;
  kind: UploadKind;
  /** Only files inside these directories (after resolving symlinks) are uploaded. */
  allowedDirs: readonly string[];
  /** Move uploaded files here instead of removing them (-S). */
  storeDir?: string;
  /** Subject DN of the importer's certificate (failsafe registration owner). */
  ownerDn: () => string;
  /** Owned by the handler from now on: close() closes it. */
  ftp: FtpPool;
  clock?: Clock;
  log?: Logger;
  /** FTP tries within one message processing (default 3). */
  ftpAttempts?: number;
  /** commitBefore = now + this (default 1000 s, as the C importer). */
  commitWindowMs?: number;
  /** File-system calls of the path check (tests). */
  pathFs?: PathFs;
}

export interface UploadHandler {
  handle(msg: ClaimedMessage, body: Buffer, signal: AbortSignal): Promise<Outcome>;
  close(): Promise<void>;
}

const DEFAULT_COMMIT_WINDOW_MS = 1_000_000;

export function createUploadHandler(deps: UploadHandlerDeps): UploadHandler {
  const clock = deps.clock ?? systemClock;
  const baseLog = deps.log ?? silentLogger;

  async function handle(msg: ClaimedMessage, body: Buffer, signal: AbortSignal): Promise<Outcome> {
    const log = baseLog.child({ msg: msg.name, kind: deps.kind });
    let m: UploadMessage;
    try {
      m = parseUploadMessage(body);
    } catch (e) {
      return withContext(classify(e), 'message');
    }
    let file: AllowedFile;
    try {
      file = await resolveAllowedFile(m.file, deps.allowedDirs, deps.pathFs);
    } catch (e) {
      return withContext(classify(e), 'file check');
    }
    let destination: string;
    try {
      const primary = deps.primary(m.jpps);
      const started = await startUploadWithFailsafe({
        primary,
        kind: deps.kind,
        jobid: m.jobid,
        name: basename(file.realPath),
        commitBefore: new Date(clock.now() + (deps.commitWindowMs ?? DEFAULT_COMMIT_WINDOW_MS)),
        ownerDn: deps.ownerDn,
        signal,
        onRegistered: () => log.info({ jobid: m.jobid }, 'job was not registered: registered it (failsafe registration)'),
      });
      destination = started.destination;
      const sent = await step('FTP upload', () => uploadFile(deps.ftp, destination, {
        handle: file.handle, size: file.size, path: m.file,
      }, { signal, log, ...(deps.ftpAttempts !== undefined ? { attempts: deps.ftpAttempts } : {}) }));
      if (sent.resumedFrom.length > 0) log.info({ resumedFrom: sent.resumedFrom, attempts: sent.attempts }, 'upload resumed after a broken connection');
      // Not aborted by a shutdown: a commit already sent is answered within the
      // hard stop limit, so its outcome is known and the file removed (a commit
      // whose answer is lost cannot be told apart from a failed one).
      await step('CommitUpload', () => primary.commitUpload(destination));
    } catch (e) {
      if (e instanceof StepError) return withContext(classify(e.error, { operation: e.operation }), e.operation);
      return withContext(classify(e), 'upload');
    } finally {
      await file.handle.close().catch(() => undefined);
    }
    // Committed: from here on the message is delivered whatever happens to the local file.
    try {
      const d = await disposeUploaded(file, deps.storeDir);
      const note = d.action === 'stored' ? `committed; file stored as ${d.to}` : 'committed; file removed';
      return delivered(note);
    } catch (e) {
      log.warn({ file: file.realPath, reason: describeError(e) }, 'upload committed but the local file could not be removed/stored');
      return delivered(`committed; local file left in place: ${describeError(e)}`);
    }
  }

  return {
    handle,
    close: () => deps.ftp.close(),
  };
}

/** Name the failing step in the reason the spool keeps. */
function withContext(o: Outcome, what: string): Outcome {
  return o.kind === 'delivered' ? o : { ...o, reason: `${what}: ${o.reason}` };
}
