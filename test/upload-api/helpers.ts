/** Helpers of the upload-api tests. */
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';

export interface TarEntry {
  readonly name: string;
  readonly mode: number;
  readonly mtime: number;
  readonly size: number;
  readonly type: string;
  readonly data: Buffer;
}

/** Every entry of a tar file, read back with tar-stream's extractor. */
export async function readTar(path: string): Promise<TarEntry[]> {
  const ex = tar.extract();
  createReadStream(path).pipe(ex);
  const out: TarEntry[] = [];
  for await (const entry of ex) {
    const parts: Buffer[] = [];
    for await (const c of entry) parts.push(c as Buffer);
    const h = entry.header;
    out.push({
      name: h.name,
      mode: h.mode ?? -1,
      mtime: h.mtime?.getTime() ?? -1,
      size: h.size ?? -1,
      type: String(h.type),
      data: Buffer.concat(parts),
    });
  }
  return out;
}

export async function tempDir(t: { after(fn: () => Promise<void>): void }, prefix = 'jp-upl-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export async function entries(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw e;
  }
}

/** Nothing left behind: no tar (or temporary) file, no message in new/ or tmp/. */
export async function assertNothingLeft(maildir: string, tarDir: string): Promise<void> {
  assert.deepEqual(await entries(tarDir), [], `tar directory ${tarDir}`);
  assert.deepEqual(await entries(join(maildir, 'new')), [], 'maildir new/');
  assert.deepEqual(await entries(join(maildir, 'tmp')), [], 'maildir tmp/');
}
