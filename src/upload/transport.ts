/**
 * How a file reaches its upload destination: the transport is chosen from
 * the destination URL's scheme (ftp://, ftps:// through ./ftp-transport.ts;
 * gsiftp:// through ./gridftp-transport.ts). Each transport keeps its own
 * pool of connections per server, resumes a cut transfer from the server's
 * size and never reports a short file as sent; its failures are JpErrors
 * for the one classifier (src/core/classify.ts).
 */
import { JpError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { FileHandle } from 'node:fs/promises';

export interface UploadSource {
  readonly handle: FileHandle;
  readonly size: number;
  /** For messages only. */
  readonly path: string;
}

export interface TransferOptions {
  signal?: AbortSignal;
  /** Tries within this call (default 3). */
  attempts?: number;
  /**
   * The destination may already hold the start of the file (an earlier
   * attempt into the same destination): begin as a resumed try (SIZE, then
   * the rest; nothing to send when it holds the whole file).
   */
  resume?: boolean;
  log?: Logger;
}

export interface TransferResult {
  readonly bytes: number;
  readonly attempts: number;
  /** Offsets transfers were resumed from (empty when the first try went through). */
  readonly resumedFrom: readonly number[];
  /** Whether the successful try reused a pooled control connection. */
  readonly reusedConnection: boolean;
}

export interface UploadTransport {
  /** Send the whole file to `destination`; throws JpError (classified by the caller). */
  upload(destination: string, src: UploadSource, opts?: TransferOptions): Promise<TransferResult>;
  /** Bytes the server holds at `destination`; undefined when it has no such file or does not tell. */
  size(destination: string, signal?: AbortSignal): Promise<number | undefined>;
  /** Close idle connections; later calls fail. */
  close(): Promise<void>;
}

/** The URL without its password (for logs and reasons). */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@]*):[^/@]*@/i, '$1:***@');
}

/** The decoded path of a destination URL, which must name a file: no `%`-escape errors, no line breaks or NULs. */
export function destinationPath(u: URL, destination: string): string {
  let path: string;
  try {
    path = decodeURIComponent(u.pathname);
  } catch {
    throw new JpError('JP_BAD_REPLY', `upload destination ${redactUrl(destination)}: bad %-escape in the path`);
  }
  if (path.length <= 1 || path.endsWith('/') || /[\r\n\0]/.test(path)) {
    throw new JpError('JP_BAD_REPLY', `upload destination ${redactUrl(destination)}: the path does not name a file`);
  }
  return path;
}

/** The scheme of a destination URL, lower case without the colon (`gsiftp`); refuses what is not a URL. */
export function schemeOf(destination: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(destination);
  if (m === null) throw new JpError('JP_BAD_REPLY', `upload destination ${JSON.stringify(redactUrl(destination).slice(0, 200))} is not a URL`);
  return (m[1] as string).toLowerCase();
}

/** Picks the transport by the destination's scheme. */
export class SchemeTransports implements UploadTransport {
  private readonly all: UploadTransport[];

  constructor(private readonly bySchemes: Readonly<Record<string, UploadTransport>>) {
    this.all = [...new Set(Object.values(bySchemes))];
  }

  /** The transport for this destination, or a JP_BAD_REPLY naming the schemes served. */
  for(destination: string): UploadTransport {
    const scheme = schemeOf(destination);
    const t = this.bySchemes[scheme];
    if (t === undefined) {
      const known = Object.keys(this.bySchemes).map((s) => `${s}://`).join(', ');
      throw new JpError('JP_BAD_REPLY', `upload destination ${redactUrl(destination)}: scheme ${scheme}: is not supported (${known})`);
    }
    return t;
  }

  upload(destination: string, src: UploadSource, opts?: TransferOptions): Promise<TransferResult> {
    return this.for(destination).upload(destination, src, opts);
  }

  size(destination: string, signal?: AbortSignal): Promise<number | undefined> {
    return this.for(destination).size(destination, signal);
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((t) => t.close()));
  }
}
