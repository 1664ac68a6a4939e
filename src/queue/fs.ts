/** Small durable file-system helpers shared by the spool code. */
import { spawnSync } from 'node:child_process';
import { closeSync, constants, fstatSync, lstatSync, openSync, promises as fsp, readSync, renameSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { JpError, systemCode } from '../core/errors.js';

/** fsync a directory so a link/rename/unlink in it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    await fh.sync();
  } catch (e) {
    // Some file systems refuse fsync on directories; durability is then theirs.
    if (systemCode(e) !== 'EINVAL' && systemCode(e) !== 'EISDIR') throw e;
  } finally {
    await fh?.close();
  }
}

/** Create a new file exclusively, write, fsync (unless sync is false), close. Throws EEXIST if taken. */
export async function writeNewFile(path: string, data: string | Uint8Array, mode: number, sync = true): Promise<void> {
  const fh = await fsp.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    await fh.writeFile(data);
    if (sync) await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fsp.unlink(path).catch(() => undefined);
    throw e;
  }
  await fh.close();
}

let tmpSeq = 0;
/**
 * Replace `path` atomically: write a hidden temporary beside it, fsync,
 * rename over, fsync the directory.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.tmp-${process.pid}-${++tmpSeq}-${Date.now()}`);
  await writeNewFile(tmp, data, mode);
  try {
    await fsp.rename(tmp, path);
  } catch (e) {
    await fsp.unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fsyncDir(dir);
}

/** unlink that treats an already-missing file as done. */
export async function unlinkIfExists(path: string): Promise<boolean> {
  try {
    await fsp.unlink(path);
    return true;
  } catch (e) {
    if (systemCode(e) === 'ENOENT') return false;
    throw e;
  }
}

/** rename that reports a lost race (ENOENT on the source) as false. */
export async function renameIfExists(from: string, to: string): Promise<boolean> {
  try {
    await fsp.rename(from, to);
    return true;
  } catch (e) {
    if (systemCode(e) === 'ENOENT') return false;
    throw e;
  }
}

/*
 * Synchronous variants for the per-message metadata operations of a worker
 * (claim, delivered): a rename or unlink of a spool entry takes a few µs in
 * the kernel, while the libuv thread-pool round trip around it (two thread
 * wake-ups, a promise) costs several times that in CPU. The event loop is
 * held for the syscall only.
 */

/** unlinkSync that treats an already-missing file as done. */
export function unlinkIfExistsSync(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (e) {
    if (systemCode(e) === 'ENOENT') return false;
    throw e;
  }
}

/** renameSync that reports a lost race (ENOENT on the source) as false. */
export function renameIfExistsSync(from: string, to: string): boolean {
  try {
    renameSync(from, to);
    return true;
  } catch (e) {
    if (systemCode(e) === 'ENOENT') return false;
    throw e;
  }
}

/** mkdir -p with a mode, and enforce the mode on an existing directory we own. */
export async function ensureDir(path: string, mode: number): Promise<void> {
  await fsp.mkdir(path, { recursive: true, mode });
  const st = await fsp.stat(path);
  if (!st.isDirectory()) throw Object.assign(new Error(`${path} is not a directory`), { code: 'ENOTDIR' });
  if ((st.mode & 0o777) !== mode && st.uid === process.getuid?.()) await fsp.chmod(path, mode);
}

/**
 * Opening a message never follows a symlink and never blocks: O_NONBLOCK
 * makes a FIFO open at once (it is then refused as not a regular file)
 * instead of waiting for a writer; it changes nothing for regular files.
 */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Owner and mode of a path for an error text ("owner uid 4242, mode 0600"), or '' when it cannot be seen. */
export function describeOwner(path: string): string {
  try {
    const st = lstatSync(path);
    return `owner uid ${st.uid}, mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}`;
  } catch {
    return '';
  }
}

/**
 * What opening a message for reading failed with, as the error to act on:
 * a symlink, or a file this process may not read (another user's, mode
 * 0000), is a property of that message that no retry changes, so it is a
 * JP_MALFORMED_MESSAGE (kept aside with the reason); anything else as is.
 */
function openError(path: string, what: string, e: unknown): unknown {
  const code = systemCode(e);
  if (code === 'ELOOP') return new JpError('JP_MALFORMED_MESSAGE', `${what} is a symbolic link`, { cause: e });
  if (code === 'EACCES' || code === 'EPERM') {
    const owner = describeOwner(path);
    return new JpError('JP_MALFORMED_MESSAGE', `${what} cannot be read by this process${owner === '' ? '' : ` (${owner})`}`, { cause: e });
  }
  return e;
}

/**
 * Read a whole (claimed) file without following a symlink, refusing more
 * than maxBytes without reading it. `what` names it in errors ("message").
 */
export async function readBounded(path: string, maxBytes: number, what: string): Promise<Buffer> {
  if (maxBytes <= SMALL_READ) return readBoundedSync(path, maxBytes, what);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, READ_FLAGS);
  } catch (e) {
    throw openError(path, what, e);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new JpError('JP_MALFORMED_MESSAGE', `${what} is not a regular file`);
    if (st.size > maxBytes) throw new JpError('JP_MALFORMED_MESSAGE', `${what} is ${st.size} bytes, more than the limit of ${maxBytes}`);
    return await readUpTo(fh, st.size);
  } finally {
    await fh.close();
  }
}

/** Messages this small are read synchronously: just written, so in the page cache (no thread-pool trips). */
const SMALL_READ = 64 * 1024;

function readBoundedSync(path: string, maxBytes: number, what: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (e) {
    throw openError(path, what, e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new JpError('JP_MALFORMED_MESSAGE', `${what} is not a regular file`);
    if (st.size > maxBytes) throw new JpError('JP_MALFORMED_MESSAGE', `${what} is ${st.size} bytes, more than the limit of ${maxBytes}`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, buf, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

/**
 * Flush the whole file system holding `path` in one call: `sync -f`
 * (GNU coreutils) calls syncfs(2), which reports write-back errors (Linux
 * >= 5.8). true only when that succeeded; callers fall back to fsync per
 * file otherwise.
 */
export function syncFileSystem(path: string): boolean {
  const r = spawnSync('sync', ['-f', path], { stdio: 'ignore', timeout: 600_000 });
  return r.status === 0;
}

/** fsync an existing file by path. */
export async function fsyncFile(path: string): Promise<void> {
  const fh = await fsp.open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Run fn(i) for i in [0, n) with at most `concurrency` at once; the first error stops new starts and is thrown. */
export async function forEachLimited(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < n) {
      const i = next++;
      try {
        await fn(i);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, n)) }, worker));
  if (failure !== undefined) throw failure;
}

/**
 * A small sidecar file's text (retry state, records): never follows a
 * symlink, never blocks on a FIFO, undefined when it is missing, not a
 * regular file or larger than maxBytes. Other errors are thrown.
 */
export async function readSidecar(path: string, maxBytes: number): Promise<string | undefined> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, READ_FLAGS);
  } catch (e) {
    const code = systemCode(e);
    if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR') return undefined;
    throw e;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size > maxBytes) return undefined;
    return (await readUpTo(fh, st.size)).toString('utf8');
  } finally {
    await fh.close();
  }
}

/** The first `size` bytes of an open file (fewer if it shrank meanwhile). */
async function readUpTo(fh: fsp.FileHandle, size: number): Promise<Buffer> {
  const buf = Buffer.alloc(size);
  let off = 0;
  while (off < size) {
    const { bytesRead } = await fh.read(buf, off, size - off, off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return buf.subarray(0, off);
}
