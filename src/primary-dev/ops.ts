/**
 * The four operations of the reference primary service, with the fault
 * codes and texts of the real org.glite.jp.primary backend. Synchronous
 * against the in-memory state; the journal write is returned as `persist`.
 */
import type { Clock } from '../core/clock.js';
import { jobUnique } from '../messages/jobid.js';
import { REGTIME_ATTRIBUTE, UPLOAD_KINDS } from '../primary/api.js';
import { parseDateTime, type GenericFault } from '../primary/soap-xml.js';
import type { DevState, JobRecord, UploadRecord } from './state.js';
import type { UploadVerifier } from './uploads.js';
import {
  commitUploadResponse,
  getJobAttributesResponse,
  jpError,
  registerJobResponse,
  serverFault,
  startUploadResponse,
  type ReplyShape,
  type DevAttrValue,
  type DevRequest,
} from './soap-server.js';

export const OWNER_ATTRIBUTE = 'http://egee.cesnet.cz/en/Schema/JP/System:owner';
/** The service never lets an upload stay open longer than this. */
export const MAX_UPLOAD_WINDOW_MS = 5 * 60 * 1000;

const ERR = { EPERM: 1, ENOENT: 2, EAGAIN: 11, EEXIST: 17, EINVAL: 22 } as const;

/** Known file classes → the short name used for default file names. */
const CLASSES: ReadonlyMap<string, string> = new Map([
  [UPLOAD_KINDS.dump.class, 'lb'],
  [UPLOAD_KINDS.sandbox.class, 'isb'],
]);

export interface Destinations {
  /** Upload URL for a path under the FTP root. */
  urlFor(relPath: string): string;
  /** The path under the FTP root a destination URL names, if any. */
  relPathOf(destination: string): string | undefined;
}

export interface OpsContext {
  readonly state: DevState;
  readonly clock: Clock;
  readonly verifier: UploadVerifier;
  readonly destinations: Destinations;
  /** Make the directory an upload of `relPath` goes into (StartUpload). */
  readonly prepareUpload?: (relPath: string) => void;
  /** Where a job's files go below the upload root (default: `<job unique>/<name, else lb|isb>`). */
  readonly layout?: UploadLayout;
  /** Make a job's directory (`layout.jobDir`) at registration, like the real backend; throws on failure. */
  readonly prepareJob?: (jobDir: string) => void;
  /** How replies are written (default gsoap, the real service's shape). */
  readonly shape?: ReplyShape;
  /** Cap on commitBefore after StartUpload (default MAX_UPLOAD_WINDOW_MS, the real service's 5 min). */
  readonly uploadWindowMs?: number;
}

export interface UploadLayout {
  /** The job's directory below the upload root. */
  jobDir(unique: string, job: JobRecord): string;
  /** The stored file's name in it (`classShort`: lb or isb). */
  fileName(cls: string, classShort: string, name: string | undefined): string;
}

export interface OpResult {
  readonly ok: boolean;
  readonly xml: string;
  readonly fault?: GenericFault;
  /** Extra fields for the calls.jsonl line. */
  readonly record: Record<string, unknown>;
  /** The journal write of a state change, when there is one. */
  readonly persist?: Promise<void>;
}

/** A refusal; its fault is written in the context's shape by handleRequest. */
function fail(f: GenericFault, record: Record<string, unknown>): OpResult {
  return { ok: false, xml: '', fault: f, record };
}

export function handleRequest(ctx: OpsContext, req: DevRequest, client: string): OpResult {
  const r = dispatch(ctx, req, client);
  return r.ok || r.fault === undefined ? r : { ...r, xml: serverFault(r.fault, ctx.shape ?? 'gsoap') };
}

function dispatch(ctx: OpsContext, req: DevRequest, client: string): OpResult {
  switch (req.op) {
    case 'RegisterJob':
      return registerJob(ctx, req.job, req.owner, client);
    case 'StartUpload':
      return startUpload(ctx, req, client);
    case 'CommitUpload':
      return commitUpload(ctx, req.destination, client);
    case 'GetJobAttributes':
      return getJobAttributes(ctx, req.jobid, req.attributes);
  }
}

function validJob(job: string): string | undefined {
  try {
    return jobUnique(job);
  } catch {
    return undefined;
  }
}

function registerJob(ctx: OpsContext, job: string, owner: string, client: string): OpResult {
  const record: Record<string, unknown> = { job, owner };
  const src = 'glite_jppsbe_register_job';
  const unique = validJob(job);
  if (unique === undefined) return fail(jpError(ERR.EINVAL, src, 'Invalid job id'), record);
  if (ctx.state.jobs.has(job)) return fail(jpError(ERR.EEXIST, src, 'Job already registered'), record);
  const rec: JobRecord = { owner, regtime: ctx.clock.now(), registeredBy: client };
  if (ctx.prepareJob !== undefined && ctx.layout !== undefined) {
    const dir = ctx.layout.jobDir(unique, rec);
    try {
      ctx.prepareJob(dir);
    } catch (e) {
      // Not registered: a retry registers it once the directory can be made.
      return fail(jpError(errnoOf(e), src, "Cannot mkdir jobs's data directory", jpError(errnoOf(e), 'mkdir', `${dir}: ${(e as Error).message}`)), record);
    }
    record['dir'] = dir;
  }
  const persist = ctx.state.setJob(job, rec);
  return { ok: true, xml: registerJobResponse(ctx.shape ?? 'gsoap'), record, persist };
}

/** The errno number of a file-system error (EIO when unknown). */
function errnoOf(e: unknown): number {
  const n = typeof e === 'object' && e !== null ? (e as { errno?: unknown }).errno : undefined;
  return typeof n === 'number' && n !== 0 ? Math.abs(n) : 5;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+=@%-]*$/;

