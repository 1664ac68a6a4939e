/** Input sources for the exporter. */
import type { FileHandle } from 'node:fs/promises';

/**
 * Read a file in chunks into ONE reused buffer: runExport consumes each
 * chunk completely (copying what it keeps) before asking for the next, so
 * the input costs one buffer of memory whatever the file size.
 */
export async function* readChunks(fh: FileHandle, chunkBytes = 1024 * 1024): AsyncGenerator<Buffer> {
  const buf = Buffer.allocUnsafe(chunkBytes);
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, null);
    if (bytesRead === 0) return;
    yield buf.subarray(0, bytesRead);
  }
}
