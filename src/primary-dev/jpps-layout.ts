/**
 * Where the real JP primary service (org.glite.jp.primary, FTP backend)
 * keeps a job's files, for the reference service's gsiftp:// mode. Pure.
 *
 *   <base>/data/<md5 hex of the owner DN>/<regtime seconds / 604800>/<job unique>/<class>[.<name>]
 *
 * The job's directory is made at registration (by the service, mode 0700);
 * StartUpload hands out `<external URL>/<the same relative path>`, where the
 * external URL names the GridFTP server and the directory it serves.
 */
import { createHash } from 'node:crypto';

/** Seconds per registration-time bucket (one week). */
export const WEEK_SECONDS = 7 * 86_400;

/** Lower-case hex MD5 of the owner's subject DN, as the backend names its owner directories. */
export function ownerHash(owner: string): string {
  return createHash('md5').update(owner, 'utf8').digest('hex');
}

/** The week bucket of a registration time (ms since the epoch): whole seconds / 604800, rounded down. */
export function regWeek(regtimeMs: number): number {
  return Math.floor(Math.floor(regtimeMs / 1000) / WEEK_SECONDS);
}

/** The job's directory below the base: `data/<md5(owner)>/<week>/<job unique>`. */
export function jppsJobDir(owner: string, regtimeMs: number, unique: string): string {
  return `data/${ownerHash(owner)}/${regWeek(regtimeMs)}/${unique}`;
}

/**
 * The stored file's name, as the real backend makes it: the class URI alone
 * when no name came (xsi:nil; the original importer sends none), else
 * `<class>.<name>` (an empty name gives `<class>.`).
 */
export function jppsFileName(cls: string, name: string | undefined): string {
  return name === undefined ? cls : `${cls}.${name}`;
}
