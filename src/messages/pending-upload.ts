/**
 * The upload an attempt started and did not see committed, kept with the
 * message's retry state (the sidecar's `upload` key) so the next attempt
 * can finish it instead of asking StartUpload again (refused with EEXIST
 * while the upload is pending, or for good once the lost commit was done).
 * The queue keeps it as opaque JSON; this is its type and its validation.
 */

export interface PendingUpload {
  /** The destination URL StartUpload returned: where the file goes and the CommitUpload handle. */
  readonly destination: string;
  /** Size of the local file being sent, bytes. */
  readonly size: number;
  /** When StartUpload answered, ms since the epoch. */
  readonly startedAt: number;
  /** The service's commit deadline (StartUpload's commitBefore), ms since the epoch, when it gave one. */
  readonly commitBefore?: number;
  /** A CommitUpload for it was sent and no answer came: the service may have committed it. */
  readonly commitUnknown: boolean;
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

const MAX_DESTINATION = 4096;

/** A PendingUpload from parsed JSON, or undefined when any field is missing or wrong. */
export function parsePendingUpload(v: unknown): PendingUpload | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const u = v as Record<string, unknown>;
  const { destination, size, startedAt, commitBefore, commitUnknown } = u;
  if (typeof destination !== 'string' || !isUrl(destination)) return undefined;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return undefined;
  if (!isNum(startedAt) || typeof commitUnknown !== 'boolean') return undefined;
  if (commitBefore !== undefined && !isNum(commitBefore)) return undefined;
  return { destination, size, startedAt, ...(commitBefore !== undefined ? { commitBefore } : {}), commitUnknown };
}

/** An absolute URL of bounded length without control characters or spaces. */
function isUrl(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return s.length <= MAX_DESTINATION && !/[\x00-\x20\x7f]/.test(s) && URL.canParse(s);
}
