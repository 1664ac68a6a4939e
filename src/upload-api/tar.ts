/**
 * Stream local files into a tar file (tar-stream): entry names are the
 * paths as given with leading '/' removed (as the original API did), long
 * or non-ASCII names get a pax header, modes/owners/mtimes are kept.
 */
import { createReadStream, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { describeError, JpError } from '../core/errors.js';
import tar from 'tar-stream';

export interface TarSource {
  /** Path to read. */
  readonly path: string;
  /** Name inside the archive. */
  readonly name: string;
  /** stat of the file (size, mode, mtime, owner) taken before writing. */
  readonly stat: Stats;
}

/** Entry name for a path: leading slashes removed; '.' for nothing left is refused by the caller. */
export function tarEntryName(path: string): string {
  return path.replace(/^\/+/, '');
}

async function writeFully(out: FileHandle, chunk: Buffer): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    const { bytesWritten } = await out.write(chunk, off, chunk.length - off);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    off += bytesWritten;
  }
}

/**
 * Write every source into `out` (already open) as one tar stream. The pack
 * stream is drained by a loop of FileHandle writes (a FileHandle write
 * stream with autoClose off would keep the handle from closing).
 */
export async function writeTar(sources: readonly TarSource[], out: FileHandle): Promise<void> {
  const pack = tar.pack();
  const drain = (async () => {
    for await (const chunk of pack as AsyncIterable<Buffer>) await writeFully(out, chunk);
  })();
  // Handled below; avoid an unhandled rejection while entries are written.
  drain.catch(() => undefined);
  try {
    for (const s of sources) {
      const entry = pack.entry({
        name: s.name,
        size: s.stat.size,
        mode: s.stat.mode & 0o7777,
        mtime: s.stat.mtime,
        uid: s.stat.uid,
        gid: s.stat.gid,
        type: 'file',
      });
      try {
        await pipeline(createReadStream(s.path, { highWaterMark: 256 * 1024 }), entry);
      } catch (e) {
        throw new JpError('JP_LOCAL_FILE', `cannot read ${s.path} into the tar: ${describeError(e)}`, { cause: e });
      }
    }
    pack.finalize();
  } catch (e) {
    pack.destroy(e instanceof Error ? e : new Error(String(e)));
    await drain.catch(() => undefined);
    throw e;
  }
  await drain;
}
