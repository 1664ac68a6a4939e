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
  return {
    urlFor(relPath: string): string {
      return prefix + relPath.split('/').map(encodeURIComponent).join('/');
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
