/**
 * Move a file without overwriting anything: the one implementation behind
 * every move of a message, a dump or an uploaded file (the spool
 * transitions, jobman's queue folders, export-dumps' done/ and failed/, the
 * upload store). Its rules:
 *
 *  1. Nothing at the target is ever replaced: the file is hard-linked
 *     (link(2) fails on a taken name), then the source is unlinked. A taken
 *     name makes moveInto try the next candidate name (TakenNames).
 *  2. When the target already is the same file as the source (a crash
 *     between link and unlink), only the source is removed.
 *  3. Where no hard link can be made (another user's file under
 *     fs.protected_hardlinks=1, a directory, a FIFO, a file system without
 *     links): `withoutLink: 'rename'` (default) renames after checking the
 *     target is free — the race left is for names only their own message
 *     uses; `'copy'` copies instead (rule 5), so the result is our own file.
 *  4. Across file systems (EXDEV): an error, unless `acrossDevices` — then
 *     the file is copied (rule 5) and the source unlinked.
 *  5. A copy is made under a hidden name in the target directory
 *     (`.<name>.<pid>.<now>.tmp`, COPYFILE_EXCL), fsynced, and linked into
 *     place, so a name never shows a partial file; the temporary goes.
 *  6. `expect` (dev, ino): only that very file is moved. When the source
 *     names another file, or the target turns out to be another one,
 *     nothing is moved or removed and FileReplaced is thrown.
 *  7. `sidecar`: `<target><suffix>` is written (atomically) before the file
 *     appears under the target, and removed again when the source is gone.
 *  8. The target directory is fsynced before the source is removed (unless `syncDir` false; always after a copy): a crash in between leaves two entries, never none.
 *
 * A source that is gone (another process moved it) is not an error:
 * moveNoReplace answers 'gone', moveInto undefined.
 */