function startUpload(ctx: OpsContext, req: Extract<DevRequest, { op: 'StartUpload' }>, client: string): OpResult {
  const record: Record<string, unknown> = { job: req.job, class: req.class, name: req.name };
  const src = 'glite_jppsbe_start_upload';
  const classShort = CLASSES.get(req.class);
  if (classShort === undefined) return fail(jpError(ERR.ENOENT, '__jpsrv__StartUpload', 'unknown file class'), record);
  const unique = validJob(req.job);
  if (unique === undefined) return fail(jpError(ERR.EINVAL, src, 'Invalid job id'), record);
  if (req.name !== undefined && req.name !== '' && (!SAFE_NAME.test(req.name) || req.name.length > 200)) {
    return fail(jpError(ERR.EINVAL, src, 'Invalid file name'), record);
  }
  const requested = parseDateTime(req.commitBefore);
  if (requested === undefined) return fail(jpError(ERR.EINVAL, src, 'Invalid commitBefore time'), record);
  const job = ctx.state.jobs.get(req.job);
  if (job === undefined) return fail(jpError(ERR.ENOENT, src, 'No such job registered'), record);
  const now = ctx.clock.now();
  const relPath =
    ctx.layout === undefined
      ? `${unique}/${req.name !== undefined && req.name !== '' ? req.name : classShort}`
      : `${ctx.layout.jobDir(unique, job)}/${ctx.layout.fileName(req.class, classShort, req.name)}`;
  const existing = ctx.state.uploads.get(relPath);
  if (existing !== undefined && (existing.state === 'committed' || existing.commitBefore > now)) {
    return fail(jpError(ERR.EEXIST, src, 'File already stored or upload in progress'), record);
  }
  const commitBefore = Math.min(requested.getTime(), now + (ctx.uploadWindowMs ?? MAX_UPLOAD_WINDOW_MS));
  const destination = ctx.destinations.urlFor(relPath);
  try {
    ctx.prepareUpload?.(relPath);
  } catch (e) {
    return fail(jpError(5, src, `cannot create the upload directory: ${(e as Error).message}`), record);
  }
  const rec: UploadRecord = {
    job: req.job,
    class: req.class,
    ...(req.name !== undefined ? { name: req.name } : {}),
    contentType: req.contentType,
    relPath,
    destination,
    commitBefore,
    startedBy: client,
    startedAt: now,
    state: 'uploading',
  };
  const persist = ctx.state.setUpload(relPath, rec);
  record['destination'] = destination;
  record['commitBefore'] = new Date(commitBefore).toISOString();
  return { ok: true, xml: startUploadResponse(destination, new Date(commitBefore), ctx.shape ?? 'gsoap'), record, persist };
}

function commitUpload(ctx: OpsContext, destination: string, client: string): OpResult {
  const record: Record<string, unknown> = { destination };
  const src = 'glite_jppsbe_commit_upload';
  const relPath = ctx.destinations.relPathOf(destination);
  const rec = relPath === undefined ? undefined : ctx.state.uploads.get(relPath);
  if (rec === undefined || rec.state !== 'uploading') {
    return fail(jpError(ERR.ENOENT, src, 'No such upload in progress'), record);
  }
  record['job'] = rec.job;
  const now = ctx.clock.now();
  if (rec.commitBefore < now) {
    return fail(
      jpError(ERR.ENOENT, src, 'No such upload in progress', jpError(ERR.ENOENT, src, `commit deadline passed at ${new Date(rec.commitBefore).toISOString()}`)),
      record,
    );
  }
  if (rec.startedBy !== client) return fail(jpError(ERR.EPERM, src, 'Upload started by another identity'), record);
  const done = ctx.verifier.completed(rec.relPath);
  if (done === undefined) {
    // The real backend does not check the file. Not ENOENT: that means "No such
    // upload in progress", and this one is in progress (finish it, commit again).
    return fail(jpError(ERR.EAGAIN, src, 'Uploaded file not found or incomplete'), record);
  }
  const persist = ctx.state.setUpload(rec.relPath, { ...rec, state: 'committed', bytes: done.bytes, committedAt: now });
  record['bytes'] = done.bytes;
  return { ok: true, xml: commitUploadResponse(ctx.shape ?? 'gsoap'), record, persist };
}

function getJobAttributes(ctx: OpsContext, jobid: string, attributes: readonly string[]): OpResult {
  const record = { job: jobid, attributes };
  const src = 'glite_jppsbe_get_job_metadata';
  const values: DevAttrValue[] = [];
  for (const name of attributes) {
    if (name !== REGTIME_ATTRIBUTE && name !== OWNER_ATTRIBUTE) {
      return fail(jpError(ERR.EINVAL, src, 'Invalid attribute type'), record);
    }
    const job = ctx.state.jobs.get(jobid);
    if (job === undefined) {
      return fail(jpError(ERR.ENOENT, src, 'Cannot retrieve job info', jpError(ERR.ENOENT, 'get_job_info', 'No records for this job')), record);
    }
    const value = name === OWNER_ATTRIBUTE ? job.owner : regtimeValue(job.regtime);
    values.push({ name, value, timestamp: job.regtime, origin: 'SYSTEM' });
  }
  return { ok: true, xml: getJobAttributesResponse(values, ctx.shape ?? 'gsoap'), record };
}

/** `seconds.microseconds`, as the backend prints struct timeval. */
function regtimeValue(ms: number): string {
  const sec = Math.floor(ms / 1000);
  const usec = Math.round((ms - sec * 1000) * 1000);
  return `${sec}.${String(usec).padStart(6, '0')}`;
}
