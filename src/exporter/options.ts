/** Options of the dump exporter: one interface, one defaults object, one validation place. */
import { readFileSync } from 'node:fs';
import { JpError } from '../core/errors.js';
import type { MessageBatch } from '../maildir/store-many-sync.js';
import type { ExportFs } from './fsops.js';
import type { SpoolLock } from './locks.js';
import { DEFAULT_MAX_LINE_BYTES } from './ulm.js';

export interface ExportProgress {
  /** split: reading and writing; sync: fsync of job files; announce: storing messages. */
  readonly phase: 'split' | 'sync' | 'announce';
  /** Files fsynced or messages stored so far (sync/announce phases). */
  readonly done: number;
  readonly bytesRead: number;
  readonly lines: number;
  readonly events: number;
  readonly jobs: number;
  readonly badLines: number;
  readonly elapsedMs: number;
}

export interface ExportOptions {
  /** Directory for the per-job files (must exist and be writable). */
  store: string;
  /** Maildir (spool subtree) receiving one message per job. */
  maildir: string;
  /** Primary service `host:port` written into every message (`jpps` key). */
  jpps?: string;
  /** Job files open at once (one not used lately closed first); lowered when the system refuses more (EMFILE). */
  maxOpen?: number;
  /** Skip and count bad lines instead of stopping at the first one. */
  skipBadLines?: boolean;
  /**
   * A last line without its newline (a cut dump, or one still being
   * written) is left out and reported in the summary; without this the run
   * is refused and nothing is announced.
   */
  allowPartial?: boolean;
  /**
   * The lock on `maildir`, already held by the caller (locks.ts lockSpool);
   * without it the run takes (and releases) the lock itself. Not used when
   * `messages` is given.
   */
  spoolLock?: SpoolLock;
  /** Longest accepted line in bytes. */
  maxLineBytes?: number;
  /** Memory for lines not yet written (bytes). */
  bufferBytes?: number;
  /**
   * Start a syncfs of the store's file system in the background after each
   * this many bytes written, so that write-back overlaps with splitting
   * (0: only the final one).
   */
  writebackBytes?: number;
  /** Bad lines kept (number and reason) for the final report. */
  keepBadLines?: number;
  /** File operations (tests inject failures). */
  fs?: ExportFs;
  /**
   * Where messages go (default: a MessageBatch on `maildir`, its directories
   * made first): its tmp/ files are written while splitting, made durable by
   * the final syncfs, then linked into new/. Given by tests (failing file
   * operations).
   */
  messages?: MessageBatch;
  /** Called after each input chunk, each file fsynced and each message stored. */
  onProgress?: (p: ExportProgress) => void;
  /** Wall clock in ms (job file names). */
  now?: () => number;
}

/**
 * Job files open at once by default: 4096, but at most a quarter of the
 * process's descriptor limit (Linux: /proc/self/limits), so that an export
 * run inside the daemon leaves it descriptors for everything else.
 */
export function defaultMaxOpen(limitsText?: string): number {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return 256;
    }
  }
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(text)?.[1];
  if (soft === undefined) return 256;
  if (soft === 'unlimited') return 4096;
  return Math.max(1, Math.min(4096, Math.floor(Number(soft) / 4)));
}

export const EXPORT_DEFAULTS = {
  maxOpen: defaultMaxOpen(),
  skipBadLines: false,
  allowPartial: false,
  maxLineBytes: DEFAULT_MAX_LINE_BYTES,
  bufferBytes: 16 * 1024 * 1024,
  writebackBytes: 64 * 1024 * 1024,
  keepBadLines: 50,
} as const;

type OptionalKeys = 'jpps' | 'fs' | 'messages' | 'onProgress' | 'now' | 'spoolLock';
export type ResolvedExportOptions = Required<Omit<ExportOptions, OptionalKeys>> & Pick<ExportOptions, OptionalKeys>;

function intOption(name: string, v: number | undefined, def: number, min: number, max: number): number {
  const x = v ?? def;
  if (!Number.isSafeInteger(x) || x < min || x > max) {
    throw new JpError('JP_CONFIG', `${name} must be an integer from ${min} to ${max}, got ${String(v)}`);
  }
  return x;
}

/** Merge defaults and validate; errors name the option. */
export function resolveExportOptions(o: ExportOptions): ResolvedExportOptions {
  if (typeof o.store !== 'string' || o.store.length === 0) throw new JpError('JP_CONFIG', 'store directory must be a non-empty path');
  if (typeof o.maildir !== 'string' || o.maildir.length === 0) throw new JpError('JP_CONFIG', 'maildir must be a non-empty path');
  if (o.jpps !== undefined && !/^[^\s]+:\d{1,5}$/.test(o.jpps)) {
    throw new JpError('JP_CONFIG', `jpps must be HOST:PORT, got ${JSON.stringify(o.jpps)}`);
  }
  return {
    ...o,
    maxOpen: intOption('max-open', o.maxOpen, EXPORT_DEFAULTS.maxOpen, 1, 1_000_000),
    skipBadLines: o.skipBadLines ?? EXPORT_DEFAULTS.skipBadLines,
    allowPartial: o.allowPartial ?? EXPORT_DEFAULTS.allowPartial,
    maxLineBytes: intOption('max-line-bytes', o.maxLineBytes, EXPORT_DEFAULTS.maxLineBytes, 64, 1 << 30),
    bufferBytes: intOption('buffer-bytes', o.bufferBytes, EXPORT_DEFAULTS.bufferBytes, 4096, 1 << 30),
    writebackBytes: intOption('writeback-bytes', o.writebackBytes, EXPORT_DEFAULTS.writebackBytes, 0, Number.MAX_SAFE_INTEGER),
    keepBadLines: intOption('keep-bad-lines', o.keepBadLines, EXPORT_DEFAULTS.keepBadLines, 0, 1_000_000),
  };
}
