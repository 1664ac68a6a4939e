/**
 * Pure parsers of one option value, from a flag (string, number, boolean,
 * array) or a file / environment text. `label` names where the value came
 * from (`--dump-slaves (-D)`, `/etc/jp-importer.conf [importer] dump-slaves`,
 * `environment JP_IMPORTER_DUMP_SLAVES`); every error is a JP_CONFIG naming
 * it, the rule and the value.
 */
import { isAbsolute, resolve } from 'node:path';
import { JpError } from '../core/errors.js';
import { parseDuration } from './duration.js';

export type ValueParser<T> = (v: unknown, label: string) => T;

export function bad(label: string, value: unknown, rule: string): JpError {
  return new JpError('JP_CONFIG', `${label}: ${rule}, got ${JSON.stringify(value)}`);
}

export const nonEmpty: ValueParser<string> = (v, label) => {
  if (typeof v !== 'string' || v.trim().length === 0) throw bad(label, v, 'must be a non-empty string');
  return v;
};

/** A path, made absolute against the current directory (the file's own directory was applied when read from a file). */
export const pathValue: ValueParser<string> = (v, label) => {
  const s = nonEmpty(v, label);
  if (s.includes('\0')) throw bad(label, s, 'must be a path');
  return isAbsolute(s) ? s : resolve(s);
};

/** One or more directory paths (a repeated flag, or a list from a file). */
export const pathList: ValueParser<string[]> = (v, label) =>
  (Array.isArray(v) ? v : [v]).map((p: unknown) => {
    if (typeof p !== 'string' || p.length === 0) throw bad(label, p, 'must be a directory path');
    return resolve(p);
  });

export const flag: ValueParser<boolean> = (v) => v === true;

export function intIn(min: number, max: number): ValueParser<number> {
  return (v, label) => {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) throw bad(label, v, `must be an integer from ${min} to ${max}`);
    return n;
  };
}

export function fmtMs(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A duration in ms; a bare number is in `bareUnit`. */
export function durationIn(bareUnit: 'ms' | 's', minMs: number, maxMs: number): ValueParser<number> {
  return (v, label) => {
    const ms = typeof v === 'string' || typeof v === 'number' ? parseDuration(v, bareUnit) : undefined;
    if (ms === undefined || ms < minMs || ms > maxMs) {
      throw bad(label, v, `must be a duration (e.g. 2, 500ms, 30s, 5m, 1h, 5d) from ${fmtMs(minMs)} to ${fmtMs(maxMs)}`);
    }
    return ms;
  };
}

/** `off` (any letter case) → null; anything else is for `inner`. */
export function offOr<T>(inner: ValueParser<T>): ValueParser<T | null> {
  return (v, label) => (typeof v === 'string' && v.trim().toLowerCase() === 'off' ? null : inner(v, label));
}

/** One of a few letters or words, in any letter case. */
export function oneOf<T extends string>(allowed: readonly T[], fold: 'upper' | 'lower'): ValueParser<T> {
  return (v, label) => {
    const s = typeof v === 'string' ? (fold === 'upper' ? v.trim().toUpperCase() : v.trim().toLowerCase()) : v;
    const hit = allowed.find((a) => a === s);
    if (hit === undefined) throw bad(label, v, `must be one of ${allowed.join(', ')}`);
    return hit;
  };
}

/** A certificate subject in the slash form grid tools print: `/C=CZ/O=…/CN=host/jp.example.org`. */
export const subjectDn: ValueParser<string> = (v, label) => {
  const s = nonEmpty(v, label);
  if (!/^\/[A-Za-z][A-Za-z0-9.]*=[^\r\n\0]*$/.test(s)) throw bad(label, s, 'must be a subject in slash form, e.g. /DC=org/DC=example/CN=host/jp.example.org');
  return s;
};

const HOST_PORT = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):\d{1,5}$/;

/** A local address to listen on: host:port, port 0-65535. */
export function listenAddress(v: string, label: string): string {
  if (HOST_PORT.test(v)) {
    const port = Number(v.slice(v.lastIndexOf(':') + 1));
    if (port >= 0 && port <= 65535) return v;
  }
  throw bad(label, v, 'must be host:port (port 0-65535), e.g. 127.0.0.1:9464');
}

/** A primary service: host:port (= https://host:port/) or an http(s) URL. */
export function validateEndpoint(v: string, label: string): string {
  if (HOST_PORT.test(v)) {
    const port = Number(v.slice(v.lastIndexOf(':') + 1));
    if (port >= 1 && port <= 65535) return v;
  } else {
    try {
      const u = new URL(v);
      if ((u.protocol === 'https:' || u.protocol === 'http:') && u.hostname.length > 0) return v;
    } catch {
      /* fall through */
    }
  }
  throw bad(label, v, 'must be host:port (port 1-65535) or an http(s) URL');
}
