/**
 * Listen addresses and upload destination URLs of the reference service. Pure.
 */
import { resolve } from 'node:path';
import { JpError } from '../core/errors.js';
import type { Destinations } from './ops.js';
import { isSafeRelPath } from './uploads.js';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** `host:port` or `[v6]:port`; port 0 = any free port. */
export function parseListen(value: string, flag: string): ListenAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(value);
  const port = Number(m?.[3]);
  if (m === null || port > 65535) {
    throw new JpError('JP_CONFIG', `${flag} ${JSON.stringify(value)}: expected host:port (port 0-65535, 0 = any free port)`);
  }
  return { host: m[1] ?? m[2] ?? '', port };
}

/** `host:port` as it appears in a URL (IPv6 in brackets). */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Destinations under `base` (an ftp://, ftps:// or file:// URL ending in /).
 * relPathOf accepts any ftp(s) URL whose path lies under the base path, so
 * destinations handed out before a restart on another port still commit.
 */
export function makeDestinations(base: string): Destinations {
  let baseUrl: URL;
  try {
    baseUrl = new URL(base.endsWith('/') ? base : `${base}/`);
  } catch {
    throw new JpError('JP_CONFIG', `destination base ${JSON.stringify(base)} is not a URL`);
  }
  if (!['ftp:', 'ftps:', 'file:', 'gsiftp:'].includes(baseUrl.protocol)) {
    throw new JpError('JP_CONFIG', `destination base ${JSON.stringify(base)}: scheme must be ftp, ftps, gsiftp or file`);
  }
  const prefix = baseUrl.href;
  const basePath = baseUrl.pathname;
  // gsiftp:// destinations look like the real service's (`…/urn:org.glite.jp.primary:lb`).
  const encode = baseUrl.protocol === 'gsiftp:' ? encodePathSegment : encodeURIComponent;
  return {
    urlFor(relPath: string): string {
      return prefix + relPath.split('/').map(encode).join('/');
    },
    relPathOf(destination: string): string | undefined {
      let u: URL;
      try {
        u = new URL(destination);
      } catch {
        return undefined;
      }
      if (u.protocol !== baseUrl.protocol || !u.pathname.startsWith(basePath)) return undefined;
      let rel: string;
      try {
        rel = u.pathname.slice(basePath.length).split('/').map(decodeURIComponent).join('/');
      } catch {
        return undefined;
      }
      return isSafeRelPath(rel) ? rel : undefined;
    },
  };
}

/** file:// base for `<data-dir>/files` (no FTP endpoint configured). */
export function fileBase(filesDir: string): string {
  const abs = resolve(filesDir);
  return `file://${abs.split('/').map(encodeURIComponent).join('/')}/`;
}

/**
 * A path segment percent-encoded only where RFC 3986 requires it: the
 * sub-delimiters, `:` and `@` stay as they are (the real service writes its
 * destinations unescaped; `%`, blanks, `?`, `#` and non-ASCII are escaped).
 */
export function encodePathSegment(seg: string): string {
  return encodeURIComponent(seg).replace(/%(3A|40|2B|3D|24|26|2C|3B)/gi, (m) => decodeURIComponent(m));
}

export interface GridftpBase {
  /** `gsiftp://host[:port]/abs/dir/`: destinations are this plus `data/…`. */
  readonly url: string;
  /** The same directory on this machine (absolute): job directories are made and files checked here. */
  readonly dir: string;
}

/**
 * `--gridftp-url gsiftp://host[:port]/abs/dir` (the directory as the GridFTP
 * server names it, which is also its path on this machine unless `dir`
 * says otherwise: `--gridftp-dir`).
 */
export function parseGridftpBase(url: string, dir?: string): GridftpBase {
  const bad = (why: string): JpError => new JpError('JP_CONFIG', `--gridftp-url ${JSON.stringify(url)}: ${why}`);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad('not a URL (expected gsiftp://host:port/absolute/directory)');
  }
  if (u.protocol !== 'gsiftp:') throw bad('the scheme must be gsiftp');
  if (u.hostname === '') throw bad('no host');
  if (u.username !== '' || u.password !== '') throw bad('no user or password in the URL (the server maps the certificate subject)');
  if (u.search !== '' || u.hash !== '') throw bad('no query or fragment allowed');
  let path: string;
  try {
    path = decodeURIComponent(u.pathname).replace(/\/+$/, '');
  } catch {
    throw bad('its path is not valid percent-encoding');
  }
  if (path === '' || !path.startsWith('/')) throw bad('the path must name a directory other than / (e.g. gsiftp://host:2811/home/jpps/jpps)');
  if (path.includes('\0') || path.split('/').slice(1).some((s) => s === '' || s === '.' || s === '..')) {
    throw bad('the path must be a plain absolute directory');
  }
  if (dir !== undefined && dir.trim() === '') throw new JpError('JP_CONFIG', '--gridftp-dir must not be empty');
  const base = `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}/`;
  return { url: base, dir: resolve(dir ?? path) };
}
