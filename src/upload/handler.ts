/**
 * The dump / sandbox upload handler (docs/uploads.md; drawn in
 * docs/architecture.md "An upload"):
 *
 *   parse message ─▶ path check ─▶ StartUpload (+ failsafe registration for
 *   dumps) ─▶ upload by the destination's scheme (FTP, FTPS, GridFTP;
 *   resumed on a broken connection) ─▶ CommitUpload
 *   ─▶ remove the local file, or move it into the store directory.
 *
 * Every failure goes through classify() with the failing operation in its
 * context; handle() returns an Outcome and never throws. The local file is
 * kept until CommitUpload succeeded (or the service confirmed the file
 * stored); once it did the message is delivered even if removing the file
 * fails (warning), so nothing is committed twice.
 *
 * An attempt that fails after StartUpload answered returns the upload with
 * its retry outcome (kept in the message's retry state); the next attempt
 * finishes that upload instead of starting another (./attempt.ts).
 */
import { basename } from 'node:path';
import { classify } from '../core/classify.js';
import { systemClock, type Clock } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { delivered, type Outcome, type PlainOutcome } from '../core/outcome.js';
import type { Delivery } from '../core/handler.js';
import type { ClaimedMessage } from '../core/queue.js';
import { parsePendingUpload, type PendingUpload } from '../messages/pending-upload.js';
import { parseUploadMessage, type UploadMessage } from '../messages/keyvalue.js';
import type { PrimaryApi, UploadKind } from '../primary/api.js';
import { resolveAllowedFile, type AllowedFile, type PathFs } from './allowed-paths.js';
import { UploadAttempt } from './attempt.js';
import { disposeUploaded } from './local-file.js';
import { startUploadWithFailsafe, StepError } from './start-upload.js';
import { redactUrl, type UploadTransport } from './transport.js';

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
  /** FTP/FTPS/GridFTP by the destination's scheme; owned by the handler from now on: close() closes it. */
  transport: UploadTransport;
  clock?: Clock;
  log?: Logger;
  /**
   * StartUpload's `name`: 'none' (default, as the original importer: the
   * service stores the file as `<class>`) or 'basename' (the local file's
   * base name: stored as `<class>.<basename>`).
   */
  uploadName?: 'none' | 'basename';
  /** Transfer tries within one message processing (default 3). */
  ftpAttempts?: number;
  /** commitBefore = now + this (default 1000 s, as the C importer). */
  commitWindowMs?: number;
  /** File-system calls of the path check (tests). */
  pathFs?: PathFs;
}

/** An upload handler's outcome: a retry may carry the upload the next attempt should finish. */
export type UploadOutcome = Outcome<PendingUpload>;

/** The upload worker's delivery (its worker adds the body limit). */
export interface UploadHandler extends Delivery {
  handle(msg: ClaimedMessage, body: Buffer, signal: AbortSignal): Promise<UploadOutcome>;
}

const DEFAULT_COMMIT_WINDOW_MS = 1_000_000;

export function createUploadHandler(deps: UploadHandlerDeps): UploadHandler {
  const clock = deps.clock ?? systemClock;
  const baseLog = deps.log ?? silentLogger;

  async function handle(msg: ClaimedMessage, body: Buffer, signal: AbortSignal): Promise<UploadOutcome> {
    const log = baseLog.child({ id: msg.name, kind: deps.kind });
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
    try {
      return await uploadAndDispose(msg, m, file, signal, log);
    } finally {
      await file.handle.close().catch(() => undefined);
    }
  }

  /** Upload the open file; once committed, remove or store exactly that file (kept open until then). */
  async function uploadAndDispose(msg: ClaimedMessage, m: UploadMessage, file: AllowedFile, signal: AbortSignal, log: Logger): Promise<UploadOutcome> {
    let committed: string;
    let attempt: UploadAttempt | undefined;
    try {
      const primary = deps.primary(m.jpps);
      attempt = new UploadAttempt({
        primary,
        transport: deps.transport,
        start: () => startUploadWithFailsafe({
          primary,
          kind: deps.kind,
          jobid: m.jobid,
          ...(deps.uploadName === 'basename' ? { name: basename(file.realPath) } : {}),
          commitBefore: new Date(clock.now() + (deps.commitWindowMs ?? DEFAULT_COMMIT_WINDOW_MS)),
          ownerDn: deps.ownerDn,
          signal,
          onRegistered: () => log.info({ jobid: m.jobid }, 'job was not registered: registered it (failsafe registration)'),
        }),
        source: { handle: file.handle, size: file.size, path: m.file },
        now: () => clock.now(),
        signal,
        log,
        ...(deps.ftpAttempts !== undefined ? { ftpAttempts: deps.ftpAttempts } : {}),
      }, priorUpload(msg, file.size, log));
      committed = await attempt.run();
    } catch (e) {
      const o = e instanceof StepError
        ? withContext(classify(e.error, { operation: e.operation }), e.operation)
        : withContext(classify(e), 'upload');
      const upload = attempt?.pending;
      return o.kind === 'retry' && upload !== undefined ? { ...o, upload } : o;
    }
    // Committed: from here on the message is delivered whatever happens to the local file.
    try {
      const d = await disposeUploaded(file, deps.allowedDirs, deps.storeDir);
      return delivered(d.action === 'stored' ? `${committed}; file stored as ${d.to}` : `${committed}; file removed`);
    } catch (e) {
      log.warn({ file: file.realPath, reason: describeError(e) }, 'upload committed but the local file could not be removed/stored');
      return delivered(`${committed}; local file left in place: ${describeError(e)}`);
    }
  }

  return {
    handle,
    close: () => deps.transport.close(),
  };
}

/** The upload an earlier attempt left (kept by the queue as opaque JSON, checked here), if it is for this file as it is now. */
function priorUpload(msg: ClaimedMessage, size: number, log: Logger): PendingUpload | undefined {
  const p = msg.meta?.upload === undefined ? undefined : parsePendingUpload(msg.meta.upload);
  if (p === undefined || p.size === size) return p;
  log.warn({ destination: redactUrl(p.destination), was: p.size, now: size },
    'the file changed size since an earlier attempt started its upload: starting anew');
  return undefined;
}

/** Name the failing step in the reason the spool keeps. */
function withContext(o: PlainOutcome, what: string): PlainOutcome {
  return o.kind === 'delivered' ? o : { ...o, reason: `${what}: ${o.reason}` };
}
