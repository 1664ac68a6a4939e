/**
 * The file-system operations of the dump exporter, behind one interface so
 * tests can make any of them fail (the exporter runs as root in CI, where
 * permissions do not stop writes). The write path is synchronous on purpose:
 * one process, one input, and sync calls avoid a thread-pool round trip per
 * write. The final durability pass is asynchronous so fsyncs can overlap.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, lstatSync, openSync, promises as fsp, writevSync } from 'node:fs';
import { fsyncDir, syncFileSystem } from '../queue/fs.js';

export interface ExportFs {
  /** Create a new file (O_EXCL, no symlink follow) for appending; throws EEXIST if taken. */
  openNew(path: string, mode: number): number;
  /** Reopen an existing file for appending (never creates it). */
  openAppend(path: string): number;
  /** writev; may write less than asked (the caller loops). */
  writev(fd: number, bufs: readonly Buffer[]): number;
  close(fd: number): void;
  /** Open read-only, fsync, return the size in bytes. */
  syncFile(path: string): Promise<number>;
  /** fsync a directory. */
  syncDir(path: string): Promise<void>;
  /**
   * Optional: flush the whole file system holding `path` in one call
   * (syncfs). When it returns true the flush succeeded and the files need no
   * fsync each (only their size is checked, with sizeOf); otherwise each file
   * is fsynced.
   */
  syncFs?(path: string): boolean | void;
  /** Size of a file (used instead of syncFile after a successful syncFs). */
  sizeOf?(path: string): Promise<number>;
  /**
   * Optional: start a syncfs of the file system holding `path` in the
   * background, so that write-back overlaps with splitting; resolves to true
   * when it succeeded. A failure makes the final pass fsync every file (the
   * write-back error may have been reported to that call only).
   */
  startSyncFs?(path: string): Promise<boolean>;
}

const NEW_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_APPEND | constants.O_NOFOLLOW;
const APPEND_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW;

/** `sync -f DIR` (GNU coreutils) calls syncfs(2); true when it succeeded. */
export function syncFsWithCoreutils(path: string): boolean {
  return syncFileSystem(path);
}

export const nodeExportFs: ExportFs = {
  openNew: (path, mode) => openSync(path, NEW_FLAGS, mode),
  openAppend: (path) => openSync(path, APPEND_FLAGS),
  writev: (fd, bufs) => writevSync(fd, bufs as Buffer[]),
  close: (fd) => closeSync(fd),
  async syncFile(path) {
    const fh = await fsp.open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      await fh.sync();
      return (await fh.stat()).size;
    } finally {
      await fh.close();
    }
  },
  syncDir: (path) => fsyncDir(path),
  syncFs: syncFsWithCoreutils,
  // synchronous: one cheap syscall per file, no thread-pool round trip
  sizeOf: async (path) => lstatSync(path).size,
  startSyncFs: (path) => new Promise<boolean>((resolve) => {
    const child = spawn('sync', ['-f', path], { stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0));
  }),
};
