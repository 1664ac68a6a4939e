/**
 * What the reference FTP endpoint knows about uploads, for the reference
 * primary service's CommitUpload: whether the last STOR/APPE of a path ran
 * to completion, and the size of the file it left.
 */
import { posix } from 'node:path';

export interface UploadVerifier {
  /**
   * The upload state of `relPath` (the destination URL's decoded path, with
   * or without its leading '/'): `{ bytes }` when the last STOR/APPE of it
   * completed, undefined when it never did or the last one broke off.
   */
  completed(relPath: string): { bytes: number } | undefined;
}

export type UploadState =
  | { readonly state: 'in-progress'; readonly command: 'STOR' | 'APPE'; readonly start: number }
  | { readonly state: 'complete'; readonly bytes: number }
  | { readonly state: 'failed'; readonly reason: string };

/** Normalised key of a path below the FTP root, or undefined when it escapes it. */
export function uploadKey(relPath: string): string | undefined {
  if (relPath.includes('\0')) return undefined;
  const norm = posix.normalize(`/${relPath}`);
  if (norm.split('/').includes('..')) return undefined;
  const key = norm.replace(/^\/+/, '').replace(/\/+$/, '');
  return key.length === 0 ? undefined : key;
}

/** The endpoint's record of uploads, keyed by path below the FTP root. */
export class UploadRecords implements UploadVerifier {
  private readonly states = new Map<string, UploadState>();
  /** Which transfer owns each path's record: a late end of an older one is ignored. */
  private readonly owners = new Map<string, number>();
  private seq = 0;

  /** A transfer starts; returns the token its end must present. */
  begin(relPath: string, command: 'STOR' | 'APPE', start: number): number {
    const token = ++this.seq;
    const key = uploadKey(relPath);
    if (key !== undefined) {
      this.states.set(key, { state: 'in-progress', command, start });
      this.owners.set(key, token);
    }
    return token;
  }

  complete(relPath: string, bytes: number, token: number): void {
    this.end(relPath, token, { state: 'complete', bytes });
  }

  fail(relPath: string, reason: string, token: number): void {
    this.end(relPath, token, { state: 'failed', reason });
  }

  private end(relPath: string, token: number, s: UploadState): void {
    const key = uploadKey(relPath);
    if (key !== undefined && this.owners.get(key) === token) this.states.set(key, s);
  }

  state(relPath: string): UploadState | undefined {
    const key = uploadKey(relPath);
    return key === undefined ? undefined : this.states.get(key);
  }

  completed(relPath: string): { bytes: number } | undefined {
    const s = this.state(relPath);
    return s?.state === 'complete' ? { bytes: s.bytes } : undefined;
  }
}