import { constants, promises as fsp, type BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { JpError, systemCode } from '../core/errors.js';
import { fsyncDir, unlinkIfExists, writeFileAtomic } from './fs.js';

export type MoveResult = 'moved' | 'exists' | 'gone';

/** The file `dev`/`ino` of a file as it was opened (what may be moved). */
export interface FileIdentity {
  readonly dev: bigint;
  readonly ino: bigint;
}

/** A move with `expect` found another file than the one expected: nothing was moved or removed. */
/** Every candidate name was taken. */
export class NamesTaken extends JpError {
  constructor(code: 'JP_CONFIG' | 'JP_LOCAL_FILE', from: string, dir: string, tries: number) {
    super(code, `cannot move ${from} into ${dir}: ${tries} names taken`);
    this.name = 'NamesTaken';
  }
}

export class FileReplaced extends JpError {
  constructor(path: string) {
    super('JP_LOCAL_FILE', `${path} was replaced by another file while it was exported: left in place`);
    this.name = 'FileReplaced';
  }
}

/** The i-th name tried for `name` (i = 0: the name itself). */
export type TakenNames = (name: string, i: number, now: number) => string;

/** Spool and jobman queue folders: `<name>`, `<name>.<ms>_1`, `<name>.<ms>_2`, … */
export const QUEUE_NAMES: TakenNames = (name, i, now) => (i === 0 ? name : `${name}.${now}_${i}`);
/** export-dumps' done/ and failed/: `<name>`, `<name>.<ms>`, `<name>.<ms>_2`, … */
export const DUMP_NAMES: TakenNames = (name, i, now) => (i === 0 ? name : i === 1 ? `${name}.${now}` : `${name}.${now}_${i}`);
/** The upload store: `<name>`, `<name>.1`, `<name>.2`, … */
export const COUNTER_NAMES: TakenNames = (name, i) => (i === 0 ? name : `${name}.${i}`);

export interface PlaceOptions {
  /** Rule 8: the target directory made durable before the source is removed (moveInto: default true; moveNoReplace: only for a copy unless set). */
  readonly syncDir?: boolean;
  /** Rule 3: what to do where no hard link can be made. Default 'rename'. */
  readonly withoutLink?: 'rename' | 'copy';
  /** Rule 4: copy across file systems. Default false (EXDEV is thrown). */
  readonly acrossDevices?: boolean;
  /** Rule 6. */
  readonly expect?: FileIdentity;
  /** Time for temporary and candidate names (ms). Default Date.now(). */
  readonly now?: number;
}

export interface MoveIntoOptions extends PlaceOptions {
  /** Candidate names (rule 1). Default QUEUE_NAMES. */
  readonly names?: TakenNames;
  /** Names tried before giving up. Default 10. */
  readonly tries?: number;
  /** Rule 7. */
  readonly sidecar?: { readonly suffix: string; readonly text: string };
  /** Error code when every name is taken. Default 'JP_CONFIG'. */
  readonly takenCode?: 'JP_CONFIG' | 'JP_LOCAL_FILE';
}

/** Errors of link() that say "no hard link here" rather than "no access": a rename or copy can still do the move. */
const NO_LINK_CODES = new Set(['EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

async function lstatOrUndefined(path: string): Promise<BigIntStats | undefined> {
  try {
    return await fsp.lstat(path, { bigint: true });
  } catch (e) {
    if (systemCode(e) === 'ENOENT') return undefined;
    throw e;
  }
}

const sameFile = (a: BigIntStats | undefined, b: { dev: bigint; ino: bigint } | undefined): boolean =>
  a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;

/** Whether `path` is the expected file (rule 6; always true without an expectation). */
async function isExpected(path: string, expect: FileIdentity | undefined): Promise<boolean> {
  if (expect === undefined) return true;
  const st = await lstatOrUndefined(path);
  return st !== undefined && st.isFile() && sameFile(st, expect);
}

/**
 * Rule 5: a durable copy of `from` linked at `to` (never a partial file
 * under `to`). Copied from the file opened without following a symlink
 * and without blocking on a FIFO: only a regular file (and, with `expect`,
 * only that one) is copied; anything else is left where it is.
 */
async function copyInto(from: string, to: string, now: number, expect: FileIdentity | undefined): Promise<MoveResult> {
  const slash = to.lastIndexOf('/');
  const tmp = `${to.slice(0, slash + 1)}.${to.slice(slash + 1)}.${process.pid}.${now}.tmp`;
  let src: FileHandle;
  try {
    src = await fsp.open(from, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    if (systemCode(e) === 'ENOENT') return 'gone';
    throw e;
  }
  try {
    const st = await src.stat({ bigint: true });
    if (!st.isFile()) throw new JpError('JP_LOCAL_FILE', `${from} is not a regular file: not copied`);
    if (expect !== undefined && !sameFile(st, expect)) throw new FileReplaced(from);
    const out = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, Number(st.mode) & 0o777);
    try {
      const buf = Buffer.allocUnsafe(1024 * 1024);
      for (let pos = 0; ; ) {
        const { bytesRead } = await src.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        for (let w = 0; w < bytesRead; ) w += (await out.write(buf, w, bytesRead - w)).bytesWritten;
        pos += bytesRead;
      }
      await out.sync();
    } finally {
      await out.close();
    }
  } catch (e) {
    await unlinkIfExists(tmp).catch(() => false);
    throw e;
  } finally {
    await src.close();
  }
  try {
    await fsp.link(tmp, to);
  } catch (e) {
    if (systemCode(e) === 'EEXIST') return 'exists';
    throw e;
  } finally {
    await unlinkIfExists(tmp).catch(() => false);
  }
  return 'moved';
}

/**
 * Move `from` to `to` without replacing anything at `to` (rules 1–6):
 * 'moved', 'exists' when `to` is taken, 'gone' when `from` is.
 */
export async function moveNoReplace(from: string, to: string, o: PlaceOptions = {}): Promise<MoveResult> {
  if (!(await isExpected(from, o.expect))) throw new FileReplaced(from);
  let how: Placed;
  try {
    await fsp.link(from, to);
    how = 'linked';
  } catch (e) {
    const r = await withoutLink(from, to, e, o);
    if (r === 'exists' || r === 'gone') return r;
    how = r;
  }
  if (how === 'renamed') {
    if (o.syncDir === true) await fsyncDir(dirname(to));
    if (!(await isExpected(to, o.expect))) {
      await moveNoReplace(to, from).catch(() => undefined); // not the file to move: back where it was
      throw new FileReplaced(from);
    }
    return 'moved';
  }
  if (how === 'linked' && !(await isExpected(to, o.expect))) {
    // the source was swapped between the check and the link: take back what we made, leave theirs
    await unlinkIfExists(to);
    throw new FileReplaced(from);
  }
  // The new entry is on disk before the old one goes: a crash in between leaves two links (or a copy), never none.
  if (how === 'copied' || o.syncDir === true) await fsyncDir(dirname(to));
  // only the file that was moved is removed from where it was
  if (await isExpected(from, o.expect)) await unlinkIfExists(from);
  return 'moved';
}

/** How a file got to its target: a link to it (or one already there), a rename, a copy. */
type Placed = 'linked' | 'renamed' | 'copied';

/** The link failed with `e`: same file already there, a lost race, or another way (rules 2–5). */
async function withoutLink(from: string, to: string, e: unknown, o: PlaceOptions): Promise<Placed | 'exists' | 'gone'> {
  const code = systemCode(e);
  if (code === 'EEXIST') {
    const [a, b] = await Promise.all([lstatOrUndefined(from).catch(() => undefined), lstatOrUndefined(to).catch(() => undefined)]);
    if (a === undefined) return 'gone';
    return sameFile(a, b) ? 'linked' : 'exists';
  }
  if (code === 'ENOENT') {
    if ((await lstatOrUndefined(from).catch(() => undefined)) === undefined) return 'gone';
    throw e; // the target directory is missing
  }
  const now = o.now ?? Date.now();
  const copy = async (): Promise<Placed | 'exists' | 'gone'> => {
    const r = await copyInto(from, to, now, o.expect);
    return r === 'moved' ? 'copied' : r;
  };
  if (code === 'EXDEV') {
    if (o.acrossDevices !== true) throw e;
    return copy();
  }
  if (code === undefined || !NO_LINK_CODES.has(code)) throw e;
  if (o.withoutLink === 'copy') return copy();
  if ((await lstatOrUndefined(to).catch(() => 'unknown' as const)) !== undefined) return 'exists';
  try {
    await fsp.rename(from, to);
  } catch (err) {
    if (systemCode(err) === 'ENOENT') return 'gone';
    if (systemCode(err) === 'EXDEV' && o.acrossDevices === true) return copy();
    throw err;
  }
  return 'renamed';
}

/**
 * Move `from` into `dir` under `name`, or the next candidate name when that
 * is taken (rules 1–8). Returns the name used; undefined when `from` is gone.
 */
export async function moveInto(from: string, dir: string, name: string, o: MoveIntoOptions = {}): Promise<string | undefined> {
  const names = o.names ?? QUEUE_NAMES;
  const tries = o.tries ?? 10;
  const now = o.now ?? Date.now();
  for (let i = 0; i < tries; i++) {
    const target = names(name, i, now);
    const to = join(dir, target);
    const there = await lstatOrUndefined(to);
    if (there !== undefined) {
      const src = await lstatOrUndefined(from);
      if (src === undefined) return undefined;
      if (!sameFile(there, src)) continue; // taken by another file (rule 1); the same file: rule 2
    }
    if (o.sidecar !== undefined) await writeFileAtomic(to + o.sidecar.suffix, o.sidecar.text, 0o600);
    const r = await moveNoReplace(from, to, { ...o, now, syncDir: o.syncDir !== false });
    if (r === 'exists') continue;
    if (r === 'gone') {
      if (o.sidecar !== undefined) await unlinkIfExists(to + o.sidecar.suffix);
      return undefined;
    }
    return target;
  }
  throw new NamesTaken(o.takenCode ?? 'JP_CONFIG', from, dir, tries);
}
