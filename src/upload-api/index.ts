/**
 * Client API of the sandbox spool (the port of glite_jpimporter_upload_files):
 * pack files into a tar in a durable directory and announce it to the
 * importer's sandbox worker with one key/value message.
 *
 *   checks → tarDir/.<final>.tmp (O_EXCL, 0600) → tar → fsync → link to
 *   <unique>_<sec>_<usec>_<rand>.tar → fsync dir → message (jobid, file,
 *   proxy, jpps) stored in the maildir → message id.
 *
 * Any error leaves nothing behind: no tar file, no message.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants, type Stats } from 'node:fs';
import { open, link, mkdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describeError, isJpError, JpError, systemCode } from '../core/errors.js';
import { fsyncDir } from '../queue/fs.js';
import { Spool } from '../maildir/spool.js';
import { jobUnique } from '../messages/jobid.js';
import { formatUploadMessage } from '../messages/keyvalue.js';
import { tarEntryName, writeTar, type TarSource } from './tar.js';

export interface UploadFilesOptions {
  /** The importer's sandbox maildir (created if missing). */
  readonly maildir: string;
  /** Primary service `host:port` overriding the importer's default. */
  readonly jpps?: string;
  /** Path of the user's proxy credential (written into the message). */
  readonly proxy?: string;
  /**
   * Durable directory for the tar files; default `sandbox-tars` beside the
   * maildir (`<maildir>/../sandbox-tars`). The importer must be allowed to
   * read files there (its allowed directories).
   */
  readonly tarDir?: string;
}

/** Default tar directory for a maildir. */
export function defaultTarDir(maildir: string): string {
  return resolve(maildir, '..', 'sandbox-tars');
}

const TAR_DIR_MODE = 0o700;
const TAR_MODE = 0o600;
const MAX_NAME_TRIES = 10;

function config(message: string, cause?: unknown): JpError {
  return new JpError('JP_CONFIG', message, cause === undefined ? {} : { cause });
}

async function regularFile(path: string, what: string): Promise<Stats> {
  let st: Stats;
  try {
    st = await stat(path);
  } catch (e) {
    const why = systemCode(e) === 'ENOENT' ? 'does not exist' : `cannot be examined: ${describeError(e)}`;
    throw new JpError('JP_LOCAL_FILE', `${what} ${path} ${why}`, { cause: e });
  }
  if (!st.isFile()) throw new JpError('JP_LOCAL_FILE', `${what} ${path} is not a regular file`);
  try {
    accessSync(path, constants.R_OK);
  } catch (e) {
    throw new JpError('JP_LOCAL_FILE', `${what} ${path} is not readable: ${describeError(e)}`, { cause: e });
  }
  return st;
}

function tarName(unique: string): string {
  const usec = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  return `${unique}_${Math.floor(usec / 1e6)}_${String(usec % 1e6).padStart(6, '0')}_${randomBytes(4).toString('hex')}.tar`;
}

/** Write the tar durably; returns its final path. Nothing is left on failure. */
async function storeTar(dir: string, unique: string, sources: readonly TarSource[]): Promise<string> {
  const base = tarName(unique);
  const tmp = join(dir, `.${base}.tmp`);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, TAR_MODE);
    await writeTar(sources, fh);
    await fh.sync();
    await fh.close();
    fh = undefined;
    for (let i = 0; i < MAX_NAME_TRIES; i++) {
      const final = join(dir, i === 0 ? base : tarName(unique));
      try {
        await link(tmp, final);
      } catch (e) {
        if (systemCode(e) === 'EEXIST') continue;
        throw e;
      }
      await unlink(tmp);
      await fsyncDir(dir);
      return final;
    }
    throw new Error(`no free tar file name in ${dir}`);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    if (isJpError(e)) throw e;
    throw new JpError('JP_LOCAL_FILE', `cannot write tar file in ${dir}: ${describeError(e)}`, { cause: e });
  }
}

/**
 * Pack `files` into one tar and announce it for upload as the sandbox of
 * `jobid`. Resolves to the id (file name) of the stored message.
 * Errors: JP_CONFIG (bad job id/jpps/no files, maildir or tar directory not
 * usable), JP_LOCAL_FILE (a file or the proxy missing, not a regular file,
 * unreadable, or changed while being read).
 */
export async function uploadFiles(jobid: string, files: readonly string[], opts: UploadFilesOptions): Promise<string> {
  let unique: string;
  try {
    unique = jobUnique(jobid);
  } catch (e) {
    throw config(`job id: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  if (files.length === 0) throw config('no files to upload');
  if (opts.jpps !== undefined && !/^[^\s]+:\d{1,5}$/.test(opts.jpps)) throw config(`jpps must be HOST:PORT, got ${JSON.stringify(opts.jpps)}`);
  const proxy = opts.proxy === undefined ? undefined : resolve(opts.proxy);
  if (proxy !== undefined) await regularFile(proxy, 'proxy file');

  const maildir = resolve(opts.maildir);
  const spool = new Spool(maildir);
  try {
    await spool.init();
    for (const d of ['tmp', 'new'] as const) accessSync(spool.dir(d), constants.W_OK | constants.X_OK);
  } catch (e) {
    throw config(`maildir ${maildir} is not writable: ${describeError(e)}`, e);
  }
  const tarDir = resolve(opts.tarDir ?? defaultTarDir(maildir));
  try {
    await mkdir(tarDir, { recursive: true, mode: TAR_DIR_MODE });
    if (!(await stat(tarDir)).isDirectory()) throw new Error('not a directory');
    accessSync(tarDir, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw config(`tar directory ${tarDir} is not usable: ${describeError(e)}`, e);
  }

  const sources: TarSource[] = [];
  for (const f of files) {
    const path = resolve(f);
    const name = tarEntryName(f);
    if (name.length === 0) throw new JpError('JP_LOCAL_FILE', `file ${JSON.stringify(f)} has no name to store`);
    sources.push({ path, name, stat: await regularFile(path, 'file') });
  }

  // Fail before writing anything if the message could not be formatted.
  const message = (file: string): string => formatUploadMessage({
    jobid, file, ...(proxy !== undefined ? { proxy } : {}), ...(opts.jpps !== undefined ? { jpps: opts.jpps } : {}),
  });
  try {
    message(join(tarDir, 'x.tar'));
  } catch (e) {
    throw config(`cannot write a message for these values: ${e instanceof Error ? e.message : String(e)}`, e);
  }

  const tarPath = await storeTar(tarDir, unique, sources);
  try {
    return await spool.store(message(tarPath));
  } catch (e) {
    await unlink(tarPath).catch(() => undefined);
    await fsyncDir(tarDir).catch(() => undefined);
    throw config(`cannot store the message in maildir ${maildir}: ${describeError(e)}`, e);
  }
}
